"""The final feature model as ONE MLflow pyfunc model: features.csv-format DataFrame in, per-genre probabilities out.

Inside: the feature names it expects, the optional autoencoder (its own scaler and encoder), the
scaler of the network's inputs, the network (Keras ``.keras`` or a pickled scikit-learn MLP) and the
genre names, so ``mlflow.pyfunc.load_model(uri).predict(df)`` needs nothing else.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd


class FeatureGenreModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper; ``predict(df)`` → DataFrame (len(df), n_genres) of probabilities summing to 1."""

    def load_context(self, context) -> None:
        art = context.artifacts
        meta = json.loads(Path(art["meta"]).read_text())
        self.feature_names, self.genres, self.family = meta["feature_names"], meta["genres"], meta["family"]
        stats = np.load(art["scaler"])
        self.mean, self.scale = stats["mean"], stats["scale"]
        self.encoder = None
        if "encoder" in art:
            from core.models.autoencoder import Autoencoder

            self.encoder = Autoencoder.load(Path(art["encoder"]))
        if self.family == "keras_mlp":
            import keras

            self.network = keras.models.load_model(art["network"], compile=False)
        else:
            import joblib

            self.network = joblib.load(art["network"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ARG002
        missing = [c for c in self.feature_names if c not in model_input.columns]
        if missing:
            raise ValueError(f"input lacks {len(missing)} feature column(s), e.g. {missing[0]!r}")
        X = model_input[self.feature_names].to_numpy(dtype=np.float32)
        if self.encoder is not None:
            X = self.encoder.transform(X)
        X = ((X - self.mean) / self.scale).astype(np.float32)
        if self.family == "keras_mlp":
            proba = self.network.predict(X, batch_size=4096, verbose=0)
        else:
            proba = self.network.predict_proba(X)
        return pd.DataFrame(np.asarray(proba, dtype=np.float64), columns=self.genres, index=model_input.index)


def log_feature_model(estimator, scaler, autoencoder, feature_names: list[str], family: str,
                      example: pd.DataFrame, registered_name: str | None, tags: dict[str, str]):
    """Log the model on the active run as ``model`` (signature + input example); register it if named.

    Returns the ModelInfo; the registered version (if any) gets ``tags``.
    """
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        genres = [str(g) for g in estimator.classes_]
        (tmp / "meta.json").write_text(json.dumps({"feature_names": feature_names, "genres": genres,
                                                   "family": family}))
        np.savez(tmp / "scaler.npz", mean=scaler.mean_, scale=scaler.scale_)
        artifacts = {"meta": str(tmp / "meta.json"), "scaler": str(tmp / "scaler.npz")}
        if family == "keras_mlp":
            estimator.model_.save(tmp / "network.keras")
            artifacts["network"] = str(tmp / "network.keras")
        else:
            import joblib

            joblib.dump(estimator.model_, tmp / "network.joblib")
            artifacts["network"] = str(tmp / "network.joblib")
        if autoencoder is not None:
            autoencoder.save(tmp / "encoder")
            artifacts["encoder"] = str(tmp / "encoder")
        python_model = FeatureGenreModel()
        example = example[feature_names].astype(np.float64)
        probe = FeatureGenreModel()
        probe.load_context(type("Context", (), {"artifacts": artifacts})())
        signature = infer_signature(example, probe.predict(None, example))
        # Explicit requirements: inferring them loads the model in a subprocess (about 20 s per model).
        info = mlflow.pyfunc.log_model(name="model", python_model=python_model, artifacts=artifacts,
                                       signature=signature, input_example=example,
                                       pip_requirements=_requirements(family, autoencoder is not None),
                                       registered_model_name=registered_name)
    if registered_name and info.registered_model_version is not None:
        client = MlflowClient()
        for key, value in tags.items():
            client.set_model_version_tag(registered_name, str(info.registered_model_version), key, str(value))
    return info


def _requirements(family: str, with_encoder: bool) -> list[str]:
    from core.tracking import package_versions

    versions = package_versions()
    names = ["mlflow", "numpy", "pandas", "scikit-learn"] + (
        ["tensorflow", "keras"] if family == "keras_mlp" or with_encoder else [])
    return [f"{name}=={versions[name]}" for name in names if versions.get(name, "missing") != "missing"]
