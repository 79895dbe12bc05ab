"""What the CNN trains on: track → clip rows, band statistics, streamed mel batches, track voting.

A *clip row* is one (track id, clip index) pair: the clip-th slice of ``clip_seconds`` of that track's
log-mel. Batches are read from the mel cache (memory-mapped, one track at a time), so a set of any
size trains without being held in memory.
"""
from __future__ import annotations

import os
from typing import Protocol

import keras
import numpy as np

from core.errors import GenreLabError


class ClipSource(Protocol):
    """What batches need from the mel cache (``core.features.mels.MelCache`` provides it)."""

    def clips(self, track_id: int, clip_seconds: float) -> np.ndarray:
        """Log-mel clips of one track, shape (n_clips, n_mels, frames_per_clip), memory-mapped if cached."""


def expand_clips(track_ids: np.ndarray, clip_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip rows of tracks: track ``i`` with ``clip_counts[i]`` clips gives rows (id, 0) ... (id, n-1).

    Returns (row_track_ids int64, row_clip_index int64), both of shape (sum(clip_counts),).
    """
    track_ids = np.asarray(track_ids, dtype=np.int64)
    clip_counts = np.asarray(clip_counts, dtype=np.int64)
    row_tracks = np.repeat(track_ids, clip_counts)
    starts = np.repeat(np.cumsum(clip_counts) - clip_counts, clip_counts)
    return row_tracks, np.arange(len(row_tracks), dtype=np.int64) - starts


def track_vote(clip_probs: np.ndarray, clip_track_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One prediction per track: the mean of its clips' class probabilities.

    clip_probs: (n_clips, n_classes); clip_track_ids: (n_clips,). Returns (track_ids sorted ascending,
    track_probs of shape (n_tracks, n_classes)).
    """
    clip_probs = np.asarray(clip_probs, dtype=np.float64)
    track_ids, position = np.unique(np.asarray(clip_track_ids), return_inverse=True)
    sums = np.zeros((len(track_ids), clip_probs.shape[1]))
    np.add.at(sums, position, clip_probs)
    return track_ids, sums / np.bincount(position)[:, None]


def band_statistics(source: ClipSource, track_ids: np.ndarray, clip_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-mel-band mean and std (float32, shape (n_mels,)) over every clip of ``track_ids``.

    Streams one track at a time with float64 sums, so it costs one pass and no memory. Give it
    training tracks only: these statistics standardize every input the model sees.
    """
    total = squares = None
    count = 0
    for track_id in np.asarray(track_ids):
        clips = np.asarray(source.clips(int(track_id), clip_seconds), dtype=np.float64)
        if total is None:
            total, squares = np.zeros(clips.shape[1]), np.zeros(clips.shape[1])
        total += clips.sum(axis=(0, 2))
        squares += np.square(clips).sum(axis=(0, 2))
        count += clips.shape[0] * clips.shape[2]
    if not count:
        raise GenreLabError("mel statistics: no training clips")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def default_workers() -> int:
    """Loader threads: reading memory-mapped clips releases the GIL, so two threads hide I/O behind compute."""
    return min(2, os.cpu_count() or 1)


class MelBatches(keras.utils.PyDataset):
    """Batches of standardized log-mel clips, shape (batch, n_mels, frames, 1), read from a ClipSource.

    Rows are given as parallel arrays (track id, clip index, label index or None when predicting).
    Each batch loads each of its tracks once. ``shuffle`` reorders rows every epoch; augmentation
    (training only): ``time_shift`` rolls each clip in time by up to that fraction of its length,
    ``mix_within_genre`` is the probability that a clip is blended with another clip of its genre
    in the batch (weight of the other clip uniform in [0, 0.5]), the label unchanged.
    """

    def __init__(self, source: ClipSource, row_tracks: np.ndarray, row_clips: np.ndarray,
                 row_labels: np.ndarray | None, *, clip_seconds: float, mean: np.ndarray, std: np.ndarray,
                 n_classes: int, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                 time_shift: float = 0.0, mix_within_genre: float = 0.0, workers: int | None = None,
                 use_multiprocessing: bool = False):
        super().__init__(workers=workers or default_workers(), use_multiprocessing=use_multiprocessing)
        if len(row_tracks) != len(row_clips) or (row_labels is not None and len(row_labels) != len(row_tracks)):
            raise GenreLabError("mel batches: row arrays differ in length")
        if not len(row_tracks):
            raise GenreLabError("mel batches: no clips")
        if not 0.0 <= time_shift < 1.0 or not 0.0 <= mix_within_genre <= 1.0:
            raise GenreLabError(f"mel batches: time_shift {time_shift} must be in [0, 1), "
                                f"mix_within_genre {mix_within_genre} in [0, 1]")
        self.source, self.clip_seconds = source, clip_seconds
        self.row_tracks = np.asarray(row_tracks, dtype=np.int64)
        self.row_clips = np.asarray(row_clips, dtype=np.int64)
        self.row_labels = None if row_labels is None else np.asarray(row_labels, dtype=np.int64)
        self.mean = np.asarray(mean, dtype=np.float32)[:, None]
        self.std = np.asarray(std, dtype=np.float32)[:, None]
        self.n_classes, self.batch_size, self.shuffle, self.seed = n_classes, batch_size, shuffle, seed
        self.time_shift, self.mix_within_genre = time_shift, mix_within_genre
        self.epoch = 0
        self.order = self._order()

    def __len__(self) -> int:
        return -(-len(self.row_tracks) // self.batch_size)

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.row_tracks))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.row_tracks))

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()

    def clips(self, rows: np.ndarray) -> np.ndarray:
        """Standardized clips of the given row positions, shape (len(rows), n_mels, frames), float32."""
        tracks, clip_index = self.row_tracks[rows], self.row_clips[rows]
        out = None
        for track_id in np.unique(tracks):
            where = np.flatnonzero(tracks == track_id)
            track_clips = self.source.clips(int(track_id), self.clip_seconds)
            picked = np.asarray(track_clips[clip_index[where]], dtype=np.float32)
            if out is None:
                out = np.empty((len(rows),) + picked.shape[1:], dtype=np.float32)
            out[where] = picked
        return (out - self.mean) / self.std

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.clips(rows)
        if self.row_labels is None:
            return (x[..., None],)
        labels = self.row_labels[rows]
        if self.time_shift or self.mix_within_genre:
            x = self._augment(x, labels, np.random.default_rng([self.seed, self.epoch, index]))
        return x[..., None], keras.utils.to_categorical(labels, self.n_classes)

    def _augment(self, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.time_shift:
            max_shift = int(self.time_shift * x.shape[2])
            for i, shift in enumerate(rng.integers(-max_shift, max_shift + 1, size=len(x))):
                x[i] = np.roll(x[i], shift, axis=1)
        if self.mix_within_genre:
            mixed = x.copy()
            for i in np.flatnonzero(rng.random(len(x)) < self.mix_within_genre):
                partners = np.flatnonzero((labels == labels[i]) & (np.arange(len(x)) != i))
                if len(partners):
                    weight = rng.uniform(0.0, 0.5)
                    mixed[i] = (1 - weight) * x[i] + weight * x[rng.choice(partners)]
            x = mixed
        return x
