"""Two studies at once never duplicate or steal runs; fits on a Dask cluster give the local results."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import mlflow
import pytest

from core.config import PROJECT_ROOT
from core.study.engine import run_study
from core.study.spec import load_spec
from tests.study.conftest import write_spec

SPEC = """
[dataset]
sizes = ["small"]
[model]
family = "sklearn_mlp"
[search]
n_candidates = 2
folds = 3
[search.space]
hidden_units = [[8], [4]]
epochs = [{epochs}]
batch_size = [16]
[evaluation]
baselines = false
register = false
[compute]
parallel = "none"
"""


def fold_results(experiment: str) -> list[tuple[str, float]]:
    runs = mlflow.search_runs(experiment_names=[experiment], filter_string="tags.`genrelab.kind` = 'fold'")
    return sorted(zip(runs["tags.genrelab.key"], runs["metrics.fold_accuracy"].round(12)))


def start(spec, root, uri, *extra):
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "core", "run", str(spec), "--data", str(root), *extra],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("wait", [False, True])
def test_two_identical_studies_on_a_fresh_store(study_root, tmp_path, wait):
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"  # the store does not exist yet
    spec = write_spec(tmp_path, "twins", SPEC.format(epochs=40))
    extra = ["--wait"] if wait else []  # both wait: either may take the lock first
    first = start(spec, study_root, uri, *extra)
    time.sleep(0.5)
    second = start(spec, study_root, uri, *extra)
    outcomes = [(p.wait(timeout=600), *p.communicate()) for p in (first, second)]
    for _, _, err in outcomes:
        assert "Traceback" not in err, err
    codes = sorted(code for code, _, _ in outcomes)
    if wait:  # the one that waited finds the study finished
        assert codes == [0, 0] and any("nothing to fit" in out for _, out, _ in outcomes)
    else:  # whichever came second refuses, in one line
        assert codes == [0, 1], outcomes
        refused = next(err for code, _, err in outcomes if code == 1)
        errors = [line for line in refused.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "already running" in errors[0] and "--wait" in errors[0]
    mlflow.set_tracking_uri(uri)
    keys = [key for key, _ in fold_results("twins")]
    assert len(keys) == 2 * 3 and len(set(keys)) == len(keys)  # no duplicate fold keys
    studies = mlflow.search_runs(experiment_names=["twins"], filter_string="tags.`genrelab.kind` = 'study'")
    assert list(studies["status"]) == ["FINISHED"]


def test_reuse_copies_runs_of_a_finished_tree_instead_of_stealing_them(study_root, mlflow_store, tmp_path):
    small = write_spec(tmp_path, "shared", SPEC.format(epochs=2))
    run_study(load_spec(small), data=str(study_root))
    first = mlflow.search_runs(experiment_names=["shared"])
    (search_id,) = first[first["tags.genrelab.kind"] == "search"]["run_id"]
    run_study(load_spec(small, ['dataset.sizes=["small", "medium"]']), data=str(study_root))
    runs = mlflow.search_runs(experiment_names=["shared"])
    children = runs[runs["tags.mlflow.parentRunId"] == search_id]["tags.genrelab.kind"]
    assert sorted(children) == ["candidate", "candidate", "final"]  # the first study keeps its tree
    copies = runs[runs["tags.genrelab.reused_from"] == search_id]
    assert len(copies) == 1 and copies["status"].iloc[0] == "FINISHED"
    assert copies["metrics.cv_accuracy_mean"].iloc[0] == runs.set_index("run_id").loc[search_id,
                                                                                     "metrics.cv_accuracy_mean"]


def test_dask_cluster_gives_the_local_fold_results(study_root, tmp_path, monkeypatch):
    from distributed import LocalCluster

    from core import tracking

    spec = write_spec(tmp_path, "dask", SPEC.format(epochs=3))
    results = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        for where, scheduler in (("local", None), ("dask", cluster.scheduler_address)):
            monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / where / 'mlflow.db'}")
            tracking.configure()
            rows = run_study(load_spec(spec), data=str(study_root), scheduler=scheduler)
            results[where] = (fold_results("dask"), rows[0]["cv_mean"])
    assert len(results["local"][0]) == 6
    assert results["dask"] == results["local"]


def test_a_copied_run_carries_its_artifacts(mlflow_store, tmp_path):
    """A reused run whose tree finished is copied, artifacts included (an autoencoder's ``encoder/``)."""
    from core.study import runtree
    from core.study.steps import reuse

    mlflow.set_experiment("copies")
    with mlflow.start_run(run_name="old study"):
        with mlflow.start_run(run_name="autoencoder fold 1", nested=True) as fold:
            (tmp_path / "encoder").mkdir()
            (tmp_path / "encoder" / "weights.bin").write_bytes(b"\x00\x01 weights")
            mlflow.log_artifacts(str(tmp_path / "encoder"), "encoder")
            mlflow.log_metric("reconstruction_mse", 0.25)
    with mlflow.start_run(run_name="new study") as new:
        pass
    copy = reuse(mlflow.get_run(fold.info.run_id), new.info.run_id)
    assert copy.info.run_id != fold.info.run_id and copy.data.tags[runtree.REUSED_FROM] == fold.info.run_id
    assert copy.data.metrics == {"reconstruction_mse": 0.25} and copy.info.status == "FINISHED"
    folder = mlflow.artifacts.download_artifacts(run_id=copy.info.run_id, artifact_path="encoder",
                                                 dst_path=str(tmp_path / "back"))
    assert (tmp_path / "back" / "encoder" / "weights.bin").read_bytes() == b"\x00\x01 weights"
    assert folder.endswith("encoder")
