"""Registered models for the tests, logged by the project's own model code on tiny networks.

- ``genre-mlp``: :func:`core.study.export.log_feature_model` around a small scikit-learn MLP fitted
  on random feature rows (features.csv-format DataFrame in, per-genre probabilities out).
- ``genre-cnn``: until the CNN model can be logged here, ``BandEnergyClipModel`` follows its contract:
  ``{"waveform": (n,) float32, "sample_rate": [sr]}`` → one row per segment of ``clip_seconds`` with
  ``start``, ``end`` and per-genre probabilities computed from the segment's band energies.
"""
from __future__ import annotations

import sys

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from core.features.fma_features import FEATURE_NAMES

GENRES = ["Electronic", "Pop", "Rock"]

# Pickle by value so a CLI subprocess loads the model without this test module on its path.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


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


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class BandEnergyClipModel(mlflow.pyfunc.PythonModel):
    """Genre logits from the low/mid/high band energy of each segment; short audio pads to one segment."""

    def __init__(self, clip_seconds: float = 3.0):
        self.clip_seconds = clip_seconds

    def predict(self, context, model_input, params=None):
        y = np.asarray(model_input["waveform"], dtype=np.float32)
        sr = int(np.asarray(model_input["sample_rate"]).ravel()[0])
        clip = int(self.clip_seconds * sr)
        n = max(1, len(y) // clip)
        rows = []
        for i in range(n):
            spectrum = np.abs(np.fft.rfft(y[i * clip:(i + 1) * clip], n=clip))
            rows.append(np.log1p([band.mean() for band in np.array_split(spectrum, 3)]))
        frame = pd.DataFrame(_softmax(np.array(rows)), columns=GENRES)
        starts = self.clip_seconds * np.arange(n)
        frame.insert(0, "end", np.minimum(starts + self.clip_seconds, max(len(y) / sr, self.clip_seconds)))
        frame.insert(0, "start", starts)
        return frame


def register_clip_model(clip_seconds: float, tags: dict, alias: str) -> str:
    with mlflow.start_run(run_name="test genre-cnn"):
        info = mlflow.pyfunc.log_model(name="model", python_model=BandEnergyClipModel(clip_seconds),
                                       registered_model_name="genre-cnn", pip_requirements=[])
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag("genre-cnn", version, key, str(value))
    client.set_registered_model_alias("genre-cnn", alias, version)
    return version
