"""Run one function over many tracks: worker processes (or a Dask cluster), progress, failures, resume.

Each task writes its own result file (one ``.npy`` per track, atomically), so an interrupted batch
keeps everything already finished and a rerun computes only what is missing. A task that raises is
recorded (track id, path, one-line reason) in a failures table and the batch goes on.

``fill_features`` and ``fill_mels`` are the two batches of a dataset root; ``files_features`` is the
uncached variant for arbitrary files.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.data.fma import CACHE_DIR
from core.errors import GenreLabError

if TYPE_CHECKING:
    from core.features.mels import MelCache

#: One thread per worker process: the parallelism is across tracks, not inside numpy/numba.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}
FAILURE_COLUMNS = ["track_id", "path", "reason"]


@dataclass(frozen=True)
class Job:
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
        """Write atomically (temp file, then rename): readers never see half an array."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array))
        os.replace(tmp, path)
        return path

    def load(self, key, mmap: bool = False) -> np.ndarray:
        return np.load(self.path(key), mmap_mode="r" if mmap else None)


def _init_worker(warmup: Callable[[], None] | None) -> None:
    """Worker start: one thread per library, Ctrl-C handled by the parent only, numba compiled once."""
    os.environ.update(THREAD_ENV)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if warmup is not None:
        warmup()


def _attempt(task: Callable[[Job], object], job: Job) -> tuple[Hashable, object, str | None]:
    """Run ``task(job)``; return (key, result, None) or (key, None, one-line reason)."""
    try:
        return job.key, task(job), None
    except GenreLabError as err:
        return job.key, None, str(err)
    except Exception as err:  # noqa: BLE001 -- a batch records any per-track failure and goes on
        return job.key, None, f"{job.path}: {type(err).__name__}: {err}".splitlines()[0]


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


#: A spawned worker pays seconds to import librosa and warm up: give each at least this many jobs.
MIN_JOBS_PER_WORKER = 4


