"""The batch runner: failures recorded one line each, process pool and Dask agree, atomic array store."""
import os
import stat

import numpy as np
import pandas as pd
import pytest

from core.features import batch
from core.features.batch import ArrayStore, TrackFile, run_batch
from core.features.mels import MelCache, fill_mels
from tests.builders import build_fma_root, simple_rows


def _count(job: TrackFile) -> int:
    if job.key == "bad":
        raise ValueError("boom\nsecond line")
    return len(str(job.path))


def test_run_batch_records_failures_and_goes_on(tmp_path):
    jobs = [TrackFile("a", tmp_path / "a.wav"), TrackFile("bad", tmp_path / "b.wav"), TrackFile("c", tmp_path / "cc.wav")]
    report = run_batch(_count, jobs, failures_path=tmp_path / "failures.csv", workers=1)
    assert report.computed == 2 and set(report.results) == {"a", "c"}
    table = pd.read_csv(tmp_path / "failures.csv")
    assert list(table.columns) == ["track_id", "path", "reason"]
    assert table.track_id.tolist() == ["bad"] and table.reason[0] == f"{tmp_path / 'b.wav'}: ValueError: boom"


def test_process_pool_and_dask_give_the_same_mels(tmp_path):
    from distributed import LocalCluster

    assert batch.pool_size(2, 8) == 2 and batch.pool_size(2, 7) == 1 and batch.pool_size(None, 1) == 1
    ids = list(range(2, 9))
    root = build_fma_root(tmp_path / "root", simple_rows([*ids, 9]), audio={**dict.fromkeys(ids, 1.1), 9: b""},
                          features=False)  # 8 jobs: a pool of 2
    report, cache = fill_mels(root, workers=2)
    assert report.computed == 7 and report.failures.track_id.tolist() == [9]
    local = {tid: np.array(cache.load(tid)) for tid in ids}
    for tid in ids[:3]:
        cache.path(tid).unlink()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        dask_report, _ = fill_mels(root, scheduler=cluster.scheduler_address)
    assert dask_report.computed == 3 and dask_report.failures.track_id.tolist() == [9]
    for tid in ids:
        np.testing.assert_allclose(cache.load(tid), local[tid], atol=1e-4)  # BLAS threads differ
    again, _ = fill_mels(root, workers=2)  # a second run costs nothing but the failed file
    assert again.skipped == 7 and again.computed == 0


def test_array_store_layout(tmp_path):
    store = ArrayStore(tmp_path)
    store.save(123456, np.arange(3))
    assert (tmp_path / "123" / "123456.npy").is_file() and store.load(123456).tolist() == [0, 1, 2]
    assert isinstance(MelCache(tmp_path), ArrayStore)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_arrays_failures_and_params_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        array = ArrayStore(tmp_path / "arrays").save(2, np.zeros(3))
        run_batch(_count, [TrackFile("bad", tmp_path / "b.wav")], failures_path=tmp_path / "failures.csv", workers=1)
        mels = MelCache(tmp_path / "mels")
        mel = mels.save(3, np.zeros((128, 2), np.float32))
    finally:
        os.umask(previous)
    for path in (array, tmp_path / "failures.csv", mels.dir / "params.json", mel):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_runner_imports_no_batch_of_its_own():
    """One direction only: the batches (features, log-mels) use the runner; it knows neither."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(batch))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m and m.startswith("core.features")}
