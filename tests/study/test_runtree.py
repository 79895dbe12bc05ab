"""core.study.runtree.read_tree gives back exactly what the engine wrote: names, settings, declared
hyper-parameters, fold accuracies, test scores, and per-genre metrics of genres with "-" and "/".

The store is the one tests/dashboard/studies.py builds (a tiny keras_mlp and keras_cnn study run by
the engine); the dashboard tests share it when they run in the same session.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.study import runtree
from core.study.families import family


@pytest.fixture(scope="module")
def written():
    """(the studies' store, its runs frame, the tree read from it)."""
    from core import tracking
    from tests.dashboard.studies import study_store

    studies = study_store()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", studies.uri)
        tracking.configure()
        runs = tracking.runs_frame()
        yield studies, runs, runtree.read_tree(runs)


def test_every_run_lands_in_the_frame_of_its_kind(written):
    _, runs, tree = written
    frames = {"study": tree.studies, "search": tree.searches, "candidate": tree.candidates, "fold": tree.folds,
              "final": tree.finals, "baseline": tree.baselines, "autoencoder": tree.autoencoders}
    kinds = runs.set_index("run_id")[f"tags.{runtree.KIND}"]
    assert sum(len(f) for f in frames.values()) == len(runs)
    for kind, frame in frames.items():
        assert set(kinds[kinds == kind].index) == set(frame.index), kind
    assert set(tree.studies["experiment"]) == {"dash_mlp", "dash_cnn"}
    # 2 searches per study; 2 candidates (MLP) or 1 (CNN) x 2 folds each; one final per search; 3 baselines
    # for the MLP; autoencoder runs: 2 folds + the final one for the autoencoder search.
    assert (len(tree.searches), len(tree.candidates), len(tree.folds), len(tree.finals)) == (4, 6, 12, 4)
    assert (len(tree.baselines), len(tree.autoencoders)) == (3, 3)
    for frame in frames.values():
        assert frame["study"].isin(tree.studies.index).all()


def test_searches_carry_what_the_engine_returned(written):
    studies, _, tree = written
    for which, experiment in (("mlp", "dash_mlp"), ("cnn", "dash_cnn")):
        searches = tree.searches[tree.searches["experiment"] == experiment].set_index("name")
        rows = [r for r in studies.rows[which] if r["model"] in ("keras_mlp", "keras_cnn")]  # not baselines
        assert sorted(searches.index) == sorted(r["search"] for r in rows)
        for row in rows:
            search = searches.loc[row["search"]]
            for setting in ("size", "input"):
                if setting in row:
                    assert search[setting] == row[setting]
                else:
                    assert np.isnan(search[setting])
            if which == "cnn":
                assert search["clip_seconds"] == row["clip_seconds"]
            else:
                assert np.isnan(search["clip_seconds"])
            for column, key in ((runtree.CV_MEAN, "cv_mean"), (runtree.CV_STD, "cv_std"),
                                (runtree.TEST_ACCURACY, "test_accuracy"), (runtree.TEST_CI_LOW, "test_ci_low"),
                                (runtree.TEST_CI_HIGH, "test_ci_high"), (runtree.N_TEST, "n_test"),
                                (runtree.TEST_F1, "test_f1_macro")):
                assert search[column] == pytest.approx(row[key]), (row["search"], column)
            folds = tree.folds[tree.folds["parent"] == search["best_candidate_run"]].sort_values("fold")
            assert folds["fold"].tolist() == [1, 2]
            assert folds[runtree.FOLD_ACCURACY].tolist() == pytest.approx(row["cv_folds"])
            best = tree.candidates.loc[search["best_candidate_run"]]
            for name, value in row["best_params"].items():
                if name in tree.hyperparameters():
                    assert str(best[name]) == str(value) or best[name] == pytest.approx(value), name


def test_candidates_declare_their_hyperparameters(written):
    _, runs, tree = written
    params = runs.set_index("run_id")
    for name, experiment in (("keras_mlp", "dash_mlp"), ("keras_cnn", "dash_cnn")):
        candidates = tree.candidates[tree.candidates["experiment"] == experiment]
        declared = family(name).hyperparameters()
        assert runtree.declared_hyperparameters(candidates) == declared
        assert all(json.loads(text) == declared for text in candidates["hyperparameters"])
        for run_id, candidate in candidates.iterrows():
            for hyper in declared:
                logged = params.at[run_id, f"params.{hyper}"]
                assert str(candidate[hyper]) == logged or candidate[hyper] == pytest.approx(float(logged)), hyper
    assert "fold" not in tree.hyperparameters() and "seed" not in tree.hyperparameters()
    assert {"hidden_units", "learning_rate", "filters"} <= set(tree.hyperparameters())


def test_per_genre_metrics_round_trip_exactly(written):
    import mlflow

    studies, _, tree = written
    mlp_finals = tree.finals[tree.finals["experiment"] == "dash_mlp"]
    genres = set(tree.genre_metrics.loc[tree.genre_metrics["run_id"].isin(mlp_finals.index), "genre"])
    assert genres == {"Hip-Hop", "Old-Time / Historic", "Rock"}
    assert set(tree.genre_metrics["metric"]) == set(runtree.GENRE_METRICS)
    for run_id in list(mlp_finals.index) + list(tree.baselines.index):
        confusion = mlflow.artifacts.load_dict(f"runs:/{run_id}/confusion_matrix.json")
        matrix = np.asarray(confusion["matrix"], dtype=float)
        tp = np.diag(matrix)
        denominator = matrix.sum(axis=0) + matrix.sum(axis=1)
        expected = dict(zip(confusion["labels"], np.divide(2 * tp, denominator, out=np.zeros_like(tp),
                                                           where=denominator > 0)))
        f1 = tree.genre_metrics[(tree.genre_metrics["run_id"] == run_id) & (tree.genre_metrics["metric"] == "test_f1")]
        assert dict(zip(f1["genre"], f1["value"])) == pytest.approx(expected)


@pytest.mark.parametrize("genre", ["Hip-Hop", "Old-Time / Historic", "Rock & Roll", "50% Pop: Remix", "Électro"])
def test_genre_metric_names_are_reversible(genre):
    name = runtree.genre_metric("test_f1", genre)
    assert runtree.split_genre_metric(name) == ("test_f1", genre)
    assert runtree.split_genre_metric("test_f1_macro") is None
