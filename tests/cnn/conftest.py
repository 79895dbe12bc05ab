"""Tiny in-memory mel sources for the CNN tests (real caches are the features area's to test)."""
from __future__ import annotations

import numpy as np
import pytest


class ArraySource:
    """A ClipSource over arrays: track id → log-mel (n_mels, frames), sliced into whole clips."""

    def __init__(self, mels: dict[int, np.ndarray], frames_per_second: float):
        self.mels, self.frames_per_second = mels, frames_per_second
        self.loads = 0

    def clips(self, track_id: int, clip_seconds: float) -> np.ndarray:
        self.loads += 1
        mel = self.mels[track_id]
        frames = int(round(clip_seconds * self.frames_per_second))
        n_clips = mel.shape[1] // frames
        return mel[:, :n_clips * frames].reshape(mel.shape[0], n_clips, frames).transpose(1, 0, 2)


@pytest.fixture
def array_source():
    """12 tracks × 3 genres, 8 mel bands × 24 frames (4 frames per second → 6 s), genre-dependent bands."""
    rng = np.random.default_rng(0)
    mels, labels = {}, {}
    for track_id in range(1, 13):
        genre = track_id % 3
        mel = rng.normal(size=(8, 24)).astype(np.float32)
        mel[genre * 2:genre * 2 + 2] += 3.0
        mels[track_id], labels[track_id] = mel, genre
    return ArraySource(mels, frames_per_second=4.0), labels


@pytest.fixture(scope="module", autouse=True)
def eager_tensorflow():
    """Tiny networks run faster eagerly than TensorFlow takes to trace a graph for each new model."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)
