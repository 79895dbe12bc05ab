"""The genre models as MLflow pyfunc models that stand alone: each carries its code and pinned requirements.

Every model is logged with this ``core`` package as its code (MLflow ``code_paths``) and ``name==version``
pins of what that code imports, so ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` work from any
directory, in a process that has never seen the checkout.

- Feature models (:class:`FeatureGenreModel`, input kinds ``features`` / ``autoencoder``): a DataFrame
  with FMA's 518 feature columns (features.csv format) in, a DataFrame with one probability column per
  genre out. Inside: the feature names, the optional autoencoder (its own scaler and encoder), the scaler
  of the network's inputs, the network (Keras ``.keras`` or a pickled scikit-learn MLP), the genres.
- Audio models (:class:`AudioGenreModel`, e.g. the CNN): a DataFrame with a binary ``audio`` column (an
  encoded file per row: MP3, WAV, FLAC, OGG, Opus, AIFF; base64 over HTTP) in, one row per clip out:
  ``top`` (the likeliest genre), ``probabilities`` (genre → p, the mean over segments) and ``segments``
  (``[{"start", "end", "probabilities"}]``, seconds), the shape ``python -m core predict --json`` prints.

Bad input raises :class:`InputError`, which MLflow's scoring server answers with HTTP 400 and the same
one-line message the CLI prints.
"""
from __future__ import annotations

import functools
import json
import math
import tempfile
import threading
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types import ColSpec, Schema

from core.audio import MIN_SECONDS, SILENCE_PEAK, iter_windows
from core.calibration import apply_temperature
from core.errors import GenreLabError, first_line
from core.features.mels import log_mel, slice_clips
from core.models.autoencoder import Autoencoder

#: The folder of the ``core`` package: copied into every model as its code.
CORE_DIR = Path(__file__).resolve().parent.parent
#: Audio models read a file in windows of whole segments lasting about this long (bounded memory).
AUDIO_WINDOW_SECONDS = 30.0
#: The input column of audio models.
AUDIO_COLUMN = "audio"


