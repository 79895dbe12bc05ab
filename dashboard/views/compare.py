"""Compare: the dataset-size study, the clip-length study, and any runs side by side, every score with
its uncertainty, and the studies' paired comparisons (configurations scored on the same folds)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.report import charts, results
from core.report.html import read_study, render
from dashboard import common

VIEWS = ["Dataset size", "Clip length", "Chosen runs"]
MAX_CHOSEN = 8
MAX_CONFUSION = 4


@st.cache_data(show_spinner=False, max_entries=64)
def comparisons(uri: str, study_id: str, status: str) -> list[dict] | None:  # uri, status: cache keys
    """The study run's ``comparisons.json`` (written when it finishes), or None."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.artifacts.load_dict(f"runs:/{study_id}/comparisons.json")
    except (MlflowException, OSError, ValueError):
        return None


st.title("Compare")
runs = common.load_runs()
if runs.empty:
    st.info("No runs in the store yet: start a study on the **Launch** page.")
    st.stop()

tree, older = results.tree(runs)
if older:
    st.info(results.OLD_STORE_NOTE, icon=":material/history:")
studies = tree.studies
cols = st.columns(3)
experiments = cols[0].multiselect("Experiment", sorted(studies["experiment"].dropna().unique()), placeholder="all")
datasets = cols[1].multiselect("Dataset", sorted(studies["dataset"].dropna().unique()), placeholder="all")
families = cols[2].multiselect("Model family", sorted(studies["family"].dropna().unique()), placeholder="all")
shown = results.filter_tree(tree, experiments, datasets, families)
common.note_synthetic(results.is_synthetic(shown))

points, baselines = results.size_study(shown, runs)
clip_searches, clip_folds = results.clip_study(shown)
default_view = VIEWS[0] if len(points) else VIEWS[1] if len(clip_searches) else VIEWS[2]
view = st.segmented_control("View", VIEWS, default=default_view, key="compare_view") or default_view
uri = common.store_uri()


def paired_section(study_ids: list[str]) -> None:
    """Each study's paired comparisons as a short table naming both sides; the differences as a chart
    in an expander."""
    st.subheader("Paired comparisons")
    found = False
    for study_id in [s for s in study_ids if s in shown.studies.index]:
        study = shown.studies.loc[study_id]
        rows = comparisons(uri, study_id, str(study["status"]))
        if not rows:
            continue
        found = True
        st.markdown(f"**{study['experiment']}** · study run `{study_id[:6]}`")
        shown_rows, best = results.pairs_with_best(rows, shown.searches[shown.searches["study"] == study_id])
        if best:
            st.caption(f"The best search by CV, **{best}**, against each other one: {len(shown_rows)} of the "
                       f"study's {len(rows)} pairs (all of them in its report).")
        st.table(results.paired_table(shown_rows, best), hide_index=True)
        with st.expander("Each comparison in a sentence, and as a chart"):
            st.markdown("\n".join(f"- {r['verdict'][0].upper()}{r['verdict'][1:]}" for r in shown_rows))
            st.plotly_chart(charts.paired_differences(pd.DataFrame(shown_rows)), key=f"paired_{study_id}",
                            config=charts.TOOLBAR)
    if found:
        st.caption("Each pair was scored on the same CV folds, so the fold-to-fold noise they share cancels; "
                   "the interval is a paired t-interval, widened for the overlap between CV training sets "
                   "(Nadeau & Bengio). With few folds it is wide: that width is the honest answer.")
    else:
        st.caption("No paired comparisons among these studies: a study writes them when it finishes, for "
                   "configurations scored on the same folds (two inputs or clip lengths, a search's best "
                   "candidate and its runner-up).")


def report_buttons(experiments: list[str]) -> None:
    """A download of each experiment's newest study as one HTML file (``python -m core report``), made
    when clicked: it opens offline, for someone without this store."""

    for experiment in experiments:
        st.download_button(f"Download the {experiment} report (HTML)", lambda e=experiment: render(read_study(e)),
                           file_name=f"{experiment}.html", mime="text/html", icon=":material/description:",
                           key=f"report_{experiment}", on_click="ignore",
                           help="The experiment's newest study in one file that opens offline: question, data, "
                                "plan, scores with intervals, charts, paired comparisons, runs, environment "
                                f"(also `python -m core report {experiment}`).")


