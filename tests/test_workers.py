"""The one runner under fits and batches: inline, threads, spawned processes (each set up by an
initializer), shared arrays, and cancelling that leaves no process behind."""
from __future__ import annotations

import os
import time

import numpy as np
import psutil
import pytest

from core.errors import GenreLabError
from core.workers import DaskWorkers, Workers, shared
from tests.registry.test_serving import free_port

_MARK = "GENRELAB_TEST_WORKER_MARK"


def _mark(value: str) -> None:
    os.environ[_MARK] = value


def _read_mark(_: int) -> tuple[int, str | None]:
    return os.getpid(), os.environ.get(_MARK)


def _row_sum(handle, row: int) -> float:
    return float(shared(handle)[row].sum())


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_inline_runs_each_task_when_its_result_is_asked_for():
    ran = []
    workers = Workers("processes", 1)  # one job: this process, no pool
    assert workers.parallel == "none" and workers.workers == 1 and workers.describe() == "inline on the CPU"
    futures = [workers.submit(ran.append, n) for n in range(3)]
    assert ran == []
    assert [f.result() for f in workers.as_completed(futures)] == [None] * 3 and ran == [0, 1, 2]


def test_spawned_processes_start_with_the_initializer_and_read_shared_arrays():
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    with Workers("processes", 2, _mark, ("ready",)) as workers:
        assert workers.describe() == "2 local processes on the CPU"
        handle = workers.share(array)
        sums = sorted(f.result() for f in workers.as_completed(workers.submit(_row_sum, handle, r) for r in range(3)))
        seen = [f.result() for f in workers.as_completed(workers.submit(_read_mark, n) for n in range(4))]
        shared_dir = os.path.dirname(handle)
    assert sums == [6.0, 22.0, 38.0]
    assert {mark for _, mark in seen} == {"ready"} and os.getpid() not in {pid for pid, _ in seen}
    assert _MARK not in os.environ  # the initializer ran in the workers only
    assert not os.path.exists(shared_dir)  # closing removes the shared files


def test_threads_share_this_process():
    with Workers("threads", 2) as workers:
        assert {f.result()[0] for f in [workers.submit(_read_mark, n) for n in range(3)]} == {os.getpid()}


def _ended(process: psutil.Process) -> bool:
    """Whether ``process`` has exited (a zombie waiting for its parent counts), without reaping it."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_cancel_drops_queued_work_and_ends_running_processes():
    workers = Workers("processes", 2)
    futures = [workers.submit(_sleep, 60) for _ in range(4)]
    deadline = time.monotonic() + 60
    while len(workers._pool._processes or {}) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    processes = [psutil.Process(pid) for pid in workers._pool._processes]
    started = time.monotonic()
    workers.close(cancel=True)
    # Watched without reaping them (psutil's wait would): the pool's own thread must see them exit, or it
    # waits for them forever and this interpreter hangs at its exit (it did, once, in CI).
    while not all(_ended(p) for p in processes) and time.monotonic() - started < 30:
        time.sleep(0.1)
    assert all(_ended(p) for p in processes) and time.monotonic() - started < 30  # not the 60 s they would sleep
    assert not any(f.done() and not f.cancelled() and f.exception() is None for f in futures)


def test_unknown_parallel_mode_is_refused_in_one_line():
    with pytest.raises(GenreLabError, match='parallel = "gpu"') as raised:
        Workers("gpu", 2)
    assert "\n" not in str(raised.value)


def test_an_unreachable_scheduler_is_one_line_naming_it():
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(GenreLabError, match=rf"^dask scheduler {address}: cannot connect \(") as raised:
        DaskWorkers(address, timeout="2s")
    assert "\n" not in str(raised.value)


def test_a_dask_clusters_cost_is_keyed_by_its_workers_machines_not_the_schedulers_address():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, dashboard_address=None) as local:
        cluster = DaskWorkers(local.scheduler_address)
        try:
            host = next(iter(cluster.client.scheduler_info()["workers"].values()))["host"]
            assert cluster.workers == 4
            assert cluster.cost_identity() == f"Dask workers on {host} (4 threads)"
            assert local.scheduler_address in cluster.describe()  # the plan still says where fits run
        finally:
            cluster.close()
