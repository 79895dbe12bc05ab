"""core.report.results on the store two tiny real studies wrote (tests/dashboard/studies.py)."""
from __future__ import annotations

import pytest

from core.report import results
from core.stats import format_cv, format_test


@pytest.fixture(scope="module")
def store(studies):
    from core import tracking

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", studies.uri)
        tracking.configure()
        runs = tracking.runs_frame()
    tree, older = results.tree(runs)
    assert not older
    return runs, tree


def rows_by_search(studies, which: str) -> dict[str, dict]:
    return {row["search"]: row for row in studies.rows[which]}


def test_size_study_writes_every_score_with_its_uncertainty(store, studies):
    runs, tree = store
    points, baselines = results.size_study(tree, runs)
    assert list(points["input"]) == ["raw features", "autoencoder codes"]  # the spec's order
    assert set(points["size"]) == {"small"} and set(points["window"]) == {"full"}
    engine = rows_by_search(studies, "mlp")
    for _, point in points.iterrows():
        row = engine[point["name"]]
        assert point["fold_values"] == pytest.approx(row["cv_folds"])
        assert point["cv"] == format_cv(row["cv_mean"], row["cv_std"], 2, "track")  # the spec groups by track
        assert point["test"] == format_test(row["test_accuracy"], row["test_ci_low"], row["test_ci_high"],
                                            int(row["n_test"]), n_artists=int(row["n_test_artists"]))
    assert results.window_note(points["window"]) == "features computed on full tracks (FMA's published table)."
    # The baselines' labels say the k the kNN used; each with its test interval.
    knn = baselines[baselines["family"] == "knn"]
    assert knn["model"].str.fullmatch(r"knn \(k=\d+\)").all()
    assert set(baselines["model"]) == {row["model"] for row in studies.rows["mlp"]} - {"keras_mlp"}
    assert baselines["test"].str.contains("95% CI").all()


def test_clip_study_reads_searches_with_clip_seconds(store, studies):
    _, tree = store
    searches, folds = results.clip_study(tree)
    assert list(searches["clip_seconds"]) == [3.0, 10.0]
    engine = rows_by_search(studies, "cnn")
    for _, search in searches.iterrows():
        row = engine[search["name"]]
        track = folds[(folds["clip_seconds"] == search["clip_seconds"]) & (folds["level"] == "track")]
        assert track.sort_values("fold")["accuracy"].tolist() == pytest.approx(row["cv_folds"])
        assert search["test_accuracy"] == pytest.approx(row["test_accuracy"])
        assert 0 <= search["clip_test"] <= 1
    assert set(folds["level"]) == {"track", "clip"} and len(folds) == 8  # 2 lengths x 2 levels x 2 folds


def test_hyperparameters_are_the_declared_ones_that_vary(store):
    _, tree = store
    mlp = tree.searches[tree.searches["experiment"] == "dash_mlp"].index.tolist()
    cnn = tree.searches[tree.searches["experiment"] == "dash_cnn"].index.tolist()
    hyper = results.hyperparameters(tree, mlp)
    assert list(hyper.columns) == ["hidden_units", "score"]
    assert sorted(set(hyper["hidden_units"])) == ["[16]", "[8]"] and len(hyper) == 4  # 2 searches x 2
    assert list(results.hyperparameters(tree, cnn).columns) == ["score"]  # one candidate: nothing varies


def test_genre_scores_keep_genre_names_exactly(store, studies):
    _, tree = store
    mlp = tree.searches[tree.searches["experiment"] == "dash_mlp"].index.tolist()
    f1 = results.genre_scores(tree, mlp)
    assert set(f1["genre"]) == {"Hip-Hop", "Old-Time / Historic", "Rock"}
    assert len(f1) == 2 * 3 and f1["value"].between(0, 1).all()


def test_folds_behind_searches_finals_and_candidates(store):
    _, tree = store
    search = tree.searches.iloc[0]
    final = tree.finals[tree.finals["parent"] == search["run_id"]].index[0]
    best = search["best_candidate_run"]
    assert results.fold_source(tree, search["run_id"]) == best
    assert results.fold_source(tree, final) == best
    assert results.fold_source(tree, best) == best
    assert results.final_of(tree, search["run_id"]) == final
    assert results.fold_source(tree, tree.baselines.index[0]) is None
    scores = results.fold_scores(tree, [search["run_id"]])
    assert list(scores["fold"]) == [1, 2]


def test_filters_keep_whole_studies(store):
    _, tree = store
    mlp = results.filter_tree(tree, families=["keras_mlp"])
    assert set(mlp.searches["experiment"]) == {"dash_mlp"} and len(mlp.baselines) == 3
    assert mlp.genre_metrics["run_id"].isin(set(results.runs_of(mlp).index)).all()
    assert set(mlp.genre_metrics["run_id"]) >= set(mlp.finals.index) | set(mlp.baselines.index)
    assert not results.is_synthetic(mlp) and results.is_synthetic(results.filter_tree(tree, ["dash_cnn"]))
    table = results.metrics_table(results.result_runs(mlp).head(3))
    assert {"CV accuracy (mean ± std)", "test accuracy (95% CI, n)", "run_id"} <= set(table.columns)


