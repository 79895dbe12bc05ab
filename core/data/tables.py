"""Reading a study's feature table (one row per track): FMA's features.csv for a selection, or any CSV table.

A :class:`FeatureTable` is one matrix plus its labels and official splits; folds are drawn from the
non-test rows and the test rows are scored once. Its ``fingerprint`` covers the rows, labels, splits
and feature values, so a resumed study reuses a fold only when the data is exactly the same.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import GenreLabError
from core.data.fma import features_info_path
from core.data.fma import features_window, load_features, metadata_path
from core.data.selection import SIZES, artist_ids, select
import pandas as pd


@dataclass
class FeatureTable:
    """``X`` (n, d) float32, ``labels``/``splits`` (n,) str, ``ids`` (n,), ``feature_names`` (d)."""

    X: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    ids: np.ndarray
    feature_names: list[str]
    genres: list[str]
    dataset_name: str
    synthetic: bool
    size: str
    source: str
    window: str = "full"   # the audio window the features were computed on
    fingerprint: str = ""
    artists: np.ndarray | None = None   # (n,) artist id per row where known (FMA), for folds by artist
    from_fma: bool = False              # FMA's own tracks (core.data.fma.is_fma)

    def __post_init__(self):
        if not self.fingerprint:
            digest = hashlib.sha256()
            for part in (self.ids.astype(str), self.labels.astype(str), self.splits.astype(str)):
                digest.update("\n".join(part).encode())
            digest.update("\n".join(self.feature_names).encode())
            digest.update(np.ascontiguousarray(self.X, dtype=np.float32).tobytes())
            self.fingerprint = digest.hexdigest()[:16]

    @property
    def cv_rows(self) -> np.ndarray:
        """Row indices that folds are drawn from: everything but the test split."""
        return np.flatnonzero(self.splits != "test")

    @property
    def test_rows(self) -> np.ndarray:
        return np.flatnonzero(self.splits == "test")


def load_fma_table(root: Path, size: str | None = None, genres: list[str] | None = None) -> FeatureTable:
    """features.csv rows of the tracks ``select`` picks: size '8k'/'25k'/'45k', a subset name, or None (all).

    Selected tracks missing from features.csv (audio that failed extraction) are left out.
    """

    if size in SIZES:
        selection = select(root, size=size, genres=genres)
    else:
        selection = select(root, subset=size, genres=genres)
    if not metadata_path(root, "features").exists():
        raise GenreLabError(f"{metadata_path(root, 'features')}: missing; compute it with: "
                            f"python -m core features --data {root}")
    features = load_features(root)
    present = np.isin(selection.track_ids, features.index.to_numpy())
    if not present.any():
        raise GenreLabError(f"{metadata_path(root, 'features')}: none of the {len(present)} selected tracks "
                            "has features (run: python -m core features --data ROOT)")
    ids = selection.track_ids[present]
    X = features.loc[ids].to_numpy(dtype=np.float32)
    names = [".".join(str(level) for level in col) for col in features.columns]
    labels = np.asarray(selection.labels, dtype=str)[present]
    splits = np.asarray(selection.splits, dtype=str)[present]
    _check_test_split(labels, splits, f"{root} (size {size or 'all'})")
    return FeatureTable(X=X, labels=labels, splits=splits, ids=ids, feature_names=names,
                        genres=sorted(set(labels.tolist())), dataset_name=selection.dataset_name,
                        synthetic=bool(selection.synthetic), from_fma=selection.from_fma, size=str(size or "all"),
                        source=f"{root} fma features", window=features_window(root),
                        artists=artist_ids(selection)[present])


def load_csv_table(path: Path, label_column: str, test_fraction: float = 0.2, seed: int = 0) -> FeatureTable:
    """A CSV with an id column (the first), a label column and numeric feature columns.

    The test split is a stratified ``test_fraction`` of the rows drawn with ``seed``. The audio
    window comes from the table's sidecar (``TABLE.json``, written by ``features --out``), else "unknown".
    """
    from sklearn.model_selection import train_test_split

    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise GenreLabError(f"{path}: feature table not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise GenreLabError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    if label_column not in frame.columns:
        raise GenreLabError(f"{path}: no label column {label_column!r} (columns: {', '.join(map(str, frame.columns[:8]))}...)")
    id_column = frame.columns[0]
    if id_column == label_column:
        raise GenreLabError(f"{path}: the first column is the id column, not the label {label_column!r}")
    if frame[id_column].duplicated().any():
        raise GenreLabError(f"{path}: duplicate id {frame[id_column][frame[id_column].duplicated()].iloc[0]!r}")
    feature_columns = [c for c in frame.columns if c not in (id_column, label_column)]
    for column in feature_columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise GenreLabError(f"{path}: column {column!r} is not numeric")
    if not feature_columns:
        raise GenreLabError(f"{path}: no numeric feature columns besides {id_column!r} and {label_column!r}")
    X = frame[feature_columns].to_numpy(dtype=np.float32)
    if not np.isfinite(X).all():
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise GenreLabError(f"{path}: missing or infinite value in row with id {frame[id_column].iloc[row]!r}")
    labels = frame[label_column].astype(str).to_numpy()
    counts = pd.Series(labels).value_counts()
    if len(counts) < 2 or counts.min() < 2:
        raise GenreLabError(f"{path}: need at least 2 labels with at least 2 rows each in {label_column!r}")
    rows = np.arange(len(frame))
    _, test = train_test_split(rows, test_size=test_fraction, random_state=seed, stratify=labels)
    splits = np.full(len(frame), "training", dtype=object)
    splits[test] = "test"
    return FeatureTable(X=X, labels=labels, splits=splits.astype(str), ids=frame[id_column].to_numpy(),
                        feature_names=[str(c) for c in feature_columns], genres=sorted(counts.index.tolist()),
                        dataset_name=path.stem, synthetic=False, size="all", source=f"{path} table",
                        window=_sidecar_window(path))


def _sidecar_window(path: Path) -> str:
    sidecar = features_info_path(path)
    try:
        return str(json.loads(sidecar.read_text(encoding="utf-8"))["window"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


def _check_test_split(labels: np.ndarray, splits: np.ndarray, where: str) -> None:
    if not (splits == "test").any():
        raise GenreLabError(f"{where}: the selection has no test-split tracks to score on")
    if len(set(labels[splits != "test"].tolist())) < 2:
        raise GenreLabError(f"{where}: need at least 2 genres outside the test split")
