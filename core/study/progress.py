"""The progress file a running study rewrites for the dashboard (``--progress PATH``).

JSON: status (running|finished|failed|killed), fits_done, fits_total, current, started_at,
updated_at, eta_seconds, message. Written atomically so a reader never sees half a file; thread-safe.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

from core.errors import first_line
from core.files import write_atomic


class ProgressFile:
    """``advance(n, current)`` after fits, ``finish(status, message)`` at the end; no-op without a path."""

    def __init__(self, path: str | os.PathLike | None, fits_total: int = 0):
        self.path = Path(path) if path else None
        self.fits_total, self.fits_done = fits_total, 0
        self.current, self.message = "starting", ""
        self.started_at = time.time()
        self._lock = threading.Lock()
        self.write("running")

    def advance(self, n: int = 1, current: str | None = None) -> None:
        with self._lock:
            self.fits_done += n
            if current is not None:
                self.current = current
        self.write("running")

    def set_current(self, current: str) -> None:
        with self._lock:
            self.current = current
        self.write("running")

    def finish(self, status: str, message: str = "") -> None:
        self.message = message
        self.write(status)

    @contextlib.contextmanager
    def reporting(self):
        """Mark the file killed or failed (with the error's first line) if the block raises."""
        try:
            yield self
        except KeyboardInterrupt:
            self.finish("killed", "interrupted; rerun the same command to resume")
            raise
        except BaseException as err:
            self.finish("failed", first_line(err))
            raise

    def eta_seconds(self) -> float | None:
        if self.fits_done <= 0 or self.fits_total <= 0:
            return None
        elapsed = time.time() - self.started_at
        return max(elapsed / self.fits_done * (self.fits_total - self.fits_done), 0.0)

    def write(self, status: str) -> None:
        if self.path is None:
            return
        with self._lock:
            state = {"status": status, "fits_done": self.fits_done, "fits_total": self.fits_total,
                     "current": self.current, "started_at": self.started_at, "updated_at": time.time(),
                     "eta_seconds": None if status != "running" else self.eta_seconds(),
                     "message": self.message}
            write_atomic(self.path, json.dumps(state))
