"""dashboard.results: study frames out of a runs frame shaped like core.tracking.runs_frame's."""
from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import results


def run(run_id, kind, parent=None, **columns):
    return {"run_id": run_id, "experiment": "e", "tags.genrelab.kind": kind, "tags.mlflow.parentRunId": parent,
            "tags.mlflow.runName": run_id, "start_time": pd.Timestamp("2026-01-01", tz="UTC"), **columns}


def frame(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows)).replace({None: np.nan})


RUNS = frame(
    run("study", "study", **{"tags.genrelab.family": "keras_mlp"}),
    run("search", "search", "study", **{"tags.genrelab.size": "25k", "tags.genrelab.input": "autoencoder",
                                       "tags.genrelab.best_candidate_run": "cand2",
                                       "metrics.cv_accuracy_mean": 0.6, "metrics.test_accuracy": 0.62}),
    run("search8", "search", "study", **{"tags.genrelab.size": "8k", "tags.genrelab.input": "features",
                                        "metrics.cv_accuracy_mean": 0.5, "metrics.test_accuracy": 0.48}),
    run("cand1", "candidate", "search", **{"params.dropout": "0.1", "params.hidden_units": "[64]",
                                          "params.fold": np.nan, "metrics.cv_accuracy_mean": 0.55}),
    run("cand2", "candidate", "search", **{"params.dropout": "0.5", "params.hidden_units": "[64]",
                                          "metrics.cv_accuracy_mean": 0.6}),
    run("f1", "fold", "cand2", **{"params.fold": "1", "metrics.fold_accuracy": 0.58}),
    run("f2", "fold", "cand2", **{"params.fold": "2", "metrics.fold_accuracy": 0.62}),
    run("final", "final", "search", **{"metrics.test_accuracy": 0.62, "metrics.test_f1_Hip_Hop": 0.7,
                                      "metrics.test_f1_macro": 0.6}),
    run("knn", "baseline", "study", **{"tags.genrelab.size": "8k", "tags.genrelab.family": "knn_200",
                                      "metrics.test_accuracy": 0.4}),
)


def test_family_is_inherited_from_the_nearest_ancestor():
    family = dict(zip(RUNS["run_id"], results.family_of(RUNS)))
    assert family["f1"] == "keras_mlp" and family["final"] == "keras_mlp" and family["knn"] == "knn_200"
    kept = results.filter_runs(RUNS.assign(**{results.FAMILY: results.family_of(RUNS)}), families=["knn_200"])
    assert list(kept["run_id"]) == ["knn"]


def test_size_study_orders_sizes_and_separates_baselines():
    points, baselines = results.size_study(RUNS)
    assert list(points["size"]) == ["8k", "25k"]
    assert list(points["input"]) == ["raw features", "autoencoder codes"]
    assert list(baselines["model"]) == ["knn_200"]


def test_reference_marks_only_for_sizes_the_original_study_reported():
    marks = results.reference_marks(["8k", "medium", "all"])
    assert list(marks["test_accuracy"]) == [0.49, 0.63]


def test_folds_behind_a_final_run_are_its_best_candidates():
    assert results.fold_source(RUNS, "final") == "cand2"
    assert results.fold_source(RUNS, "search") == "cand2"
    assert results.fold_source(RUNS, "knn") is None
    scores = results.fold_scores(RUNS, ["final"])
    assert list(scores["accuracy"]) == [0.58, 0.62] and list(scores["fold"]) == ["1", "2"]


def test_hyperparameters_keep_only_what_varies():
    hyper = results.hyperparameters(RUNS)
    assert list(hyper.columns) == ["dropout", "score"]  # hidden_units is the same for both candidates
    assert list(hyper["dropout"]) == [0.1, 0.5]


def test_genre_f1_and_confusion_source():
    f1 = results.genre_f1(RUNS[RUNS["run_id"] == "final"])
    assert list(f1["genre"]) == ["Hip Hop"] and list(f1["f1"]) == [0.7]
    assert results.confusion_source(RUNS, "search") == "final"
    assert results.confusion_source(RUNS, "knn") == "knn"
    assert set(results.descendants(RUNS, ["search"])["run_id"]) == {"search", "cand1", "cand2", "f1", "f2", "final"}
