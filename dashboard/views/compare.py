"""Compare: the dataset-size study, the clip-length study, and any runs side by side."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, common, results

VIEWS = ["Dataset size", "Clip length", "Chosen runs"]
MAX_CHOSEN = 8
MAX_CONFUSION = 4

st.title("Compare")
runs = common.load_runs()
if runs.empty:
    st.info("No runs in the store yet: start a study on the **Launch** page.")
    st.stop()

families = results.family_of(runs)
cols = st.columns(3)
experiments = cols[0].multiselect("Experiment", sorted(runs["experiment"].dropna().unique()), placeholder="all")
datasets = cols[1].multiselect("Dataset", sorted(results.col(runs, results.DATASET).dropna().unique()),
                               placeholder="all")
chosen_families = cols[2].multiselect("Model family", sorted(families.dropna().unique()), placeholder="all")
shown = results.filter_runs(runs.assign(**{results.FAMILY: families}), experiments, datasets, chosen_families)
common.note_synthetic(results.is_synthetic(shown))

points, baselines = results.size_study(shown)
clip_folds, clip_tests = results.clip_study(shown)
default_view = VIEWS[0] if len(points) else VIEWS[1] if len(clip_tests) else VIEWS[2]
view = st.segmented_control("View", VIEWS, default=default_view, key="compare_view") or default_view


def size_view() -> None:
    if points.empty:
        st.info("No dataset-size study among these runs: run `experiments/mlp_dataset_size.toml` "
                "(or the demo spec) from the **Launch** page.")
        return
    several = points["experiment"].nunique() > 1
    series = points["input"] + (" · " + points["experiment"] if several else "")
    base_series = baselines["model"] + (" · " + baselines["experiment"] if several else "")
    real = not results.is_synthetic(shown)
    references = results.reference_marks(points["size"].unique().tolist()) if real else results.reference_marks([])
    st.plotly_chart(charts.size_study(points.assign(series=series), baselines.assign(series=base_series), references),
                    key="size_study", config=charts.TOOLBAR)
    note = "Lines: test accuracy of the refit best candidate; open circles: its CV mean ± std; grey: the FMA paper's baseline classifiers, measured here."
    if real:
        note += " Stars: the original study's reported MLP accuracy (not measured here)."
    else:
        note += " The original study's reported figures are drawn for real FMA data only."
    st.caption(note)
    st.dataframe(points.drop(columns=["run_id"]), hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="percent")
                                for c in ("cv_mean", "cv_std", "test_accuracy")})


def clip_view() -> None:
    if clip_tests.empty and clip_folds.empty:
        st.info("No clip-length study among these runs: run `experiments/cnn_clip_length.toml` "
                "(or the demo CNN spec) from the **Launch** page.")
        return
    names = sorted(set(clip_tests["experiment"]) | set(clip_folds["experiment"]))
    name = st.selectbox("Study", names) if len(names) > 1 else names[0]
    st.plotly_chart(charts.clip_study(clip_folds[clip_folds["experiment"] == name],
                                      clip_tests[clip_tests["experiment"] == name]),
                    key="clip_study", config=charts.TOOLBAR)
    st.caption("Clip level: each clip classified on its own. Track level: the clips of a track vote. "
               "Boxes and dots: CV folds; diamonds: the final model on the test split.")


def chosen_view() -> None:
    scored = results.result_runs(shown)
    if scored.empty:
        st.info("No finished run with a test or CV accuracy among these runs yet.")
        return
    names = dict(zip(scored["run_id"], results.label(scored)))
    preferred = scored[results.col(scored, results.KIND).isin(["final", "clip_length", "baseline"])]
    default = (preferred if len(preferred) else scored)["run_id"].head(3).tolist()
    chosen = st.multiselect("Runs", list(names), default=default, format_func=names.get,
                            max_selections=MAX_CHOSEN, key="compare_runs")
    if not chosen:
        st.info("Choose one or more runs.")
        return
    picked = scored.set_index("run_id").loc[chosen].reset_index()
    table = results.metrics_table(picked)
    st.dataframe(table, hide_index=True)
    st.download_button("Download table (CSV)", table.to_csv(index=False).encode(), file_name="runs.csv",
                       mime="text/csv", icon=":material/download:")

    folds = results.fold_scores(shown, chosen)
    if len(folds):
        st.plotly_chart(charts.fold_spread(folds), key="fold_spread", config=charts.TOOLBAR)

    searches = chosen + [p for p in results.col(picked, results.PARENT).dropna().tolist()]
    hyper = results.hyperparameters(results.descendants(shown, searches))
    if len(hyper.columns) > 1:
        st.plotly_chart(charts.parallel_coordinates(hyper), key="parallel", config=charts.TOOLBAR)

    uri = common.store_uri()
    curve_run = st.selectbox("Learning curves of", chosen, format_func=names.get, key="curve_run")
    source = results.fold_source(shown, curve_run)
    fold_runs = results.children(shown, source, "fold") if source else shown.iloc[0:0]
    curve_ids = fold_runs["run_id"].tolist() or [curve_run]
    history = common.metric_histories(uri, tuple(curve_ids), results.CURVES)
    if history.empty:
        st.caption("No per-epoch curves logged for this run.")
    else:
        fold_names = dict(zip(fold_runs["run_id"], "fold " + results.col(fold_runs, "params.fold").astype("string")))
        history["fold"] = history["run_id"].map(fold_names).fillna("final fit")
        st.plotly_chart(charts.learning_curves(history), key="curves", config=charts.TOOLBAR)

    normalize = st.toggle("Confusion matrices as row fractions", value=True)
    grid = st.columns(2)
    shown_matrices = 0
    for run_id in chosen:
        source = results.confusion_source(shown, run_id)
        matrix = common.json_artifact(uri, source, "confusion_matrix.json") if source else None
        if matrix is None:
            continue
        with grid[shown_matrices % 2]:
            st.plotly_chart(charts.confusion_heatmap(matrix["labels"], matrix["matrix"], names[run_id], normalize),
                            key=f"confusion_{run_id}", config=charts.TOOLBAR)
        shown_matrices += 1
        if shown_matrices == MAX_CONFUSION:
            break

    f1 = results.genre_f1(picked)
    if len(f1):
        st.plotly_chart(charts.genre_f1(f1), key="genre_f1", config=charts.TOOLBAR)


{"Dataset size": size_view, "Clip length": clip_view, "Chosen runs": chosen_view}[view]()
