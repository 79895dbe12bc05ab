"""A small FMA-format dataset root for the study tests: tracks.csv, genres.csv and a features.csv
whose 518 columns depend on the genre (a learnable signal) plus noise.

3 genres (Hip-Hop, Pop, Rock); subsets small and medium; the three official splits.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import fma
from core.features.fma_features import FEATURE_COLUMNS

GENRES = {"Hip-Hop": 21, "Pop": 10, "Rock": 12}
GENRES_CSV = Path(fma.__file__).with_name("fma_genres.csv")


def tracks_frame(n_per_genre: int, genres: dict[str, int] = GENRES) -> pd.DataFrame:
    """n_per_genre tracks per genre; every 5th is medium; splits 70/10/20 % per genre."""
    rows = []
    for g, (genre, genre_id) in enumerate(genres.items()):
        for i in range(n_per_genre):
            split = "test" if i % 5 == 0 else "validation" if i % 10 == 1 else "training"
            subset = "medium" if i % 5 == 4 else "small"
            rows.append((1000 * (g + 1) + i, subset, split, genre, [genre_id]))
    data = {c: [np.nan] * len(rows) for c in fma.TRACKS_COLUMNS}
    data["set", "subset"] = [r[1] for r in rows]
    data["set", "split"] = [r[2] for r in rows]
    data["track", "genre_top"] = [r[3] for r in rows]
    data["track", "genres"] = [r[4] for r in rows]
    data["track", "genres_all"] = [r[4] for r in rows]
    for column in (("track", "tags"), ("album", "tags"), ("artist", "tags")):
        data[column] = [[] for _ in rows]
    data["track", "title"] = [f"Track {r[0]}" for r in rows]
    data["artist", "name"] = [f"Artist {r[0] % 7}" for r in rows]
    data["track", "duration"] = [30] * len(rows)
    frame = pd.DataFrame(data, index=pd.Index([r[0] for r in rows], name="track_id"))
    frame.columns = pd.MultiIndex.from_tuples(fma.TRACKS_COLUMNS)
    return frame


def features_frame(tracks: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """518 FMA-named feature columns: a per-genre mean vector plus unit noise."""
    rng = np.random.default_rng(seed)
    genres = tracks["track", "genre_top"].astype(str).to_numpy()
    centres = {g: rng.normal(scale=0.6, size=len(FEATURE_COLUMNS)) for g in sorted(set(genres))}
    values = np.stack([centres[g] for g in genres]) + rng.normal(size=(len(genres), len(FEATURE_COLUMNS)))
    return pd.DataFrame(values.astype(np.float32), index=tracks.index, columns=FEATURE_COLUMNS)


def build_study_root(root: Path, n_per_genre: int = 20, genres: dict[str, int] = GENRES) -> Path:
    meta = root / fma.METADATA_DIR
    meta.mkdir(parents=True, exist_ok=True)
    tracks = tracks_frame(n_per_genre, genres)
    fma.write_tracks(tracks, meta / "tracks.csv")
    (meta / "genres.csv").write_bytes(GENRES_CSV.read_bytes())
    fma.write_features(features_frame(tracks), meta / "features.csv")
    return root


@pytest.fixture(scope="session")
def study_root(tmp_path_factory) -> Path:
    """Shared, read-only FMA root (60 tracks, 3 genres)."""
    return build_study_root(tmp_path_factory.mktemp("study") / "fma")


@pytest.fixture(scope="module")
def module_store(tmp_path_factory) -> str:
    """A fresh MLflow store shared by one test module (a study run is too slow to repeat per test)."""
    from core import tracking

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        yield tracking.configure()
