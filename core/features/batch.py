"""The one batch runner: one function over many tracks, in worker processes or on a Dask cluster.

``run_batch`` applies a task to every job with a progress bar, on :class:`core.workers.Workers`: in this
process for a small batch, in spawned worker processes otherwise, or on the Dask cluster at
``scheduler`` when one is given. A task
that raises is recorded (track id, path, one-line reason) in a failures table and the batch goes on.
Tasks write their results to an ``ArrayStore`` (one ``.npy`` per track, atomically), so an
interrupted batch keeps everything already finished and a rerun computes only what is missing.

The batches built on it: ``core.features.table`` (FMA's 518 features) and ``core.features.mels``
(the log-mel cache); this module knows neither.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from core.errors import GenreLabError, first_line
from core.files import atomic_write
from core.workers import DaskWorkers, Workers

#: One thread per worker process: the parallelism is across tracks, not inside numpy/numba.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}
FAILURE_COLUMNS = ["track_id", "path", "reason"]
#: A spawned worker pays seconds to import librosa and warm up: give each at least this many jobs.
MIN_JOBS_PER_WORKER = 4

#: What one job gave: (key, result, None) or (key, None, one-line reason).
Outcome = tuple[Hashable, object, str | None]


@dataclass(frozen=True)
class TrackFile:
    """One unit of work: a key (track id or file stem) and its audio file."""

    key: Hashable
    path: Path


@dataclass
class BatchReport:
    """What a batch did: jobs computed, jobs skipped as already done, failures, wall time in seconds."""

    computed: int
    skipped: int
    failures: pd.DataFrame
    seconds: float
    results: dict = field(default_factory=dict)

    def summary(self, what: str) -> str:
        return (
            f"{what}: {self.computed} computed, {self.skipped} already done, "
            f"{len(self.failures)} failed, {self.seconds:.1f} s"
        )


class ArrayStore:
    """One ``.npy`` per key under ``dir``: integer ids as ``NNN/NNNNNN.npy`` (FMA's layout), others as ``<key>.npy``."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)

    def path(self, key) -> Path:
        if isinstance(key, (int, np.integer)):
            name = f"{int(key):06d}"
            return self.dir / name[:3] / f"{name}.npy"
        return self.dir / f"{key}.npy"

    def has(self, key) -> bool:
        return self.path(key).is_file()

    def save(self, key, array: np.ndarray) -> Path:
        """Write atomically: readers never see half an array."""
        path = self.path(key)
        with atomic_write(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array))
        return path

    def load(self, key, mmap: bool = False) -> np.ndarray:
        return np.load(self.path(key), mmap_mode="r" if mmap else None)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def pool_size(workers: int | None, n_jobs: int) -> int:
    """Worker processes for ``n_jobs``: ``workers`` (default: usable CPUs), fewer for small batches; 1 = this process."""
    return max(1, min(workers or default_workers(), n_jobs // MIN_JOBS_PER_WORKER))


def fill_store(store: ArrayStore, audio: Mapping, task: Callable[[TrackFile], object], *,
               done: Callable[[object], bool] | None = None, workers: int | None = None,
               scheduler: str | None = None, warmup: Callable[[], None] | None = None,
               desc: str = "tracks") -> BatchReport:
    """The one cache-fill recipe: ``task`` on every track of ``audio`` (track id → path) that is not
    ``done`` yet (default: the store holds its array), failures in ``<store>/failures.csv``, the tracks
    already done counted as skipped. ``workers``, ``scheduler`` and ``warmup`` are :func:`run_batch`'."""
    done = done or store.has
    todo = [TrackFile(tid, path) for tid, path in audio.items() if not done(tid)]
    return run_batch(task, todo, failures_path=store.dir / "failures.csv", workers=workers, scheduler=scheduler,
                    warmup=warmup, desc=desc, skipped=len(audio) - len(todo))


def run_batch(
    task: Callable[[TrackFile], object],
    jobs: Sequence[TrackFile],
    *,
    failures_path: str | os.PathLike | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    warmup: Callable[[], None] | None = None,
    desc: str = "tracks",
    skipped: int = 0,
) -> BatchReport:
    """Apply ``task`` to every job and collect what it returns (None results are not kept).

    ``task`` must be picklable (a module-level function or a ``functools.partial`` of one). Runs in
    ``pool_size(workers, len(jobs))`` spawned processes (``workers`` defaults to the usable CPUs; a
    batch too small to repay starting them runs in this process), or on the Dask cluster at
    ``scheduler`` (``tcp://host:port``) when given. ``warmup`` runs once per process first. Failures
    are written to ``failures_path`` (CSV: track_id, path, reason) at the end, or on interruption.
    """

    started = time.perf_counter()
    paths = {job.key: job.path for job in jobs}
    results: dict = {}
    failures: list[tuple] = []
    bar = tqdm(total=len(jobs), desc=desc, unit="track", mininterval=1.0, file=sys.stderr)
    try:
        for key, result, reason in _outcomes(partial(_attempt, task), jobs, workers, scheduler, warmup):
            if reason is not None:
                failures.append((key, str(paths[key]), reason))
            elif result is not None:
                results[key] = result
            bar.update()
    finally:
        bar.close()
        table = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
        if failures_path is not None:
            write_failures(table, failures_path)
    return BatchReport(len(jobs) - len(failures), skipped, table, time.perf_counter() - started, results)


def write_failures(table: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_write(path) as tmp:
        table.to_csv(tmp, index=False)


def _attempt(task: Callable[[TrackFile], object], job: TrackFile) -> Outcome:
    """Run ``task(job)``; return (key, result, None) or (key, None, one-line reason)."""
    try:
        return job.key, task(job), None
    except GenreLabError as err:
        return job.key, None, str(err)
    except Exception as err:
        return job.key, None, f"{job.path}: {type(err).__name__}: {first_line(err)}"


def _outcomes(attempt, jobs: Sequence[TrackFile], workers: int | None, scheduler: str | None, warmup) -> Iterator[Outcome]:
    """Every job's outcome, as they finish, from wherever the batch runs."""
    if not jobs:
        return
    if scheduler:
        runner = DaskWorkers(scheduler, setup=warmup)
    else:
        n = pool_size(workers, len(jobs))
        runner = Workers("processes", n, _init_worker, (warmup,))
        if n == 1 and warmup is not None:  # inline: this process is the worker
            warmup()
    with runner:
        for future in runner.as_completed([runner.submit(attempt, job) for job in jobs]):
            yield future.result()


def _init_worker(warmup: Callable[[], None] | None) -> None:
    """Worker start: one thread per library, Ctrl-C handled by the parent only, numba compiled once."""
    os.environ.update(THREAD_ENV)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    threadpool_limits(1)
    if warmup is not None:
        warmup()
