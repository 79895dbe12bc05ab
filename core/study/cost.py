"""What a fit costs on this machine, for the dry-run plan's time estimate.

A fit costs about epochs x (per-epoch overhead + samples x weights x per-unit seconds), where
"weights" counts multiply-adds per sample (a dense layer's weights; a convolution's kernel x output
positions). Both constants come from the benchmark's results (``bench/results/mlp.json``) when
present, else from timing a small network once on this machine (kept in ``.cache/mlp_cost.json``).
Convolutions run at a different efficiency than dense layers, so CNN estimates are rougher.
"""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass

import numpy as np

from core.config import CACHE_DIR, PROJECT_ROOT
from core.files import write_atomic

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

    def describe(self) -> str:
        return (f"time per fit = epochs x ({self.per_epoch:.3g} s + samples x multiply-adds x "
                f"{self.per_unit:.3g} s), {self.source}")


def measured_cost() -> Cost:
    """The fit cost on this machine: from the benchmark's results (``make bench``) if present, else
    from an earlier calibration, else timed now (about 5-20 s) and kept for the next run."""
    for path, source in ((CALIBRATION_FILE, "measured by bench/bench_mlp.py"),
                         (CALIBRATION_CACHE, "measured on this machine on 3,000 x 518 random rows")):
        if path.exists():
            shown = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
            try:
                values = json.loads(path.read_text())
                return Cost(float(values["seconds_per_sample_epoch_weight"]), float(values["seconds_per_epoch"]),
                            f"{source} ({shown})")
            except (KeyError, ValueError, TypeError, json.JSONDecodeError):
                pass
    per_unit, per_epoch = calibrate()
    with contextlib.suppress(OSError):  # a read-only checkout calibrates every time
        write_atomic(CALIBRATION_CACHE, json.dumps({"seconds_per_sample_epoch_weight": per_unit,
                                                    "seconds_per_epoch": per_epoch}))
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


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def conv_macs(input_shape: tuple[int, int], filters: tuple[int, ...]) -> int:
    """Multiply-adds per clip of the CNN's 3x3 convolution blocks ("same" padding, 2x2 pooling after each)."""
    height, width, channels, total = input_shape[0], input_shape[1], 1, 0
    for width_out in filters:
        total += height * width * 9 * channels * width_out
        height, width, channels = -(-height // 2), -(-width // 2), width_out
    return total
