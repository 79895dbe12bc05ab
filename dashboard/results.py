"""Study results out of the runs frame (``core.tracking.runs_frame``): plain pandas, no Streamlit.

The run tree the studies write (see ``core/study/runner.py`` and ``core/study/cnn_study.py``):

- MLP: study → search (tags size, input; cv_accuracy_mean/std and test_* of its refit) → candidate
  (hyper-parameters as params; cv_accuracy_mean/std) → fold (fold_accuracy; loss/accuracy curves);
  search → final (test_*, confusion_matrix.json); study → baseline (family = the baseline's name).
- CNN: study → clip_length (param clip_seconds; cv_clip/track_accuracy_mean/std, test_clip/track_accuracy)
  → fold (clip_accuracy, track_accuracy; curves) and → final (test_*, confusion_matrix.json).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

KIND, PARENT = "tags.genrelab.kind", "tags.mlflow.parentRunId"
SIZE, INPUT, FAMILY = "tags.genrelab.size", "tags.genrelab.input", "tags.genrelab.family"
DATASET, SYNTHETIC = "tags.genrelab.dataset", "tags.genrelab.synthetic"
#: Dataset sizes from small to large (the study's names and FMA's subset names), for axis order.
SIZE_ORDER = ["8k", "small", "25k", "medium", "45k", "large", "all"]
#: Test accuracy of the MLP reported by the original study, per FMA subset. Reference marks for runs
#: on real FMA only; never measured here.
ORIGINAL_STUDY = {"small": 0.49, "medium": 0.63, "large": 0.64}
SIZE_SUBSET = {"8k": "small", "25k": "medium", "45k": "large", "small": "small", "medium": "medium",
               "large": "large"}
INPUT_NAMES = {"features": "raw features", "autoencoder": "autoencoder codes"}
#: Per-epoch curves the fold and final runs log (step = epoch).
CURVES = ("loss", "val_loss", "accuracy", "val_accuracy")


def col(runs: pd.DataFrame, name: str) -> pd.Series:
    """A column, or all-missing when no run has it (MLflow leaves out keys nobody logged)."""
    return runs[name] if name in runs else pd.Series(np.nan, index=runs.index, dtype="object")


def of_kind(runs: pd.DataFrame, *kinds: str) -> pd.DataFrame:
    return runs[col(runs, KIND).isin(kinds)]


def is_synthetic(runs: pd.DataFrame) -> bool:
    return bool((col(runs, SYNTHETIC).astype("string") == "true").any())


def label(runs: pd.DataFrame) -> pd.Series:
    """A short readable name per run: ``experiment · run name · first 6 of the id``."""
    return (col(runs, "experiment").astype("string").fillna("?") + " · "
            + col(runs, "tags.mlflow.runName").astype("string").fillna("run") + " · "
            + runs["run_id"].astype("string").str[:6])


def filter_runs(runs: pd.DataFrame, experiments=(), datasets=(), families=()) -> pd.DataFrame:
    """Runs of the chosen experiments, datasets and families (an empty choice keeps all).

    A run without a family tag inherits its study's, so a family filter keeps whole trees.
    """
    keep = pd.Series(True, index=runs.index)
    if experiments:
        keep &= col(runs, "experiment").isin(list(experiments))
    if datasets:
        keep &= col(runs, DATASET).isin(list(datasets))
    if families:
        keep &= family_of(runs).isin(list(families))
    return runs[keep]


def family_of(runs: pd.DataFrame) -> pd.Series:
    """Each run's model family: its own tag, else the nearest ancestor's."""
    own = {r: f for r, f in zip(runs["run_id"], col(runs, FAMILY)) if not pd.isna(f)}
    parent = {r: p for r, p in zip(runs["run_id"], col(runs, PARENT)) if not pd.isna(p)}

    def resolve(run_id: str):
        for _ in range(8):  # the deepest tree: study > search > candidate > fold
            if run_id in own or run_id not in parent:
                return own.get(run_id)
            run_id = parent[run_id]
        return None

    return pd.Series([resolve(r) for r in runs["run_id"]], index=runs.index, dtype="object")


def _size_rank(size: pd.Series) -> pd.Series:
    order = {name: i for i, name in enumerate(SIZE_ORDER)}
    return size.map(lambda s: order.get(s, len(order)))


def size_study(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(searches, baselines) of MLP dataset-size studies.

    searches: experiment, size, input (readable), cv_mean, cv_std, test_accuracy, n_tracks, run_id;
    baselines: experiment, size, model, test_accuracy, run_id. Both sorted small to large.
    """
    searches = of_kind(runs, "search")
    points = pd.DataFrame({
        "experiment": col(searches, "experiment"), "size": col(searches, SIZE),
        "input": col(searches, INPUT).map(lambda k: INPUT_NAMES.get(k, k)),
        "cv_mean": pd.to_numeric(col(searches, "metrics.cv_accuracy_mean")),
        "cv_std": pd.to_numeric(col(searches, "metrics.cv_accuracy_std")),
        "test_accuracy": pd.to_numeric(col(searches, "metrics.test_accuracy")),
        "n_tracks": pd.to_numeric(col(searches, "params.n_cv")) + pd.to_numeric(col(searches, "params.n_test")),
        "run_id": searches["run_id"],
    }).dropna(subset=["size"])
    base = of_kind(runs, "baseline")
    baselines = pd.DataFrame({
        "experiment": col(base, "experiment"), "size": col(base, SIZE),
        "model": col(base, FAMILY), "test_accuracy": pd.to_numeric(col(base, "metrics.test_accuracy")),
        "run_id": base["run_id"],
    }).dropna(subset=["size", "test_accuracy"])
    return (points.sort_values("size", key=_size_rank, kind="stable"),
            baselines.sort_values("size", key=_size_rank, kind="stable"))


