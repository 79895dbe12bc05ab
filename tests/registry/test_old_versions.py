"""A version registered before models carried their code (pickled as core.study.export.*, old tags)
still lists and predicts in the project's own predictor."""
from __future__ import annotations

import sys
import types

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from core.serving import pyfunc
from tests.registry import builders


@pytest.fixture
def old_version(flavours, store) -> str:
    """genre-old/1: the sklearn MLP's artifacts behind a class pickled as core.study.export.FeatureGenreModel."""
    artifacts_dir = mlflow.artifacts.download_artifacts(flavours["models"]["genre-mlp-sklearn"][0])
    old = types.ModuleType("core.study.export")
    old.FeatureGenreModel = type("FeatureGenreModel", (pyfunc.FeatureGenreModel,), {"__module__": old.__name__})
    sys.modules[old.__name__] = old
    try:
        with builders.run("old final"):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=old.FeatureGenreModel(), pip_requirements=["mlflow"],
                artifacts={key: f"{artifacts_dir}/artifacts/{file}" for key, file in
                           (("meta", "meta.json"), ("scaler", "scaler.npz"), ("network", "network.joblib"))})
    finally:
        del sys.modules[old.__name__]  # gone, as in today's checkout
    version = mlflow.register_model(info.model_uri, "genre-old").version
    for key, value in {"test_accuracy": "0.4200", "dataset": "demo", "family": "sklearn_mlp", "input": "features",
                       "size": "small"}.items():
        MlflowClient().set_model_version_tag("genre-old", version, key, value)
    return f"genre-old/{version}"


def test_an_old_version_lists_and_predicts(old_version, tmp_path):
    from core.serving import predictor
    from tests.serving.conftest import write_audio

    info = predictor.resolve(old_version)
    assert (info.card.input_kind, info.card.window, info.card.test_accuracy) == ("features", "full", 0.42)
    result = predictor.predict_file(write_audio(tmp_path / "a.wav"), info)
    assert "error" not in result, result.get("error")
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)