def score_table(frame: pd.DataFrame, first: list[str]) -> None:
    first = [c for c in first if frame[c].nunique() > 1] or first[-1:]  # a column saying one thing says it once above
    table = results.score_table(frame, first)
    st.dataframe(table, hide_index=True, height=35 * (len(table) + 1) + 3)  # every row shown, none scrolled away


def headlines(frame: pd.DataFrame, names: pd.Series) -> None:
    """One line per search: its test accuracy with interval and n, its CV mean ± std and fold values."""
    st.markdown("\n".join(
        f"- **{name}**: test {row['test'] or 'not scored yet'}; CV {row['cv'] or '-'}"
        + (f", folds {row['cv_folds']}" if row["cv_folds"] else "") for name, (_, row) in zip(names, frame.iterrows())))


def size_view() -> None:
    if points.empty:
        st.info("No dataset-size study among these runs: run `experiments/mlp_dataset_size.toml` "
                "(or the demo spec) from the **Launch** page.")
        return
    names = list(dict.fromkeys(points.sort_values("start_time", ascending=False)["experiment"]))
    name = st.selectbox("Study", names, key="size_experiment", help="Newest first") if len(names) > 1 else names[0]
    searches, floors = points[points["experiment"] == name], baselines[baselines["experiment"] == name]
    # FMA's own tracks: the original study's figures mean something only there (older runs: not synthetic)
    real = bool(searches["fma"].where(searches["fma"].notna(), ~searches["synthetic"]).all())
    references = results.reference_marks(searches["size"].unique().tolist() if real else [])
    chart, paired = st.columns([3, 2])
    with chart:
        with_baselines = st.toggle("Baselines", value=True, key="size_baselines",
                                   help="The best of the FMA paper's baseline classifiers at each size, as a grey "
                                        "band over its 95% interval.")
        st.plotly_chart(charts.size_study(searches, floors, references, show_baselines=with_baselines),
                        key="size_study", config=charts.TOOLBAR)
        if charts.side_by_side(searches):
            note = ("One row per input. Filled markers: test accuracy of the refit best candidate with its 95% "
                    "interval (counting the test tracks' artists); open dots: its CV folds, bar: their mean ± std; "
                    "grey diamond: the best of the baseline classifiers (logistic regression, SVM, kNN) on the same table, "
                    "with its 95% interval.")
            note += (" Dotted line: the original study's reported MLP accuracy (not measured here)." if real else "")
        else:
            note = ("One panel per input. Filled markers: test accuracy of the refit best candidate with its 95% "
                    "interval (counting the test tracks' artists); open dots: its CV folds, bar: their mean ± std; "
                    "gold ring: the best input at that size on the test split; grey band: the best baseline classifier, measured "
                    "here, with its 95% interval. Sizes are not joined by trend lines: with intervals this wide, "
                    "read the markers and their bars.")
            note += (" Stars: the original study's reported MLP accuracy (not measured here)." if real else
                     " The original study's reported figures are drawn for real FMA data only.")
        st.caption(note)
        window = results.window_note(searches["window"])
        if window:
            st.caption(window[0].upper() + window[1:])
    with paired:
        paired_section(searches["study"].dropna().unique().tolist())
    headlines(searches, searches["size"] + " · " + searches["input"])
    score_table(searches, ["size", "input"])
    if len(floors):
        score_table(floors, ["size", "input", "model"])
    report_buttons([name])


