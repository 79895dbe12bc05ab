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


def test_overview_lists_latest_runs(env, open_page, populated_store):
    env(store=populated_store)
    at = open_page("views/overview.py")
    assert_clean(at)
    runs = at.dataframe[-1].value
    assert {"demo_mlp", "demo_cnn"} == set(runs["experiment"])
    assert set(runs["status"]) == {"FINISHED"}


def test_compare_draws_both_studies_and_chosen_runs(env, open_page, populated_store):
    env(store=populated_store)
    at = open_page("views/compare.py")
    assert_clean(at)
    assert "Synthetic demo data" in texts(at.warning)
    size = charts(at)["size_study"]
    names = {trace.name for trace in size.data}
    assert {"raw features: test", "autoencoder codes: CV mean ± std", "svm_rbf: test"} <= names
    assert "original study (reported)" not in names  # synthetic runs: no reference marks
    assert list(size.data[0].x) == ["8k", "25k"]

    at.segmented_control(key="compare_view").set_value("Clip length").run()
    assert_clean(at)
    clip = charts(at)["clip_study"]
    boxes = [t for t in clip.data if t.type == "box"]
    assert {t.name for t in boxes} == {"clip level: CV folds", "track level: CV folds"}
    assert sorted(set(boxes[0].x)) == ["10 s", "3 s"] and len(boxes[0].y) == 4  # 2 lengths x 2 folds

    at.segmented_control(key="compare_view").set_value("Chosen runs").run()
    assert_clean(at)
    runs = store_runs(populated_store)
    mlp_finals = runs[(runs["experiment"] == "demo_mlp") & (runs["tags.genrelab.kind"] == "final")]
    at.multiselect(key="compare_runs").set_value(mlp_finals["run_id"].head(2).tolist()).run()
    assert_clean(at)
    drawn = charts(at)
    assert {"fold_spread", "parallel", "curves", "genre_f1"} <= set(drawn)
    assert sum(k.startswith("confusion_") for k in drawn) == 2
    table = at.dataframe[0].value
    assert len(table) == 2 and table["test_accuracy"].between(0, 1).all()
    assert at.get("download_button"), "the metrics table is downloadable as CSV"
    assert {d.label for d in drawn["parallel"].data[0].dimensions} >= {"hidden_units", "dropout", "score"}



def store_runs(uri: str):
    from core import tracking

    tracking.configure(uri)
    return tracking.runs_frame()


def test_compare_marks_the_original_study_on_real_fma(env, open_page, fresh_store):
    from core import tracking
    from tests.dashboard.builders import TreeWriter, mlp_size_study

    uri = tracking.configure(fresh_store)
    mlp_size_study(TreeWriter("fma_mlp", dataset="fma_large", synthetic=False), sizes=("8k", "25k", "45k"),
                   inputs=("features",), n_candidates=1, folds=2, epochs=1, baselines=False)
    env(store=uri)
    at = open_page("views/compare.py")
    assert_clean(at)
    assert not at.warning, "real data: no synthetic notice"
    marks = next(t for t in charts(at)["size_study"].data if t.name == "original study (reported)")
    assert list(marks.x) == ["8k", "25k", "45k"] and list(marks.y) == [0.49, 0.63, 0.64]
    assert "original study, large: 64%" in marks.text


def test_compare_filters_by_family(env, open_page, populated_store):
    env(store=populated_store)
    at = open_page("views/compare.py")
    at.multiselect[2].set_value(["cnn"]).run()
    assert_clean(at)
    assert "No dataset-size study among these runs" in texts(at.info)
    at.segmented_control(key="compare_view").set_value("Clip length").run()
    assert "clip_study" in charts(at)


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
