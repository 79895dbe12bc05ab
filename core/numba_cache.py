"""numba's on-disk cache, made safe for several processes at once.

librosa compiles its kernels with ``numba.jit(cache=True)`` (and ``guvectorize(cache=True)``): the first
use writes machine code beside librosa's sources, and every later process loads it (about 2 s instead of
about 30 s of compiling). numba 0.68 does not coordinate processes over that cache, and two things go
wrong when several start together on a cold cache (two feature workers, a job beside the dashboard):

- two processes compile the same kernel and both save it; a ``guvectorize`` wrapper saved by one then
  sits beside the kernel saved by the other, whose symbols it does not match: every later process that
  loads the pair crashes with a segmentation fault (seen in CI, in librosa's ``localmax``);
- two processes saving *different* signatures at once both read the same index and both take the first
  free data file, so the index can point a signature at the other one's code;
- a ``guvectorize`` function is two cache entries, its kernel and the wrapper NumPy calls, and the wrapper
  is found by the kernel's unique name (which numba numbers per process). When the kernel in the cache
  comes from one compile and the wrapper from another (two processes racing, or processes whose earlier
  compiles numbered functions differently), the wrapper's name is not defined, numba hands NumPy a null
  pointer, and every later process dies with a segmentation fault (seen in librosa's
  ``_parabolic_interpolation`` and ``localmax``).

:func:`install` makes a cached function's compile (look in the cache, else compile and save) exclusive
across processes, with an ``fcntl`` lock on a ``<index>.lock`` file beside the function's index: the
second process waits, then loads what the first saved. The index's save and load take the same lock
(exclusive / shared), so a save is seen whole or not at all. A ``guvectorize`` wrapper loaded from the
cache is used only if it defines the wrapper of the kernel this process holds; otherwise it is rebuilt
against that kernel and saved over the stale one, so no interleaving of processes, and no cache
corrupted before this fix, can pair the two wrongly. Every process that may run librosa installs it:
:mod:`core.audio` does on import, and every path that reaches librosa imports it first.
"""
from __future__ import annotations

import fcntl
import functools
import os
import threading
from contextlib import contextmanager

_installed = False
#: ``.paths``: the index files this thread holds locked. A compile saves (and may compile other
#: functions) inside it: those find their lock already held. Other threads take their own lock.
_held = threading.local()


def install() -> None:
    """Coordinate this process's use of numba's cache with other processes (idempotent)."""
    global _installed
    if _installed:
        return
    from numba.core.caching import IndexDataCacheFile
    from numba.core.dispatcher import Dispatcher
    from numba.np.ufunc.ufuncbuilder import UFuncDispatcher
    from numba.np.ufunc.wrappers import _GufuncWrapper

    for name, mode in (("save", fcntl.LOCK_EX), ("flush", fcntl.LOCK_EX), ("load", fcntl.LOCK_SH)):
        setattr(IndexDataCacheFile, name, _locking(getattr(IndexDataCacheFile, name), mode))
    Dispatcher.compile = _exclusive_compile(Dispatcher.compile)
    UFuncDispatcher.compile = _exclusive_compile(UFuncDispatcher.compile)  # vectorize/guvectorize kernels
    _GufuncWrapper._compile_wrapper = _matching_wrapper(_GufuncWrapper._compile_wrapper)
    _installed = True


def _locking(method, mode: int):
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with _lock(self._index_path, mode):
            return method(self, *args, **kwargs)

    return locked


def _exclusive_compile(compile_):
    """A dispatcher's ``compile`` holding its cache's lock across processes (uncached functions: as is)."""
    from numba.core.compiler_lock import global_compiler_lock

    @functools.wraps(compile_)
    def compile(self, sig, *args, **kwargs):
        cache = getattr(self, "_cache", None) or getattr(self, "cache", None)  # Dispatcher / UFuncDispatcher
        cache_file = getattr(cache, "_cache_file", None)
        if cache_file is None:
            return compile_(self, sig, *args, **kwargs)
        # numba's own (re-entrant) lock first, as every compile takes it: a thread holding the file lock
        # never waits for a thread of this process that waits for the file lock.
        with global_compiler_lock, _lock(cache_file._index_path, fcntl.LOCK_EX):
            return compile_(self, sig, *args, **kwargs)

    return compile


def _matching_wrapper(compile_wrapper):
    """``_GufuncWrapper._compile_wrapper`` that never returns a cached wrapper of another kernel."""

    @functools.wraps(compile_wrapper)
    def compile_matching(self, wrapper_name):
        library = compile_wrapper(self, wrapper_name)
        if self.is_parfors or library.get_pointer_to_function(wrapper_name):
            return library
        # The cached wrapper was built around another compile of this kernel: build ours, replace it.
        library = self.context.codegen().create_library(str(self))
        library.enable_object_caching()
        self._build_wrapper(library, wrapper_name)
        self.cache.save_overload(self.cres.signature, library)
        return library

    return compile_matching


@contextmanager
def _lock(index_path: str, mode: int):
    held = _held.__dict__.setdefault("paths", set())
    if index_path in held:  # already held further up this thread's stack
        yield
        return
    try:
        fd = os.open(f"{index_path}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # a cache folder we cannot write to: numba cannot save there either
        yield
        return
    try:
        fcntl.flock(fd, mode)  # another thread's lock is another open file: it blocks too
        held.add(index_path)
        try:
            yield
        finally:
            held.discard(index_path)
    finally:
        os.close(fd)