def test_paired_table_names_the_fold_count_once_or_per_cell():
    row = {"a": "8k features", "b": "8k codes", "mean_diff": 0.021, "ci_low": 0.004, "ci_high": 0.038, "n_folds": 5}
    same = results.paired_table([row, {**row, "a": "25k features", "mean_diff": -0.01, "ci_low": -0.03,
                                       "ci_high": 0.01}])
    assert list(same.columns) == ["A", "B", "A − B, points (95% CI, 5 folds)", "better"]
    assert list(same.iloc[:, 2]) == ["+2.1 (+0.4 to +3.8)", "-1.0 (-3.0 to +1.0)"]
    assert list(same["better"]) == ["8k features", "neither (fold noise)"]
    mixed = results.paired_table([row, {**row, "n_folds": 3, "ci_low": -0.04, "ci_high": -0.01}])
    assert list(mixed.columns) == ["A", "B", "A − B, points (95% CI, folds)", "better"]
    assert list(mixed.iloc[:, 2]) == ["+2.1 (+0.4 to +3.8, 5 folds)", "+2.1 (-4.0 to -1.0, 3 folds)"]
    assert list(mixed["better"]) == ["8k features", "8k codes"]


def test_many_pairs_show_the_best_search_against_each_other():
    import pandas as pd

    names = [f"small emb {i}" for i in range(6)]
    pairs = [{"a": a, "b": b, "mean_diff": 0.01 * (j - i), "ci_low": 0.01 * (j - i) - 0.05,
              "ci_high": 0.01 * (j - i) + 0.05, "n_folds": 5}
             for i, a in enumerate(names) for j, b in enumerate(names) if i < j]  # 15 pairs
    searches = pd.DataFrame({"name": names, "cv_accuracy_mean": [0.3, 0.4, 0.6, 0.5, 0.2, 0.1]})
    shown, best = results.pairs_with_best(pairs, searches)
    assert best == "small emb 2" and len(shown) == 5
    table = results.paired_table(shown, best)
    assert list(table.columns) == ["search", "best − it, points (95% CI, 5 folds)", "better"]
    assert list(table["search"]) == ["small emb 0", "small emb 1", "small emb 3", "small emb 4", "small emb 5"]
    # emb 0 − emb 2 was +2 points (-3 to +7): best − it is -2 (-7 to +3); emb 2 − emb 5 stays +3 (-2 to +8)
    assert table.iloc[0, 1] == "-2.0 (-7.0 to +3.0)" and table.iloc[4, 1] == "+3.0 (-2.0 to +8.0)"
    assert set(table["better"]) == {"neither (fold noise)"}
    assert results.pairs_with_best(pairs[:results.MAX_PAIRS], searches) == (pairs[:results.MAX_PAIRS], None)


def test_many_inputs_at_one_size_are_drawn_side_by_side():
    """Which embedding (one size, a dozen inputs): one chart with the inputs on its axis, not a panel each;
    each input's best baseline on the same table beside its MLP."""
    import pandas as pd

    from core.report import charts
    from core.study import runtree as rt

    names = [f"MTT_musicnn layer {i}" for i in range(charts.MAX_PANELS + 1)]
    scores = {rt.TEST_ACCURACY: 0.6, rt.TEST_CI_LOW: 0.4, rt.TEST_CI_HIGH: 0.8, "test": "60.0 % (40-80, n=20)"}
    points = pd.DataFrame([{"input": n, "size": "small", "fold_values": [0.5, 0.7], **scores} for n in names])
    baselines = pd.DataFrame([{"input": n, "size": "small", "model": model, **scores,
                               rt.TEST_ACCURACY: 0.5 + 0.01 * i + (0.1 if model == "svm" else 0)}
                              for i, n in enumerate(names) for model in ("logistic_regression", "svm")])
    fig = charts.size_study(points, baselines, results.reference_marks(["8k"]))
    traces = {t.name: t for t in fig.data}
    assert list(traces["test accuracy (95% CI)"].y) == names and not fig.layout.annotations  # no panels
    best = traces["best baseline on the same table (test, 95% CI)"]
    assert list(best.y) == names and [row[0] for row in best.customdata] == ["svm"] * len(names)
    assert list(best.x) == pytest.approx([0.6 + 0.01 * i for i in range(len(names))])
    assert "original study (reported)" not in traces  # drawn only at a size it reported on
    few = charts.size_study(points.head(2), baselines, results.reference_marks([]))
    assert [a.text for a in few.layout.annotations] == names[:2]  # a few inputs: a panel each
