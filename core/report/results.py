"""Study results for the pages, out of the run tree (:func:`core.study.runtree.read_tree`): plain pandas.

The tree's reader owns the names (kinds, tags, metrics, declared hyper-parameters, per-genre metrics);
this module only arranges what a page draws, and writes every score with its uncertainty through
:mod:`core.stats` (test accuracy with its 95% interval and n, CV as mean ± std with the fold values).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core import inputs
from core.stats import format_cv, format_test
from core.study import runtree as rt
from core.study.runtree import StudyTree

#: Runs-frame columns the shared page code (``dashboard.common``) reads.
KIND, PARENT = f"tags.{rt.KIND}", f"tags.{rt.PARENT}"
#: The baseline's readable label ("knn (k=17)"), the audio window a search's input was computed on,
#: the CNN's clip-level scores.
BASELINE_LABEL, WINDOW = f"tags.{rt.BASELINE}", f"params.{rt.WINDOW}"
CLIP_ACCURACY, TEST_CLIP_ACCURACY = rt.CLIP_ACCURACY, rt.TEST_CLIP_ACCURACY
CURVES = rt.CURVES
#: Dataset sizes from small to large (the study's names and FMA's subset names), for axis order.
SIZE_ORDER = ["8k", "small", "25k", "medium", "45k", "large", "all"]
#: Test accuracy of the MLP reported by the original study, per FMA subset. Reference marks for runs
#: on real FMA only; never measured here.
ORIGINAL_STUDY = {"small": 0.49, "medium": 0.63, "large": 0.64}
SIZE_SUBSET = {"8k": "small", "25k": "medium", "45k": "large", "small": "small", "medium": "medium",
               "large": "large"}
WINDOWS = {"full": "features computed on full tracks (FMA's published table)"}
OLD_STORE_NOTE = ("Some runs in this store were written by an older version of FMA Genre Lab (before the "
                  "one study engine) and are not shown: rerun their specs to rebuild them, e.g. "
                  "`python -m core run experiments/demo_mlp.toml`.")

_last: tuple[pd.DataFrame | None, StudyTree | None, set] = (None, None, set())


def tree(runs: pd.DataFrame) -> tuple[StudyTree, bool]:
    """(the run tree without studies an older version wrote, whether there were any). The last
    answer is kept: the runs frame is shared and re-read only when the store changed."""
    global _last
    if _last[0] is not runs:
        full = rt.read_tree(runs)
        kinds = runs[KIND] if KIND in runs else pd.Series(index=runs.index, dtype=object)
        unknown = runs[kinds.notna() & ~kinds.isin(rt.KINDS)]
        old = set(full.candidates.loc[full.candidates["hyperparameters"].isna(), "study"].dropna())
        if PARENT in unknown:  # e.g. the old CNN study's "clip_length" runs, directly under their study
            old |= set(unknown[PARENT].dropna()) & set(full.studies.index)
        _last = (runs, subset(full, lambda f: ~f["study"].isin(old)), old)
    return _last[1], bool(_last[2])


def subset(t: StudyTree, keep) -> StudyTree:
    """The tree with each run frame reduced to the rows where ``keep(frame)`` is True."""
    frames = {name: getattr(t, name)[keep(getattr(t, name))] for name in
              ("studies", "searches", "candidates", "folds", "finals", "baselines", "autoencoders")}
    kept = set().union(*(f.index for f in frames.values()))
    return StudyTree(**frames, genre_metrics=t.genre_metrics[t.genre_metrics["run_id"].isin(kept)])


def runs_of(t: StudyTree) -> pd.DataFrame:
    """Every run of the tree in one frame."""
    return pd.concat([t.studies, t.searches, t.candidates, t.folds, t.finals, t.baselines, t.autoencoders])


def filter_tree(t: StudyTree, experiments=(), datasets=(), families=()) -> StudyTree:
    """Whole studies of the chosen experiments, datasets and model families (an empty choice keeps all);
    a study's family is its own (its baselines come along)."""
    family = t.studies["family"].to_dict()

    def keep(f: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=f.index)
        if experiments:
            ok &= f["experiment"].isin(list(experiments))
        if datasets:
            ok &= f["dataset"].isin(list(datasets))
        if families:
            ok &= f["study"].map(family).fillna(f["family"]).isin(list(families))
        return ok

    return subset(t, keep)


