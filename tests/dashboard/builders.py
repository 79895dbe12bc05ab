"""The dashboard's dataset root: the demo generator's tracks in FMA's layout, tiny.

Study run trees are never faked here: ``tests/dashboard/studies.py`` runs tiny real studies through
the engine.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def tiny_root(dest: Path, tracks_per_genre: int = 6, clip_seconds: float = 1.5) -> Path:
    """A small synthetic root: the demo generator's tracks and short clips, every genre with 2 test
    and 1 validation track, and a features.csv whose 518 columns are random with a per-genre offset
    (so a classifier learns something in a few epochs)."""
    from core.data import fma
    from core.demo.build import build_demo
    from core.features.fma_features import features_frame

    root = build_demo(dest, tracks_per_genre=tracks_per_genre, seed=0, clip_seconds=clip_seconds, workers=1)
    tracks = fma.load_tracks(root)
    rank = tracks.groupby(("track", "genre_top"), observed=True).cumcount()
    split = np.where(rank < 2, "test", np.where(rank < 3, "validation", "training"))
    tracks[("set", "split")] = pd.Categorical(split, categories=list(fma.SPLITS))
    fma.write_tracks(tracks, fma.metadata_path(root, "tracks"))
    genres = sorted(tracks["track", "genre_top"].dropna().unique())
    rng = np.random.default_rng(0)
    rows = {}
    for track_id, genre in tracks["track", "genre_top"].items():
        vector = rng.normal(size=518).astype(np.float32)
        block = genres.index(genre) * 8  # 8 feature columns per genre carry its signal
        vector[block:block + 8] += 2.5
        rows[int(track_id)] = vector
    fma.write_features(features_frame(rows), fma.metadata_path(root, "features"))
    return root
