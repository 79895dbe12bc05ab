"""Every page with AppTest: an empty store, a populated store, a broken store, a broken data root."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tests.dashboard.conftest import PAGES


def charts(at) -> dict:
    """Plotly charts on the page: key → the figure as the browser receives it."""
    import plotly.graph_objects as go

    return {chart.key: go.Figure(decoded(json.loads(chart.proto.spec))) for chart in at.get("plotly_chart")}


def decoded(node):
    """Plotly's JSON with its binary arrays ({"dtype", "bdata"[, "shape"]}) turned back into numpy."""
    if isinstance(node, dict) and "bdata" in node and "dtype" in node:
        array = np.frombuffer(base64.b64decode(node["bdata"]), dtype=node["dtype"])
        return array.reshape([int(n) for n in str(node["shape"]).split(",")]) if "shape" in node else array
    if isinstance(node, dict):
        return {k: decoded(v) for k, v in node.items()}
    if isinstance(node, list):
        return [decoded(v) for v in node]
    return node


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def assert_clean(at) -> None:
    assert not at.exception, texts(at.exception)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_an_empty_store(env, open_page, page):
    at = open_page(page)
    assert_clean(at)
    assert not at.error, texts(at.error)
    # The tiny root is the demo generator's: every page that shows its data says it is synthetic.
    if page in ("views/overview.py", "views/data.py", "views/launch.py"):
        assert "Synthetic demo data" in texts(at.warning)
    if page == "views/compare.py":
        assert "No runs in the store yet" in texts(at.info)


def test_overview_shows_dataset_caches_and_mlflow_hint(env, open_page):
    at = open_page("views/overview.py")
    assert_clean(at)
    assert "demo · synthetic demo data" in texts(at.subheader)
    assert {"subsets", "splits", "genres"} <= set(charts(at))
    files = at.dataframe[0].value
    assert "fma_metadata/features.csv" in set(files["what"]) and "log-mel cache" in set(files["what"])
    assert "make mlflow" in texts(at.info)
    assert "No runs yet" in texts(at.markdown)


def test_overview_lists_latest_runs_and_results_with_intervals(env, open_page, populated_store):
    env(store=populated_store)
    at = open_page("views/overview.py")
    assert_clean(at)
    runs, latest = at.dataframe[-1].value, at.table[-1].value  # the latest runs, then their results
    assert {"dash_mlp", "dash_cnn"} == set(runs["experiment"])
    assert set(runs["status"]) == {"FINISHED"}
    assert "test_accuracy" not in runs, "no bare score without its interval"
    tests = latest["test accuracy (95% CI, n)"]
    assert tests.str.contains(r"% \([0-9.]+-[0-9.]+, n=\d+ by \d+ artists?\)").all()  # the header names 95% CI, n
    assert latest["CV accuracy (mean ± std)"].str.contains(r"\(2 folds by track\)").any()


def store_runs(uri: str):
    from core import tracking

    tracking.configure(uri)
    return tracking.runs_frame()


def search_of(tree, experiment: str, name: str):
    searches = tree.searches
    return searches[(searches["experiment"] == experiment) & (searches["name"] == name)].iloc[0]


def test_compare_size_study_draws_intervals_folds_and_paired_comparisons(env, open_page, studies):
    from core.study.runtree import read_tree

    env(store=studies.uri)
    tree = read_tree(store_runs(studies.uri))
    at = open_page("views/compare.py")
    assert_clean(at)
    assert "Synthetic demo data" in texts(at.warning), "the CNN study ran on the demo root"
    size = charts(at)["size_study"]
    traces = {(trace.meta, trace.name): trace for trace in size.data}  # meta: the panel (the input)
    features = search_of(tree, "dash_mlp", "small features")
    test = traces["raw features", "test accuracy (95% CI)"]
    assert list(test.x) == ["small"] and test.mode == "markers", "one point: nothing to join"
    assert test.error_y.array[0] == pytest.approx(features["test_accuracy_ci_high"] - features["test_accuracy"])
    assert test.error_y.arrayminus[0] == pytest.approx(features["test_accuracy"] - features["test_accuracy_ci_low"])
    best_folds = tree.folds[tree.folds["parent"] == features["best_candidate_run"]].sort_values("fold")
    assert list(traces["raw features", "CV folds"].y) == pytest.approx(best_folds["fold_accuracy"].tolist())
    assert traces["raw features", "CV mean ± std"].error_y.array[0] == pytest.approx(features["cv_accuracy_std"])
    assert ("autoencoder codes", "test accuracy (95% CI)") in traces
    # Small multiples: one panel per input, the legend names each encoding once.
    assert [a.text for a in size.layout.annotations][:2] == ["raw features", "autoencoder codes"]
    legend = [t.name for t in size.data if t.showlegend]
    assert len(legend) == len(set(legend)) <= 8
    assert {"test accuracy (95% CI)", "CV folds", "CV mean ± std", "best baseline (95% CI band)",
            "original study (reported)"} <= set(legend)
    # The best baseline at the size (the FMA paper's classifiers) as one grey band with its interval.
    floor = traces["raw features", "best baseline (95% CI band)"]
    assert floor.customdata[0][0].startswith(("knn (k=", "logistic", "svm", "linear")) and "lines" not in floor.mode
    assert len([s for s in size.layout.shapes if s.type == "rect"]) == 2  # one band per panel
    ring = traces.get(("raw features", "best input at this size (test)")) or \
        traces[("autoencoder codes", "best input at this size (test)")]
    tested = tree.searches[(tree.searches["experiment"] == "dash_mlp")]["test_accuracy"]
    assert list(ring.y) == [pytest.approx(tested.max())]
    assert "original study (reported)" in legend, "the size study's own data are not synthetic"
    assert list(results_table(at).columns) == ["A", "B", "A − B, points (95% CI, 2 folds)", "better"]

    page = texts(at.markdown)
    assert "Features computed on full tracks (FMA's published table)." in texts(at.caption)
    assert f"test {features_text(features)}" in page, "each search's test accuracy with its interval and n"
    # The paired comparisons of the study run, sentence by sentence, as the engine wrote them.
    for row in comparison_rows(studies, "dash_mlp"):
        assert row["verdict"][1:] in page
    assert "95% CI" in page
    assert f"paired_{tree.studies.index[tree.studies['experiment'] == 'dash_mlp'][0]}" in charts(at)
    scores = at.dataframe[0].value
    # compact cells under headers that say what they are: the table fits a 1280 px page
    assert scores["test accuracy (95% CI, n)"].str.fullmatch(r"\d+\.\d % \(\d+\.\d-\d+\.\d, n=\d+ by \d+ artists?\)").all()
    assert scores["CV accuracy (mean ± std)"].str.fullmatch(r"\d+\.\d ± \d+\.\d % \(2 folds by track\)").all()
    assert "experiment" not in scores, "one experiment shown: no column repeating it"
    assert scores["CV folds"].str.count(",").eq(1).all(), "both fold values are shown"


