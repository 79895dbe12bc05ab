"""The one keyed step families and the engine share (core.study.contract.Steps): a finished run with the
same key is reused (under the open run, artifacts included) instead of fitted again, and every step
counts on the progress file once, whether fitted or reused."""
from __future__ import annotations

from types import SimpleNamespace

import mlflow
import pytest

from core.study.runtree import PARENT, REUSED_FROM
from core.study.steps import Steps


class Counter:
    def __init__(self):
        self.done, self.where = 0, []

    def advance(self, n=1, current=None):
        self.done += n
        self.where.append(current)

    def set_current(self, current):
        self.where.append(current)


def steps(progress) -> Steps:
    data = SimpleNamespace(dataset_name="toy", fingerprint="f" * 16, synthetic=True)
    return Steps("contract", "toy_family", 0, data, progress)


def test_a_step_fits_once_then_is_reused_with_its_artifacts_under_the_open_run(mlflow_store, tmp_path):
    fitted = []

    def work(log):
        fitted.append(1)
        log.metrics({"score": 0.75})
        log.history({"loss": [1.0, 0.5]})
        log.params({"units": [8, 4]})
        (tmp_path / "enc").mkdir()
        (tmp_path / "enc" / "weights.txt").write_text("w")
        log.folder(tmp_path / "enc", "encoder")

    first = Counter()
    s = steps(first)
    with s.run("study A", "study", "keyA", advance=0):
        done = s.once("fit", "fold", "k1", None, work, progress=1, where="fold 1")
        parent_a = s.parent
    assert fitted == [1] and first.done == 1
    assert done.metrics["score"] == 0.75 and done.params["units"] == "[8, 4]"
    assert [m.value for m in mlflow.tracking.MlflowClient().get_metric_history(done.id, "loss")] == [1.0, 0.5]
    assert done.tags[PARENT] == parent_a

    second = Counter()
    s = steps(second)
    with s.run("study B", "study", "keyB"):
        again = s.once("fit", "fold", "k1", None, work, progress=3, where="fold 1 reused")
        parent_b = s.parent
    assert fitted == [1], "the finished run with the same key was fitted again"
    assert second.done == 3 and "fold 1 reused" in second.where
    assert again.tags[PARENT] == parent_b and again.tags[REUSED_FROM] == done.id  # study A finished: copied
    assert again.metrics["score"] == 0.75
    assert (again.artifact("encoder") / "weights.txt").read_text() == "w"


def test_work_that_counts_itself_is_not_counted_twice(mlflow_store):
    progress = Counter()
    s = steps(progress)

    def work(log):
        for _ in range(4):
            s.advance(1)

    s.once("search", "search", "k2", None, work, progress=4, counts_itself=True)
    assert progress.done == 4
    s.once("search", "search", "k2", None, work, progress=4, counts_itself=True)  # reused: counted at once
    assert progress.done == 8


def test_a_failed_step_is_not_reused(mlflow_store):
    s = steps(None)

    def boom(log):
        raise RuntimeError("fit failed")

    with pytest.raises(RuntimeError, match="fit failed"):
        s.once("fit", "fold", "k3", None, boom)
    assert s.find("fold", "k3") is None
    done = s.once("fit", "fold", "k3", None, lambda log: log.metrics({"score": 1.0}))
    assert done.metrics == {"score": 1.0}
