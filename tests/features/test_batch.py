import numpy as np
import pandas as pd
import pytest

from core.data import fma
from core.features import batch
from core.features.batch import ArrayStore, Job, fill_features, fill_mels, files_features, run_jobs
from core.features.fma_features import FEATURE_COLUMNS
from core.features.mels import MelCache
from tests.features.conftest import make_root, write_audio


def _count(job: Job) -> int:
    if job.key == "bad":
        raise ValueError("boom\nsecond line")
    return len(str(job.path))


def test_run_jobs_records_failures_and_goes_on(tmp_path):
    jobs = [Job("a", tmp_path / "a.wav"), Job("bad", tmp_path / "b.wav"), Job("c", tmp_path / "cc.wav")]
    report = run_jobs(_count, jobs, failures_path=tmp_path / "failures.csv", workers=1)
    assert report.computed == 2 and set(report.results) == {"a", "c"}
    table = pd.read_csv(tmp_path / "failures.csv")
    assert list(table.columns) == ["track_id", "path", "reason"]
    assert table.track_id.tolist() == ["bad"] and "ValueError: boom" in table.reason[0]
    assert "\n" not in table.reason[0]


def test_fill_features_resumes_and_records_failures(tmp_path, monkeypatch):
    root = make_root(tmp_path / "root", {2: 1.5, 5: 1.5, 7: b"", 9: b"not audio at all" * 20, 11: None})
    first = fill_features(root, workers=1)
    assert first.computed == 2 and first.skipped == 0
    failures = pd.read_csv(batch.features_store(root).dir / "failures.csv")
    reasons = dict(zip(failures.track_id, failures.reason))
    assert set(reasons) == {7, 9} and "empty file" in reasons[7] and "not a readable audio" in reasons[9]
    table = fma.load_features(root)
    assert table.index.tolist() == [2, 5] and list(table.columns) == list(FEATURE_COLUMNS)
    assert np.isfinite(table.to_numpy()[:, :10]).all()

    # A rerun computes only what is missing: the two failures (still failing), nothing else.
    calls = []
    real = batch._features_task
    monkeypatch.setattr(batch, "_features_task", lambda job, store_dir: calls.append(job.key) or real(job, store_dir))
    second = fill_features(root, workers=1)
    assert sorted(calls) == [7, 9] and second.skipped == 2
    np.testing.assert_array_equal(fma.load_features(root).to_numpy(), table.to_numpy())


def test_interrupted_batch_keeps_finished_tracks(tmp_path, monkeypatch):
    root = make_root(tmp_path / "root", {2: 1.2, 3: 1.2, 4: 1.2})
    real = batch._features_task

    def stop_on_third(job, store_dir):
        if job.key == 4:
            raise KeyboardInterrupt
        real(job, store_dir)

    monkeypatch.setattr(batch, "_features_task", stop_on_third)
    with pytest.raises(KeyboardInterrupt):
        fill_features(root, workers=1)
    store = batch.features_store(root)
    assert store.has(2) and store.has(3) and not store.has(4)
    monkeypatch.setattr(batch, "_features_task", real)
    assert fill_features(root, workers=1).computed == 1
    assert fma.load_features(root).index.tolist() == [2, 3, 4]


def test_files_features_index_by_stem(tmp_path):
    paths = [write_audio(tmp_path / "song one.wav", 1.2), write_audio(tmp_path / "b.ogg", 1.2)]
    frame, report = files_features(paths, workers=1)
    assert frame.index.tolist() == ["song one", "b"] and frame.shape == (2, 518)
    assert frame.index.name == "file"


def test_process_pool_and_dask_give_the_same_mels(tmp_path):
    from distributed import LocalCluster

    assert batch.pool_size(2, 8) == 2 and batch.pool_size(2, 7) == 1 and batch.pool_size(None, 1) == 1
    ids = list(range(2, 9))
    root = make_root(tmp_path / "root", {**{tid: 1.1 for tid in ids}, 9: b""})  # 8 jobs: a pool of 2
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
