"""Audio fixtures written by the tests themselves, in the formats FMA and users supply."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

#: extension -> (soundfile format, subtype); Opus only takes 8/12/16/24/48 kHz.
FORMATS = {
    "wav": ("WAV", None),
    "flac": ("FLAC", None),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
    "aiff": ("AIFF", None),
    "mp3": ("MP3", None),
}


def tone(seconds: float, sr: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A few harmonics plus a little noise, shape (n, channels) float32: music-like enough for every feature."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    y = sum(0.2 / k * np.sin(2 * np.pi * 220 * k * t * (1 + 0.01 * seed)) for k in range(1, 5))
    y = y * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)) + 0.01 * rng.standard_normal(t.size)
    cols = [y * (1 - 0.2 * c) for c in range(channels)]
    return np.stack(cols, axis=1).astype(np.float32)


def write_audio(path: Path, seconds: float = 2.0, sr: int = 22050, channels: int = 1, seed: int = 0) -> Path:
    fmt, subtype = FORMATS[path.suffix.lstrip(".")]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, sr, channels, seed), sr, format=fmt, subtype=subtype)
    return path


@pytest.fixture
def audio_file(tmp_path):
    """Factory: ``audio_file("x.mp3", seconds=2, sr=44100, channels=2)`` writes and returns the path."""

    def make(name: str, **kwargs) -> Path:
        return write_audio(tmp_path / name, **kwargs)

    return make
