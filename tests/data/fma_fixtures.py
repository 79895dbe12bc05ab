"""Builders of a tiny FMA dataset root built in FMA's exact file layouts, with the real files' quirks.

tracks.csv: 2 header rows + a ``track_id`` row, all 52 columns, list cells written as Python reprs
(with quotes and commas inside), multi-line artist bios, tracks without a genre_top, all three subsets
and splits. genres.csv: the real FMA genre table. features.csv: 3 header rows + ``track_id``.
echonest.csv: 3 header rows + ``track_id``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from core.data import fma

GENRES_CSV = Path(fma.__file__).with_name("fma_genres.csv")
# (track_id, subset, split, genre_top or None, genre ids)
TRACK_ROWS = [
    (2, "small", "training", "Hip-Hop", [21]),
    (3, "medium", "training", "Hip-Hop", [21]),
    (5, "small", "test", "Hip-Hop", [21]),
    (10, "small", "training", "Pop", [10]),
    (20, "large", "training", None, [76, 103]),
    (26, "medium", "validation", None, [76, 103]),
    (134, "small", "validation", "Hip-Hop", [21]),
    (140, "small", "training", "Folk", [17]),
    (141, "small", "test", "Folk", [17]),
    (148, "large", "validation", "Experimental", [1, 38]),
    (1000, "medium", "training", "Rock", [12, 25]),
    (1001, "large", "test", "Rock", [25]),
    (99134, "small", "training", "Pop", [10]),
]


def tracks_frame(rows=TRACK_ROWS) -> pd.DataFrame:
    """A tracks frame with all 52 columns filled the way FMA fills them."""
    n = len(rows)
    ids = [r[0] for r in rows]
    data = {c: [np.nan] * n for c in fma.TRACKS_COLUMNS}
    data["set", "subset"] = [r[1] for r in rows]
    data["set", "split"] = [r[2] for r in rows]
    data["track", "genre_top"] = [r[3] if r[3] else np.nan for r in rows]
    data["track", "genres"] = [r[4] for r in rows]
    data["track", "genres_all"] = [sorted(set(r[4]) | {38} if 1 in r[4] else set(r[4])) for r in rows]
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
    frame = pd.DataFrame(data, index=pd.Index(ids, name="track_id"))
    frame.columns = pd.MultiIndex.from_tuples(fma.TRACKS_COLUMNS)
    return frame


def features_frame(track_ids, seed: int = 0) -> pd.DataFrame:
    columns = pd.MultiIndex.from_tuples(
        [("chroma_cens", "kurtosis", "01"), ("chroma_cens", "kurtosis", "02"), ("mfcc", "mean", "01"),
         ("zcr", "std", "01")], names=fma.FEATURES_LEVELS)
    values = np.random.default_rng(seed).normal(size=(len(track_ids), len(columns))).astype(np.float32)
    return pd.DataFrame(values, index=pd.Index(track_ids, name="track_id"), columns=columns)


ECHONEST_HEADER = (
    ",echonest,echonest,echonest\n"
    ",audio_features,audio_features,metadata\n"
    ",acousticness,danceability,artist_name\n"
    "track_id,,,\n"
)


def build_fma_root(root: Path, rows=TRACK_ROWS, audio: dict[int, str] | None = None) -> Path:
    """Write a complete FMA-layout dataset root; ``audio`` maps track id → audio folder to create a file in."""
    meta = root / fma.METADATA_DIR
    meta.mkdir(parents=True, exist_ok=True)
    fma.write_tracks(tracks_frame(rows), meta / "tracks.csv")
    (meta / "genres.csv").write_bytes(GENRES_CSV.read_bytes())
    fma.write_features(features_frame([r[0] for r in rows]), meta / "features.csv")
    (meta / "echonest.csv").write_text(ECHONEST_HEADER + "2,0.41,0.67,AWOL\n3,0.37,0.52,\"Name, Jr\"\n")
    for track_id, folder in (audio or {}).items():
        path = root / folder / f"{track_id:06d}"[:3] / f"{track_id:06d}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"ID3")
    return root
