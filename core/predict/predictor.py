"""Genre predictions for audio files from the models in the MLflow registry.

A model is named as ``NAME`` (its version with the highest ``test_accuracy`` tag), ``NAME@alias`` or
``NAME/version``; with no name, the best version of each registered model is used: one per family of
input and network (``genre-mlp``, ``genre-mlp-ae``, ``genre-cnn``). Loaded models stay in memory, keyed
by store and ``models:/NAME/VERSION`` URI.

Two kinds of model are served, told apart by the input their signature declares:

- *feature* models (``genre-mlp``, ``genre-mlp-ae``) take a DataFrame with FMA's 518 feature columns.
  The features are computed from one window of at most 30 s, the centre of the file, as FMA's own
  clips are 30 s excerpts from the middle of a track. When the centre cannot be decoded (a header
  that promises more audio than the file holds) the first 30 s are used instead. Memory is bounded
  by the window whatever the file's length.
- *audio* models (``genre-cnn``) take a waveform and return one row of probabilities per segment.
  The file is streamed in windows of whole segments (about 30 s), so the whole length is analysed in
  bounded memory; the clip's probabilities are the mean of its segments' (the study's track vote).

:func:`predict_file` returns the JSON-ready result of one file, or its one-line error.
"""
from __future__ import annotations

import functools
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import GenreLabError

#: Longest stretch of audio the feature models see (FMA's clips are 30 s).
FEATURE_WINDOW_SECONDS = 30.0
#: Audio models read the file in windows of whole segments lasting about this long.
AUDIO_WINDOW_SECONDS = 30.0
NO_MODEL_MESSAGE = ("no model registered yet: run `make demo` or "
                    "`python -m core run experiments/demo_mlp.toml`")


@dataclass(frozen=True)
class ModelInfo:
    """One registered model version, as the CLI and the dashboard list it (``family``: its network)."""

    name: str
    version: str
    family: str
    test_accuracy: float | None
    dataset: str
    aliases: tuple[str, ...] = ()
    clip_seconds: float | None = None
    run_id: str = ""

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def ref(self) -> str:
        """How a user names it: ``NAME/VERSION``."""
        return f"{self.name}/{self.version}"

    @property
    def label(self) -> str:
        """One line for menus: name, version, aliases, test accuracy, training data."""
        aliases = f" @{', @'.join(self.aliases)}" if self.aliases else ""
        accuracy = "n/a" if self.test_accuracy is None else f"{self.test_accuracy:.1%}"
        return f"{self.ref}{aliases}  ·  test accuracy {accuracy}  ·  trained on {self.dataset or 'unknown'}"


