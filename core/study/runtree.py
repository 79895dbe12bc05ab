"""The run tree every study writes, named in one place, and the reader that gives it back as tables.

::

    study ─┬─ baseline                     (table families: FMA paper classifiers, one per dataset size)
           └─ search (size × input × clip) ─┬─ autoencoder (one per fold, + "final"; autoencoder input)
                                            ├─ candidate ── fold          (one per fold; epoch curves)
                                            └─ final                      (refit, test split, model)

Every run carries ``genrelab.kind`` (one of :data:`KINDS`) and ``genrelab.key``, a hash of everything
that decides its result; a finished run with the same kind and key is reused instead of refitted
(:mod:`core.study.engine`). Searches carry the *setting* tags (:data:`SETTING_TAGS`: dataset size,
input kind, its variant, clip length); candidate runs carry ``genrelab.hyperparameters``, the names of the params
that are hyper-parameters (declared by the family, never guessed). Per-genre metrics are named
``<metric>/<genre>`` with the genre escaped reversibly (:func:`genre_metric` / :func:`split_genre_metric`),
so "Hip-Hop" and "Old-Time / Historic" come back exactly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

# -------------------------------------------------------------------------------- names (the owner)
KINDS = ("study", "search", "candidate", "fold", "final", "autoencoder", "baseline")
KIND, KEY = "genrelab.kind", "genrelab.key"
FAMILY, REUSED_FROM = "genrelab.family", "genrelab.reused_from"
SIZE, INPUT, CLIP_SECONDS = "genrelab.size", "genrelab.input", "genrelab.clip_seconds"
VARIANT = "genrelab.variant"             # the version of the input kind, e.g. "MTT_musicnn taggram"
#: What one search of a study varies; its runs carry these tags (absent when not applicable).
SETTING_TAGS = {"size": SIZE, "input": INPUT, "variant": VARIANT, "clip_seconds": CLIP_SECONDS}
CANDIDATE, RUNG, FOLD = "genrelab.candidate", "genrelab.rung", "genrelab.fold"
FOLD_INDICES, HYPERPARAMETERS = "genrelab.fold_indices", "genrelab.hyperparameters"
BEST_CANDIDATE_RUN, MODEL_VERSION = "genrelab.best_candidate_run", "genrelab.model_version"
CV_FOLDS = "genrelab.cv_folds"           # search: JSON list of its best candidate's fold accuracies
DEVICE = "genrelab.device"               # fold, final: what the fit ran on ("GPU 0: ...", "CPU: x86_64, 1 thread")
GROUPED_BY = "genrelab.folds_grouped_by"  # search: "artist" or "track", what no fold splits
RANKING = "ranking.json"                 # search artifact: its candidates' params, best first
CARRIED_FROM = "genrelab.carried_from"   # search, candidate: the smaller size's search it took them from
BASELINE = "genrelab.baseline"           # baseline: readable name with its settings, e.g. "knn (k=17)"
ADOPTED_FROM = "genrelab.adopted_from"   # a finished run moved out of a killed study's tree
PARENT, RUN_NAME = "mlflow.parentRunId", "mlflow.runName"
DATASET, SYNTHETIC, FINGERPRINT = "genrelab.dataset", "genrelab.synthetic", "genrelab.data_fingerprint"
FMA = "genrelab.fma"                     # "true" when the data are FMA's own tracks (not synthetic, not imported)
#: Params.
WINDOW = "window"                        # search: the audio window its input was computed on

#: Metrics every scored run of its kind logs.
FOLD_ACCURACY = "fold_accuracy"              # fold: accuracy on the fold's validation tracks
CV_MEAN, CV_STD = "cv_accuracy_mean", "cv_accuracy_std"   # candidate, search: over the folds (std ddof=0)
TEST_ACCURACY, TEST_F1 = "test_accuracy", "test_f1_macro"  # final, search, baseline: the test split, once
TEST_CI_LOW, TEST_CI_HIGH, N_TEST = "test_accuracy_ci_low", "test_accuracy_ci_high", "n_test"
#: How many artists the test tracks are by, where the data names them: the interval then counts artists.
N_TEST_ARTISTS = "n_test_artists"
#: final: expected calibration error of the test split's probabilities (core.calibration), and the
#: temperature (a param) they were scaled with, fitted on the refit's validation slice.
TEST_ECE, TEMPERATURE = "test_ece", "temperature"
#: The CNN's scores per clip (its fold and test accuracies are per track, clips voting).
CLIP_ACCURACY, TEST_CLIP_ACCURACY = "clip_accuracy", "test_clip_accuracy"
#: Per-genre test metrics: ``test_f1/<genre>`` etc.
GENRE_METRICS = ("test_precision", "test_recall", "test_f1")
#: Per-epoch curves of fold and final runs (step = epoch).
CURVES = ("loss", "val_loss", "accuracy", "val_accuracy")
#: Escaped in genre metric names: everything MLflow refuses in a metric name, and ``:`` (the escape).
_GENRE_SAFE = " -._/"


def genre_metric(metric: str, genre: str) -> str:
    """``("test_f1", "Hip-Hop")`` → ``"test_f1/Hip-Hop"``; other characters are escaped as ``:XX``."""
    return f"{metric}/{quote(str(genre), safe=_GENRE_SAFE).replace('%', ':')}"


def split_genre_metric(name: str) -> tuple[str, str] | None:
    """The inverse of :func:`genre_metric`: ``(metric, genre)``, or None for any other metric name."""
    metric, sep, escaped = name.partition("/")
    if not sep or metric not in GENRE_METRICS:
        return None
    return metric, unquote(escaped.replace(":", "%"))


def tags(kind: str, key: str, **settings) -> dict[str, str]:
    """The tags of a run of ``kind``: kind, content key and ``genrelab.<name>`` for each setting."""
    out = {KIND: kind, KEY: key}
    out.update({f"genrelab.{name}": _text(value) for name, value in settings.items() if value is not None})
    return out


def _text(value) -> str:
    return value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


# ----------------------------------------------------------------------------------------- the reader
@dataclass
class StudyTree:
    """Runs of one or more studies, one DataFrame per kind (index: run_id).

    Each frame has ``experiment``, ``name``, ``status``, ``parent``, ``study`` (the study run id), the
    setting columns ``size``, ``input``, ``variant``, ``clip_seconds``, ``family``, and every metric as a column;
    ``candidates`` also has one column per declared hyper-parameter; ``folds`` has ``fold`` (1-based)
    and ``candidate``. ``genre_metrics`` is long: run_id, metric, genre, value.
    """

    studies: pd.DataFrame
    searches: pd.DataFrame
    candidates: pd.DataFrame
    folds: pd.DataFrame
    finals: pd.DataFrame
    baselines: pd.DataFrame
    autoencoders: pd.DataFrame
    genre_metrics: pd.DataFrame

    def hyperparameters(self) -> list[str]:
        """Names of the hyper-parameters declared by the candidates' families."""
        return declared_hyperparameters(self.candidates)


