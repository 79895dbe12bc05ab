"""The MLflow store: run context, statuses, resume lookup, and a store that moved."""
import shutil

import mlflow
import pytest

from core import tracking
from core.errors import GenreLabError


def test_runs_record_context_and_lineage(mlflow_store):
    with tracking.start_run("search", experiment="e", kind="search", seed=7, params={"layers": [3, 2]}) as search:
        with tracking.start_run("cand", experiment="e", kind="candidate", parent=search.info.run_id,
                                tags={"genrelab.candidate": "c1"}):
            mlflow.log_metric("cv_accuracy_mean", 0.5)
    runs = tracking.runs_frame().set_index("tags.genrelab.kind")
    assert runs.loc["candidate", "tags.mlflow.parentRunId"] == search.info.run_id
    assert runs.loc["search", "params.layers"] == "[3, 2]"
    assert runs.loc["search", "params.seed"] == "7"
    assert runs.loc["search", "tags.genrelab.version.numpy"] == __import__("numpy").__version__
    assert len(runs.loc["search", "tags.mlflow.source.git.commit"]) in (7, 40) or \
        runs.loc["search", "tags.mlflow.source.git.commit"] == "unknown"
    assert set(runs["status"]) == {"FINISHED"}
    found = tracking.find_finished_run("e", genrelab__kind="candidate", genrelab__candidate="c1")
    assert found.info.run_name == "cand"
    assert tracking.find_finished_run("e", genrelab__candidate="other") is None


def test_interrupt_ends_killed_and_error_ends_failed(mlflow_store):
    with pytest.raises(KeyboardInterrupt):
        with tracking.start_run("k", experiment="e", kind="fold"):
            raise KeyboardInterrupt
    with pytest.raises(ValueError):
        with tracking.start_run("f", experiment="e", kind="fold"):
            raise ValueError("boom")
    status = dict(tracking.runs_frame()[["tags.mlflow.runName", "status"]].to_numpy())
    assert status == {"k": "KILLED", "f": "FAILED"}


def test_orphaned_runs_are_ended(mlflow_store):
    client = mlflow.tracking.MlflowClient()
    run = client.create_run(tracking.experiment_id("e"), tags={
        "genrelab.host": tracking.context_tags()["genrelab.host"], "genrelab.pid": "999999999"})
    assert tracking.end_orphaned_runs("e") == 1
    assert client.get_run(run.info.run_id).info.status == "KILLED"


def test_moved_store_keeps_artifacts(tmp_path, monkeypatch):
    old, new = tmp_path / "old" / "mlruns", tmp_path / "new" / "mlruns"
    tracking.configure(f"sqlite:///{old / 'mlflow.db'}")
    with tracking.start_run("r", experiment="e", kind="search") as run:
        mlflow.log_text("kept", "note.txt")
    shutil.move(old.parent, new.parent)
    tracking.configure(f"sqlite:///{new / 'mlflow.db'}")
    assert mlflow.get_run(run.info.run_id).info.artifact_uri.startswith(str(new))
    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="note.txt")
    assert open(path).read() == "kept"


def test_unreadable_store_is_one_line_error(tmp_path):
    bad = tmp_path / "not-a-db"
    bad.mkdir()
    (bad / "mlflow.db").write_text("this is not sqlite")
    tracking.configure(f"sqlite:///{bad / 'mlflow.db'}")
    with pytest.raises(GenreLabError, match="cannot read the MLflow store"):
        tracking.runs_frame()


def test_direct_sqlite_read_matches_search_runs(mlflow_store):
    with tracking.start_run("a", experiment="e", kind="search", seed=1, params={"p": 1}) as a:
        mlflow.log_metric("accuracy", 0.25, step=0)
        mlflow.log_metric("accuracy", 0.5, step=1)
        with tracking.start_run("b", experiment="e", kind="fold", parent=a.info.run_id):
            mlflow.log_metric("nan_metric", float("nan"))
    fast = tracking.runs_frame().set_index("run_id").sort_index()
    slow = tracking._search_runs(None, 100).set_index("run_id").sort_index()
    assert sorted(fast.columns) == sorted(slow.columns)
    for column in slow.columns:
        assert fast[column].astype(object).where(fast[column].notna(), None).tolist() == \
            slow[column].astype(object).where(slow[column].notna(), None).tolist(), column
