"""Computing FMA's 518 features from audio: a dataset root's ``features.csv``, or a table of any audio files.

``fill_features`` fills ``ROOT/fma_metadata/features.csv`` through the batch runner. Each track's
vector is cached under ``ROOT/cache/features/<version>-<window>/`` as it finishes, so an interrupted
run keeps its work and a rerun computes only the tracks with neither a row nor a cached vector.

The audio window (``core.features.window``; default ``full``, as FMA computed its published table) is
part of a table's meaning, so it is recorded in the sidecar ``features.json`` (read back by
``core.data.fma.features_info``) and a table never mixes two windows: a rerun on another window than
the existing table's is refused, unless ``force``, which then starts the table over.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from core.data import fma
from core.data.fma import FEATURES_VERSION
from core.errors import GenreLabError
from core.features.batch import ArrayStore, BatchReport, TrackFile, fill_store, run_batch
from core.features.fma_features import FEATURE_COLUMNS, features_frame, file_features, warm_up_librosa
from core.features.window import FULL, Window

#: ``source`` of a table's sidecar: all rows computed here, or FMA's published rows plus some computed here.
COMPUTED = "computed by genrelab"
MIXED = f"{fma.PUBLISHED_FEATURES['source']} + {COMPUTED}"


def features_store(root: str | os.PathLike, window: Window = FULL) -> ArrayStore:
    """Per-track vectors of a dataset root on ``window``: ``ROOT/cache/features/<FEATURES_VERSION>-<window slug>/``."""
    return ArrayStore(Path(root) / fma.CACHE_DIR / "features" / f"{FEATURES_VERSION}-{window.slug}")


def table_info(window: Window, source: str = COMPUTED) -> dict:
    """The sidecar (``features.json``) of a table computed here on ``window``."""
    return {"window": str(window), "source": source, "features_version": FEATURES_VERSION}


def fill_features(
    root: str | os.PathLike,
    window: Window = FULL,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
) -> BatchReport:
    """Compute FMA's 518 features on ``window`` of every track of ``root`` whose audio exists.

    Writes ``fma_metadata/features.csv`` and its sidecar ``features.json``. Tracks with a row in the
    existing table or a cached vector are skipped unless ``force``; rows of other tracks are kept
    (with ``force``, rows with a missing value are dropped rather than refused: they are damage to
    repair). An existing table on another window raises ``GenreLabError`` unless ``force``, which
    drops it and computes a new one. ``workers`` and ``scheduler`` are ``run_batch``'. Failures go to
    ``<store>/failures.csv``.
    """
    audio = fma.tracks_audio(root)
    existing = _rows_to_keep(root, window, force)
    store = features_store(root, window)
    report = fill_store(store, audio, partial(_store_vector, store_dir=str(store.dir), window=window),
                        done=lambda tid: not force and (tid in existing.index or store.has(tid)),
                        workers=workers, scheduler=scheduler, warmup=warm_up_librosa, desc="features")
    fresh = [tid for tid in audio if store.has(tid) and (force or tid not in existing.index)]
    if fresh:
        _write_table(root, existing, {tid: store.load(tid) for tid in fresh}, window)
    return report


def files_features(
    paths: Sequence[str | os.PathLike], window: Window = FULL, workers: int | None = None
) -> tuple[pd.DataFrame, BatchReport]:
    """FMA's features of ``window`` of any files: a features.csv-shaped frame indexed by file stem
    (an int when every stem is digits)."""
    stems = [Path(p).stem for p in paths]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise GenreLabError(f"{duplicates[0]}: several input files share this name; rename or run them apart")
    numeric = all(s.isdigit() for s in stems)
    jobs = [TrackFile(int(s) if numeric else s, Path(p)) for s, p in zip(stems, paths)]
    report = run_batch(partial(_vector, window=window), jobs, workers=workers, warmup=warm_up_librosa, desc="features")
    done = {job.key: report.results[job.key] for job in jobs if job.key in report.results}
    return features_frame(done, index_name="track_id" if numeric else "file"), report


def _rows_to_keep(root: str | os.PathLike, window: Window, force: bool) -> pd.DataFrame:
    """The existing table's rows that ``fill_features`` keeps or skips (module docstring); empty if none."""
    path = fma.metadata_path(root, "features")
    if not path.is_file():
        return pd.DataFrame(columns=FEATURE_COLUMNS)
    previous = fma.features_window(root)
    if previous == str(window):
        return fma.load_features(root, drop_incomplete=force)
    if not force:
        raise GenreLabError(f"{path}: computed on window {previous}, not {window}; rerun with --window {previous} "
                            f"to fill it in, or add --force to replace it with a table on {window}")
    # Dropped now, not when the new table is written: a sidecar must never describe the old table.
    fma.features_info_path(path).unlink(missing_ok=True)
    path.unlink()
    return pd.DataFrame(columns=FEATURE_COLUMNS)


def _write_table(root: str | os.PathLike, kept: pd.DataFrame, fresh: dict, window: Window) -> None:
    """``kept`` rows (less those of ``fresh`` tracks) plus the ``fresh`` vectors, as ROOT's features.csv."""
    kept = kept.drop(index=[tid for tid in fresh if tid in kept.index])
    source = COMPUTED
    if len(kept):
        previous = fma.features_info(root)["source"]
        source = MIXED if previous == fma.PUBLISHED_FEATURES["source"] else previous
    rows = features_frame(fresh)
    table = pd.concat([kept, rows]) if len(kept) else rows
    fma.write_features(table.sort_index().astype(np.float32), fma.metadata_path(root, "features"),
                       info=table_info(window, source))


def _store_vector(job: TrackFile, store_dir: str, window: Window) -> None:
    """One track of ``fill_features`` (module level, so worker processes can unpickle it)."""
    ArrayStore(store_dir).save(job.key, file_features(job.path, window))


def _vector(job: TrackFile, window: Window) -> np.ndarray:
    return file_features(job.path, window)
