"""numba's on-disk cache, made safe for several processes at once.

librosa compiles its kernels with ``numba.jit(cache=True)``: the first use writes machine code beside
librosa's sources, and every later process loads it (about 2 s instead of about 30 s of compiling).
numba 0.68 does not lock that cache. When two processes save *different* signatures of one function
at the same time (two feature workers starting together), both read the same index, both take the
first free data file, and the index ends up pointing a signature at the other one's machine code: a
later process that loads it crashes with a segmentation fault (seen in CI, in librosa's ``localmax``).

:func:`install` wraps the cache's index-and-data save in an exclusive ``fcntl`` lock, and its load in a
shared one, on a ``<index>.lock`` file beside the index, so a save is seen whole or not at all. Every
process that may run librosa installs it: :mod:`core.audio` does on import, and every path that
reaches librosa imports it first.
"""
from __future__ import annotations

import fcntl
import functools
import os
from contextlib import contextmanager

_installed = False


def install() -> None:
    """Lock numba's cache index in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from numba.core.caching import IndexDataCacheFile

    for name, mode in (("save", fcntl.LOCK_EX), ("flush", fcntl.LOCK_EX), ("load", fcntl.LOCK_SH)):
        setattr(IndexDataCacheFile, name, _locking(getattr(IndexDataCacheFile, name), mode))
    _installed = True


def _locking(method, mode: int):
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with _lock(self._index_path, mode):
            return method(self, *args, **kwargs)

    return locked


@contextmanager
def _lock(index_path: str, mode: int):
    try:
        fd = os.open(f"{index_path}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # a cache folder we cannot write to: numba cannot save there either
        yield
        return
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)