def results_table(at):
    """The first paired-comparison table (``st.table``) on the page."""
    return at.table[0].value


def features_text(search) -> str:
    from core.stats import format_test

    return format_test(search["test_accuracy"], search["test_accuracy_ci_low"], search["test_accuracy_ci_high"],
                       int(search["n_test"]), n_artists=int(search["n_test_artists"]))


def comparison_rows(studies, experiment: str) -> list[dict]:
    import mlflow

    from core import tracking
    from core.study.runtree import read_tree

    tracking.configure(studies.uri)
    study = read_tree(tracking.runs_frame([experiment])).studies.index[0]
    return mlflow.artifacts.load_dict(f"runs:/{study}/comparisons.json")


def test_compare_marks_the_original_study_on_real_fma(env, open_page, populated_store):
    env(store=populated_store)
    at = open_page("views/compare.py")
    at.multiselect[0].set_value(["dash_mlp"]).run()
    assert_clean(at)
    assert not at.warning, "the MLP study's data are not synthetic"
    marks = next(t for t in charts(at)["size_study"].data if t.name == "original study (reported)")  # per panel
    assert list(marks.x) == ["small"] and list(marks.y) == [0.49]
    assert "original study, small: 49%" in marks.text


def test_compare_clip_study_draws_track_and_clip_levels(env, open_page, studies):
    env(store=studies.uri)
    at = open_page("views/compare.py")
    at.segmented_control(key="compare_view").set_value("Clip length").run()
    assert_clean(at)
    clip = charts(at)["clip_study"]
    traces = {t.name: t for t in clip.data}
    for level in ("track", "clip"):
        assert sorted(set(traces[f"{level} level: CV folds"].x)) == ["10 s", "3 s"]
        assert len(traces[f"{level} level: CV folds"].y) == 4  # 2 lengths x 2 folds
    test = traces["track level: test (95% CI)"]
    assert list(test.x) == ["3 s", "10 s"] and test.error_y.visible
    assert "clip level: test (no interval)" in traces
    rows = {row["search"]: row for row in studies.rows["cnn"]}
    table = at.dataframe[0].value
    assert list(table["clip"]) == ["3 s", "10 s"]
    assert table["test accuracy (95% CI, n)"].str.contains(r", n=16 by \d+ artists\)$").all()
    assert rows["3s"]["test_accuracy"] == pytest.approx(float(table["test accuracy (95% CI, n)"].iloc[0].split(" %")[0]) / 100,
                                                        abs=0.0005)
    page = texts(at.markdown)
    for row in comparison_rows(studies, "dash_cnn"):
        assert row["verdict"][1:] in page
    assert [b.proto.label for b in at.get("download_button")] == ["Download the dash_cnn report (HTML)"]


