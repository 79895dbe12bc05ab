"""Audio fixtures written by the tests themselves, in the formats FMA and users supply."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from core.data import fma

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


def make_root(root, audio: dict):
    """A dataset root: tracks.csv/genres.csv for the ids in ``audio`` ({id: seconds or b'bytes'}) + their files."""
    genres = pd.DataFrame({"#tracks": [len(audio)], "parent": [0], "title": ["Rock"], "top_level": [12]},
                          index=pd.Index([12], name="genre_id"))
    tracks = pd.DataFrame(index=pd.Index(list(audio), name="track_id"),
                          columns=pd.MultiIndex.from_tuples(fma.TRACKS_COLUMNS), dtype=object)
    for column in fma.LIST_COLUMNS:
        tracks[column] = [[] for _ in audio]
    tracks["track", "genre_top"] = "Rock"
    tracks["track", "genres"] = [[12] for _ in audio]
    tracks["track", "genres_all"] = [[12] for _ in audio]
    tracks["set", "subset"] = "small"
    tracks["set", "split"] = "training"
    (root / "fma_metadata").mkdir(parents=True)
    fma.write_tracks(tracks, root / "fma_metadata" / "tracks.csv")
    fma.write_genres(genres, root / "fma_metadata" / "genres.csv")
    for tid, content in audio.items():
        name = f"{tid:06d}"
        path = root / "fma_small" / name[:3] / f"{name}.mp3"
        if isinstance(content, bytes):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        elif content is not None:
            write_audio(path, seconds=content, sr=22050, channels=2, seed=tid)
    return root


@pytest.fixture
def audio_file(tmp_path):
    """Factory: ``audio_file("x.mp3", seconds=2, sr=44100, channels=2)`` writes and returns the path."""

    def make(name: str, **kwargs) -> Path:
        return write_audio(tmp_path / name, **kwargs)

    return make