class InputError(MlflowException, GenreLabError):
    """Input a model cannot use, in one line: HTTP 400 from ``mlflow models serve``, a one-line error here.

    The scoring server rewrites the ``message`` of an MlflowException raised by a model into "Failed
    to predict data '<the whole request>'. Error: ..." (megabytes of base64 for audio); this class keeps
    the one line the CLI gives for the same problem.
    """

    def __init__(self, message: str):
        self._line = first_line(message)
        super().__init__(self._line, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:
        return self._line

    @message.setter
    def message(self, value: str) -> None:  # the rewrite described above is dropped
        pass


def probabilities(values, genres: list[str]) -> dict[str, float]:
    """Genre → probability, renormalised to sum to 1 exactly (float32 outputs drift)."""
    values = np.clip(np.asarray(values, dtype=np.float64), 0.0, None)
    total = values.sum()
    if not np.isfinite(total) or total <= 0:
        raise GenreLabError("model returned no usable probabilities")
    return {str(genre): float(p) for genre, p in zip(genres, values / total)}


# --- The MLP inside the models that end in one (feature rows, embeddings) -------------------------

@dataclass
class Classifier:
    """A fitted MLP as a model stores it: the scaler of its inputs (artifact ``scaler``, an .npz of
    ``mean``, ``scale`` and the estimator's calibration ``temperature``) and the network (artifact
    ``network``: Keras ``.keras`` or a joblib pickle)."""

    family: str          # keras_mlp or sklearn_mlp
    mean: np.ndarray     # (d,)
    scale: np.ndarray    # (d,)
    network: object
    temperature: float = 1.0   # models saved before calibration: 1 (their probabilities as they were)

    @staticmethod
    def save(folder: Path, estimator, scaler, family: str) -> dict[str, str]:
        """Write a fitted estimator (``core.models.mlp``) and its StandardScaler into ``folder``; the artifacts."""
        np.savez(folder / "scaler.npz", mean=scaler.mean_, scale=scaler.scale_, temperature=estimator.temperature_)
        if family == "keras_mlp":
            network = folder / "network.keras"
            estimator.model_.save(network)
        else:
            import joblib

            network = folder / "network.joblib"
            joblib.dump(estimator.model_, network)
        return {"scaler": str(folder / "scaler.npz"), "network": str(network)}

    @classmethod
    def load(cls, artifacts: dict, family: str) -> "Classifier":
        stats = np.load(artifacts["scaler"])
        if family == "keras_mlp":
            import keras

            network = keras.models.load_model(artifacts["network"], compile=False)
        else:
            import joblib

            network = joblib.load(artifacts["network"])
        temperature = float(stats["temperature"]) if "temperature" in stats else 1.0
        return cls(family, stats["mean"], stats["scale"], network, temperature)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, n_genres) float64 probabilities of (n, d) unscaled inputs (callers hold their lock)."""
        X = ((np.asarray(X, dtype=np.float32) - self.mean) / self.scale).astype(np.float32)
        if self.family == "keras_mlp":
            proba = self.network.predict_on_batch(X)  # no per-call tf.data pipeline: ~0.1 s less
        else:
            proba = self.network.predict_proba(X)
        return apply_temperature(np.asarray(proba, dtype=np.float64), self.temperature)


# --- Feature models: 518 feature columns in, one probability per genre out ------------------------

class FeatureGenreModel(mlflow.pyfunc.PythonModel):
    """``predict(df)`` → DataFrame (len(df), n_genres) of probabilities summing to 1 per row."""

    def load_context(self, context) -> None:
        art = context.artifacts
        meta = json.loads(Path(art["meta"]).read_text())
        self.feature_names, self.genres, self.family = meta["feature_names"], meta["genres"], meta["family"]
        self.classifier = Classifier.load(art, self.family)
        self.encoder = None
        if "encoder" in art:

            self.encoder = Autoencoder.load(Path(art["encoder"]))
        self.lock = threading.Lock()  # Keras models are not safe to call from several threads at once

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if isinstance(model_input.columns, pd.MultiIndex):  # FMA's own frame: read_csv(header=[0, 1, 2])
            model_input = model_input.set_axis([".".join(map(str, c)) for c in model_input.columns], axis=1)
        missing = [c for c in self.feature_names if c not in model_input.columns]
        if missing:
            raise InputError(f"input lacks {len(missing)} of the {len(self.feature_names)} feature columns, "
                             f"e.g. {missing[0]!r}")
        X = model_input[self.feature_names].to_numpy(dtype=np.float32)
        if not np.isfinite(X).all():
            raise InputError("input holds missing or infinite feature values")
        with self.lock:
            if self.encoder is not None:
                X = self.encoder.transform(X)
            proba = self.classifier.predict_proba(X)
        return pd.DataFrame(proba, columns=self.genres, index=model_input.index)


def log_feature_model(estimator, scaler, autoencoder, feature_names: list[str], family: str,
                      example: pd.DataFrame):
    """Log a fitted MLP (and optional autoencoder) on the active run as artifact ``model``; no registration.

    Parameters
    ----------
    estimator : core.models.mlp.KerasMLP or SklearnMLP
        Fitted (``classes_``, ``model_``).
    scaler : sklearn.preprocessing.StandardScaler
        Fitted on the network's inputs (the autoencoder's codes when there is one).
    autoencoder : core.models.autoencoder.Autoencoder or None
    feature_names : list of str
        The columns the model reads, in order.
    family : str
        ``keras_mlp`` or ``sklearn_mlp``.
    example : DataFrame
        A few input rows; the first is stored as the input example (``serving_input_example.json``).

    Returns
    -------
    mlflow.models.model.ModelInfo
    """
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        genres = [str(g) for g in estimator.classes_]
        (tmp / "meta.json").write_text(json.dumps({"feature_names": feature_names, "genres": genres,
                                                   "family": family}))
        artifacts = {"meta": str(tmp / "meta.json"), **Classifier.save(tmp, estimator, scaler, family)}
        if autoencoder is not None:
            autoencoder.save(tmp / "encoder")
            artifacts["encoder"] = str(tmp / "encoder")
        # No input schema: predict() checks the columns itself and names a missing one in one line, and
        # takes FMA's own three-level header as well as flat names (MLflow's schema check would drop those
        # columns before predict() sees them, and answer a missing one with the whole request).
        signature = ModelSignature(inputs=None, outputs=Schema([ColSpec("double", g) for g in genres]))
        uses_keras = family == "keras_mlp" or autoencoder is not None
        modules = ["sklearn", "joblib"] + (["keras", "tensorflow"] if uses_keras else [])
        return _log(FeatureGenreModel(), artifacts, signature, modules,
                    input_example=example[feature_names].iloc[:1].astype(np.float64))


# --- Audio models: encoded audio in, clip and segment probabilities out ---------------------------

class AudioGenreModel(mlflow.pyfunc.PythonModel):
    """Base of the models that take audio: decoding, streaming through a file, the output shape.

    A subclass sets ``genres``, ``sample_rate`` and ``segment_seconds`` in ``load_context`` and
    implements :meth:`segment_probabilities`. A file is streamed in windows of whole segments (about
    ``AUDIO_WINDOW_SECONDS``), so any length is analysed in bounded memory; a tail shorter than half a
    segment (or than a second) after the first segment, and silent windows inside the file, are skipped.
    """

    genres: list[str]
    sample_rate: int
    segment_seconds: float

    def segment_probabilities(self, y: np.ndarray) -> np.ndarray:
        """(n_segments, n_genres) probabilities of a mono waveform at ``sample_rate``, one row per segment."""
        raise NotImplementedError

    def classify_file(self, path: str | Path) -> dict:
        """``{"top", "probabilities", "segments"}`` of an audio file; raises GenreLabError naming the file."""

        segment, sr = float(self.segment_seconds), int(self.sample_rate)
        window = segment * max(1, math.floor(AUDIO_WINDOW_SECONDS / segment))
        segments: list[dict] = []
        for start, y in iter_windows(path, window_seconds=window, sr=sr):
            seconds = len(y) / sr
            if segments and seconds < max(MIN_SECONDS, segment / 2):
                continue  # a tail this short says little; the model would pad it to a whole segment
            if float(np.max(np.abs(y))) < SILENCE_PEAK:
                continue  # a silent stretch inside the file has no genre (an all-silent file raises)
            for k, row in enumerate(self.segment_probabilities(y)):
                segments.append({"start": round(start + k * segment, 3),
                                 "end": round(start + min((k + 1) * segment, seconds), 3),
                                 "probabilities": probabilities(row, self.genres)})
        if not segments:
            raise GenreLabError(f"{path}: no segment with audio to classify")
        mean = np.mean([list(s["probabilities"].values()) for s in segments], axis=0)
        clip = probabilities(mean, self.genres)
        return {"top": max(clip, key=clip.get), "probabilities": clip, "segments": segments}

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """One row per input clip: ``top``, ``probabilities``, ``segments`` (see the module docstring)."""
        if not isinstance(model_input, pd.DataFrame) or AUDIO_COLUMN not in model_input.columns:
            raise InputError(f"input needs a column {AUDIO_COLUMN!r} holding audio files (base64 over HTTP)")
        rows = []
        with tempfile.TemporaryDirectory(prefix="genrelab-audio-") as folder:  # 0700, removed afterwards
            for i, data in enumerate(model_input[AUDIO_COLUMN]):
                if not isinstance(data, (bytes, bytearray)):
                    raise InputError(f"{AUDIO_COLUMN}[{i}]: expected the bytes of an audio file, "
                                     f"got {type(data).__name__}")
                path = Path(folder) / f"clip-{i}"
                path.write_bytes(data)
                try:
                    rows.append(self.classify_file(path))
                except GenreLabError as err:
                    raise InputError(str(err).replace(str(path), f"{AUDIO_COLUMN}[{i}]")) from None
                finally:
                    path.unlink()
        extra = [key for key in rows[0] if key not in ("top", "probabilities", "segments")] if rows else []
        return pd.DataFrame(rows, columns=["top", "probabilities", "segments", *extra], index=model_input.index)


class CnnAudioModel(AudioGenreModel):
    """The CNN on log-mel clips, with the mel parameters and band statistics it was trained with."""

    def load_context(self, context) -> None:
        import keras

        self.params = json.loads(Path(context.artifacts["mel_params"]).read_text())
        self.network = keras.models.load_model(context.artifacts["network"], compile=False)
        self.genres = list(self.params["genres"])
        self.sample_rate, self.segment_seconds = int(self.params["sr"]), float(self.params["clip_seconds"])
        self.lock = threading.Lock()  # Keras models are not safe to call from several threads at once

    def segment_probabilities(self, y: np.ndarray) -> np.ndarray:
        p = self.params
        mel = log_mel(y, sr=p["sr"], n_fft=p["n_fft"], hop_length=p["hop_length"], n_mels=p["n_mels"])
        clips = slice_clips(mel, p["clip_seconds"], sr=p["sr"], hop_length=p["hop_length"])
        x = (clips - np.asarray(p["band_mean"], np.float32)[:, None]) / np.asarray(p["band_std"], np.float32)[:, None]
        with self.lock:
            proba = np.asarray(self.network.predict_on_batch(x[..., None]), dtype=np.float64)
        return apply_temperature(proba, float(p.get("temperature", 1.0)))  # 1 for models logged before


def log_audio_model(network, mel_params: dict, workdir: Path):
    """Log ``network`` as a :class:`CnnAudioModel` on the active run as artifact ``model``; no registration.

    ``mel_params`` must hold the MelCache parameters (sr, n_fft, hop_length, n_mels), frames_per_clip,
    clip_seconds, genres, band_mean and band_std, and may hold the calibration ``temperature`` applied to
    every clip's probabilities; it is stored beside the network (written into
    ``workdir``) as ``mel_params.json``. Returns mlflow's ModelInfo.
    """
    missing = sorted({"sr", "n_fft", "hop_length", "n_mels", "frames_per_clip", "clip_seconds",
                      "genres", "band_mean", "band_std"} - set(mel_params))
    if missing:
        raise GenreLabError(f"cnn model: mel parameters lack {', '.join(missing)}")
    network_path, params_path = Path(workdir) / "network.keras", Path(workdir) / "mel_params.json"
    network.save(network_path)
    params_path.write_text(json.dumps(mel_params, indent=1))
    return _log(CnnAudioModel(), {"network": str(network_path), "mel_params": str(params_path)},
                audio_signature(), ["keras", "tensorflow", "librosa", "soundfile", "soxr"])


def audio_signature() -> ModelSignature:
    """What every audio model takes: encoded audio files, one per row (base64 in JSON requests).

    Optional, as the feature columns: a missing column reaches ``predict``, which says so in one line.
    """
    return ModelSignature(inputs=Schema([ColSpec("binary", AUDIO_COLUMN, required=False)]))


# --- Logging ------------------------------------------------------------------------------------

def _log(python_model, artifacts: dict, signature: ModelSignature, modules: list[str], input_example=None):
    """Log ``python_model`` as artifact ``model`` with this package as its code and pinned requirements."""

    with warnings.catch_warnings():
        # Audio models log no example on purpose (it would be megabytes of base64); MLflow warns about it.
        warnings.filterwarnings("ignore", message=".*input example was not provided", category=UserWarning)
        return mlflow.pyfunc.log_model(
            name="model", python_model=python_model, artifacts=artifacts, signature=signature,
            input_example=input_example, code_paths=[str(CORE_DIR)],
            # Explicit pins: inferring them loads the model in a subprocess (about 20 s per model).
            pip_requirements=requirements(["mlflow", "cloudpickle", "numpy", "pandas", *modules]))


def requirements(modules: list[str]) -> list[str]:
    """``distribution==version`` of the installed distributions that provide the import names ``modules``.

    By import name, so ``sklearn`` pins scikit-learn and ``tensorflow`` whichever of tensorflow /
    tensorflow-cpu is installed; when several provide a module (mlflow, mlflow-skinny, mlflow-tracing
    all ship ``mlflow``), the one named as the module. Raises GenreLabError for a module no installed
    distribution provides.
    """
    pins = []
    for module in dict.fromkeys(modules):
        providers = _distributions().get(module)
        if not providers:
            raise GenreLabError(f"model requirements: no installed distribution provides {module!r}")
        name = module if module in providers else providers[0]
        pins.append(f"{name}=={metadata.version(name)}")
    return pins


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()