def is_synthetic(t: StudyTree) -> bool:
    return bool(runs_of(t)["synthetic"].any())


def label(frame: pd.DataFrame) -> pd.Series:
    """A short readable name per run: ``experiment · run name · first 6 of the id``."""
    return (frame["experiment"].astype("string").fillna("?") + " · " + frame["name"].astype("string").fillna("run")
            + " · " + frame["run_id"].astype("string").str[:6])


# -------------------------------------------------------------------------------------- scores
def metric(frame: pd.DataFrame, name: str) -> pd.Series:
    """A metric column, all missing when no run of the frame logged it."""
    return frame[name] if name in frame else pd.Series(np.nan, index=frame.index, dtype=float)


def folds_of(t: StudyTree, candidate: str) -> pd.DataFrame:
    """The fold runs of a candidate, in fold order."""
    return t.folds[t.folds["parent"] == candidate].sort_values("fold")


def fold_source(t: StudyTree, run_id: str) -> str | None:
    """The candidate whose folds stand behind ``run_id``'s CV score (a search's or final's best)."""
    if run_id in t.candidates.index:
        return run_id
    if run_id in t.finals.index:
        run_id = t.finals.at[run_id, "parent"]
    if run_id in t.searches.index and isinstance(t.searches.at[run_id, "best_candidate_run"], str):
        return t.searches.at[run_id, "best_candidate_run"]
    return None