def _float_tag(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _store_error(err: Exception) -> GenreLabError:
    import mlflow

    text = str(err).strip()
    first_line = text.splitlines()[0] if text else type(err).__name__
    return GenreLabError(f"{mlflow.get_tracking_uri()}: cannot read the model registry ({first_line})")


def list_models() -> list[ModelInfo]:
    """Every registered version of every model, sorted by name then version number.

    Raises GenreLabError (one line naming the store) when the store cannot be read.
    """
    import sqlite3

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from sqlalchemy.exc import SQLAlchemyError

    from core import tracking

    tracking.configure()
    client = MlflowClient()
    found = []
    try:
        for registered in client.search_registered_models(max_results=1000):
            aliases: dict[str, list[str]] = {}
            for alias, version in (registered.aliases or {}).items():
                aliases.setdefault(str(version), []).append(alias)
            for mv in client.search_model_versions(f"name = '{registered.name}'", max_results=1000):
                tags = mv.tags or {}
                found.append(ModelInfo(
                    name=mv.name, version=str(mv.version),
                    family=tags.get("family", ""),
                    test_accuracy=_float_tag(tags.get("test_accuracy")),
                    dataset=tags.get("dataset", ""),
                    aliases=tuple(sorted(aliases.get(str(mv.version), []))),
                    clip_seconds=_float_tag(tags.get("clip_seconds")),
                    run_id=mv.run_id or "",
                ))
    except (MlflowException, SQLAlchemyError, OSError, sqlite3.Error) as err:
        raise _store_error(err) from None
    return sorted(found, key=lambda m: (m.name, int(m.version) if m.version.isdigit() else 0))


def _best(models: list[ModelInfo]) -> ModelInfo:
    """Highest test accuracy; ties (and missing accuracies) go to the newest version."""
    return max(models, key=lambda m: (m.test_accuracy if m.test_accuracy is not None else -1.0,
                                      int(m.version) if m.version.isdigit() else 0))


def default_models(models: list[ModelInfo] | None = None) -> list[ModelInfo]:
    """The best version of each registered model, by name. Raises GenreLabError when none is registered.

    Grouped by registered name, not by the ``family`` tag: that tag names the network (``keras_mlp``,
    ``sklearn_mlp``, ``cnn``) and would put raw-feature and autoencoder models in one group.
    """
    models = list_models() if models is None else models
    if not models:
        raise GenreLabError(NO_MODEL_MESSAGE)
    by_name: dict[str, list[ModelInfo]] = {}
    for model in models:
        by_name.setdefault(model.name, []).append(model)
    return [_best(versions) for _, versions in sorted(by_name.items())]


def resolve(ref: str, models: list[ModelInfo] | None = None) -> ModelInfo:
    """The version ``ref`` names: ``NAME`` (its best version), ``NAME@alias`` or ``NAME/VERSION``."""
    models = list_models() if models is None else models
    if not models:
        raise GenreLabError(NO_MODEL_MESSAGE)
    if "@" in ref:
        name, alias = ref.split("@", 1)
        matches = [m for m in models if m.name == name and alias in m.aliases]
    elif "/" in ref:
        name, version = ref.rsplit("/", 1)
        matches = [m for m in models if m.name == name and m.version == version]
    else:
        name = ref
        matches = [m for m in models if m.name == name]
        matches = [_best(matches)] if matches else []
    if not matches:
        known = ", ".join(sorted({m.name for m in models}))
        versions = ", ".join(m.ref + "".join(f"@{a}" for a in m.aliases) for m in models if m.name == name)
        hint = f"versions of {name}: {versions}" if versions else f"registered models: {known}"
        raise GenreLabError(f"model {ref!r}: not in the registry ({hint})")
    return matches[0]


# --- Loaded models --------------------------------------------------------------------------------

@dataclass
class LoadedModel:
    """A registered model in memory and the way its input is built from a file."""

    info: ModelInfo
    pyfunc: object
    kind: str  # "features" or "audio"
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def predict(self, path: Path) -> tuple[dict[str, float], list[dict]]:
        """(probabilities genre → p summing to 1, segments [{start, end, probabilities}])."""
        if self.kind == "features":
            return self._predict_features(path), []
        return self._predict_audio(path)

    def _predict_features(self, path: Path) -> dict[str, float]:
        row = file_features(path)
        with self.lock:  # Keras models are not safe to call from several Streamlit threads at once
            output = self.pyfunc.predict(row)
        return _probabilities(_as_frame(output, self.info).iloc[0])

    def _predict_audio(self, path: Path) -> tuple[dict[str, float], list[dict]]:
        from core.audio import MIN_SECONDS, SILENCE_PEAK, iter_windows

        stored = _audio_params(self.pyfunc)
        clip = float(self.info.clip_seconds or stored.get("clip_seconds") or AUDIO_WINDOW_SECONDS)
        window = clip * max(1, math.floor(AUDIO_WINDOW_SECONDS / clip))
        sr = int(stored.get("sample_rate") or _native_rate(path))
        segments: list[dict] = []
        for start, y in iter_windows(path, window_seconds=window, sr=sr):
            seconds = len(y) / sr
            if segments and seconds < max(MIN_SECONDS, clip / 2):
                continue  # a tail this short says little; the model would pad it to a whole segment
            if float(np.max(np.abs(y))) < SILENCE_PEAK:
                continue  # a silent stretch inside the file has no genre (an all-silent file raises)
            with self.lock:  # Keras models are not safe to call from several Streamlit threads at once
                output = _as_frame(self.pyfunc.predict({"waveform": y, "sample_rate": np.array([sr])}), self.info)
            genres = [c for c in output.columns if c not in ("start", "end")]
            for _, row in output.iterrows():
                segments.append({"start": round(start + float(row["start"]), 3),
                                 "end": round(start + min(float(row["end"]), seconds), 3),
                                 "probabilities": _probabilities(row[genres])})
        if not segments:
            raise GenreLabError(f"{path}: no segment with audio to classify")
        mean = pd.DataFrame([s["probabilities"] for s in segments]).mean(axis=0)
        return _probabilities(mean), segments


def _audio_params(pyfunc) -> dict:
    """``sample_rate`` and ``clip_seconds`` stored with an audio model (``genre-cnn``'s mel parameters).

    Values are None when absent. Streaming the file at the model's own rate resamples once,
    continuously, instead of once per window inside the model.
    """
    try:
        params = getattr(pyfunc.unwrap_python_model(), "params", None)
    except Exception:  # noqa: BLE001 - not a Python-function model: read the file at its own rate
        return {}
    if not isinstance(params, dict):
        return {}
    return {"sample_rate": params.get("sr") or params.get("sample_rate"), "clip_seconds": params.get("clip_seconds")}


def _native_rate(path: Path) -> int:
    """The file's sample rate (the rate :func:`core.audio.iter_windows` yields without ``sr``)."""
    import soundfile as sf

    from core.audio import AudioError, load_audio

    try:
        return int(sf.info(str(path)).samplerate)
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError):
        load_audio(path)  # raises the AudioError that names the problem
        raise AudioError(f"{path}: not a readable audio file") from None


def _as_frame(output, info: ModelInfo) -> pd.DataFrame:
    if not isinstance(output, pd.DataFrame):
        raise GenreLabError(f"{info.ref}: model output is {type(output).__name__}, expected a DataFrame "
                            "of per-genre probabilities")
    return output


