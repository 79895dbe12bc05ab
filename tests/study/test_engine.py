"""The engine end to end on a tiny FMA root (keras MLP, raw features and autoencoder codes, 2 candidates
x 2 folds, 2 epochs): the run tree, metrics with intervals, no test leakage, the model, resume.

One study runs once per module with spies on every fit; the tests below read what it left in MLflow.
"""
from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from core.data import fma
from core.models import autoencoder as autoencoder_module
from core.study.engine import run_study
from core.study.families import mlp as mlp_family
from core.study.spec import load_spec
from tests.study.conftest import write_spec

SPEC = """
[dataset]
sizes = ["small"]
[input]
kinds = ["features", "autoencoder"]
[model]
family = "keras_mlp"
[autoencoder]
bottleneck = 8
epochs = 2
[search]
n_candidates = 2
folds = 2
[search.space]
hidden_units = [[16], [8]]
dropout = [0.2]
epochs = [2]
batch_size = [32]
[compute]
parallel = "none"
"""


@pytest.fixture(scope="module")
def study(study_root, module_store, tmp_path_factory):
    """Run the study once, recording every matrix row that reached a fit."""
    spec_path = write_spec(tmp_path_factory.mktemp("spec"), "engine_test", SPEC)
    progress = spec_path.with_name("progress.json")
    seen = {"fold_rows": [], "autoencoder_rows": []}
    real_fit_fold, real_ae_fit = mlp_family.fit_table_fold, autoencoder_module.Autoencoder.fit

    def spy_fit_fold(family, params, matrix, labels, train, val):
        X = np.load(matrix)
        seen["fold_rows"].append(np.concatenate([X[train], X[val]]))
        return real_fit_fold(family, params, matrix, labels, train, val)

    def spy_ae_fit(self, X):
        seen["autoencoder_rows"].append(np.asarray(X).copy())
        return real_ae_fit(self, X)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mlp_family, "fit_table_fold", spy_fit_fold)
        mp.setattr(autoencoder_module.Autoencoder, "fit", spy_ae_fit)
        rows = run_study(load_spec(spec_path), data=str(study_root), progress_path=str(progress))
    runs = mlflow.search_runs(search_all_experiments=True)
    return {"rows": rows, "runs": runs, "seen": seen, "progress": progress, "spec": spec_path, "root": study_root}


def of_kind(runs, kind):
    return runs[runs["tags.genrelab.kind"] == kind]


def test_run_tree_study_search_candidate_fold(study):
    runs = study["runs"]
    assert set(runs["status"]) == {"FINISHED"}
    (study_id,) = of_kind(runs, "study")["run_id"]
    searches = of_kind(runs, "search")
    assert set(searches["tags.mlflow.parentRunId"]) == {study_id}
    assert sorted(searches["tags.genrelab.input"]) == ["autoencoder", "features"]
    assert set(searches["tags.genrelab.family"]) == {"keras_mlp"}
    candidates = of_kind(runs, "candidate")
    assert len(candidates) == 4 and set(candidates["tags.mlflow.parentRunId"]) <= set(searches["run_id"])
    assert json.loads(candidates["tags.genrelab.hyperparameters"].iloc[0])[:3] == ["learning_rate", "epochs",
                                                                                 "batch_size"]
    folds = of_kind(runs, "fold")
    assert len(folds) == 8 and set(folds["tags.mlflow.parentRunId"]) == set(candidates["run_id"])
    assert sorted(folds["params.fold"].unique()) == ["1", "2"]  # folds count from 1
    assert folds["tags.genrelab.fold_indices"].str.len().eq(16).all()
    baselines = of_kind(runs, "baseline")
    assert len(baselines) == 3 and set(baselines["tags.mlflow.parentRunId"]) == {study_id}
    assert "knn (k=" in " ".join(baselines["tags.genrelab.baseline"])
    # autoencoders: one per fold under the autoencoder search, one for the final refit under its final run
    assert len(of_kind(runs, "autoencoder")) == 3
    assert folds["tags.genrelab.data_fingerprint"].str.len().gt(0).all()
    assert folds["tags.mlflow.source.git.commit"].notna().all()


def test_metrics_carry_their_uncertainty(study):
    runs = study["runs"]
    fold = mlflow.tracking.MlflowClient().get_metric_history(of_kind(runs, "fold")["run_id"].iloc[0], "val_loss")
    assert [m.step for m in fold] == [0, 1]
    assert of_kind(runs, "candidate")["metrics.cv_accuracy_mean"].between(0, 1).all()
    search = of_kind(runs, "search").iloc[0]
    for name in ("cv_accuracy_mean", "cv_accuracy_std", "test_accuracy", "test_accuracy_ci_low",
                 "test_accuracy_ci_high", "n_test", "test_f1_macro", "compute_fits", "test_f1/Hip-Hop"):
        assert not pd.isna(search[f"metrics.{name}"]), name
    assert search["metrics.test_accuracy_ci_low"] <= search["metrics.test_accuracy"] <= \
        search["metrics.test_accuracy_ci_high"]
    assert search["metrics.compute_fits"] == 4
    assert len(json.loads(search["tags.genrelab.cv_folds"])) == 2
    final = of_kind(runs, "final").iloc[0]
    cm = mlflow.artifacts.load_dict(f"runs:/{final['run_id']}/confusion_matrix.json")
    assert cm["labels"] == ["Hip-Hop", "Pop", "Rock"]
    assert sum(map(sum, cm["matrix"])) == search["metrics.n_test"] == int(search["params.n_test"]) > 0
    assert [r["input"] for r in study["rows"]][-2:] == ["features", "autoencoder"]


