"""The MLflow store: run context, statuses, orphaned runs, datasets, resume lookup, a store that moved."""
import json
import os
import shutil
import socket
import subprocess

import mlflow
import pytest

from core import processes, tracking
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


def test_an_interrupt_between_a_child_starting_and_its_guard_ends_every_run_killed(mlflow_store):
    """A cancelled job's SIGTERM can land after MLflow made a child run active but before the child's
    ``start_run`` guards it: the parent's handler must end the child and then itself, not leave the
    parent RUNNING (ending only the run on top of MLflow's stack did, now and then, in the browser test)."""
    with pytest.raises(KeyboardInterrupt):
        with tracking.start_run("study", experiment="e", kind="study") as study:
            mlflow.start_run(run_name="fold", nested=True, parent_run_id=study.info.run_id)
            raise KeyboardInterrupt
    status = dict(tracking.runs_frame()[["tags.mlflow.runName", "status"]].to_numpy())
    assert status == {"study": "KILLED", "fold": "KILLED"}
    assert mlflow.active_run() is None


@pytest.fixture
def other_process():
    """A live process that is not this one: (pid, start time)."""
    child = subprocess.Popen(["sleep", "60"])
    yield child.pid, processes.start_time(child.pid)
    child.kill()
    child.wait()


def _running_run(host: str, pid: int | str, started: float | None = None) -> str:
    """A RUNNING run of experiment ``e`` owned by (``host``, ``pid``, ``started``); None: no start time."""
    tags = {tracking.HOST_TAG: host, tracking.PID_TAG: str(pid)}
    if started is not None:
        tags[tracking.STARTED_TAG] = str(started)
    return mlflow.tracking.MlflowClient().create_run(tracking.experiment_id("e"), tags=tags).info.run_id


def _status(run_id: str) -> str:
    return mlflow.tracking.MlflowClient().get_run(run_id).info.status


def test_runs_record_their_owner_process(mlflow_store):
    with tracking.start_run("r", experiment="e", kind="study") as run:
        pass
    tags = mlflow.get_run(run.info.run_id).data.tags
    assert tags[tracking.HOST_TAG] == processes.host_id()
    assert tags[tracking.PID_TAG] == str(os.getpid())
    assert float(tags[tracking.STARTED_TAG]) == processes.start_time(os.getpid())


def test_orphaned_runs_are_ended(mlflow_store, other_process):
    pid, started = other_process
    me, here = processes.this_process(), processes.host_id()
    dead = _running_run(here, 999999999, 1700000000.0)
    reused = _running_run(here, pid, started - 3600)  # the pid now names another program
    alive = _running_run(me.host, me.pid, me.started)
    other = _running_run(here, pid, started)
    elsewhere = _running_run("elsewhere/pidns:4026531836", 999999999, 1700000000.0)
    assert tracking.end_orphaned_runs("e") == 2
    assert {r: _status(r) for r in (dead, reused, alive, other, elsewhere)} == {
        dead: "KILLED", reused: "KILLED", alive: "RUNNING", other: "RUNNING", elsewhere: "RUNNING"}


def test_runs_without_a_start_time_keep_the_pid_only_check(mlflow_store, other_process):
    pid, _ = other_process
    dead = _running_run(socket.gethostname(), 999999999)  # hosts were recorded by their bare name
    live = _running_run(socket.gethostname(), pid)
    elsewhere = _running_run("elsewhere", 999999999)
    assert tracking.end_orphaned_runs("e") == 1
    assert [_status(r) for r in (dead, live, elsewhere)] == ["KILLED", "RUNNING", "RUNNING"]


def test_experiments_open_on_training_runs_in_the_mlflow_ui(mlflow_store):
    client = mlflow.tracking.MlflowClient()
    created = tracking.experiment_id("new")
    older = client.create_experiment("older")  # as experiments were created before the tag
    chosen = client.create_experiment("chosen", tags={tracking.EXPERIMENT_KIND_TAG: "genai_development"})
    assert tracking.experiment_id("older") == older and tracking.experiment_id("chosen") == chosen
    kinds = [client.get_experiment(i).tags.get(tracking.EXPERIMENT_KIND_TAG) for i in (created, older, chosen)]
    assert kinds == ["custom_model_development", "custom_model_development", "genai_development"]


def test_run_description_and_dataset_input(mlflow_store, tmp_path):
    profile = {"tracks": 80, "genres": 8, "splits": {"training": 64, "validation": 8, "test": 8},
               "window": "30 s", "kind": "features"}
    with tracking.start_run("r", experiment="e", kind="search", description="the size study, 8k") as run:
        tracking.log_dataset(name="demo · small", digest="0123abcd", source=str(tmp_path / "demo"),
                             profile=profile, context="training")
    got = mlflow.tracking.MlflowClient().get_run(run.info.run_id)
    assert got.data.tags["mlflow.note.content"] == "the size study, 8k"
    (entry,) = got.inputs.dataset_inputs
    assert (entry.dataset.name, entry.dataset.digest, entry.dataset.source_type) == ("demo · small", "0123abcd", "local")
    assert json.loads(entry.dataset.source) == {"uri": str(tmp_path / "demo")}
    assert json.loads(entry.dataset.profile) == profile
    assert {t.key: t.value for t in entry.tags}["mlflow.data.context"] == "training"


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
    with pytest.raises(GenreLabError, match="mlflow.db: cannot read the MLflow store") as raised:
        tracking.configure(f"sqlite:///{bad / 'mlflow.db'}")
    assert "\n" not in str(raised.value)


def test_store_that_breaks_after_configure_is_one_line_error(mlflow_store, tmp_path):
    (tmp_path / "mlruns" / "mlflow.db").write_text("this is not sqlite")
    with pytest.raises(GenreLabError, match="cannot read the MLflow store"):
        tracking.runs_frame()


def test_direct_sqlite_read_matches_search_runs(mlflow_store):
    with tracking.start_run("a", experiment="e", kind="search", seed=1, params={"p": 1}) as a:
        mlflow.log_metric("accuracy", 0.25, step=0)
        mlflow.log_metric("accuracy", 0.5, step=1)
        with tracking.start_run("b", experiment="e", kind="fold", parent=a.info.run_id):
            mlflow.log_metric("nan_metric", float("nan"))
    fast = tracking.runs_frame().set_index("run_id").sort_index()
    slow = tracking.reader._search_runs(None, 100).set_index("run_id").sort_index()
    assert sorted(fast.columns) == sorted(slow.columns)
    for column in slow.columns:
        assert fast[column].astype(object).where(fast[column].notna(), None).tolist() == \
            slow[column].astype(object).where(slow[column].notna(), None).tolist(), column