def declared_hyperparameters(candidates: pd.DataFrame) -> list[str]:
    """The union of the candidates' ``hyperparameters`` declarations, in first-seen order."""
    names: list[str] = []
    for declared in candidates["hyperparameters"].dropna() if "hyperparameters" in candidates else ():
        names += [n for n in json.loads(declared) if n not in names]
    return names


def read_tree(runs: pd.DataFrame) -> StudyTree:
    """Split a runs frame (``core.tracking.runs_frame``: ``run_id``, ``params.*``, ``metrics.*``,
    ``tags.*``) into a :class:`StudyTree`. Settings a search carries are inherited by its descendants."""
    runs = runs.reset_index(drop=True)
    kind = _column(runs, f"tags.{KIND}")
    parent = _column(runs, f"tags.{PARENT}")
    base = pd.DataFrame({
        "run_id": runs["run_id"], "experiment": _column(runs, "experiment"), "kind": kind,
        "name": _column(runs, f"tags.{RUN_NAME}"), "status": _column(runs, "status"), "parent": parent,
        "dataset": _column(runs, f"tags.{DATASET}"), "synthetic": _column(runs, f"tags.{SYNTHETIC}") == "true",
        "fma": _column(runs, f"tags.{FMA}").map({"true": True, "false": False}),  # NaN: run older than the tag
        "family": _column(runs, f"tags.{FAMILY}"), "start_time": _column(runs, "start_time"),
    })
    for name, tag in {**SETTING_TAGS, "fold": FOLD, "candidate": CANDIDATE, "rung": RUNG}.items():
        base[name] = _column(runs, f"tags.{tag}")
    base["hyperparameters"] = _column(runs, f"tags.{HYPERPARAMETERS}")
    base["best_candidate_run"] = _column(runs, f"tags.{BEST_CANDIDATE_RUN}")
    base["model_version"] = _column(runs, f"tags.{MODEL_VERSION}")
    base["grouped_by"] = _column(runs, f"tags.{GROUPED_BY}")
    base = _inherit(base, ["size", "input", "variant", "clip_seconds", "family", "candidate", "grouped_by"])
    base["study"] = _ancestor_of_kind(base, "study")
    metric_columns = [c for c in runs.columns if c.startswith("metrics.")]
    per_genre = {c: split_genre_metric(c[len("metrics."):]) for c in metric_columns}
    plain = {c: c[len("metrics."):] for c, split in per_genre.items() if split is None}
    metrics = runs[list(plain)].rename(columns=plain).apply(pd.to_numeric, errors="coerce")
    frame = pd.concat([base, metrics], axis=1).set_index("run_id", drop=False)
    frame["clip_seconds"] = pd.to_numeric(frame["clip_seconds"].replace("", np.nan), errors="coerce")
    frame["fold"] = pd.to_numeric(frame["fold"], errors="coerce")
    candidates = frame[frame["kind"] == "candidate"].copy()
    for name in declared_hyperparameters(candidates):
        column = f"params.{name}"
        raw = runs.set_index("run_id").reindex(candidates.index)[column] if column in runs else np.nan
        numeric = pd.to_numeric(raw, errors="coerce")
        candidates[name] = numeric if numeric.notna().all() else raw
    genre_rows = [(run_id, split[0], split[1], value)
                  for column, split in per_genre.items() if split is not None
                  for run_id, value in zip(runs["run_id"], pd.to_numeric(runs[column], errors="coerce"))
                  if not pd.isna(value)]
    genre_metrics = pd.DataFrame(genre_rows, columns=["run_id", "metric", "genre", "value"])
    by_kind = {k: frame[frame["kind"] == k] for k in KINDS}
    return StudyTree(studies=by_kind["study"], searches=by_kind["search"], candidates=candidates,
                     folds=by_kind["fold"], finals=by_kind["final"], baselines=by_kind["baseline"],
                     autoencoders=by_kind["autoencoder"], genre_metrics=genre_metrics)


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    return runs[name] if name in runs else pd.Series(np.nan, index=runs.index, dtype=object)


def _inherit(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Fill each run's missing ``names`` from its nearest ancestor that has them."""
    parent = dict(zip(frame["run_id"], frame["parent"]))
    for name in names:
        own = {r: v for r, v in zip(frame["run_id"], frame[name]) if not (pd.isna(v) or v == "")}
        values = []
        for run_id in frame["run_id"]:
            node = run_id
            for _ in range(len(KINDS)):
                if node in own or node not in parent or pd.isna(parent[node]):
                    break
                node = parent[node]
            values.append(own.get(node, np.nan))
        frame[name] = values
    return frame


def _ancestor_of_kind(frame: pd.DataFrame, kind: str) -> list:
    parent = dict(zip(frame["run_id"], frame["parent"]))
    kinds = dict(zip(frame["run_id"], frame["kind"]))
    found = []
    for run_id in frame["run_id"]:
        node = run_id
        for _ in range(len(KINDS)):
            if kinds.get(node) == kind or node not in parent or pd.isna(parent[node]):
                break
            node = parent[node]
        found.append(node if kinds.get(node) == kind else np.nan)
    return found