def test_the_test_interval_counts_artists(study, study_root):
    """Tracks by one artist are not independent: the interval is the one by artist (never narrower
    than Wilson's on the tracks), and the run says how many artists the test split holds."""
    from core.stats import wilson_interval

    tracks = fma.load_tracks(study_root)
    test_artists = tracks.loc[tracks[("set", "split")] == "test", ("artist", "id")].nunique()
    for _, run in of_kind(study["runs"], "final").iterrows():
        assert run["metrics.n_test_artists"] == test_artists
        n, accuracy = int(run["metrics.n_test"]), run["metrics.test_accuracy"]
        low, high = wilson_interval(round(accuracy * n), n)
        assert run["metrics.test_accuracy_ci_low"] <= low and run["metrics.test_accuracy_ci_high"] >= high
    assert all(r["n_test_artists"] == test_artists for r in study["rows"] if r.get("test_accuracy") is not None)


def test_paired_comparisons_of_configurations_on_the_same_folds(study):
    (study_id,) = of_kind(study["runs"], "study")["run_id"]
    comparisons = mlflow.artifacts.load_dict(f"runs:/{study_id}/comparisons.json")
    pairs = {(c["a"], c["b"]) for c in comparisons}
    assert ("small features", "small autoencoder") in pairs
    assert all(c["n_folds"] == 2 and c["ci_low"] <= c["mean_diff"] <= c["ci_high"] for c in comparisons)


def test_no_test_rows_reach_any_fit(study):
    features = fma.load_features(study["root"])
    tracks = fma.load_tracks(study["root"])
    test_ids = tracks.index[(tracks["set", "split"] == "test").to_numpy()]
    test_rows = {row.tobytes() for row in features.loc[test_ids].to_numpy(dtype=np.float32)}
    seen = study["seen"]
    raw = [rows for rows in seen["fold_rows"] if rows.shape[1] == 518]
    assert len(seen["fold_rows"]) == 8 and len(raw) == 4 and len(seen["autoencoder_rows"]) == 3
    for rows in raw:  # the other 4 fits saw codes of encoders that were fitted on these same rows
        assert not any(r.tobytes() in test_rows for r in rows)
    for rows in seen["autoencoder_rows"]:
        assert not any(r.astype(np.float32).tobytes() in test_rows for r in rows)


def test_registered_model_predicts_genre_probabilities(study):
    features = fma.load_features(study["root"]).iloc[:7]
    names = [".".join(c) for c in features.columns]
    frame = pd.DataFrame(features.to_numpy(), columns=names)
    for name in ("genre-mlp", "genre-mlp-ae"):
        model = mlflow.pyfunc.load_model(f"models:/{name}/1")
        proba = model.predict(frame)
        assert list(proba.columns) == ["Hip-Hop", "Pop", "Rock"]
        assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
        tags = mlflow.tracking.MlflowClient().get_model_version(name, "1").tags
        assert tags["input_kind"] == ("features" if name == "genre-mlp" else "autoencoder")


def test_every_version_says_how_calibrated_its_test_probabilities_are(study):
    """The temperature is fitted on the refit's validation slice; ECE is measured on the test split with
    the probabilities the registered model answers, and travels with the version."""
    from core.calibration import expected_calibration_error
    from core.registry import ModelCard

    features = fma.load_features(study["root"])
    tracks = fma.load_tracks(study["root"])
    client = mlflow.tracking.MlflowClient()
    for name in ("genre-mlp", "genre-mlp-ae"):
        card = ModelCard.from_tags(client.get_model_version(name, "1").tags)
        summary = card.calibration
        assert summary["scored_on"] == "test split" and summary["n"] == card.n_test
        assert sum(b["count"] for b in summary["bins"]) == card.n_test
        final = client.get_run(card.run_id)
        assert float(final.data.params["temperature"]) == pytest.approx(summary["temperature"], abs=1e-4)
        assert final.data.metrics["test_ece"] == pytest.approx(summary["ece"])
        assert 0.05 <= summary["temperature"] <= 20
        # The registered model's own answers on the test tracks give the same ECE.
        test_ids = [t for t in features.index if t in set(tracks.index[tracks[("set", "split")] == "test"])]
        frame = pd.DataFrame(features.loc[test_ids].to_numpy(), columns=[".".join(c) for c in features.columns])
        proba = mlflow.pyfunc.load_model(f"models:/{name}/1").predict(frame)
        genres = tracks.loc[test_ids, ("track", "genre_top")].astype(str).to_numpy()
        labels = np.array([list(proba.columns).index(g) if g in proba.columns else -1 for g in genres])
        assert expected_calibration_error(proba.to_numpy(), labels) == pytest.approx(summary["ece"], abs=2e-3)


def test_progress_file_finished(study):
    state = json.loads(study["progress"].read_text())
    assert state["status"] == "finished" and state["fits_done"] == state["fits_total"] > 0


def test_second_run_fits_nothing(study, monkeypatch):
    def no_fit(*args):
        raise AssertionError("refit on a finished study")

    monkeypatch.setattr(mlp_family, "fit_table_fold", no_fit)
    monkeypatch.setattr(autoencoder_module.Autoencoder, "fit", no_fit)
    before = len(mlflow.search_runs(search_all_experiments=True))
    rows = run_study(load_spec(study["spec"]), data=str(study["root"]))
    assert rows == json.loads(json.dumps(study["rows"]))
    assert len(mlflow.search_runs(search_all_experiments=True)) == before
