"""Where work runs: inline, in spawned local processes or threads, or on a Dask distributed cluster.

The one runner behind the studies' fits (:mod:`core.study.executor`) and the batches over tracks
(:mod:`core.features.batch`). One interface for all of them: ``submit(fn, *args)`` returns an object
whose ``result()`` waits for the work; ``as_completed(futures)`` yields them as they finish;
``share(array)`` hands a large array to the workers once (a memory-mapped ``.npy`` file locally, a
scattered Dask future on a cluster) and returns a handle that tasks take as an argument and open with
:func:`shared`. Tasks are plain top-level functions of picklable arguments, so they run anywhere.

Local workers are *spawned*, never forked: a fork would copy this process's TensorFlow and numba
state (threads included), which deadlocks or crashes. A worker on another machine needs the project
installed in its venv (``make setup``) and, for audio, the dataset root at the same path.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import GenreLabError, first_line

#: Every local worker process starts from a fresh interpreter (see the module docstring).
SPAWN = multiprocessing.get_context("spawn")
#: How long to wait for a Dask scheduler before saying it cannot be reached.
CONNECT_TIMEOUT = "20s"


def shared(handle: Any) -> np.ndarray:
    """The array behind a handle from :meth:`Workers.share` (a path is memory-mapped read-only)."""
    return np.load(handle, mmap_mode="r") if isinstance(handle, str) else handle


class Workers:
    """Local workers: ``parallel`` is "processes" (``n_jobs`` spawned processes, each started by
    ``initializer(*initargs)``), "threads", or "none" (inline: a task runs when its result is asked for).

    ``n_jobs`` defaults to this machine's CPUs; one job means inline. Nothing starts until the first
    ``submit``; ``close`` stops the workers (``cancel=True`` drops queued work and ends running work).
    """

    def __init__(self, parallel: str = "processes", n_jobs: int = 0, initializer: Callable | None = None,
                 initargs: tuple = ()):
        if parallel not in ("processes", "threads", "none"):
            raise GenreLabError(f'parallel = "{parallel}": choose "processes", "threads" or "none"')
        self.n_jobs = n_jobs or os.cpu_count() or 1
        self.parallel = "none" if self.n_jobs == 1 else parallel
        self.workers = 1 if self.parallel == "none" else self.n_jobs
        self.initializer, self.initargs = initializer, initargs
        self.threads: int | None = None  # threads per task, where the initializer sets them
        self._pool: concurrent.futures.Executor | None = None
        self._workdir: Path | None = None

    def describe(self) -> str:
        where = {"none": "inline", "threads": f"{self.n_jobs} threads"}.get(self.parallel, f"{self.n_jobs} local processes")
        return f"{where} on the CPU"

    def cost_identity(self) -> str:
        """The hardware a fit's cost depends on, as the cost file keys it (here: how this machine is split)."""
        return self.describe()

    def share(self, array: np.ndarray) -> Any:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="genrelab-shared-"))
        fd, path = tempfile.mkstemp(suffix=".npy", dir=self._workdir)
        os.close(fd)
        np.save(path, np.ascontiguousarray(array))
        return path

    def submit(self, fn: Callable, *args):
        if self.parallel == "none":
            return _Deferred(fn, args)
        if self._pool is None:
            if self.parallel == "threads":
                self._pool = concurrent.futures.ThreadPoolExecutor(self.n_jobs)
            else:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self.n_jobs, mp_context=SPAWN, initializer=self.initializer, initargs=self.initargs)
        return self._pool.submit(fn, *args)

    def as_completed(self, futures: Iterable) -> Iterator:
        """``futures`` as they finish (inline ones in order, each run when it is reached)."""
        futures = list(futures)
        if self.parallel == "none":
            return iter(futures)
        return concurrent.futures.as_completed(futures)

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            processes = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
            if cancel:
                for process in processes:  # cancelled work must not leave processes burning the CPU
                    process.terminate()
            self._pool = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind, error, trace) -> None:
        self.close(cancel=error is not None)  # Ctrl-C or a failed consumer: drop what has not started


class DaskWorkers(Workers):
    """The workers of a running Dask scheduler (``dask scheduler`` / ``dask worker ADDR``) at ``scheduler``.

    Thread counts on a cluster are its operator's (``dask worker --nthreads``); ``setup`` (if given) runs
    once on every worker now, as ``initializer`` does on a local process; ``timeout`` is how long to try
    to reach the scheduler (a Dask duration such as ``"20s"``).
    """

    def __init__(self, scheduler: str, setup: Callable[[], None] | None = None, timeout: str = CONNECT_TIMEOUT):
        super().__init__("none", 1)
        from distributed import Client

        try:
            self.client = Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            raise GenreLabError(f"dask scheduler {scheduler}: cannot connect ({first_line(err)})") from None
        self.scheduler = scheduler
        threads_per_host: dict[str, int] = {}
        for worker in self.client.scheduler_info()["workers"].values():
            host = str(worker.get("host", "?"))
            threads_per_host[host] = threads_per_host.get(host, 0) + int(worker.get("nthreads", 1))
        self.hosts = dict(sorted(threads_per_host.items()))
        self.workers = max(1, sum(self.hosts.values()))
        if setup is not None:
            self.client.run(setup)

    def describe(self) -> str:
        return f"Dask cluster at {self.scheduler} ({self.workers} worker threads)"

    def cost_identity(self) -> str:
        # The workers' machines, not the scheduler's address: a scheduler restarted on another port keeps
        # its measured cost, and one address in front of other machines gets its own.
        return "Dask workers on " + ", ".join(f"{host} ({n} thread{'s' if n > 1 else ''})"
                                               for host, n in self.hosts.items())

    def share(self, array: np.ndarray) -> Any:
        return self.client.scatter(np.ascontiguousarray(array), broadcast=True)

    def submit(self, fn: Callable, *args):
        return self.client.submit(fn, *args, pure=False)

    def as_completed(self, futures: Iterable) -> Iterator:
        from distributed import as_completed

        with self.client.as_current():  # as_completed finds its client as the current one
            return iter(as_completed(list(futures)))

    def close(self, cancel: bool = False) -> None:
        self.client.close()


class _Deferred:
    """Inline work that runs when its result is asked for, so each fit is logged as soon as it ends."""

    def __init__(self, fn: Callable, args: tuple):
        self.fn, self.args = fn, args

    def result(self):
        return self.fn(*self.args)
