"""A registry with feature and clip models (session-wide), and audio files in every format users supply."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

#: extension -> (soundfile format, subtype); Opus only takes 8/12/16/24/48 kHz.
FORMATS = {
    "wav": ("WAV", None),
    "mp3": ("MP3", None),
    "flac": ("FLAC", None),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
    "aiff": ("AIFF", None),
}


def music(seconds: float, sr: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Harmonics with a slow tremolo plus a little noise, shape (n, channels) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    y = sum(0.2 / k * np.sin(2 * np.pi * (180 + 40 * seed) * k * t) for k in range(1, 5))
    y = y * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)) + 0.01 * rng.standard_normal(t.size)
    return np.stack([y * (1 - 0.2 * c) for c in range(channels)], axis=1).astype(np.float32)


def write_audio(path: Path, seconds: float = 4.0, sr: int = 22050, channels: int = 1, seed: int = 0,
                silent: bool = False) -> Path:
    fmt, subtype = FORMATS[path.suffix.lstrip(".")]
    y = music(seconds, sr, channels, seed)
    sf.write(path, np.zeros_like(y) if silent else y, sr, format=fmt, subtype=subtype)
    return path


@pytest.fixture
def audio_file(tmp_path):
    """Factory: ``audio_file("x.mp3", seconds=4, sr=44100, channels=2)`` writes and returns the path."""
    return lambda name, **kwargs: write_audio(tmp_path / name, **kwargs)


@pytest.fixture(scope="session")
def stores(tmp_path_factory) -> dict[str, str]:
    """Two store URIs: ``registry`` holds genre-mlp v1 (test accuracy 0.40, @champion) and v2 (0.55,
    same network, not promoted; no calibration measured) and genre-cnn v1 (@clip-3s, 0.50, no champion,
    a calibration); ``empty`` has no model.

    MLFLOW_TRACKING_URI points at the registry for the whole session.
    """
    from tests.registry import builders

    root = tmp_path_factory.mktemp("stores")
    (root / "registry").mkdir()
    (root / "empty").mkdir()
    uri = f"sqlite:///{root / 'registry' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        import mlflow

        from core import tracking
        from core.registry import promote, register_version

        tracking.configure()
        mlflow.search_registered_models()  # creates the tables: copy them for an empty store (saves seconds)
        shutil.copy(root / "registry" / "mlflow.db", root / "empty" / "mlflow.db")
        model_uri, run_id = builders.log_feature("sklearn_mlp")
        for accuracy in (0.40, 0.55):
            register_version(model_uri, "genre-mlp", builders.card("sklearn_mlp", "features", run_id, accuracy))
        promote("genre-mlp", "1")
        model_uri, run_id = builders.log_clip(3.0)
        register_version(model_uri, "genre-cnn", builders.card("cnn", "mels", run_id, 0.50, clip_seconds=3,
                                                               calibration=builders.calibration()),
                         aliases=["clip-3s"])
        yield {"registry": uri, "empty": f"sqlite:///{root / 'empty' / 'mlflow.db'}"}


@pytest.fixture
def registry(stores, monkeypatch) -> str:
    # Another session-wide store (tests/registry's) may have been made after this one in the same process.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stores["registry"])
    from core import tracking

    return tracking.configure()


@pytest.fixture
def empty_registry(stores, monkeypatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stores["empty"])
    return stores["empty"]
