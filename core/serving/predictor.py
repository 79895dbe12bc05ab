"""Genre predictions for audio files from the models in the MLflow registry.

A model is named as ``NAME`` (the version its ``champion`` alias points at), ``NAME@alias`` or
``NAME/version``; with no name, the champion of every registered model answers. A registered model
with no champion yet falls back to its newest version, and :func:`core.registry.fallback_note` says so
in one line (the CLI prints it on stderr, the Predict page under its chooser). Loaded models stay in
memory, keyed by store and ``models:/NAME/VERSION`` URI.

What a model takes is what its card (:class:`core.registry.ModelCard`, the version's tags) says:

- *feature-row* models (input kind ``features`` / ``autoencoder``: ``genre-mlp``, ``genre-mlp-ae``) take
  FMA's 518 features, computed here on the card's ``window`` of the file (``full``: the whole file, as
  FMA's published features; ``center:30``...) exactly as ``python -m core features`` computes them.
- *audio* models (``mels``, ``embeddings``: ``genre-cnn``, ``genre-zeroshot``, ``genre-mlp-embeddings``)
  read the file themselves (:meth:`core.serving.pyfunc.AudioGenreModel.classify_file`), exactly as they
  answer when served over HTTP: the CNN and the zero-shot model every segment in bounded memory, the
  clip's probabilities the mean of its segments' (the study's track vote); the embeddings MLP the
  musicnn vector of the card's window, as its training table was made.

:func:`predict_file` returns the JSON-ready result of one file, or its one-line error.
"""
from __future__ import annotations

import functools
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from core import tracking
from core.errors import GenreLabError, first_line
from core.features import fma_features
from core.features.window import parse_window
from core.registry import Version, default_versions, list_versions
from core.registry import resolve as resolve_in
from core.serving import embedding_model, pyfunc, zeroshot

#: Where the pickled classes of older registered versions lived: the same classes live in core.serving now.
MOVED_MODULES = {"core.study.export": pyfunc, "core.registry.pyfunc": pyfunc,
                 "core.registry.embedding_model": embedding_model, "core.registry.zeroshot": zeroshot}


def list_models() -> list[Version]:
    """Every registered version of every model in the configured store, by name then version number.

    Raises GenreLabError (one line naming the store) when the store cannot be read.
    """
    tracking.configure()
    return list_versions()


def default_models(models: list[Version] | None = None) -> list[Version]:
    """The champion (else newest version) of each registered model; GenreLabError when none is registered."""
    return default_versions(list_models() if models is None else models)


def resolve(ref: str, models: list[Version] | None = None) -> Version:
    """The version ``ref`` names: ``NAME`` (its champion, else newest), ``NAME@alias`` or ``NAME/VERSION``."""
    return resolve_in(ref, list_models() if models is None else models)


# --- Loaded models --------------------------------------------------------------------------------

@dataclass
class LoadedModel:
    """A registered model in memory; ``predict(path)`` → ``{"top", "probabilities", "segments"}``."""

    info: Version
    pyfunc: object

    def predict(self, path: Path) -> dict:
        card = self.info.card
        if card.takes_audio:
            return self.pyfunc.unwrap_python_model().classify_file(path)
        output = self.pyfunc.predict(file_features(path, card.window))
        if not isinstance(output, pd.DataFrame):
            raise GenreLabError(f"{self.info.ref}: model output is {type(output).__name__}, expected a "
                                "DataFrame of per-genre probabilities")
        clip = pyfunc.probabilities(output.iloc[0].to_numpy(), list(output.columns))
        return {"top": max(clip, key=clip.get), "probabilities": clip, "segments": []}


_LOADED: dict[str, LoadedModel] = {}
_LOADING = threading.Lock()


def load(info: Version) -> LoadedModel:
    """The model in memory, loading it on first use (kept for the life of the process)."""
    if info.card is None:
        raise GenreLabError(f"{info.ref}: {info.problem}")
    # Versions registered before pickled their classes where they lived then (core.study.export,
    # core.registry.*); the same classes, reading the same artifacts, live in core.serving now.
    for old, module in MOVED_MODULES.items():
        sys.modules.setdefault(old, module)
    key = f"{tracking.configure()}#{info.uri}"  # the same name and version in another store is another model
    with _LOADING:
        if key not in _LOADED:
            try:
                model = mlflow.pyfunc.load_model(info.uri)
            except (MlflowException, OSError, ImportError) as err:
                raise GenreLabError(f"{info.ref}: cannot load the model ({first_line(err)})") from None
            _LOADED[key] = LoadedModel(info, model)
        return _LOADED[key]


# --- Files ----------------------------------------------------------------------------------------

def file_features(path: str | os.PathLike, window: str = "full") -> pd.DataFrame:
    """FMA's 518 features of ``window`` of the file, one row with the FEATURE_NAMES columns.

    Computed by :func:`core.features.fma_features.file_features`, as ``python -m core features`` does,
    so a model sees the same vector for a file at training and at prediction time. The last few
    files' features are kept, so several feature models on one file extract once.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size) if stat else (str(path), 0, 0)
    return _features_of(path, window, key).copy()


@functools.lru_cache(maxsize=8)
def _features_of(path: Path, window: str, key: tuple) -> pd.DataFrame:  # key: a changed file is another entry

    features = np.asarray(fma_features.file_features(path, parse_window(window)), dtype=np.float64)
    return pd.DataFrame([features], columns=fma_features.FEATURE_NAMES)


def predict_file(path: str | os.PathLike, model: str | Version) -> dict:
    """Predict one file with one model; never raises for a bad file.

    Returns ``{"file", "model", "top", "probabilities", "segments", "seconds", "calibration"}``
    (probabilities: genre → p summing to 1; segments: ``[{"start", "end", "probabilities"}]`` in seconds,
    empty for feature-row models; seconds: time taken, model loading excluded; calibration: how far the
    model's probabilities can be trusted, its card's ECE line) or ``{"file", "model", "error"}``.
    Raises GenreLabError only when the model itself cannot be found or loaded.
    """
    info = resolve(model) if isinstance(model, str) else model
    loaded = load(info)
    started = time.perf_counter()
    try:
        answer = loaded.predict(Path(path))
    except GenreLabError as err:
        return {"file": str(path), "model": info.ref, "error": _one_line(err, path)}
    except Exception as err:  # a decoder or model failure on one file must not stop a batch
        return {"file": str(path), "model": info.ref,
                "error": _one_line(f"prediction failed ({type(err).__name__}: {err})", path)}
    return {"file": str(path), "model": info.ref, **answer, "seconds": round(time.perf_counter() - started, 4),
            "calibration": info.card.ece_text}


def _one_line(message: object, path: str | os.PathLike) -> str:
    """The first line of ``message``, prefixed with the file unless it already names it."""
    text = str(message).strip()
    line = text.splitlines()[0] if text else "prediction failed"
    return line if line.startswith(str(path)) else f"{path}: {line}"