def reference_marks(sizes: list[str]) -> pd.DataFrame:
    """The original study's reported test accuracy at each of ``sizes`` it reported on."""
    rows = [{"size": s, "test_accuracy": ORIGINAL_STUDY[SIZE_SUBSET[s]],
             "label": f"original study, {SIZE_SUBSET[s]}: {ORIGINAL_STUDY[SIZE_SUBSET[s]]:.0%}"}
            for s in sizes if s in SIZE_SUBSET]
    return pd.DataFrame(rows, columns=["size", "test_accuracy", "label"])


def clip_study(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(folds, tests) of CNN clip-length studies.

    folds: experiment, clip_seconds, fold, level ('clip' | 'track'), accuracy (one row per fold and level);
    tests: experiment, clip_seconds, level, accuracy (the final model on the test split).
    """
    lengths = of_kind(runs, "clip_length")
    clip_of = dict(zip(lengths["run_id"], pd.to_numeric(col(lengths, "params.clip_seconds"))))
    experiment_of = dict(zip(lengths["run_id"], col(lengths, "experiment")))
    folds = of_kind(runs, "fold")
    folds = folds[col(folds, PARENT).isin(list(clip_of))]
    fold_rows = []
    for level in ("clip", "track"):
        values = pd.to_numeric(col(folds, f"metrics.{level}_accuracy"))
        fold_rows.append(pd.DataFrame({
            "experiment": folds[PARENT].map(experiment_of) if len(folds) else [],
            "clip_seconds": folds[PARENT].map(clip_of) if len(folds) else [],
            "fold": col(folds, "params.fold"), "level": level, "accuracy": values}))
    test_rows = [pd.DataFrame({
        "experiment": col(lengths, "experiment"),
        "clip_seconds": pd.to_numeric(col(lengths, "params.clip_seconds")), "level": level,
        "accuracy": pd.to_numeric(col(lengths, f"metrics.test_{level}_accuracy"))}) for level in ("clip", "track")]
    folds_frame = pd.concat(fold_rows, ignore_index=True).dropna(subset=["accuracy", "clip_seconds"])
    tests_frame = pd.concat(test_rows, ignore_index=True).dropna(subset=["accuracy", "clip_seconds"])
    return folds_frame.sort_values("clip_seconds"), tests_frame.sort_values("clip_seconds")


def result_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that carry a score someone would compare: searches, candidates, finals, baselines,
    clip lengths (anything with test or CV accuracy), newest first."""
    scored = col(runs, "metrics.test_accuracy").notna() | col(runs, "metrics.cv_accuracy_mean").notna()
    chosen = runs[scored & ~col(runs, KIND).isin(["fold", "study"])]
    return chosen.sort_values("start_time", ascending=False)


def metrics_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: identity, setting and the shared metrics (for display and CSV download)."""
    table = pd.DataFrame({
        "run": label(runs), "experiment": col(runs, "experiment"), "kind": col(runs, KIND),
        "family": col(runs, FAMILY), "dataset": col(runs, DATASET), "size": col(runs, SIZE),
        "input": col(runs, INPUT), "clip_seconds": col(runs, "params.clip_seconds"),
        "cv_accuracy_mean": col(runs, "metrics.cv_accuracy_mean"),
        "cv_accuracy_std": col(runs, "metrics.cv_accuracy_std"),
        "test_accuracy": col(runs, "metrics.test_accuracy"), "test_f1_macro": col(runs, "metrics.test_f1_macro"),
        "status": col(runs, "status"), "run_id": runs["run_id"],
    })
    return table.dropna(axis=1, how="all")


def children(runs: pd.DataFrame, run_id: str, kind: str | None = None) -> pd.DataFrame:
    found = runs[col(runs, PARENT) == run_id]
    return found if kind is None else of_kind(found, kind)


def fold_source(runs: pd.DataFrame, run_id: str) -> str | None:
    """The run whose children are the CV folds behind ``run_id``'s score.

    A candidate or clip length owns its folds; a search's folds are its best candidate's; a final
    run's are those of the search or clip length above it.
    """
    row = runs[runs["run_id"] == run_id]
    if row.empty:
        return None
    kind = row[KIND].iloc[0] if KIND in row else None
    if kind == "final":
        parent = row[PARENT].iloc[0]
        return fold_source(runs, parent) if isinstance(parent, str) else None
    if kind == "search":
        best = col(row, "tags.genrelab.best_candidate_run").iloc[0]
        return best if isinstance(best, str) else None
    if kind in ("candidate", "clip_length"):
        return run_id
    return None


def fold_scores(runs: pd.DataFrame, run_ids: list[str]) -> pd.DataFrame:
    """Per-fold validation accuracy behind each run: columns run, fold, accuracy, fold_run_id."""
    frames = []
    labels = dict(zip(runs["run_id"], label(runs)))
    for run_id in run_ids:
        source = fold_source(runs, run_id)
        folds = children(runs, source, "fold") if source else runs.iloc[0:0]
        if folds.empty:
            continue
        accuracy = pd.to_numeric(col(folds, "metrics.fold_accuracy")).fillna(
            pd.to_numeric(col(folds, "metrics.track_accuracy")))
        frames.append(pd.DataFrame({"run": labels[run_id], "fold": col(folds, "params.fold").astype("string"),
                                    "accuracy": accuracy, "fold_run_id": folds["run_id"]}))
    if not frames:
        return pd.DataFrame(columns=["run", "fold", "accuracy", "fold_run_id"])
    return pd.concat(frames, ignore_index=True).dropna(subset=["accuracy"]).sort_values(["run", "fold"])


#: Params that identify or describe data rather than set a hyper-parameter.
_NOT_HYPER = re.compile(r"^(fold|candidate|rung|epoch_fraction|size|input|family|genres|n_.*|.*fingerprint.*|"
                        r"seed|spec|overrides|best.*|model)$")


def hyperparameters(runs: pd.DataFrame, score: str = "metrics.cv_accuracy_mean") -> pd.DataFrame:
    """Candidate runs' varying hyper-parameters and their score, for parallel coordinates.

    Columns: one per hyper-parameter that takes more than one value (strings kept as text), ``score``.
    """
    candidates = of_kind(runs, "candidate")
    if candidates.empty or score not in candidates:
        return pd.DataFrame()
    params = {}
    for name in (c for c in candidates.columns if c.startswith("params.")):
        short = name[len("params."):]
        values = candidates[name]
        if _NOT_HYPER.match(short) or values.nunique(dropna=True) < 2:
            continue
        numeric = pd.to_numeric(values, errors="coerce")
        params[short] = numeric if numeric.notna().all() else values.astype("string")
    frame = pd.DataFrame(params, index=candidates.index)
    frame["score"] = pd.to_numeric(candidates[score])
    return frame.dropna(subset=["score"])


def descendants(runs: pd.DataFrame, run_ids: list[str]) -> pd.DataFrame:
    """The chosen runs and every run below them."""
    parents = col(runs, PARENT)
    found, frontier = set(run_ids), set(run_ids)
    while frontier:
        frontier = set(runs.loc[parents.isin(list(frontier)), "run_id"]) - found
        found |= frontier
    return runs[runs["run_id"].isin(list(found))]


def genre_f1(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-genre test F1 of each run: columns run, genre, f1 (from ``metrics.test_f1_<genre>``)."""
    prefix = "metrics.test_f1_"
    names = [c for c in runs.columns if c.startswith(prefix) and c != "metrics.test_f1_macro"]
    if not names or runs.empty:
        return pd.DataFrame(columns=["run", "genre", "f1"])
    wide = runs[names].copy()
    wide.columns = [c[len(prefix):].replace("_", " ") for c in names]
    wide["run"] = label(runs).to_numpy()
    long = wide.melt(id_vars="run", var_name="genre", value_name="f1").dropna(subset=["f1"])
    return long.sort_values(["genre", "run"])


def confusion_source(runs: pd.DataFrame, run_id: str) -> str | None:
    """The run holding ``confusion_matrix.json`` for ``run_id``: itself (final, baseline) or its final child."""
    row = runs[runs["run_id"] == run_id]
    if row.empty:
        return None
    if row[KIND].iloc[0] in ("final", "baseline"):
        return run_id
    finals = children(runs, run_id, "final")
    return finals["run_id"].iloc[0] if len(finals) else None