def clip_view() -> None:
    if clip_searches.empty:
        st.info("No clip-length study among these runs: run `experiments/cnn_clip_length.toml` "
                "(or the demo CNN spec) from the **Launch** page.")
        return
    names = sorted(clip_searches["experiment"].unique())
    name = st.selectbox("Study", names) if len(names) > 1 else names[0]
    searches = clip_searches[clip_searches["experiment"] == name]
    chart, paired = st.columns([3, 2])
    with chart:
        st.plotly_chart(charts.clip_study(searches, clip_folds[clip_folds["experiment"] == name]),
                        key="clip_study", config=charts.TOOLBAR)
        st.caption("Track level (each track's clips vote; the study's score): CV folds with their mean ± std, and "
                   "the final model on the test split with its 95% interval. Clip level: each clip classified on "
                   "its own; its test score has no interval, since the clips of one track are not independent.")
    with paired:
        paired_section(searches["study"].dropna().unique().tolist())
    clips = searches.assign(clip=searches["clip_seconds"].map(lambda s: f"{s:g} s clips"))
    headlines(clips, clips["clip"])
    score_table(clips.assign(clip=searches["clip_seconds"].map(lambda s: f"{s:g} s")), ["clip"])
    report_buttons([name])


def chosen_view() -> None:
    scored = results.result_runs(shown)
    if scored.empty:
        st.info("No finished run with a test or CV accuracy among these runs yet.")
        return
    names = results.label(scored).to_dict()
    searches = scored[scored["kind"] == "search"]
    default = (searches if len(searches) else scored).index[:3].tolist()
    chosen = st.multiselect("Runs", list(names), default=default, format_func=names.get,
                            max_selections=MAX_CHOSEN, key="compare_runs")
    if not chosen:
        st.info("Choose one or more runs.")
        return
    table = results.metrics_table(scored.loc[chosen])
    st.dataframe(table, hide_index=True)
    st.download_button("Download table (CSV)", table.to_csv(index=False).encode(), file_name="runs.csv",
                       mime="text/csv", icon=":material/download:")

    folds = results.fold_scores(shown, chosen)
    if len(folds):
        st.plotly_chart(charts.fold_spread(folds), key="fold_spread", config=charts.TOOLBAR)

    hyper = results.hyperparameters(shown, chosen)
    if len(hyper.columns) > 1:
        st.plotly_chart(charts.parallel_coordinates(hyper), key="parallel", config=charts.TOOLBAR)

    curve_run = st.selectbox("Learning curves of", chosen, format_func=names.get, key="curve_run")
    source = results.fold_source(shown, curve_run)
    fold_runs = results.folds_of(shown, source) if source else shown.folds.iloc[0:0]
    curve_ids = fold_runs.index.tolist() or [results.final_of(shown, curve_run) or curve_run]
    history = common.metric_histories(uri, tuple(curve_ids), results.CURVES)
    if history.empty:
        st.caption("No per-epoch curves logged for this run.")
    else:
        fold_names = {r: f"fold {int(k)}" for r, k in zip(fold_runs.index, fold_runs["fold"])}
        history["fold"] = history["run_id"].map(fold_names).fillna("final fit")
        st.plotly_chart(charts.learning_curves(history), key="curves", config=charts.TOOLBAR)

    normalize = st.toggle("Confusion matrices as row fractions", value=True)
    grid = st.columns(2)
    drawn = 0
    for run_id in chosen:
        source = results.final_of(shown, run_id)
        matrix = common.json_artifact(uri, source, "confusion_matrix.json") if source else None
        if matrix is None:
            continue
        with grid[drawn % 2]:
            st.plotly_chart(charts.confusion_heatmap(matrix["labels"], matrix["matrix"], names[run_id], normalize),
                            key=f"confusion_{run_id}", config=charts.TOOLBAR)
        drawn += 1
        if drawn == MAX_CONFUSION:
            break

    f1 = results.genre_scores(shown, chosen)
    if len(f1):
        st.plotly_chart(charts.genre_f1(f1), key="genre_f1", config=charts.TOOLBAR)
        st.caption("Per-genre F1 on the test split, without intervals: each genre has only its own few test "
                   "tracks, so small differences here mean little.")


{"Dataset size": size_view, "Clip length": clip_view, "Chosen runs": chosen_view}[view]()
