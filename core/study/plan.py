"""The plan a dry run prints: fits per (size, input) and an estimated time from a measured unit cost.

A fit costs about epochs x (per-epoch overhead + samples x weights x per-unit seconds); both
constants come from the benchmark's results (``bench/results/mlp.json``) when present, else from
timing a small network once on this machine (kept in ``.cache/mlp_cost.json`` for later runs).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from core.study.data import FeatureTable

from core.config import CACHE_DIR, PROJECT_ROOT

CALIBRATION_FILE = PROJECT_ROOT / "bench" / "results" / "mlp.json"
CALIBRATION_CACHE = CACHE_DIR / "mlp_cost.json"


@dataclass
class Cost:
    """Measured fit cost: seconds = epochs x (per_epoch + per_unit x samples x weights)."""

    per_unit: float  # seconds per training sample x epoch x network weight (the arithmetic)
    per_epoch: float  # fixed seconds per epoch (Keras' loop, callbacks, validation): dominates small data
    source: str

    def fit_seconds(self, epochs: float, samples: float, weights: int) -> float:
        return epochs * (self.per_epoch + self.per_unit * samples * weights)


def measured_cost() -> Cost:
    """The fit cost on this machine: from the benchmark's results (``make bench``) if present, else
    from an earlier calibration, else timed now (about 5-20 s) and kept for the next run."""
    for path, source in ((CALIBRATION_FILE, "measured by bench/bench_mlp.py"),
                         (CALIBRATION_CACHE, "measured on this machine on 3,000 x 518 random rows")):
        if path.exists():
            try:
                values = json.loads(path.read_text())
                return Cost(float(values["seconds_per_sample_epoch_weight"]), float(values["seconds_per_epoch"]),
                            f"{source} ({path.relative_to(PROJECT_ROOT)})")
            except (KeyError, ValueError, TypeError, json.JSONDecodeError):
                pass
    per_unit, per_epoch = calibrate()
    try:
        CALIBRATION_CACHE.parent.mkdir(parents=True, exist_ok=True)
        tmp = CALIBRATION_CACHE.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"seconds_per_sample_epoch_weight": per_unit, "seconds_per_epoch": per_epoch}))
        os.replace(tmp, CALIBRATION_CACHE)
    except OSError:
        pass  # a read-only checkout calibrates every time
    return Cost(per_unit, per_epoch, "measured just now on 3,000 x 518 random rows")


def calibrate(n: int = 3000, d: int = 518, hidden: int = 1024, epochs: int = 2) -> tuple[float, float]:
    """Time a Keras MLP on n and on 64 random rows: (seconds per sample·epoch·weight, seconds per epoch).

    Each timing is the best of two, so a busy machine disturbs it less.
    """
    from core.models.mlp import KerasMLP

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 8, n)

    def timed(rows: int) -> float:
        model = KerasMLP(hidden_units=[hidden], epochs=epochs, batch_size=256)
        start = time.perf_counter()
        model.fit(X[:rows], y[:rows])
        return (time.perf_counter() - start) / epochs

    timed(256)  # TensorFlow's first-call overhead stays out of the measure
    per_epoch = min(timed(64), timed(64))
    per_unit = max(min(timed(n), timed(n)) - per_epoch, 0.0) / (n * network_weights(d, [hidden], 8))
    return per_unit, per_epoch


def network_weights(d: int, hidden: list[int], n_classes: int) -> int:
    widths = [d, *hidden, n_classes]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


@dataclass
class Plan:
    """Fits and estimated seconds per (size, input) row of a study."""

    rows: list[dict] = field(default_factory=list)  # one per (size, input)
    fits_total: int = 0
    cpu_seconds: float = 0.0  # summed over fits; divided by the workers for the estimate
    cost: Cost | None = None

    def describe(self, settings) -> str:
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
        lines.append(f"time per fit = epochs x ({self.cost.per_epoch:.3g} s + samples x weights x "
                     f"{self.cost.per_unit:.3g} s), {self.cost.source}")
        return "\n".join(lines)


def make_plan(settings, tables: list[FeatureTable], cost: Cost) -> Plan:
    """Fits and estimated seconds per (size, input); early stopping and halving survivors are not foreseen."""
    from dataclasses import asdict

    from core.models.baselines import BASELINES
    from core.models.mlp import FAMILIES

    plan = Plan(cost=cost)
    defaults = asdict(FAMILIES[settings.family][1]())
    candidates = settings.candidates()
    fractions, survivors = settings.rung_fractions(), settings.survivors_per_rung(len(candidates))
    for table in tables:
        n_cv, d, k = len(table.cv_rows), table.X.shape[1], len(table.genres)
        n_fold_train = n_cv * (settings.folds - 1) / settings.folds
        for input_kind in settings.inputs:
            width, seconds, fits = d, 0.0, 0
            if input_kind == "autoencoder":
                width = settings.autoencoder["bottleneck"] or d // 2
                weights = network_weights(d, [2 * d, d, width, d, 2 * d], d)
                epochs = settings.autoencoder["epochs"]
                seconds += settings.folds * cost.fit_seconds(epochs, n_fold_train, weights)
                seconds += cost.fit_seconds(epochs, n_cv, weights)
                fits += settings.folds + 1
            for fraction, n_alive in zip(fractions, survivors):
                for cand in candidates[:n_alive]:  # which ones survive is unknown: the first ones stand in
                    params = {**defaults, **settings.model_params(cand, fraction)}
                    weights = network_weights(width, list(params["hidden_units"]), k)
                    seconds += settings.folds * cost.fit_seconds(params["epochs"], n_fold_train, weights)
                fits += n_alive * settings.folds
            if settings.refit_and_test:
                seconds += max(cost.fit_seconds(p["epochs"], n_cv, network_weights(width, list(p["hidden_units"]), k))
                               for p in ({**defaults, **c} for c in candidates))
                fits += 1
            plan.rows.append({"size": table.size, "input": input_kind, "n_rows": len(table.X), "n_features": d,
                              "candidates": len(candidates), "folds": settings.folds, "fits": fits,
                              "seconds": seconds})
            plan.fits_total += fits
            plan.cpu_seconds += seconds
        if settings.baselines:
            plan.fits_total += len(BASELINES)
    return plan


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