def test_compare_chosen_runs_keep_genres_and_hyperparameters(env, open_page, studies):
    env(store=studies.uri)
    runs = store_runs(studies.uri)
    at = open_page("views/compare.py")
    at.segmented_control(key="compare_view").set_value("Chosen runs").run()
    assert_clean(at)
    mlp_searches = runs[(runs["experiment"] == "dash_mlp") & (runs["tags.genrelab.kind"] == "search")]
    at.multiselect(key="compare_runs").set_value(mlp_searches["run_id"].tolist()).run()
    assert_clean(at)
    drawn = charts(at)
    assert {"fold_spread", "parallel", "curves", "genre_f1"} <= set(drawn)
    assert sum(k.startswith("confusion_") for k in drawn) == 2
    table = at.dataframe[0].value
    assert len(table) == 2 and table["test accuracy (95% CI, n)"].str.contains("95% CI").all()
    assert table["CV accuracy (mean ± std)"].str.contains("over 2 folds").all()
    assert at.get("download_button"), "the metrics table is downloadable as CSV"
    # Only declared hyper-parameters that vary: hidden_units; never fold, seed, n_dev...
    assert [d.label for d in drawn["parallel"].data[0].dimensions] == ["hidden_units", "score"]
    genres = {g for trace in drawn["genre_f1"].data for g in trace.x}
    assert genres == {"Hip-Hop", "Old-Time / Historic", "Rock"}
    folds = drawn["fold_spread"].data
    assert sum(len(t.y) for t in folds if t.name.endswith("CV folds")) == 4  # 2 searches x 2 folds


def test_compare_filters_by_family(env, open_page, populated_store):
    env(store=populated_store)
    at = open_page("views/compare.py")
    at.multiselect[2].set_value(["keras_cnn"]).run()
    at.segmented_control(key="compare_view").set_value("Dataset size").run()
    assert_clean(at)
    assert "No dataset-size study among these runs" in texts(at.info)
    at.segmented_control(key="compare_view").set_value("Clip length").run()
    assert "clip_study" in charts(at)
    at.multiselect[2].set_value(["keras_mlp"]).run()
    at.segmented_control(key="compare_view").set_value("Dataset size").run()
    assert_clean(at)
    traces = {t.name for t in charts(at)["size_study"].data}
    assert "best baseline (95% CI band)" in traces, "a study's baselines come with it"


def test_a_store_from_an_older_version_says_so_in_one_line(env, open_page, fresh_store):
    """Runs written before the one study engine (the CNN's "clip_length" kind, no declared
    hyper-parameters) are left out, with one line saying how to rebuild them."""
    from mlflow.tracking import MlflowClient

    from core import tracking

    uri = tracking.configure(fresh_store)
    client = MlflowClient(uri)
    experiment = tracking.experiment_id("cnn_clip_length")

    def run(kind: str, parent: str | None = None, metrics: dict | None = None) -> str:
        tags = {"genrelab.kind": kind, **({"mlflow.parentRunId": parent} if parent else {})}
        run_id = client.create_run(experiment, tags=tags, run_name=kind).info.run_id
        for key, value in (metrics or {}).items():
            client.log_metric(run_id, key, value)
        client.set_terminated(run_id)
        return run_id

    study = run("study")
    length = run("clip_length", study, {"test_accuracy": 0.5, "test_f1_Hip_Hop": 0.4})
    run("fold", length, {"track_accuracy": 0.5})
    env(store=uri)
    at = open_page("views/compare.py")
    assert_clean(at)
    [note] = [i.value for i in at.info if "older version" in i.value]
    assert "\n" not in note and "rerun their specs" in note
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("page", ["views/overview.py", "views/compare.py"])
@pytest.mark.parametrize("broken", ["not_a_database", "uncreatable_folder"])
def test_broken_store_is_one_clear_line(env, open_page, tmp_path, page, broken):
    if broken == "not_a_database":
        bad = tmp_path / "mlflow.db"
        bad.write_text("this is not SQLite\n")
    else:
        (tmp_path / "file").write_text("")
        bad = tmp_path / "file" / "mlflow.db"  # its folder would have to live inside a file
    env(store=f"sqlite:///{bad}")
    at = open_page(page)
    assert_clean(at)
    [error] = at.error
    assert str(bad.parent) in error.value and "\n" not in error.value
    assert "MLflow store" in error.value


@pytest.mark.parametrize("page", ["views/overview.py", "views/data.py", "views/launch.py"])
def test_missing_data_root_is_one_clear_line(env, open_page, tmp_path, page):
    env(data=str(tmp_path / "nowhere"))
    at = open_page(page)
    assert_clean(at)
    messages = texts(at.error) + texts(at.warning)
    assert str(tmp_path / "nowhere") in messages


def test_data_page_filters_plays_and_draws_a_track(env, open_page, tiny_data):
    at = open_page("views/data.py")
    assert_clean(at)
    assert len(at.dataframe[0].value) == 48
    at.multiselect[0].set_value(["Rock"]).run()
    at.multiselect[2].set_value(["test"]).run()
    assert_clean(at)
    shown = at.dataframe[0].value
    assert len(shown) == 2 and set(shown["genre_top"]) == {"Rock"} and set(shown["split"]) == {"test"}
    track = at.selectbox(key="track").value
    assert track in shown.index
    assert at.get("audio"), "the clip can be played"
    drawn = charts(at)
    assert {"waveform", "log_mel", "distribution"} <= set(drawn)
    assert drawn["log_mel"].data[0].z.shape[0] == 128  # mel bands
    features = at.dataframe[-1].value
    assert len(features) == 518 and {"feature", "statistics", "number", "value"} <= set(features.columns)
