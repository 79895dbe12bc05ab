"""The test suite's one builder per kind of thing: audio clips, and dataset roots in FMA's exact layout.

``build_fma_root`` writes tracks.csv (2 header rows + a ``track_id`` row, all 52 columns, list cells
as Python reprs with quotes and commas inside, multi-line artist bios, tracks without a genre_top),
genres.csv (FMA's real genre table), features.csv (FMA's 518 columns under 3 header rows, with a
per-genre signal a classifier can learn), echonest.csv, dataset.json, and audio files in the tier
folder of each track's subset. Tracks are given as ``Track`` rows: ``TRACK_ROWS`` (every subset, split
and quirk), ``genre_rows`` (n tracks per genre, for studies) or ``simple_rows`` (one genre).

``tone`` / ``write_audio`` make music-like audio (harmonics, tremolo, a little noise) in every format
users supply.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import soundfile as sf

from core.data import fma

GENRES_CSV = fma.GENRE_TABLE
#: extension -> (soundfile format, subtype); Opus only takes 8/12/16/24/48 kHz.
FORMATS = {
    "wav": ("WAV", None),
    "flac": ("FLAC", None),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
    "aiff": ("AIFF", None),
    "mp3": ("MP3", None),
}
#: Top-level genres of FMA's table used by ``genre_rows``: title -> genre id.
GENRES = {"Hip-Hop": 21, "Pop": 10, "Rock": 12}


# -------------------------------------------------------------------------------------------- audio

def tone(seconds: float, sr: int, channels: int = 1, seed: int = 0, f0: float | None = None) -> np.ndarray:
    """Harmonics of ``f0`` Hz (default 220 Hz, a little higher per ``seed``) with a slow tremolo and
    a little noise: music-like enough for every feature. float32, shape (round(seconds * sr), channels)."""
    rng = np.random.default_rng(seed)
    f0 = 220 * (1 + 0.01 * seed) if f0 is None else f0
    t = np.arange(int(round(seconds * sr))) / sr
    y = sum(0.2 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 5))
    y = y * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)) + 0.01 * rng.standard_normal(t.size)
    return np.stack([y * (1 - 0.2 * c) for c in range(channels)], axis=1).astype(np.float32)


def write_audio(path: Path, seconds: float = 2.0, sr: int = 22050, channels: int = 1, seed: int = 0,
                f0: float | None = None, silent: bool = False) -> Path:
    """Write ``tone(...)`` (zeros if ``silent``) to ``path`` in the format its extension names; returns ``path``."""
    fmt, subtype = FORMATS[path.suffix.lstrip(".")]
    y = tone(seconds, sr, channels, seed, f0)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros_like(y) if silent else y, sr, format=fmt, subtype=subtype)
    return path


# ---------------------------------------------------------------------------------------- FMA roots

class Track(NamedTuple):
    """One tracks.csv row as the builders take it."""

    track_id: int
    subset: str  # small / medium / large
    split: str  # training / validation / test
    genre_top: str | None
    genres: list[int]  # FMA genre ids (genres_all adds their parents)


TRACK_ROWS = [
    Track(2, "small", "training", "Hip-Hop", [21]),
    Track(3, "medium", "training", "Hip-Hop", [21]),
    Track(5, "small", "test", "Hip-Hop", [21]),
    Track(10, "small", "training", "Pop", [10]),
    Track(20, "large", "training", None, [76, 103]),
    Track(26, "medium", "validation", None, [76, 103]),
    Track(134, "small", "validation", "Hip-Hop", [21]),
    Track(140, "small", "training", "Folk", [17]),
    Track(141, "small", "test", "Folk", [17]),
    Track(148, "large", "validation", "Experimental", [1, 38]),
    Track(1000, "medium", "training", "Rock", [12, 25]),
    Track(1001, "large", "test", "Rock", [25]),
    Track(99134, "small", "training", "Pop", [10]),
]


def genre_rows(n_per_genre: int, genres: dict[str, int] = GENRES) -> list[Track]:
    """``n_per_genre`` tracks per genre (ids 1000, 1001, ... for the first genre, 2000, ... for the next);
    every 5th track is medium, the rest small; per genre 20 % test, 10 % validation, 70 % training."""
    rows = []
    for g, (genre, genre_id) in enumerate(genres.items()):
        for i in range(n_per_genre):
            split = "test" if i % 5 == 0 else "validation" if i % 10 == 1 else "training"
            subset = "medium" if i % 5 == 4 else "small"
            rows.append(Track(1000 * (g + 1) + i, subset, split, genre, [genre_id]))
    return rows


def simple_rows(track_ids, genre: str = "Rock", genre_id: int = 12, subset: str = "small",
                split: str = "training") -> list[Track]:
    """The same genre, subset and split for every track id."""
    return [Track(int(tid), subset, split, genre, [genre_id]) for tid in track_ids]


def tracks_frame(rows: list[Track] = TRACK_ROWS) -> pd.DataFrame:
    """A tracks frame with all 52 columns filled the way FMA fills them (quotes, commas, newlines, gaps)."""
    n = len(rows)
    parents = pd.read_csv(GENRES_CSV, index_col=0)["parent"].to_dict()
    data = {c: [np.nan] * n for c in fma.TRACKS_COLUMNS}
    data["set", "subset"] = [r.subset for r in rows]
    data["set", "split"] = [r.split for r in rows]
    data["track", "genre_top"] = [r.genre_top or np.nan for r in rows]
    data["track", "genres"] = [list(r.genres) for r in rows]
    data["track", "genres_all"] = [_with_ancestors(r.genres, parents) for r in rows]
    data["track", "tags"] = [["dub", "rock 'n' roll, live"] if i % 3 == 0 else [] for i in range(n)]
    data["album", "tags"] = [[] for _ in range(n)]
    data["artist", "tags"] = [['say "hi"', "awol"] if i % 2 else [] for i in range(n)]
    data["track", "title"] = [f"Track {i}, take {i}" for i in range(n)]
    data["track", "bit_rate"] = [256000 if i % 2 else 320000 for i in range(n)]
    data["track", "duration"] = [30 + 10 * i for i in range(n)]
    data["track", "listens"] = [100 * i for i in range(n)]
    data["track", "license"] = ["Attribution-NonCommercial-ShareAlike 3.0 International" if i % 2
                                else "Attribution" for i in range(n)]
    data["track", "date_created"] = [f"2008-11-{(i % 28) + 1:02d} 01:48:12" for i in range(n)]
    data["track", "date_recorded"] = ["2008-11-26 00:00:00" if i == 0 else np.nan for i in range(n)]
    data["track", "interest"] = [float(i) * 1.5 for i in range(n)]
    data["album", "id"] = [1 + i // 2 for i in range(n)]
    data["album", "title"] = [f"Album {1 + i // 2}" for i in range(n)]
    data["album", "type"] = ["Album" if i % 3 else "Single Tracks" for i in range(n)]
    data["album", "date_released"] = ["2009-01-05 00:00:00" if i % 2 else np.nan for i in range(n)]
    data["artist", "id"] = [1 + i // 3 for i in range(n)]
    data["artist", "name"] = [f"Artist {1 + i // 3}" for i in range(n)]
    data["artist", "bio"] = ["<p>Line one,\nline \"two\"</p>" if i % 4 == 0 else np.nan for i in range(n)]
    data["artist", "latitude"] = [40.7 if i % 2 else np.nan for i in range(n)]
    data["artist", "active_year_begin"] = ["1990-01-01 00:00:00" if i % 5 == 0 else np.nan for i in range(n)]
    frame = pd.DataFrame(data, index=pd.Index([r.track_id for r in rows], name="track_id"))
    frame.columns = pd.MultiIndex.from_tuples(fma.TRACKS_COLUMNS)
    return frame


def features_frame(tracks: pd.DataFrame, seed: int = 0, signal: float = 0.6) -> pd.DataFrame:
    """FMA's 518 feature columns for the rows of ``tracks``: a centre per genre_top (normal, sd
    ``signal``) plus unit noise, float32. Tracks without a genre_top share one centre."""
    rng = np.random.default_rng(seed)
    genres = tracks["track", "genre_top"].fillna("").astype(str).to_numpy()
    centres = {g: rng.normal(scale=signal, size=len(fma.FEATURE_COLUMNS)) for g in sorted(set(genres))}
    values = np.stack([centres[g] for g in genres]) + rng.normal(size=(len(genres), len(fma.FEATURE_COLUMNS)))
    return pd.DataFrame(values.astype(np.float32), index=tracks.index, columns=fma.FEATURE_COLUMNS)


ECHONEST_CSV = (
    ",echonest,echonest,echonest\n"
    ",audio_features,audio_features,metadata\n"
    ",acousticness,danceability,artist_name\n"
    "track_id,,,\n"
    "2,0.41,0.67,AWOL\n"
    "3,0.37,0.52,\"Name, Jr\"\n"
)


def build_fma_root(root: Path, rows: list[Track] = TRACK_ROWS, *, audio: dict | None = None,
                   features: bool | pd.DataFrame = True, echonest: bool = True,
                   info: dict | None = None) -> Path:
    """Write a dataset root in FMA's layout at ``root`` and return it.

    rows: the tracks of tracks.csv. audio: ``{track_id: content}``, a file per track in the folder of
    its subset (``fma_small/NNN/NNNNNN.mp3`` for a small track): ``content`` is seconds of stereo
    ``tone`` at 22,050 Hz (seeded by the track id), or raw bytes (``b""`` for an empty file).
    features: a features.csv from ``features_frame`` (True), none (False), or the frame to write.
    echonest: write the small echonest.csv. info: written as dataset.json when given.
    """
    meta = root / fma.METADATA_DIR
    meta.mkdir(parents=True, exist_ok=True)
    tracks = tracks_frame(rows)
    fma.write_tracks(tracks, meta / "tracks.csv")
    (meta / "genres.csv").write_bytes(GENRES_CSV.read_bytes())
    if features is not False:
        fma.write_features(features_frame(tracks) if features is True else features, meta / "features.csv")
    if echonest:
        (meta / "echonest.csv").write_text(ECHONEST_CSV)
    if info is not None:
        (root / "dataset.json").write_text(json.dumps(info))
    subsets = {r.track_id: r.subset for r in rows}
    for track_id, content in (audio or {}).items():
        path = audio_path(root, track_id, f"fma_{subsets[track_id]}")
        if isinstance(content, bytes):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        else:
            write_audio(path, seconds=content, sr=22050, channels=2, seed=track_id)
    return root


def audio_path(root: Path, track_id: int, folder: str = "fma_small", ext: str = ".mp3") -> Path:
    """Where FMA keeps a track's audio: ``ROOT/<folder>/NNN/NNNNNN<ext>``."""
    name = f"{track_id:06d}"
    return root / folder / name[:3] / f"{name}{ext}"


def _with_ancestors(genre_ids: list[int], parents: dict[int, int]) -> list[int]:
    """FMA's ``genres_all``: the genres and all their parents, sorted."""
    found = set()
    for genre_id in genre_ids:
        while genre_id:
            found.add(genre_id)
            genre_id = parents[genre_id]
    return sorted(found)
