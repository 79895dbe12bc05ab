"""Registered models for the tests, logged by the project's own code on tiny networks.

- Feature models: :func:`core.serving.pyfunc.log_feature_model` around a small Keras or scikit-learn MLP (and
  optionally an autoencoder) fitted on features of synthetic clips.
- Audio models: :func:`core.serving.pyfunc.log_audio_model` around an untrained compact CNN with 4 filters per
  block (audio in, clip and per-segment probabilities out); :func:`core.serving.embedding_model.log_embedding_model`
  around a small scikit-learn MLP fitted on musicnn embeddings of synthetic clips (audio in, one vector per file).
Both are the project's real pyfunc classes and cards, so the tests see what users load; only the
networks are tiny.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from core import tracking
from core.features.fma_features import FEATURE_NAMES
from core.registry import ModelCard

GENRES = ["Electronic", "Pop", "Rock"]
FINGERPRINT = "f" * 64


def run(name: str):
    """A run in experiment ``tests``, whose artifacts live beside the store (not in ./mlruns)."""
    return mlflow.start_run(experiment_id=tracking.experiment_id("tests"), run_name=name)


def training_rows(seed: int, n_clips: int = 6, copies: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Features of a few synthetic clips (genre = clip index mod 3), each repeated with 5 % jitter.

    Real feature values keep the scaler's statistics realistic, so the network's probabilities on
    new files are not all saturated at 0 or 1.
    """
    from core.features.fma_features import extract_fma_features
    from tests.serving.conftest import music

    rng = np.random.default_rng(seed)
    rows = [np.nan_to_num(extract_fma_features(music(2.0, 22050, seed=i)[:, 0], 22050)) for i in range(n_clips)]
    X = np.concatenate([np.stack(rows) * rng.normal(1.0, 0.05, size=(n_clips, len(FEATURE_NAMES)))
                        for _ in range(copies)]).astype(np.float32)
    y = np.tile(np.array(GENRES)[np.arange(n_clips) % len(GENRES)], copies)
    return X, y


def card(family: str, input_kind: str, run_id: str, accuracy: float = 0.5, n_test: int = 60,
         fingerprint: str = FINGERPRINT, calibration: dict | None = None, **extra) -> ModelCard:
    """A card as the study writes it; the interval is the normal approximation (clipped to [0, 1])."""
    half = 1.96 * math.sqrt(accuracy * (1 - accuracy) / n_test)
    return ModelCard(family=family, input_kind=input_kind, window="full", dataset="demo", fingerprint=fingerprint,
                     synthetic=True, genres=GENRES, test_accuracy=accuracy, n_test=n_test,
                     test_accuracy_ci_low=max(0.0, accuracy - half), test_accuracy_ci_high=min(1.0, accuracy + half),
                     run_id=run_id, extra={k: str(v) for k, v in extra.items()}, calibration=calibration)


def calibration(n_test: int = 60, seed: int = 0) -> dict:
    """A calibration summary of ``n_test`` made-up test predictions over :data:`GENRES`."""
    from core.calibration import calibration_summary

    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(len(GENRES)), size=n_test)
    return calibration_summary(proba, rng.integers(0, len(GENRES), size=n_test), "test split", temperature=1.3)


def log_feature(family: str = "sklearn_mlp", autoencoder: bool = False, seed: int = 0) -> tuple[str, str]:
    """Fit a tiny MLP (``keras_mlp`` / ``sklearn_mlp``, on autoencoder codes if asked) and log it.

    Returns (model URI, run id).
    """
    from sklearn.preprocessing import StandardScaler

    from core.models.autoencoder import Autoencoder
    from core.models.mlp import make_estimator
    from core.serving.pyfunc import log_feature_model

    X, y = training_rows(seed)
    encoder = None
    if autoencoder:
        encoder = Autoencoder(bottleneck=8, epochs=2, seed=seed)
        encoder.fit(X)
    inputs = encoder.transform(X) if encoder is not None else X
    scaler = StandardScaler().fit(inputs)
    estimator = make_estimator(family, {"hidden_units": [8], "epochs": 3, "seed": seed})
    estimator.fit(scaler.transform(inputs), y)
    example = pd.DataFrame(X[:2].astype(np.float64), columns=FEATURE_NAMES)
    with run(f"test {family}{' + autoencoder' if autoencoder else ''}") as active:
        info = log_feature_model(estimator, scaler, encoder, FEATURE_NAMES, family, example)
    return info.model_uri, active.info.run_id


def log_clip(clip_seconds: float = 3.0) -> tuple[str, str]:
    """An untrained compact CNN for ``clip_seconds`` clips, logged; returns (model URI, run id)."""
    import keras

    from core.features.mels import DEFAULT_HOP_LENGTH, DEFAULT_N_FFT, DEFAULT_N_MELS, DEFAULT_SR, frames_per_clip
    from core.models.cnn import build_cnn
    from core.serving.pyfunc import log_audio_model

    keras.utils.set_random_seed(0)
    frames = frames_per_clip(clip_seconds, DEFAULT_SR, DEFAULT_HOP_LENGTH)
    network = build_cnn((DEFAULT_N_MELS, frames, 1), len(GENRES), "compact", filters=(4, 4, 4, 4, 4))
    params = {"sr": DEFAULT_SR, "n_fft": DEFAULT_N_FFT, "hop_length": DEFAULT_HOP_LENGTH, "n_mels": DEFAULT_N_MELS,
              "frames_per_clip": frames, "clip_seconds": clip_seconds, "genres": GENRES,
              "band_mean": [-40.0] * DEFAULT_N_MELS, "band_std": [20.0] * DEFAULT_N_MELS}
    with run("test cnn") as active, tempfile.TemporaryDirectory() as tmp:
        info = log_audio_model(network, params, Path(tmp))
    return info.model_uri, active.info.run_id


def log_embedding(seed: int = 0, n_clips: int = 6, copies: int = 10) -> tuple[str, str]:
    """A small scikit-learn MLP on MSD_musicnn penultimate vectors of synthetic clips (genre = clip index
    mod 3, each vector repeated with 5 % jitter), logged with its checkpoint; returns (model URI, run id)."""
    from sklearn.preprocessing import StandardScaler

    from core.features.embeddings import waveform_embedding
    from core.models.mlp import make_estimator
    from core.models.musicnn import MusicnnTagger
    from core.serving.embedding_model import log_embedding_model
    from tests.serving.conftest import music

    rng = np.random.default_rng(seed)
    tagger = MusicnnTagger("MSD_musicnn")
    rows = np.stack([waveform_embedding(music(3.5, 22050, seed=i)[:, 0], 22050, tagger) for i in range(n_clips)])
    X = np.concatenate([rows * rng.normal(1.0, 0.05, size=rows.shape) for _ in range(copies)]).astype(np.float32)
    y = np.tile(np.array(GENRES)[np.arange(n_clips) % len(GENRES)], copies)
    scaler = StandardScaler().fit(X)
    estimator = make_estimator("sklearn_mlp", {"hidden_units": [8], "epochs": 3, "seed": seed})
    estimator.fit(scaler.transform(X), y)
    with run("test sklearn_mlp on embeddings") as active:
        info = log_embedding_model(estimator, scaler, "sklearn_mlp", "MSD_musicnn", "penultimate", "full")
    return info.model_uri, active.info.run_id
