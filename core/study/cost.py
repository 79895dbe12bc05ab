"""What a fit costs on this machine, for the dry-run plan's time estimate.

A fit costs about per-fit overhead + epochs x (per-epoch overhead + samples x weights x per-unit
seconds + optimizer steps x weights x per-update seconds), where "weights" counts multiply-adds per
sample (a dense layer's weights; a convolution's kernel x output positions) and a step is one batch (so
small batches cost more per epoch: measured 1.5-2x between batch 128 and 1,250 for the study's MLP on
one core). The per-fit overhead (building the network, tracing its training and validation steps) is
timed apart from the per-epoch one: counted per epoch, it made a 60-epoch fit on 50 tracks look 10x
dearer than it was (1.74 s per epoch measured on 2-epoch fits; 0.16 s in the study's own fits).
The constants come from timing a small network on the study's own workers, all at once, as the fits
will run (threads per worker and memory bandwidth shared), kept in ``.cache/mlp_cost.json`` per
executor. Convolutions run at a different efficiency than dense layers, so CNN estimates are rougher.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.config import PROJECT_ROOT, cache_dir
from core.files import write_atomic
from core.models.mlp import KerasMLP

#: The constants a measurement gives (the :class:`Cost` fields but ``source``).
CONSTANTS = {"per_unit", "per_epoch", "per_update", "per_fit"}


@dataclass
class Cost:
    """Measured fit cost: seconds = per_fit + epochs x (per_epoch + per_unit x samples x weights
    + per_update x batches x weights)."""

    per_unit: float  # seconds per training sample x epoch x network weight (the arithmetic)
    per_epoch: float  # fixed seconds per epoch (Keras' loop, callbacks, the validation pass): small data
    source: str
    per_update: float = 0.0  # seconds per optimizer step x network weight (Adam's update of every weight)
    per_fit: float = 0.0  # fixed seconds per fit (building the network, tracing its steps): tiny data

    def fit_seconds(self, epochs: float, samples: float, weights: int, batch_size: int | None = None) -> float:
        steps = math.ceil(samples / batch_size) if batch_size else 0
        return self.per_fit + epochs * (self.per_epoch + self.per_unit * samples * weights
                                        + self.per_update * steps * weights)

    def describe(self) -> str:
        return (f"time per fit = {self.per_fit:.3g} s + epochs x ({self.per_epoch:.3g} s + samples x "
                f"multiply-adds x {self.per_unit:.3g} s + batches x weights x {self.per_update:.3g} s), "
                f"{self.source}")


def measured_cost(executor, precision: str = "float32", probe: tuple[str, Callable, tuple] | None = None) -> Cost:
    """The fit cost on ``executor``'s workers at ``precision``: from an earlier calibration of the same
    executor, else timed now on every worker at once (about 20-40 s) and kept for the next run.

    probe: ``(name, function, args)`` timing another network than the study MLP (:func:`calibrate`):
    ``function(*args)`` returns the :class:`Cost` constants; ``name`` keeps its timings apart.
    """
    name, function, args = probe or ("", calibrate, (precision,))
    where, key = cost_key(executor, precision), cost_key(executor, precision, name)
    path = cache_dir() / "mlp_cost.json"
    shown = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    # An entry missing a constant was measured by an older cost model: time again.
    if isinstance(known.get(key), dict) and set(known[key]) == CONSTANTS:
        return Cost(**{k: float(v) for k, v in known[key].items()}, source=f"measured on {where} ({shown})")
    futures = [executor.submit(function, *args) for _ in range(executor.workers)]
    timings = [f.result() for f in futures]
    constants = {k: float(np.mean([t[k] for t in timings])) for k in timings[0]}
    with contextlib.suppress(OSError):  # a read-only checkout calibrates every time
        write_atomic(path, json.dumps({**known, key: constants}, indent=1))
    return Cost(**constants, source=f"measured just now on {where}")


def cost_key(executor, precision: str = "float32", probe: str = "") -> str:
    """The entry in the cost file of the study MLP (or of the network the probe named ``probe`` times) on
    ``executor`` at ``precision``: the executor's hardware (``cost_identity()``), its threads per fit, the
    precision unless float32, prefixed by the probe's name."""
    where = executor.cost_identity() + (f", {executor.threads} thread(s) per fit" if executor.threads else "") + (
        f", {precision}" if precision != "float32" else "")
    return f"{probe} on {where}" if probe else where


def calibrate(precision: str = "float32", n: int = 4096, d: int = 518, hidden: tuple[int, ...] = (2048, 512),
              epochs: int = 2, span: int = 10) -> dict[str, float]:
    """Time a Keras MLP the size of the study's (about 2 million weights) on 64 and on ``n`` random rows,
    with batches of 1,024 and of 128 (the range study searches use; a tiny network or batch would
    time dispatch overhead instead of arithmetic, and overstate both), scoring 64 validation rows each
    epoch as a study's fold fit does.

    The per-fit overhead is what a 1-epoch fit of 64 rows costs beyond its epoch, and the per-epoch
    overhead what each of ``span`` more epochs adds; the arithmetic comes from ``epochs``-epoch fits of
    ``n`` rows less both.

    Returns the :class:`Cost` constants (:data:`CONSTANTS`). Each timing is the best of two, so a busy
    machine disturbs it less.
    """

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 8, n)
    X_val, y_val = X[-64:], y[-64:]
    weights = network_weights(d, list(hidden), 8)

    def timed(rows: int, batch_size: int, fit_epochs: int) -> float:
        """Seconds of the best of two fits."""
        best = math.inf
        for _ in range(2):
            model = KerasMLP(hidden_units=list(hidden), epochs=fit_epochs, batch_size=batch_size, precision=precision)
            start = time.perf_counter()
            model.fit(X[:rows], y[:rows], X_val, y_val)
            best = min(best, time.perf_counter() - start)
        return best

    timed(256, 256, 1)  # TensorFlow's first-call overhead stays out of the measure
    one = timed(64, 64, 1)
    per_epoch = max(timed(64, 64, 1 + span) - one, 0.0) / span
    per_fit = max(one - per_epoch, 0.0)
    large = (timed(n, 1024, epochs) - per_fit) / epochs
    small = (timed(n, 128, epochs) - per_fit) / epochs
    per_update = max(small - large, 0.0) / ((math.ceil(n / 128) - math.ceil(n / 1024)) * weights)
    per_unit = max(large - per_epoch - per_update * math.ceil(n / 1024) * weights, 0.0) / (n * weights)
    return {"per_unit": per_unit, "per_epoch": per_epoch, "per_update": per_update, "per_fit": per_fit}


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
