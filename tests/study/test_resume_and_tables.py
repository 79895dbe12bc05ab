"""Resume after a kill, and the CSV feature-table path (scikit-learn MLP: no TensorFlow, fast)."""
from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from core.__main__ import main
from core.study import plan, runner
from core.study.spec import load_spec

SPEC = """
experiment = "resume_test"
[dataset]
sizes = ["small"]
[model]
family = "sklearn_mlp"
[search]
n_candidates = 2
folds = 3
[search.space]
hidden_units = [[8], [4]]
epochs = [2]
batch_size = [16]
[evaluation]
baselines = false
refit_and_test = false
[compute]
parallel = "none"
"""


@pytest.fixture
def spec_path(tmp_path, monkeypatch):
    path = tmp_path / "resume_test.toml"
    path.write_text(SPEC)
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps({"seconds_per_sample_epoch_weight": 1e-9, "seconds_per_epoch": 0.01}))
    monkeypatch.setattr(plan, "CALIBRATION_FILE", calibration)
    return path


def counting_fit(monkeypatch, fail_at: int | None = None) -> list:
    calls, real = [], runner.fit_fold

    def fit(*args):
        calls.append(args)
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt("killed by the test")
        return real(*args)

    monkeypatch.setattr(runner, "fit_fold", fit)
    return calls


def test_killed_study_ends_killed_and_resumes(study_root, mlflow_store, spec_path, monkeypatch, tmp_path):
    progress = tmp_path / "progress.json"
    counting_fit(monkeypatch, fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        runner.run_mlp_study(load_spec(spec_path), data=str(study_root), progress_path=str(progress))
    assert json.loads(progress.read_text())["status"] == "killed"
    runs = mlflow.search_runs(search_all_experiments=True)
    assert "RUNNING" not in set(runs["status"])
    assert set(runs[runs["tags.genrelab.kind"] != "fold"]["status"]) == {"KILLED"}
    assert (runs[runs["tags.genrelab.kind"] == "fold"]["status"] == "FINISHED").sum() == 2

    calls = counting_fit(monkeypatch)
    rows = runner.run_mlp_study(load_spec(spec_path), data=str(study_root))
    assert len(calls) == 2 * 3 - 2  # the two finished folds are reused, not refit
    assert rows[0]["cv_mean"] is not None
    runs = mlflow.search_runs(search_all_experiments=True)
    finished = runs[runs["status"] == "FINISHED"]
    candidates = finished[finished["tags.genrelab.kind"] == "candidate"]
    folds = finished[finished["tags.genrelab.kind"] == "fold"]
    # the resumed tree is complete: every fold hangs under a finished candidate of the new search
    assert len(folds) == 6 and set(folds["tags.mlflow.parentRunId"]) == set(candidates["run_id"])

    calls = counting_fit(monkeypatch)
    runner.run_mlp_study(load_spec(spec_path), data=str(study_root))
    assert calls == []


def test_csv_feature_table(mlflow_store, spec_path, tmp_path, capsys):
    rng = np.random.default_rng(1)
    labels = np.repeat(["calm", "loud", "odd"], 20)
    centres = {"calm": 0.0, "loud": 2.0, "odd": -2.0}
    X = np.stack([rng.normal(centres[g], 1.0, size=6) for g in labels])
    table = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    table.insert(0, "clip", [f"c{i:03d}" for i in range(60)])
    table["mood"] = labels
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)
    spec_path.write_text(SPEC.replace("refit_and_test = false", "refit_and_test = true"))
    code = main(["run", str(spec_path), "--features", str(path), "--label-column", "mood"])
    assert code == 0
    assert "test acc" in capsys.readouterr().out
    runs = mlflow.search_runs(search_all_experiments=True)
    search = runs[runs["tags.genrelab.kind"] == "search"].iloc[0]
    assert search["params.n_features"] == "6" and search["params.n_test"] == "12"
    final = runs[runs["tags.genrelab.kind"] == "final"].iloc[0]
    model = mlflow.pyfunc.load_model(f"runs:/{final['run_id']}/model")
    proba = model.predict(table.drop(columns=["clip", "mood"]).iloc[:4])
    assert list(proba.columns) == ["calm", "loud", "odd"] and np.allclose(proba.sum(axis=1), 1)
    assert mlflow.search_registered_models() == []  # a free-form table is never registered as genre-mlp


def test_csv_table_errors(mlflow_store, spec_path, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("id,label,x\n1,a,0.5\n2,b,oops\n3,a,1\n4,b,2\n")
    assert main(["run", str(spec_path), "--features", str(path), "--label-column", "label"]) == 1
    assert "column 'x' is not numeric" in capsys.readouterr().err
    assert main(["run", str(spec_path), "--features", str(path), "--label-column", "genre"]) == 1
    assert "no label column 'genre'" in capsys.readouterr().err


def test_dry_run_prints_plan_and_fits_nothing(study_root, mlflow_store, spec_path, monkeypatch, capsys):
    calls = counting_fit(monkeypatch)
    assert main(["run", str(spec_path), "--data", str(study_root), "--dry-run", "--set", "search.folds=2"]) == 0
    out = capsys.readouterr().out
    assert "fits" in out and "est. time" in out and calls == []
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_failed_search_is_recorded_and_the_others_go_on(study_root, mlflow_store, spec_path, monkeypatch):
    from core.errors import GenreLabError

    real = runner.fit_fold
    calls, broken = [], [True]

    def broken_once(*args):
        calls.append(args)
        if broken.pop() if broken else False:
            raise RuntimeError("disk full")
        return real(*args)

    monkeypatch.setattr(runner, "fit_fold", broken_once)
    spec = load_spec(spec_path, ['dataset.sizes=["small", "medium"]'])
    with pytest.raises(GenreLabError, match="1 search.*failed.*small features: disk full"):
        runner.run_mlp_study(spec, data=str(study_root))
    searches = mlflow.search_runs(search_all_experiments=True, filter_string="tags.`genrelab.kind` = 'search'")
    assert sorted(searches["status"]) == ["FAILED", "FINISHED"]
    calls.clear()
    runner.run_mlp_study(spec, data=str(study_root))
    assert len(calls) == 2 * 3  # only the failed search's fits run again
