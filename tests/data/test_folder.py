"""Importing a folder-per-genre collection into FMA's layout."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.data import fma
from core.data.folder import import_folder
from core.data.selection import select
from core.errors import GenreLabError

REAL_MAX_GENRE_ID = int(pd.read_csv(fma.GENRE_TABLE, index_col=0).index.max())


def make_collection(src, layout: dict[str, list[str]]):
    for genre, names in layout.items():
        for name in names:
            path = src / genre / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"audio of {genre}/{name}".encode())
    return src


@pytest.fixture
def collection(tmp_path):
    return make_collection(tmp_path / "music", {
        "rock": [f"song{i:02d}.mp3" for i in range(10)],
        "Hip-Hop": ["a.wav", "b.FLAC", "c.ogg", "live/d.opus", "e.aiff", "notes.txt"],
        "Vaporwave": ["x.mp3", "y.aif"],
        "empty": ["readme.md"],
        ".hidden": ["z.mp3"],
    })


def test_import_builds_an_fma_root(collection, tmp_path):
    dest = import_folder(collection, tmp_path / "mine", seed=3)
    genres = fma.load_genres(dest)
    assert genres.loc[12, "title"] == "Rock" and genres.loc[21, "title"] == "Hip-Hop"
    new_id = REAL_MAX_GENRE_ID + 1
    assert genres.loc[new_id, "title"] == "Vaporwave"
    assert genres["#tracks"].to_dict() == {12: 10, 21: 5, new_id: 2}
    assert (genres["parent"] == 0).all() and (genres["top_level"] == genres.index).all()

    tracks = fma.load_tracks(dest)  # validates header, genres and ids
    assert tracks.columns.tolist() == fma.TRACKS_COLUMNS
    assert tracks.index.tolist() == list(range(1, 18))
    assert tracks["track", "genre_top"].value_counts().to_dict() == {"Rock": 10, "Hip-Hop": 5, "Vaporwave": 2}
    assert (tracks["set", "subset"] == "small").all()
    rock = tracks[tracks["track", "genre_top"] == "Rock"]
    assert rock["set", "split"].value_counts().to_dict() == {"training": 8, "validation": 1, "test": 1}
    assert rock["track", "genres"].tolist() == [[12]] * 10
    vaporwave = tracks[tracks["track", "genre_top"] == "Vaporwave"]
    assert (vaporwave["set", "split"] == "training").all()  # too few tracks to hold any out
    assert sorted(tracks["track", "title"].tolist())[:3] == ["a", "b", "c"]


def test_audio_is_linked_with_its_extension(collection, tmp_path):
    dest = import_folder(collection, tmp_path / "mine")
    chosen = select(dest, require_audio=True, feature_version="v1")
    assert len(chosen) == 17 and not chosen.warnings
    suffixes = sorted(p.suffix for p in chosen.paths)
    assert suffixes.count(".mp3") == 11 and ".flac" in suffixes and ".opus" in suffixes and ".aif" in suffixes
    for path in chosen.paths:
        assert path.parent.parent.name == "fma_full" and path.is_symlink()
        assert path.resolve().is_relative_to(collection)
    first = fma.audio_path(dest, 1)
    assert first.read_bytes() == b"audio of Hip-Hop/a.wav"
    info = fma.dataset_info(dest)
    assert info["synthetic"] is False and info["source"] == "folder" and info["name"] == "mine"
    assert info["source_path"] == str(collection.resolve()) and info["audio"] == "symlinked"


def test_copy_mode_copies(collection, tmp_path):
    dest = import_folder(collection, tmp_path / "copied", copy=True)
    path = fma.audio_path(dest, 17)
    assert not path.is_symlink() and path.read_bytes() == b"audio of rock/song09.mp3"
    assert json.loads((dest / "dataset.json").read_text())["audio"] == "copied"


def test_split_depends_on_seed_only(collection, tmp_path):
    def splits(name, seed):
        return fma.load_tracks(import_folder(collection, tmp_path / name, seed=seed))["set", "split"].tolist()

    assert splits("a", 0) == splits("b", 0)
    assert splits("c", 1) != splits("d", 0)


def test_import_errors(collection, tmp_path):
    with pytest.raises(GenreLabError, match="not a folder"):
        import_folder(tmp_path / "nowhere", tmp_path / "d")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "song.mp3").write_bytes(b"x")
    with pytest.raises(GenreLabError, match="no genre folders with audio files"):
        import_folder(tmp_path / "flat", tmp_path / "d")
    import_folder(collection, tmp_path / "once")
    with pytest.raises(GenreLabError, match="tracks.csv: already exists"):
        import_folder(collection, tmp_path / "once")


def test_case_clash_between_folders(tmp_path):
    src = make_collection(tmp_path / "m", {"Rock": ["a.mp3"], "ROCK": ["b.mp3"]})
    with pytest.raises(GenreLabError, match="two genre folders both name genre 'Rock'"):
        import_folder(src, tmp_path / "d")


def test_ids_above_real_ones_stay_unique(tmp_path):
    src = make_collection(tmp_path / "m", {"Zzz": ["a.mp3"], "Aaa": ["b.mp3"], "jazz": ["c.mp3"]})
    genres = fma.load_genres(import_folder(src, tmp_path / "d"))
    assert genres["title"].to_dict() == {4: "Jazz", REAL_MAX_GENRE_ID + 1: "Aaa", REAL_MAX_GENRE_ID + 2: "Zzz"}
    assert np.all(genres.index.to_numpy() > 0)


def test_artist_folders_keep_each_artist_in_one_split(tmp_path):
    layout = {genre: [f"{artist}/album/{i}.mp3" for artist in ("ann", "bob", "cy", "dee", "eve") for i in range(4)]
              for genre in ("Rock", "Pop")}
    layout["Rock"] += [f"loose{i}.mp3" for i in range(5)] + ["zed/one.mp3"]
    tracks = fma.load_tracks(import_folder(make_collection(tmp_path / "m", layout), tmp_path / "d", seed=1))
    named = tracks[tracks["artist", "name"].notna()]
    assert set(named["artist", "name"]) == {"ann", "bob", "cy", "dee", "eve", "zed"}
    for _, by_artist in named.groupby(("artist", "id")):
        assert by_artist["set", "split"].nunique() == 1 and by_artist["artist", "name"].nunique() == 1
    # an artist in two genre folders is one artist, in one split (here all five are in both genres)
    assert named.groupby(("artist", "name"))[[("artist", "id")]].nunique().max().item() == 1
    rock = tracks[tracks["track", "genre_top"] == "Rock"]
    assert rock["set", "split"].value_counts()["test"] >= round(0.1 * len(rock))
    loose = tracks[tracks["artist", "name"].isna()]
    assert loose["artist", "id"].is_unique and not set(loose["artist", "id"]) & set(named["artist", "id"])
    assert tracks["artist", "id"].notna().all()  # folds can be grouped by artist on any imported root


def test_only_fmas_own_roots_count_as_fma(collection, tmp_path):
    """The original study's reported figures are drawn beside FMA's own tracks only."""
    from tests.builders import build_fma_root, simple_rows

    imported = import_folder(collection, tmp_path / "mine")
    assert not fma.is_fma(fma.dataset_info(imported)) and select(imported).from_fma is False
    fma_root = build_fma_root(tmp_path / "fma", simple_rows([2, 3, 5]), features=False)
    assert fma.is_fma(fma.dataset_info(fma_root)) and select(fma_root).from_fma is True
    assert not fma.is_fma({"synthetic": True, "name": "demo"})