def pool_size(workers: int | None, n_jobs: int) -> int:
    """Worker processes for ``n_jobs``: ``workers`` (default: usable CPUs), fewer for small batches; 1 = this process."""
    return max(1, min(workers or default_workers(), n_jobs // MIN_JOBS_PER_WORKER))


def run_jobs(
    task: Callable[[Job], object],
    jobs: Sequence[Job],
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
    ``scheduler`` (``tcp://host:port``) when given. Failures are
    written to ``failures_path`` (CSV: track_id, path, reason) at the end, or on interruption.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    paths = {job.key: job.path for job in jobs}
    results: dict = {}
    failures: list[tuple] = []

    def record(outcome):
        key, result, reason = outcome
        if reason is not None:
            failures.append((key, str(paths[key]), reason))
        elif result is not None:
            results[key] = result

    attempt = partial(_attempt, task)
    bar = tqdm(total=len(jobs), desc=desc, unit="track", mininterval=1.0, file=sys.stderr)
    try:
        if not jobs:
            pass
        elif scheduler:
            for outcome in _run_dask(attempt, jobs, scheduler, warmup):
                record(outcome)
                bar.update()
        elif (n := pool_size(workers, len(jobs))) == 1:
            if warmup is not None:
                warmup()
            for job in jobs:
                record(attempt(job))
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(n, mp_context=context, initializer=_init_worker, initargs=(warmup,)) as pool:
                futures = [pool.submit(attempt, job) for job in jobs]
                try:
                    for future in as_completed(futures):
                        record(future.result())
                        bar.update()
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    finally:
        bar.close()
        table = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
        if failures_path is not None:
            write_failures(table, failures_path)
    return BatchReport(len(jobs) - len(failures), skipped, table, time.perf_counter() - started, results)


def _run_dask(attempt, jobs: Sequence[Job], scheduler: str, warmup):
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:  # pragma: no cover -- distributed is a pinned dependency
        raise GenreLabError("--scheduler needs the 'distributed' package") from None
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as err:
        raise GenreLabError(f"{scheduler}: cannot reach the Dask scheduler ({err})") from None
    with client:
        # Thread counts on a cluster are its operator's (``dask worker --nthreads``); only warm up.
        if warmup is not None:
            client.run(warmup)
        futures = client.map(attempt, list(jobs), pure=False)
        for future in dask_completed(futures):
            yield future.result()


def write_failures(table: pd.DataFrame, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)


# -- The dataset batches ---------------------------------------------------------------------------


def warm_up_librosa() -> None:
    """Compile librosa's numba kernels once (seconds) so that no track pays for it."""
    from core.features.fma_features import extract_fma_features

    t = np.arange(22050, dtype=np.float32) / 22050
    extract_fma_features(0.1 * np.sin(2 * np.pi * 440 * t), 22050)


def features_store(root: str | os.PathLike) -> ArrayStore:
    """Per-track feature vectors of a dataset root: ``ROOT/cache/features/<FEATURES_VERSION>/``."""
    from core.features.fma_features import FEATURES_VERSION

    return ArrayStore(Path(root) / CACHE_DIR / "features" / FEATURES_VERSION)


def _features_task(job: Job, store_dir: str) -> None:
    from core.features.fma_features import file_features

    ArrayStore(store_dir).save(job.key, file_features(job.path))


def _vector_task(job: Job) -> np.ndarray:
    from core.features.fma_features import file_features

    return file_features(job.path)


def _dataset_audio(root: Path) -> tuple[pd.Index, dict]:
    """Track ids of ``tracks.csv`` and the audio file of each one that has audio."""
    from core.data import fma

    tracks = fma.load_tracks(root)
    audio = fma.audio_index(root)
    with_audio = {tid: audio[tid] for tid in tracks.index if tid in audio}
    return tracks.index, with_audio


def fill_features(
    root: str | os.PathLike, workers: int | None = None, scheduler: str | None = None, force: bool = False
) -> BatchReport:
    """Compute FMA's 518 features for every track of ``root`` whose audio exists; write features.csv.

    Tracks with a complete row in the existing ``fma_metadata/features.csv`` or a cached vector are
    skipped unless ``force``. Existing rows of other tracks are kept. Failures go to
    ``ROOT/cache/features/<version>/failures.csv``.
    """
    from core.data import fma
    from core.features.fma_features import FEATURE_COLUMNS

    root = Path(root)
    _, audio = _dataset_audio(root)
    csv_path = fma.metadata_path(root, "features")
    existing = fma.load_features(root) if csv_path.is_file() else pd.DataFrame(columns=FEATURE_COLUMNS)
    complete = set(existing.index[existing.notna().all(axis=1)]) if len(existing) else set()
    store = features_store(root)
    todo = [Job(tid, path) for tid, path in audio.items() if force or not (tid in complete or store.has(tid))]
    report = run_jobs(
        partial(_features_task, store_dir=str(store.dir)),
        todo,
        failures_path=store.dir / "failures.csv",
        workers=workers,
        scheduler=scheduler,
        warmup=warm_up_librosa,
        desc="features",
        skipped=len(audio) - len(todo),
    )
    cached = [tid for tid in audio if store.has(tid) and (force or tid not in complete)]
    if cached:
        fresh = pd.DataFrame(
            np.stack([store.load(tid) for tid in cached]), index=pd.Index(cached, name="track_id"),
            columns=FEATURE_COLUMNS,
        )
        kept = existing.drop(index=[tid for tid in cached if tid in existing.index])
        table = pd.concat([kept, fresh]) if len(kept) else fresh
        fma.write_features(table.sort_index().astype(np.float32), csv_path)
    return report


def files_features(paths: Sequence[str | os.PathLike], workers: int | None = None) -> tuple[pd.DataFrame, BatchReport]:
    """Features of arbitrary files: a features.csv-shaped frame indexed by file stem (int when all digits)."""
    from core.features.fma_features import features_frame

    stems = [Path(p).stem for p in paths]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise GenreLabError(f"{duplicates[0]}: several input files share this name; rename or run them apart")
    numeric = all(s.isdigit() for s in stems)
    jobs = [Job(int(s) if numeric else s, Path(p)) for s, p in zip(stems, paths)]
    report = run_jobs(_vector_task, jobs, workers=workers, warmup=warm_up_librosa, desc="features")
    done = {job.key: report.results[job.key] for job in jobs if job.key in report.results}
    return features_frame(done, index_name="track_id" if numeric else "file"), report


def _mels_task(job: Job, cache_dir: str, params: dict) -> None:
    from core.features.mels import MelCache

    MelCache(cache_dir, **params).compute(job.key, job.path)


def fill_mels(
    root: str | os.PathLike,
    workers: int | None = None,
    scheduler: str | None = None,
    **params,
) -> tuple[BatchReport, MelCache]:
    """Fill ``ROOT/cache/mels/<key>/`` with the log-mel of every track whose audio exists.

    ``params`` are MelCache's (sr, n_fft, hop_length, n_mels). Returns the report and the cache.
    Failures go to ``<cache dir>/failures.csv``.
    """
    from core.features.mels import MelCache

    root = Path(root)
    cache = MelCache.for_root(root, **params)
    _, audio = _dataset_audio(root)
    todo = [Job(tid, path) for tid, path in audio.items() if not cache.has(tid)]
    report = run_jobs(
        partial(_mels_task, cache_dir=str(cache.dir.parent), params=params),
        todo,
        failures_path=cache.dir / "failures.csv",
        workers=workers,
        scheduler=scheduler,
        desc="log-mels",
        skipped=len(audio) - len(todo),
    )
    return report, cache