def scored(t: StudyTree, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (searches, candidates, finals or baselines) with the honest score columns added:
    ``cv`` (mean ± std over n folds), ``cv_folds`` (the fold accuracies as text), ``fold_values`` (as a
    list), ``test`` (accuracy, 95% CI, n)."""
    out = frame.copy()
    for column in (rt.CV_MEAN, rt.CV_STD, rt.TEST_ACCURACY, rt.TEST_CI_LOW, rt.TEST_CI_HIGH, rt.N_TEST, rt.N_TEST_ARTISTS,
                   rt.TEST_F1):
        if column not in out:
            out[column] = np.nan
    folds = t.folds.assign(accuracy=metric(t.folds, rt.FOLD_ACCURACY)).dropna(subset=["accuracy"])
    accuracies = folds.sort_values("fold").groupby("parent")["accuracy"].agg(list).to_dict()  # one pass, not a frame per group
    folds = [accuracies.get(fold_source(t, run_id), []) for run_id in out.index]
    out["fold_values"] = folds
    out["cv_folds"] = [", ".join(f"{100 * v:.1f}" for v in values) + " %" if values else "" for values in folds]
    grouped = out["grouped_by"] if "grouped_by" in out else pd.Series(None, index=out.index)
    out["cv"] = [format_cv(m, s, len(v), g if isinstance(g, str) and g else None) if pd.notna(m) and v else ""
                 for m, s, v, g in zip(out[rt.CV_MEAN], out[rt.CV_STD], folds, grouped)]
    out["test"] = [format_test(a, lo, hi, int(n), n_artists=_count(k)) if pd.notna(a) and pd.notna(n) else ""
                   for a, lo, hi, n, k in zip(out[rt.TEST_ACCURACY], out[rt.TEST_CI_LOW], out[rt.TEST_CI_HIGH],
                                              out[rt.N_TEST], out[rt.N_TEST_ARTISTS])]
    return out


def _count(value) -> int | None:
    """A logged count as an int; None where the run did not log it (test artists before they were counted)."""
    return None if pd.isna(value) else int(value)


def _by_size(frame: pd.DataFrame) -> pd.DataFrame:
    """Small to large, then in the order the study ran them (the spec's)."""
    order = {name: i for i, name in enumerate(SIZE_ORDER)}
    rank = frame["size"].map(lambda s: order.get(s, len(order)))
    return frame.assign(_rank=rank).sort_values(["_rank", "start_time"], kind="stable").drop(columns="_rank")


def size_study(t: StudyTree, runs: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(searches, baselines) of table studies (searches with a dataset size, no clip length), small to large.

    searches: the run columns plus ``input`` (readable: :func:`readable_input`), the :func:`scored` columns and ``window``;
    baselines: the run columns plus ``model`` (the label with the k used), ``input`` (its table's, readable)
    and the scored columns.
    """
    searches = scored(t, t.searches[t.searches["size"].notna() & t.searches["clip_seconds"].isna()])
    searches["input"] = readable_input(searches)
    searches["window"] = _param(runs, searches.index, WINDOW)
    baselines = scored(t, t.baselines[t.baselines["size"].notna()])
    baselines["input"] = readable_input(baselines)
    baselines["model"] = _param(runs, baselines.index, BASELINE_LABEL).fillna(baselines["family"])
    return _by_size(searches), _by_size(baselines)


def readable_input(frame: pd.DataFrame) -> pd.Series:
    """Each run's input as pages name it: its kind's label ("raw features"), or its variant where it has
    one ("MTT_musicnn taggram": the variant names the kind too, and a dozen of them fit a table)."""
    return pd.Series([v if isinstance(v, str) and v else inputs.label(i)
                      for i, v in zip(frame["input"].fillna(""), frame["variant"])], index=frame.index, dtype=object)


def _param(runs: pd.DataFrame | None, index: pd.Index, column: str) -> pd.Series:
    if runs is None or column not in runs:
        return pd.Series(np.nan, index=index, dtype=object)
    return runs.set_index("run_id")[column].reindex(index)


def window_note(windows: pd.Series) -> str | None:
    """One sentence on the audio window(s) the features were computed on, if the runs say."""
    known = sorted(set(windows.dropna()))
    if not known:
        return None
    return "; ".join(WINDOWS.get(w, f"features computed on the window {w} of each track") for w in known) + "."


def reference_marks(sizes: list[str]) -> pd.DataFrame:
    """The original study's reported test accuracy at each of ``sizes`` it reported on."""
    rows = [{"size": s, "test_accuracy": ORIGINAL_STUDY[SIZE_SUBSET[s]],
             "label": f"original study, {SIZE_SUBSET[s]}: {ORIGINAL_STUDY[SIZE_SUBSET[s]]:.0%}"}
            for s in sizes if s in SIZE_SUBSET]
    return pd.DataFrame(rows, columns=["size", "test_accuracy", "label"])


def clip_study(t: StudyTree) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(searches, folds) of clip-length studies (searches with ``clip_seconds``), short to long.

    searches: run columns plus the :func:`scored` columns (test = track level, with its interval) and
    ``clip_test`` (clip-level test accuracy);
    folds: experiment, clip_seconds, fold, level ('track' | 'clip'), accuracy — the best candidate's folds.
    """
    searches = scored(t, t.searches[t.searches["clip_seconds"].notna()]).sort_values("clip_seconds")
    searches["clip_test"] = metric(searches, TEST_CLIP_ACCURACY)
    rows = []
    for run_id, search in searches.iterrows():
        source = fold_source(t, run_id)
        folds = folds_of(t, source) if source else t.folds.iloc[0:0]
        for level, name in (("track", rt.FOLD_ACCURACY), ("clip", CLIP_ACCURACY)):
            values = metric(folds, name)
            rows += [{"experiment": search["experiment"], "study": search["study"],
                      "clip_seconds": search["clip_seconds"], "fold": int(k), "level": level, "accuracy": v}
                     for k, v in zip(folds["fold"], values) if pd.notna(v)]
    return searches, pd.DataFrame(rows, columns=["experiment", "study", "clip_seconds", "fold", "level", "accuracy"])


def paired_table(comparisons: list[dict], best: str | None = None) -> pd.DataFrame:
    """A study's paired comparisons (its ``comparisons.json`` rows) as a short table: both sides, the
    difference A − B in points with its 95% interval over the same folds, and which side is better
    (the interval's side of zero, as the verdict sentence says). Four columns, so the table fits beside
    its chart at 1280 px: the fold count sits in the header when every row shares it, else in each cell.
    With ``best`` (a search every row involves, :func:`pairs_with_best`): three columns, each row the other
    search and ``best`` − it."""
    folds = {int(c["n_folds"]) for c in comparisons}
    shared = len(folds) == 1
    n = f"{folds.pop()} folds" if shared else "folds"
    header = f"best − it, points (95% CI, {n})" if best else f"A − B, points (95% CI, {n})"
    rows = []
    for c in comparisons:
        sign = -1 if c["b"] == best else 1  # with best: best − other
        diff = 100 * sign * c["mean_diff"]
        low, high = sorted([100 * sign * c["ci_low"], 100 * sign * c["ci_high"]])
        first, second = (c["a"], c["b"]) if sign == 1 else (c["b"], c["a"])
        better = first if low > 0 else second if high < 0 else "neither (fold noise)"
        cell = f"{diff:+.1f} ({low:+.1f} to {high:+.1f}" + ("" if shared else f", {int(c['n_folds'])} folds") + ")"
        rows.append({"search": second, header: cell, "better": better} if best else
                    {"A": c["a"], "B": c["b"], header: cell, "better": better})
    return pd.DataFrame(rows, columns=["search", header, "better"] if best else ["A", "B", header, "better"])


#: More pairs than this: a page shows each search against the study's best (:func:`pairs_with_best`).
MAX_PAIRS = 10


def pairs_with_best(comparisons: list[dict], searches: pd.DataFrame) -> tuple[list[dict], str | None]:
    """The comparisons a page shows: all of them, or, beyond :data:`MAX_PAIRS` (a dozen embeddings make
    66 pairs), those of the search with the best CV mean (``searches``: the study's, with ``name`` and
    the CV mean) against each other one. Returns the rows and the best search's name (None: all shown)."""
    if len(comparisons) <= MAX_PAIRS or searches.empty:
        return comparisons, None
    best = searches.loc[metric(searches, rt.CV_MEAN).idxmax(), "name"]
    return [c for c in comparisons if best in (c["a"], c["b"])], best


# ---------------------------------------------------------------------------------- chosen runs
def result_runs(t: StudyTree) -> pd.DataFrame:
    """Runs someone would compare (searches, baselines, candidates) with their scores, newest first."""
    frame = pd.concat([t.searches, t.baselines, t.candidates])
    return scored(t, frame).sort_values("start_time", ascending=False)


#: The honest score columns of :func:`scored` under the names the tables show.
SCORE_COLUMNS = {"cv": "CV accuracy (mean ± std)", "cv_folds": "CV folds", "test": "test accuracy (95% CI, n)"}


def score_table(frame: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    """``first`` columns of a :func:`scored` frame and its score columns (readable names; those no row
    has left out; cells compact, since the header says what they are, so the table fits 1280 px). Run
    ids are left to the pages that list runs (Compare's chosen runs, the report's run list)."""
    grouped = frame["grouped_by"] if "grouped_by" in frame else pd.Series(None, index=frame.index)
    compact = frame.assign(
        cv=[format_cv(m, s, len(v), g if isinstance(g, str) and g else None, compact=True) if cv else ""
            for m, s, v, g, cv in zip(frame[rt.CV_MEAN], frame[rt.CV_STD], frame["fold_values"], grouped, frame["cv"])],
        test=[format_test(a, lo, hi, int(n), compact=True, n_artists=_count(k)) if text else "" for a, lo, hi, n, k, text
              in zip(frame[rt.TEST_ACCURACY], frame[rt.TEST_CI_LOW], frame[rt.TEST_CI_HIGH], frame[rt.N_TEST],
                     metric(frame, rt.N_TEST_ARTISTS), frame["test"])])
    scores = [c for c in SCORE_COLUMNS if frame[c].astype(bool).any()]
    return compact[first + scores].rename(columns=SCORE_COLUMNS)


def metrics_table(picked: pd.DataFrame) -> pd.DataFrame:
    """One row per chosen run (from :func:`result_runs`): identity, setting and scores with uncertainty."""
    table = pd.DataFrame({
        "run": label(picked), "kind": picked["kind"], "family": picked["family"], "size": picked["size"],
        "input": picked["input"], "clip_seconds": picked["clip_seconds"],
        **{name: picked[column] for column, name in SCORE_COLUMNS.items()},
        rt.TEST_ACCURACY: picked[rt.TEST_ACCURACY], rt.TEST_CI_LOW: picked[rt.TEST_CI_LOW],
        rt.TEST_CI_HIGH: picked[rt.TEST_CI_HIGH], rt.N_TEST: picked[rt.N_TEST], rt.TEST_F1: picked[rt.TEST_F1],
        "status": picked["status"], "run_id": picked["run_id"]})
    return table.replace("", np.nan).dropna(axis=1, how="all")


def fold_scores(t: StudyTree, run_ids: list[str]) -> pd.DataFrame:
    """Per-fold validation accuracy behind each run: columns run, fold, accuracy, fold_run_id."""
    labels = label(runs_of(t)).to_dict()
    rows = []
    for run_id in run_ids:
        source = fold_source(t, run_id)
        folds = folds_of(t, source) if source else t.folds.iloc[0:0]
        rows += [{"run": labels[run_id], "fold": int(k), "accuracy": a, "fold_run_id": f}
                 for f, k, a in zip(folds.index, folds["fold"], metric(folds, rt.FOLD_ACCURACY)) if pd.notna(a)]
    return pd.DataFrame(rows, columns=["run", "fold", "accuracy", "fold_run_id"])


def hyperparameters(t: StudyTree, run_ids: list[str]) -> pd.DataFrame:
    """The candidates of the searches behind ``run_ids``: their declared hyper-parameters that take more
    than one value, and ``score`` (CV mean), for parallel coordinates."""
    searches = {t.candidates.at[r, "parent"] if r in t.candidates.index else
                t.finals.at[r, "parent"] if r in t.finals.index else r for r in run_ids}
    candidates = t.candidates[t.candidates["parent"].isin(searches)]
    names = [n for n in rt.declared_hyperparameters(candidates)
             if candidates[n].astype("string").nunique(dropna=True) > 1]
    frame = candidates[names].copy()
    for name in names:
        if not pd.api.types.is_numeric_dtype(frame[name]):
            frame[name] = frame[name].astype("string")
    frame["score"] = metric(candidates, rt.CV_MEAN)
    return frame.dropna(subset=["score"])


def final_of(t: StudyTree, run_id: str) -> str | None:
    """The run holding the test evaluation (confusion matrix, per-genre metrics) behind ``run_id``."""
    if run_id in t.finals.index or run_id in t.baselines.index:
        return run_id
    finals = t.finals[t.finals["parent"] == run_id]
    return finals.index[0] if len(finals) else None


def genre_scores(t: StudyTree, run_ids: list[str], name: str = rt.GENRE_METRICS[-1]) -> pd.DataFrame:
    """Per-genre test metric (default F1) of each run (columns run, genre, value); genres exactly as the
    data names them."""
    labels = label(runs_of(t)).to_dict()
    source = {final_of(t, r): labels[r] for r in run_ids if final_of(t, r)}
    long = t.genre_metrics[(t.genre_metrics["metric"] == name) & t.genre_metrics["run_id"].isin(list(source))]
    return pd.DataFrame({"run": long["run_id"].map(source), "genre": long["genre"],
                         "value": long["value"]}).sort_values(["genre", "run"])
