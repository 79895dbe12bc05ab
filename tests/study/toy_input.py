"""A toy input kind, the way a new kind is added: this one module (plus one line in ``core.inputs.KINDS``;
the test puts it there). ``loudness``: the RMS level in dB of 8 equal stretches of each track and their
spread, computed from the audio, cached one ``.npy`` per track under ``ROOT/cache/loudness/``.

It takes audio but does not say how a registered model on it would answer (no ``log_model``), so a
study of it fits, cross-validates and scores the test split, and registers nothing.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from core.audio import load_audio
from core.data import fma
from core.data.selection import SIZES, artist_ids, select
from core.data.tables import FeatureTable
from core.features.batch import ArrayStore, TrackFile, fill_store
from core.inputs import InputKind

STRETCHES = 8


def loudness(path: Path) -> np.ndarray:
    """(9,) float32: dB RMS of 8 equal stretches of the file, then their standard deviation."""
    y, _ = load_audio(path, sr=11025)
    levels = [20 * np.log10(np.sqrt(np.mean(part ** 2)) + 1e-6) for part in np.array_split(y, STRETCHES)]
    return np.asarray([*levels, np.std(levels)], dtype=np.float32)


def _compute(job: TrackFile, store_dir: str) -> None:
    ArrayStore(store_dir).save(job.key, loudness(job.path))


def table(root, size, genres, section=None) -> FeatureTable:
    """The loudness vectors of the selected tracks with audio (computed now for the ones not cached)."""
    root = Path(root)
    selection = select(root, **({"size": size} if size in SIZES else {"subset": size}), genres=genres,
                       require_audio=True)
    store = ArrayStore(root / fma.CACHE_DIR / "loudness")
    audio = dict(zip(selection.track_ids.tolist(), map(Path, selection.paths)))
    fill_store(store, audio, partial(_compute, store_dir=str(store.dir)), workers=1, desc="loudness")
    kept = np.array([store.has(t) for t in selection.track_ids])
    ids = selection.track_ids[kept]
    labels = np.asarray(selection.labels, dtype=str)[kept]
    return FeatureTable(X=np.stack([store.load(t) for t in ids]), labels=labels,
                        splits=np.asarray(selection.splits, dtype=str)[kept], ids=ids,
                        feature_names=[f"rms_db.{i}" for i in range(STRETCHES)] + ["rms_db.std"],
                        genres=sorted(set(labels.tolist())), dataset_name=selection.dataset_name,
                        synthetic=bool(selection.synthetic), size=str(size or "all"),
                        source=f"{root} loudness", artists=artist_ids(selection)[kept])


KIND = InputKind(name="loudness", label="loudness statistics", takes_audio=True,
                 fill="(computed when a study reads it)", table=table)
