"""Which part of a track a feature vector describes: the whole audio file, or a window of it.

FMA computed its published ``features.csv`` on the full-length tracks, not on the 30 s clips, so the
window is part of what a feature table means: a model trained on one window sees different values on
another. The grammar (``--window`` on the command line, ``"window"`` in a table's ``features.json``):

``full``
    the whole audio file (the default: what FMA's published table used, on full-length tracks);
``center:D``
    the middle D seconds (the whole file when it is shorter), as FMA cut its 30 s clips;
``start:S:D``
    D seconds from S seconds in (to the end of the file when it is shorter).

Seconds are positive decimals. ``str(window)`` gives the canonical text, which parses back to the
same window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.errors import GenreLabError

GRAMMAR = "full, center:SECONDS or start:SECONDS:SECONDS"
_ARITY = {"full": 0, "center": 1, "start": 2}  # how many numbers follow each kind


@dataclass(frozen=True)
class Window:
    """A window of a track: ``kind`` "full", "center" or "start"; ``start`` and ``duration`` in seconds."""

    kind: str = "full"
    start: float = 0.0
    duration: float | None = None

    def __str__(self) -> str:
        if self.kind == "full":
            return "full"
        if self.kind == "center":
            return f"center:{_seconds(self.duration)}"
        return f"start:{_seconds(self.start)}:{_seconds(self.duration)}"

    @property
    def is_full(self) -> bool:
        return self.kind == "full"

    @property
    def slug(self) -> str:
        """The window as a file name part: ``full``, ``center-30``, ``start-10-30``."""
        return str(self).replace(":", "-")

    def apply(self, y: np.ndarray, sr: int) -> np.ndarray:
        """The window's samples of a mono waveform ``y`` (shape (n,)) at ``sr`` Hz: a view, shape (m,), m <= n.

        Empty when a ``start`` window begins after the end of ``y``.
        """
        if self.kind == "full":
            return y
        length = int(round(self.duration * sr))
        if self.kind == "center":
            begin = max(0, (len(y) - length) // 2)
        else:
            begin = int(round(self.start * sr))
        return y[begin:begin + length]


FULL = Window()


def parse_window(text: str) -> Window:
    """Parse ``full``, ``center:D`` or ``start:S:D`` (seconds); raises a one-line ``GenreLabError``."""
    kind, *fields = str(text).strip().split(":")
    values = _numbers(fields)
    if kind not in _ARITY or values is None or len(values) != _ARITY[kind]:
        raise GenreLabError(f"--window: expected {GRAMMAR}, got {text!r}")
    if kind == "full":
        return FULL
    *start, duration = values
    if duration <= 0 or (start and start[0] < 0):
        raise GenreLabError(f"--window {text}: the duration must be > 0 seconds and the start >= 0")
    return Window(kind, start[0] if start else 0.0, duration)


def _numbers(fields: list[str]) -> list[float] | None:
    """The fields as finite floats, or None if one is not a number."""
    try:
        values = [float(field) for field in fields]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


def _seconds(value: float) -> str:
    """Seconds as text that parses back to the same float: ``30``, ``2.5``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
