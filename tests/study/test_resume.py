"""Kill and resume, the same for every family; the CSV feature-table path; dry runs; failed searches."""
from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from core.__main__ import main
from core.study.engine import run_study
from core.study.families import cnn as cnn_family
from core.study.families import mlp as mlp_family
from core.study.spec import load_spec
from tests.builders import build_fma_root, genre_rows
from tests.study.conftest import write_spec

TABLE = """
[dataset]
sizes = ["small"]
[input]
kinds = ["{kind}"]
[model]
family = "{family}"
[autoencoder]
bottleneck = 4
epochs = 1
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
CNN = """
[input]
kinds = ["mels"]
[model]
family = "keras_cnn"
[cnn]
architecture = "compact"
filters = [4, 8]
epochs = 1
batch_size = 8
[mels]
n_mels = 16
clip_seconds = [2.0]
[search]
n_candidates = 2
folds = 3
[search.space]
learning_rate = [0.001, 0.003]
[evaluation]
refit_and_test = false
[compute]
parallel = "none"
"""
#: family → (spec text, data fixture, module and name of its fold-fit function)
FAMILIES = {
    "sklearn_mlp": (TABLE.format(kind="features", family="sklearn_mlp"), "study_root", mlp_family, "fit_table_fold"),
    "keras_mlp_autoencoder": (TABLE.format(kind="autoencoder", family="keras_mlp"), "study_root", mlp_family,
                              "fit_table_fold"),
    "keras_cnn": (CNN, "audio_root", cnn_family, "fit_clip_fold"),
}


@pytest.fixture(scope="module")
def audio_root(tmp_path_factory):
    """3 genres x 8 tracks of 3 s audio (the CNN reads audio through the mel cache)."""
    rows = genre_rows(8)
    return build_fma_root(tmp_path_factory.mktemp("audio") / "fma", rows, audio={r.track_id: 3.0 for r in rows},
                          features=False, echonest=False)


def counting_fit(monkeypatch, module, name, fail_at: int | None = None) -> list:
    calls, real = [], getattr(module, name)

    def fit(*args):
        calls.append(args)
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt("killed by the test")
        return real(*args)

    monkeypatch.setattr(module, name, fit)
    return calls


@pytest.mark.parametrize("family", list(FAMILIES))
def test_killed_study_ends_killed_and_resumes(family, request, mlflow_store, monkeypatch, tmp_path):
    kill_and_resume(family, request.getfixturevalue(FAMILIES[family][1]), monkeypatch, tmp_path)


def kill_and_resume(family: str, root, monkeypatch, tmp_path) -> None:
    """A study of ``family`` on ``root`` killed at its third fit ends KILLED; a rerun fits only what is
    missing and leaves a whole tree; a third run fits nothing. On the store MLflow is pointed at."""
    text, _, module, fit_name = FAMILIES[family]
    spec_path = write_spec(tmp_path, f"resume_{family}", text)
    progress = tmp_path / "progress.json"
    counting_fit(monkeypatch, module, fit_name, fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        run_study(load_spec(spec_path), data=str(root), progress_path=str(progress))
    assert json.loads(progress.read_text())["status"] == "killed"
    runs = mlflow.search_runs(experiment_names=[f"resume_{family}"])
    assert "RUNNING" not in set(runs["status"])
    kinds = runs["tags.genrelab.kind"]
    assert set(runs[kinds.isin(["study", "search", "candidate"])]["status"]) == {"KILLED"}
    assert (runs[kinds == "fold"]["status"] == "FINISHED").sum() == 2

    calls = counting_fit(monkeypatch, module, fit_name)
    rows = run_study(load_spec(spec_path), data=str(root))
    assert len(calls) == 2 * 3 - 2  # the two finished folds are reused, not refit
    assert rows[0]["cv_mean"] is not None
    runs = mlflow.search_runs(experiment_names=[f"resume_{family}"])
    finished = runs[runs["status"] == "FINISHED"]
    candidates = finished[finished["tags.genrelab.kind"] == "candidate"]
    folds = finished[finished["tags.genrelab.kind"] == "fold"]
    # the resumed tree is complete: every fold hangs under a finished candidate of the new search
    assert len(folds) == 6 and set(folds["tags.mlflow.parentRunId"]) == set(candidates["run_id"])

    calls = counting_fit(monkeypatch, module, fit_name)
    run_study(load_spec(spec_path), data=str(root))
    assert calls == []


def test_csv_feature_table(mlflow_store, tmp_path, capsys):
    rng = np.random.default_rng(1)
    labels = np.repeat(["calm", "loud", "odd"], 20)
    centres = {"calm": 0.0, "loud": 2.0, "odd": -2.0}
    X = np.stack([rng.normal(centres[g], 1.0, size=6) for g in labels])
    table = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    table.insert(0, "clip", [f"c{i:03d}" for i in range(60)])
    table["mood"] = labels
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)
    spec = write_spec(tmp_path, "csv", TABLE.format(kind="features", family="sklearn_mlp")
                      .replace("refit_and_test = false", "refit_and_test = true"))
    assert main(["run", str(spec), "--features", str(path), "--label-column", "mood"]) == 0
    assert "95% CI" in capsys.readouterr().out
    runs = mlflow.search_runs(search_all_experiments=True)
    search = runs[runs["tags.genrelab.kind"] == "search"].iloc[0]
    assert search["params.n_features"] == "6" and search["params.n_test"] == "12"
    final = runs[runs["tags.genrelab.kind"] == "final"].iloc[0]
    model = mlflow.pyfunc.load_model(f"runs:/{final['run_id']}/model")
    proba = model.predict(table.drop(columns=["clip", "mood"]).iloc[:4])
    assert list(proba.columns) == ["calm", "loud", "odd"] and np.allclose(proba.sum(axis=1), 1)
    assert mlflow.search_registered_models() == []  # a free-form table is never registered as genre-mlp


def test_csv_table_errors(mlflow_store, tmp_path, capsys):
    spec = write_spec(tmp_path, "csv", TABLE.format(kind="features", family="sklearn_mlp"))
    path = tmp_path / "bad.csv"
    path.write_text("id,label,x\n1,a,0.5\n2,b,oops\n3,a,1\n4,b,2\n")
    assert main(["run", str(spec), "--features", str(path), "--label-column", "label"]) == 1
    assert "column 'x' is not numeric" in capsys.readouterr().err
    assert main(["run", str(spec), "--features", str(path), "--label-column", "genre"]) == 1
    assert "no label column 'genre'" in capsys.readouterr().err


@pytest.mark.parametrize("family", ["sklearn_mlp", "keras_cnn"])
def test_dry_run_plans_every_family_with_a_time_and_fits_nothing(family, request, mlflow_store, monkeypatch,
                                                                  tmp_path, capsys):
    text, root_fixture, module, fit_name = FAMILIES[family]
    calls = counting_fit(monkeypatch, module, fit_name)
    spec = write_spec(tmp_path, f"dry_{family}", text)
    assert main(["run", str(spec), "--data", str(request.getfixturevalue(root_fixture)), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "est. time" in out and "total: " in out and calls == []
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_failed_search_is_recorded_and_the_others_go_on(study_root, mlflow_store, monkeypatch, tmp_path):
    from core.errors import GenreLabError

    real = mlp_family.fit_table_fold
    calls, broken = [], [True]

    def broken_once(*args):
        calls.append(args)
        if broken.pop() if broken else False:
            raise RuntimeError("disk full")
        return real(*args)

    monkeypatch.setattr(mlp_family, "fit_table_fold", broken_once)
    spec = load_spec(write_spec(tmp_path, "failing", TABLE.format(kind="features", family="sklearn_mlp")),
                     ['dataset.sizes=["small", "medium"]'])
    with pytest.raises(GenreLabError, match="1 search.*failed.*small features: disk full"):
        run_study(spec, data=str(study_root))
    searches = mlflow.search_runs(search_all_experiments=True, filter_string="tags.`genrelab.kind` = 'search'")
    assert sorted(searches["status"]) == ["FAILED", "FINISHED"]
    calls.clear()
    run_study(spec, data=str(study_root))
    assert len(calls) == 2 * 3  # only the failed search's fits run again
