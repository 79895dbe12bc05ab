"""An FMA-size metadata root whose features a model can learn, for the study's scale benchmarks.

FMA's layout and proportions: 106,574 tracks in ``tracks.csv`` (all 52 columns), ``genres.csv`` (FMA's
own table), and ``features.csv`` with 518 columns for every track (about 0.9 GB). The subsets nest as in
FMA: small is 8 genres x 1,000 tracks, medium 25,000 tracks over 16 genres, large adds 24,598 more with a
``genre_top`` (49,598 in all) and 57,000 without one. Genre counts follow FMA's (Rock and Electronic
common, Easy Listening rare). Artists hold about 6 tracks each, one genre each, and sit in one split
(80/10/10), as FMA's artist-filtered split does.

Features: per genre a direction in feature space, per artist an offset around it (tracks of an artist
resemble each other more than their genre, as on FMA), per track noise; each column then gets its own
scale and offset, like FMA's statistics. ``signal`` sets how far genres lie apart; the default gives a
16-genre MLP in the 50-65 % range, about FMA's.

    python bench/fma_size_root.py DIR [--signal 0.11] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_data import synthetic_tracks
from core.data import fma

TRACKS = 106_574
#: genre_top → (genre id, tracks in medium, tracks in large): FMA's counts (medium's sum to 25,000).
GENRES = {"Rock": (12, 7103, 14182), "Electronic": (15, 6314, 9372), "Experimental": (38, 2251, 10608),
          "Hip-Hop": (21, 2201, 3552), "Folk": (17, 1519, 2803), "Instrumental": (1235, 1350, 2079),
          "Pop": (10, 1186, 2332), "International": (2, 1018, 1389), "Classical": (5, 619, 1230),
          "Old-Time / Historic": (8, 510, 554), "Jazz": (4, 384, 571), "Country": (9, 178, 194),
          "Soul-RnB": (14, 154, 175), "Spoken": (20, 118, 423), "Blues": (3, 74, 110),
          "Easy Listening": (13, 21, 24)}
SMALL_GENRES = ("Electronic", "Experimental", "Folk", "Hip-Hop", "Instrumental", "International", "Pop", "Rock")


def tracks_per_genre() -> list[tuple[str, str]]:
    """(genre_top or "", subset) per track: FMA's nested subsets and genre counts."""
    rows = []
    for genre, (_, medium, large) in GENRES.items():
        small = 1000 if genre in SMALL_GENRES else 0
        rows += [(genre, "small")] * small + [(genre, "medium")] * (medium - small)
        rows += [(genre, "large")] * (large - medium)
    return rows + [("", "large")] * (TRACKS - len(rows))


def build(root: Path, signal: float = 0.11, seed: int = 0) -> dict:
    """Write the root's three metadata files and its dataset.json (synthetic); returns counts for the
    benchmark's record."""
    rng = np.random.default_rng(seed)
    meta = root / fma.METADATA_DIR
    meta.mkdir(parents=True, exist_ok=True)
    shutil.copy(fma.GENRE_TABLE, meta / "genres.csv")
    rows = tracks_per_genre()
    rng.shuffle(rows)
    genre_top = np.array([g for g, _ in rows], dtype=object)
    subset = np.array([s for _, s in rows])
    # artists: consecutive runs of about 6 tracks of one genre and subset
    order = np.lexsort((subset, genre_top))
    g, s = genre_top[order], subset[order]
    starts = rng.random(TRACKS) < 1 / 6  # a new artist every 6 tracks on average...
    starts[0] = True
    starts[1:] |= (g[1:] != g[:-1]) | (s[1:] != s[:-1])  # ...and at every change of genre or subset
    artist = np.empty(TRACKS, dtype=np.int64)
    artist[order] = np.cumsum(starts) - 1
    n_artists = int(artist.max()) + 1
    artist_split = rng.choice(["training", "validation", "test"], size=n_artists, p=[0.8, 0.1, 0.1])

    tracks = synthetic_tracks(TRACKS, rng)
    genre_ids = {g: gid for g, (gid, _, _) in GENRES.items()}
    no_genre = rng.choice(list(genre_ids.values()), size=TRACKS)  # tracks without genre_top still have genres
    tracks["set", "subset"] = pd.Categorical(subset, categories=["small", "medium", "large"], ordered=True)
    tracks["set", "split"] = artist_split[artist]
    tracks["track", "genre_top"] = np.where(genre_top == "", None, genre_top)
    tracks["track", "genres"] = [[genre_ids[g]] if g else [int(n)] for g, n in zip(genre_top, no_genre)]
    tracks["track", "genres_all"] = tracks["track", "genres"]
    tracks["artist", "id"] = artist
    tracks["artist", "name"] = [f"Artist {a}" for a in artist]
    fma.write_tracks(tracks, meta / "tracks.csv")

    d = len(fma.FEATURE_COLUMNS)
    labels = np.array([list(GENRES).index(g) if g else rng.integers(len(GENRES)) for g in genre_top])
    centres = rng.normal(size=(len(GENRES), d))
    artist_offset = rng.normal(scale=0.6 * signal, size=(n_artists, d)).astype(np.float32)
    X = rng.normal(size=(TRACKS, d)).astype(np.float32)
    X += (signal * centres[labels]).astype(np.float32) + artist_offset[artist]
    X = X * np.exp(rng.normal(size=d)).astype(np.float32) + rng.normal(scale=3, size=d).astype(np.float32)
    features = pd.DataFrame(X, index=pd.Index(tracks.index.to_numpy(), name="track_id"),
                            columns=fma.FEATURE_COLUMNS)
    fma.write_features(features, meta / "features.csv")
    # generated numbers, not FMA's: every run, page and report on this root says so
    info = {"name": root.name, "synthetic": True, "generator": "bench/fma_size_root.py", "signal": signal, "seed": seed}
    (root / "dataset.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return {"tracks": TRACKS, "with_genre_top": int((genre_top != "").sum()), "artists": n_artists,
            "signal": signal, "seed": seed,
            "features_csv_mib": round((meta / "features.csv").stat().st_size / 2**20)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--signal", type=float, default=0.11)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(build(args.root, args.signal, args.seed))
