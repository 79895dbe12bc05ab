"""The plan a dry run prints: fits per (size, input) and an estimated time from a measured unit cost.

A fit costs about samples x epochs x weights x unit seconds; the unit comes from the benchmark's
results (``bench/results/mlp.json``) when present, else from timing a small network right now.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.study.data import FeatureTable

CALIBRATION_FILE = Path(__file__).resolve().parents[2] / "bench" / "results" / "mlp.json"


def seconds_per_unit() -> tuple[float, str]:
    """Seconds per (training sample × epoch × network weight) on this machine, and where it came from.

    Read from the benchmark's results (``make bench``) if present, else measured now on a small net.
    """
    if CALIBRATION_FILE.exists():
        try:
            value = json.loads(CALIBRATION_FILE.read_text())["seconds_per_sample_epoch_weight"]
            return float(value), f"measured by bench/bench_mlp.py ({CALIBRATION_FILE.name})"
        except (KeyError, ValueError, json.JSONDecodeError):
            pass
    return calibrate(), "measured just now on a 2,000 x 518 sample"


def calibrate(n: int = 2000, d: int = 518, hidden: int = 512, epochs: int = 2) -> float:
    """Time a small Keras MLP and return seconds per sample·epoch·weight."""
    from core.models.mlp import KerasMLP

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 8, n)
    model = KerasMLP(hidden_units=[hidden], epochs=1, batch_size=256)
    model.fit(X[:256], y[:256])  # graph tracing and first-call overhead stay out of the measure
    model = KerasMLP(hidden_units=[hidden], epochs=epochs, batch_size=256)
    start = time.perf_counter()
    model.fit(X, y)
    return (time.perf_counter() - start) / (n * epochs * network_weights(d, [hidden], 8))


def network_weights(d: int, hidden: list[int], n_classes: int) -> int:
    widths = [d, *hidden, n_classes]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


@dataclass
class Plan:
    rows: list[dict] = field(default_factory=list)  # one per (size, input)
    fits_total: int = 0
    cpu_seconds: float = 0.0

    def describe(self, settings, source: str) -> str:
        lines = [f"{'size':>8} {'input':>11} {'rows':>7} {'feat':>5} {'cand':>4} {'folds':>5} "
                 f"{'fits':>5} {'est. time':>10}"]
        for r in self.rows:
            lines.append(f"{r['size']:>8} {r['input']:>11} {r['n_rows']:>7} {r['n_features']:>5} "
                         f"{r['candidates']:>4} {r['folds']:>5} {r['fits']:>5} {_duration(r['seconds']):>10}")
        parallel = min(settings.n_jobs, os.cpu_count() or 1) if settings.parallel != "none" else 1
        rungs = settings.rung_fractions()
        lines.append(f"total: {self.fits_total} fits (fold fits, autoencoders, final refits, baselines); "
                     f"about {_duration(self.cpu_seconds / parallel)} on {parallel} worker(s)"
                     + (" at most (early stopping ends fits sooner)" if settings.early_stopping else ""))
        if settings.halving:
            lines.append(f"successive halving: rungs at {', '.join(f'{f:.3g}' for f in rungs)} of each "
                         f"candidate's epochs, keeping 1/{settings.halving_eta} per rung")
        lines.append(f"time per fit = samples x epochs x weights x {self.unit:.3g} s ({source})")
        return "\n".join(lines)

    unit: float = 0.0


def make_plan(settings, tables: list[FeatureTable], unit: float) -> Plan:
    plan = Plan(unit=unit)
    candidates = settings.candidates()
    fractions, survivors = settings.rung_fractions(), settings.survivors_per_rung(len(candidates))
    for table in tables:
        n_cv, d, k = len(table.cv_rows), table.X.shape[1], len(table.genres)
        n_fold_train = n_cv * (settings.folds - 1) / settings.folds
        for input_kind in settings.inputs:
            width = d
            seconds, fits = 0.0, 0
            if input_kind == "autoencoder":
                code = settings.autoencoder["bottleneck"] or d // 2
                ae_w = network_weights(d, [2 * d, d, code, d, 2 * d], d)
                seconds += unit * ae_w * settings.autoencoder["epochs"] * (n_fold_train * settings.folds + n_cv)
                fits += settings.folds + 1
                width = code
            for fraction, n_alive in zip(fractions, survivors):
                alive = candidates[:n_alive]  # the estimate takes the first ones as survivors
                for cand in alive:
                    params = settings.model_params(cand, fraction)
                    w = network_weights(width, list(params.get("hidden_units", [100])), k)
                    seconds += unit * w * params.get("epochs", 100) * n_fold_train * settings.folds
                fits += n_alive * settings.folds
            if settings.refit_and_test:
                w = max(network_weights(width, list(c.get("hidden_units", [100])), k) * c.get("epochs", 100)
                        for c in candidates)
                seconds += unit * w * n_cv
                fits += 1
            plan.rows.append({"size": table.size, "input": input_kind, "n_rows": len(table.X), "n_features": d,
                              "candidates": len(candidates), "folds": settings.folds, "fits": fits,
                              "seconds": seconds})
            plan.fits_total += fits
            plan.cpu_seconds += seconds
        if settings.baselines:
            from core.models.baselines import BASELINES

            plan.fits_total += len(BASELINES)
    return plan


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