def _probabilities(row: pd.Series) -> dict[str, float]:
    """Genre → probability, renormalised so the values sum to 1 exactly (float32 outputs drift)."""
    values = np.clip(row.to_numpy(dtype=np.float64), 0.0, None)
    total = values.sum()
    if not np.isfinite(total) or total <= 0:
        raise GenreLabError("model returned no usable probabilities")
    return {str(genre): float(p) for genre, p in zip(row.index, values / total)}


def _input_kind(pyfunc) -> str:
    """'features' when the signature asks for FMA's feature columns, else 'audio'."""
    from core.features.fma_features import FEATURE_NAMES

    schema = pyfunc.metadata.get_input_schema()
    names = set(schema.input_names()) if schema is not None and schema.has_input_names() else set()
    return "features" if names and names <= set(FEATURE_NAMES) else "audio"


_LOADED: dict[str, LoadedModel] = {}
_LOADING = threading.Lock()


def load(info: ModelInfo) -> LoadedModel:
    """The model in memory, loading it on first use (kept for the life of the process)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from core import tracking

    key = f"{tracking.configure()}#{info.uri}"  # the same name and version in another store is another model
    with _LOADING:
        if key not in _LOADED:
            try:
                pyfunc = mlflow.pyfunc.load_model(info.uri)
            except (MlflowException, OSError) as err:
                raise GenreLabError(f"{info.ref}: cannot load the model ({str(err).strip().splitlines()[0]})") from None
            _LOADED[key] = LoadedModel(info, pyfunc, _input_kind(pyfunc))
        return _LOADED[key]


# --- Files ----------------------------------------------------------------------------------------

def feature_window(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """The audio the feature models see: the central ``FEATURE_WINDOW_SECONDS`` of the file.

    Returns (y float32 mono of shape (n,), the file's own rate in Hz). Falls back to the first window when the centre does not decode (the
    header promised more audio than the file holds). Raises AudioError for unusable files.
    """
    import soundfile as sf

    from core.audio import AudioError, load_audio

    try:
        declared = sf.info(str(path)).duration
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError):
        declared = 0.0  # load_audio below names the problem
    # At the file's own rate, as FMA computed its features and as `python -m core features` does, so a
    # model sees the same vector for a file at training and at prediction time.
    offset = max(0.0, (declared - FEATURE_WINDOW_SECONDS) / 2)
    if offset > 0:
        try:
            return load_audio(path, offset=offset, duration=FEATURE_WINDOW_SECONDS)
        except AudioError:
            pass
    return load_audio(path, duration=FEATURE_WINDOW_SECONDS)


def file_features(path: str | os.PathLike) -> pd.DataFrame:
    """FMA's 518 features of :func:`feature_window`, one row with the FEATURE_NAMES columns.

    The last few files' features are kept, so several feature models on one file extract once.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size) if stat else (str(path), 0, 0)
    return _features_of(path, key).copy()


@functools.lru_cache(maxsize=8)
def _features_of(path: Path, key: tuple) -> pd.DataFrame:  # noqa: ARG001 - key invalidates a changed file
    from core.features.fma_features import FEATURE_NAMES, extract_fma_features

    y, sr = feature_window(path)
    features = np.asarray(extract_fma_features(y, sr), dtype=np.float64)
    return pd.DataFrame([features], columns=FEATURE_NAMES)


def predict_file(path: str | os.PathLike, model: str | ModelInfo) -> dict:
    """Predict one file with one model; never raises for a bad file.

    Returns ``{"file", "model", "top", "probabilities", "segments", "seconds"}`` (probabilities:
    genre → p summing to 1; segments: ``[{"start", "end", "probabilities"}]`` in seconds, empty for
    feature models; seconds: time taken, model loading excluded) or ``{"file", "model", "error"}``.
    Raises GenreLabError only when the model itself cannot be found or loaded.
    """
    info = resolve(model) if isinstance(model, str) else model
    loaded = load(info)
    started = time.perf_counter()
    try:
        probabilities, segments = loaded.predict(Path(path))
    except GenreLabError as err:
        return {"file": str(path), "model": info.ref, "error": _one_line(err, path)}
    except Exception as err:  # noqa: BLE001 - a decoder or model failure on one file must not stop a batch
        return {"file": str(path), "model": info.ref,
                "error": _one_line(f"prediction failed ({type(err).__name__}: {err})", path)}
    return {
        "file": str(path),
        "model": info.ref,
        "top": max(probabilities, key=probabilities.get),
        "probabilities": probabilities,
        "segments": segments,
        "seconds": round(time.perf_counter() - started, 4),
    }


def _one_line(message: object, path: str | os.PathLike) -> str:
    """The first line of ``message``, prefixed with the file unless it already names it."""
    text = str(message).strip()
    line = text.splitlines()[0] if text else "prediction failed"
    return line if line.startswith(str(path)) else f"{path}: {line}"
