"""Registered models for the tests, logged by the project's own model code on tiny networks.

- ``genre-mlp``: :func:`core.study.export.log_feature_model` around a small scikit-learn MLP fitted
  on features of synthetic clips (features.csv-format DataFrame in, per-genre probabilities out).
- ``genre-cnn``: :func:`core.study.export.log_audio_model` around an untrained compact CNN with 4
  filters per block (waveform in, one row of per-genre probabilities per segment out).
Both are the project's real pyfunc classes, so the tests see what users load; only the networks are tiny.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from core.features.fma_features import FEATURE_NAMES

GENRES = ["Electronic", "Pop", "Rock"]

def training_rows(seed: int, n_clips: int = 6, copies: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Features of a few synthetic clips (genre = clip index mod 3), each repeated with 5 % jitter.

    Real feature values keep the scaler's statistics realistic, so the network's probabilities on
    new files are not all saturated at 0 or 1.
    """
    from core.features.fma_features import extract_fma_features
    from tests.predict.conftest import music

    rng = np.random.default_rng(seed)
    rows = [np.nan_to_num(extract_fma_features(music(2.0, 22050, seed=i)[:, 0], 22050)) for i in range(n_clips)]
    X = np.concatenate([np.stack(rows) * rng.normal(1.0, 0.05, size=(n_clips, len(FEATURE_NAMES)))
                        for _ in range(copies)]).astype(np.float32)
    y = np.tile(np.array(GENRES)[np.arange(n_clips) % len(GENRES)], copies)
    return X, y


def register_feature_model(seed: int, versions: list[dict]) -> None:
    """Fit a tiny sklearn MLP on random rows and register it as ``genre-mlp``, once per tag set.

    Logging is slow (MLflow infers pip requirements in a subprocess), so extra versions reuse the
    logged model.
    """
    from sklearn.preprocessing import StandardScaler

    from core.models.mlp import SklearnMLP
    from core.study.export import log_feature_model

    X, y = training_rows(seed)
    scaler = StandardScaler().fit(X)
    estimator = SklearnMLP(hidden_units=[8], epochs=3, seed=seed)
    estimator.fit(scaler.transform(X), y)
    example = pd.DataFrame(X[:2].astype(np.float64), columns=FEATURE_NAMES)
    first, *others = [{k: str(v) for k, v in tags.items()} for tags in versions]
    with mlflow.start_run(run_name="test genre-mlp") as run:
        info = log_feature_model(estimator, scaler, None, FEATURE_NAMES, "sklearn_mlp", example, "genre-mlp", first)
    client = MlflowClient()
    for tags in others:
        client.create_model_version("genre-mlp", info.model_uri, run_id=run.info.run_id, tags=tags)


def register_clip_model(clip_seconds: float, tags: dict, alias: str) -> str:
    """An untrained small CNN logged by :func:`core.study.export.log_audio_model`, registered as ``genre-cnn``."""
    import keras

    from core.features.mels import DEFAULT_HOP_LENGTH, DEFAULT_N_FFT, DEFAULT_N_MELS, DEFAULT_SR, frames_per_clip
    from core.models.cnn import build_cnn
    from core.study.export import log_audio_model

    keras.utils.set_random_seed(0)
    frames = frames_per_clip(clip_seconds, DEFAULT_SR, DEFAULT_HOP_LENGTH)
    network = build_cnn((DEFAULT_N_MELS, frames, 1), len(GENRES), "compact", filters=(4, 4, 4, 4, 4))
    params = {"sr": DEFAULT_SR, "n_fft": DEFAULT_N_FFT, "hop_length": DEFAULT_HOP_LENGTH, "n_mels": DEFAULT_N_MELS,
              "frames_per_clip": frames, "clip_seconds": clip_seconds, "genres": GENRES,
              "band_mean": [-40.0] * DEFAULT_N_MELS, "band_std": [20.0] * DEFAULT_N_MELS}
    with mlflow.start_run(run_name="test genre-cnn"), tempfile.TemporaryDirectory() as tmp:
        info = log_audio_model(network, params, Path(tmp))
    version = mlflow.register_model(info.model_uri, "genre-cnn").version
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag("genre-cnn", version, key, str(value))
    client.set_registered_model_alias("genre-cnn", alias, version)
    return str(version)
