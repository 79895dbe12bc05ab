"""The final models as MLflow pyfunc models, each holding everything it needs to predict.

- Feature models (MLP): a features.csv-format DataFrame in, per-genre probabilities out. Inside: the
  feature names it expects, the optional autoencoder (its own scaler and encoder), the scaler of the
  network's inputs, the network (Keras ``.keras`` or a pickled scikit-learn MLP) and the genre names.
- Audio models (CNN): a waveform or file in, per-segment probabilities out, with the mel parameters
  and band statistics stored beside the network.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from core.errors import GenreLabError


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
            proba = self.network.predict_on_batch(X)  # no per-call tf.data pipeline: ~0.1 s less
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
    return _pins(["mlflow", "numpy", "pandas", "scikit-learn"] + (
        ["tensorflow", "keras"] if family == "keras_mlp" or with_encoder else []))


def _pins(names: list[str]) -> list[str]:
    """``name==version`` of the installed packages among ``names``."""
    from core.tracking import package_versions

    versions = package_versions()
    return [f"{name}=={versions[name]}" for name in names if versions.get(name, "missing") != "missing"]


# --- The CNN: audio in, per-segment genre probabilities out --------------------------------

class CnnAudioModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc around a fitted CNN and the mel parameters it was trained with.

    Input: ``{"waveform": float array (n,), "sample_rate": int or [int]}``, a 1-D array already at the
    model's rate ``sr``, an audio file path (str), or ``{"path": str}`` / a one-row DataFrame with a
    ``path`` column. Output: a DataFrame with one row per clip-length segment: ``start``, ``end``
    (seconds) and one probability column per genre. The whole clip's probabilities are the mean of
    its rows (the study's track vote). Segments follow ``core.features.mels.slice_clips``: a tail of at
    least half a segment, or audio shorter than one, is padded with silence.
    """

    def load_context(self, context) -> None:
        self.params = json.loads(Path(context.artifacts["mel_params"]).read_text())
        import keras

        self.network = keras.models.load_model(context.artifacts["network"], compile=False)

    def predict(self, context, model_input, params=None) -> pd.DataFrame:  # noqa: ARG002 - pyfunc signature
        from core.features.mels import log_mel, slice_clips

        p = self.params
        y = self._waveform(model_input, p["sr"])
        mel = log_mel(y, sr=p["sr"], n_fft=p["n_fft"], hop_length=p["hop_length"], n_mels=p["n_mels"])
        clips = slice_clips(mel, p["clip_seconds"], sr=p["sr"], hop_length=p["hop_length"])
        x = (clips - np.asarray(p["band_mean"], np.float32)[:, None]) / np.asarray(p["band_std"], np.float32)[:, None]
        probs = np.asarray(self.network.predict_on_batch(x[..., None]), dtype=np.float64)
        clip, duration = float(p["clip_seconds"]), len(y) / p["sr"]
        starts = clip * np.arange(len(probs))
        frame = pd.DataFrame(probs, columns=p["genres"])
        frame.insert(0, "end", np.minimum(starts + clip, max(duration, clip)))
        frame.insert(0, "start", starts)
        return frame

    @staticmethod
    def _waveform(model_input, sample_rate: int) -> np.ndarray:
        """Mono float32 samples at ``sample_rate`` from any of the accepted inputs."""
        from core.audio import check_waveform, load_audio, resample

        if isinstance(model_input, pd.DataFrame):
            if "path" not in model_input.columns or len(model_input) != 1:
                raise GenreLabError("genre-cnn: a DataFrame input needs one row with a 'path' column")
            model_input = {"path": model_input["path"].iloc[0]}
        if isinstance(model_input, (str, Path)):
            model_input = {"path": model_input}
        if isinstance(model_input, np.ndarray):
            model_input = {"waveform": model_input, "sample_rate": sample_rate}
        if isinstance(model_input, dict) and "path" in model_input:
            return load_audio(model_input["path"], sr=sample_rate)[0]
        if isinstance(model_input, dict) and "waveform" in model_input:
            y = np.asarray(model_input["waveform"], dtype=np.float32)
            rate = int(np.ravel(model_input.get("sample_rate", sample_rate))[0])
            if y.ndim != 1:
                raise GenreLabError(f"genre-cnn: waveform must be mono, shape (n,), got {y.shape}")
            check_waveform(y, rate, "waveform")
            return resample(y, rate, sample_rate)
        raise GenreLabError(f"genre-cnn: cannot read input of type {type(model_input).__name__} "
                            "(give a path or {'waveform': array, 'sample_rate': int})")


def log_audio_model(network, mel_params: dict, workdir: Path, name: str = "model"):
    """Log ``network`` as a :class:`CnnAudioModel` on the active MLflow run; returns mlflow's ModelInfo.

    ``mel_params`` must hold the MelCache parameters (sr, n_fft, hop_length, n_mels), frames_per_clip,
    clip_seconds, genres, band_mean and band_std; it is stored beside the network as ``mel_params.json``.
    """
    missing = sorted({"sr", "n_fft", "hop_length", "n_mels", "frames_per_clip", "clip_seconds",
                      "genres", "band_mean", "band_std"} - set(mel_params))
    if missing:
        raise GenreLabError(f"cnn model: mel parameters lack {', '.join(missing)}")
    network_path, params_path = Path(workdir) / "network.keras", Path(workdir) / "mel_params.json"
    network.save(network_path)
    params_path.write_text(json.dumps(mel_params, indent=1))
    requirements = _pins(["mlflow", "tensorflow", "keras", "numpy", "pandas", "librosa", "soundfile"])
    return mlflow.pyfunc.log_model(name=name, python_model=CnnAudioModel(), pip_requirements=requirements,
                                   artifacts={"network": str(network_path), "mel_params": str(params_path)})
