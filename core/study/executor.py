"""Where fits run: inline, in local worker processes (the default) or on a Dask distributed cluster.

One interface for all three: ``share(array)`` hands a large array to the workers once (a memory-mapped
``.npy`` file locally, a scattered Dask future on a cluster) and returns a handle that tasks take as an
argument and open with :func:`shared`; ``submit(fn, *args)`` returns an object whose ``result()``
waits for the fit. Tasks are plain top-level functions of picklable arguments, so they run anywhere.

The process that runs the study logs every run to MLflow as each fit returns; workers never talk to
the tracking store. A Dask worker on another machine therefore needs the project's code and
packages and, for audio inputs, the dataset root at the same path; it does not need the store.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import GenreLabError, first_line


def shared(handle: Any) -> np.ndarray:
    """The array behind a handle from :meth:`Executor.share` (a path is memory-mapped read-only)."""
    return np.load(handle, mmap_mode="r") if isinstance(handle, str) else handle


def _init_worker(threads: int, gpu_slots=None) -> None:
    """A fit worker's start: its own GPU (one per worker) if the study has GPUs, then its threads."""
    if gpu_slots is not None:
        from core.devices import pin

        pin(gpu_slots.get())
    from core.models.mlp import configure_threads

    configure_threads(threads)


class Executor:
    """Local fits: ``parallel`` is "processes" (spawned workers that keep TensorFlow loaded, each with
    ``cores // n_jobs`` threads), "threads", or "none" (inline, when the result is asked for).

    With ``gpus`` (names of the visible GPUs), there is one worker process per GPU, each pinned to its own.
    """

    def __init__(self, parallel: str = "processes", n_jobs: int = 0, gpus: list[str] | tuple = ()):
        self.gpus = list(gpus)
        if self.gpus:
            parallel, n_jobs = "processes", len(self.gpus)
        self.n_jobs = n_jobs or os.cpu_count() or 1
        self.parallel = "none" if self.n_jobs == 1 and not self.gpus else parallel
        self.threads = max(1, (os.cpu_count() or 1) // self.n_jobs)
        self.workers = 1 if self.parallel == "none" else self.n_jobs
        self._pool = None
        self._workdir: Path | None = None

    def describe(self) -> str:
        if self.gpus:
            return f"{self.n_jobs} local process{'es' if self.n_jobs > 1 else ''}, one per GPU ({', '.join(self.gpus)})"
        where = {"none": "inline", "threads": f"{self.n_jobs} threads"}.get(self.parallel, f"{self.n_jobs} local processes")
        return f"{where} on the CPU"  # the device in every plan and run, as for GPUs

    def share(self, array: np.ndarray) -> Any:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="genrelab-fits-"))
        fd, path = tempfile.mkstemp(suffix=".npy", dir=self._workdir)
        os.close(fd)
        np.save(path, np.ascontiguousarray(array))
        return path

    def submit(self, fn: Callable, *args):
        if self.parallel == "none":
            return _Deferred(fn, args)
        if self._pool is None:
            if self.parallel == "threads":
                self._pool = ThreadPoolExecutor(self.n_jobs)
            else:
                import multiprocessing

                context = multiprocessing.get_context("spawn")
                slots = None
                if self.gpus:
                    slots = context.Queue()
                    for index in range(len(self.gpus)):
                        slots.put(index)
                self._pool = ProcessPoolExecutor(self.n_jobs, mp_context=context, initializer=_init_worker,
                                                 initargs=(self.threads, slots))
        return self._pool.submit(fn, *args)

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            processes = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
            if cancel:
                for process in processes:  # a cancelled study must not leave fits burning the CPU
                    process.terminate()
            self._pool = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


class DaskExecutor(Executor):
    """Fits on the workers of a running Dask scheduler (``dask scheduler`` / ``dask worker ADDR``)."""

    def __init__(self, scheduler: str):
        super().__init__("none", 1)
        try:
            from distributed import Client

            self.client = Client(scheduler, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            raise GenreLabError(f"dask scheduler {scheduler}: cannot connect ({first_line(err)})") from None
        self.scheduler = scheduler
        self.workers = max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()))

    def describe(self) -> str:
        return f"Dask cluster at {self.scheduler} ({self.workers} worker threads)"

    def share(self, array: np.ndarray) -> Any:
        return self.client.scatter(np.ascontiguousarray(array), broadcast=True)

    def submit(self, fn: Callable, *args):
        return self.client.submit(fn, *args, pure=False)

    def close(self, cancel: bool = False) -> None:
        self.client.close()


def make_executor(parallel: str, n_jobs: int, scheduler: str | None, device: str = "cpu",
                  precision: str = "float32") -> Executor:
    """A Dask executor when a scheduler address is given, else a local one (on this machine's GPUs when
    ``device`` is "auto" or "gpu" and there are some: see :mod:`core.devices`)."""
    if scheduler:
        return DaskExecutor(scheduler)
    from core.devices import fit_gpus

    gpus = fit_gpus(device)
    if precision == "mixed_float16" and not gpus:
        # CPUs emulate float16: a fit (and the plan's timing) runs many times slower, never faster
        raise GenreLabError('compute.precision = "mixed_float16" needs a GPU and fits run on the CPU here '
                            '(use "float32", or "mixed_bfloat16" on a CPU with AMX/AVX-512)')
    return Executor(parallel, n_jobs, gpus)


class _Deferred:
    """An inline fit that runs when its result is asked for, so each fold is logged as soon as it ends."""

    def __init__(self, fn: Callable, args: tuple):
        self.fn, self.args = fn, args

    def result(self):
        return self.fn(*self.args)
