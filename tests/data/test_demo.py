"""The demo generator: FMA's formats, real genre rows, nested tiers, artist-safe splits, determinism."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import stat

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from core.data import fma
from core.demo import build as demo
from core.demo import tracks as demo_tracks
from core.data.selection import select
from core.errors import GenreLabError

TRACKS_PER_GENRE = 5
CLIP_SECONDS = 2.0
SEED = 3


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A tiny demo build (40 clips of 2 s) shared by the read-only tests."""
    return demo.build_demo(tmp_path_factory.mktemp("demo") / "demo", TRACKS_PER_GENRE, SEED,
                           clip_seconds=CLIP_SECONDS, workers=1)


@pytest.fixture(scope="module")
def tracks(root):
    return fma.load_tracks(root)


def test_tracks_csv_has_fmas_header_and_52_columns(root, tracks):
    with open(root / "fma_metadata" / "tracks.csv", newline="") as f:
        header = [row for _, row in zip(range(3), csv.reader(f))]
    assert list(zip(header[0][1:], header[1][1:])) == fma.TRACKS_COLUMNS
    assert header[2][0] == "track_id" and set(header[2][1:]) == {""}
    assert list(tracks.columns) == fma.TRACKS_COLUMNS
    assert len(tracks) == TRACKS_PER_GENRE * len(demo.STYLES)
    assert tracks["track", "genre_top"].value_counts().to_dict() == {g: TRACKS_PER_GENRE for g in demo.STYLES}
    assert (tracks["track", "duration"] == CLIP_SECONDS).all()
    assert (tracks["track", "bit_rate"] > 8000).all()  # measured on the encoded clips
    assert tracks["track", "date_created"].notna().all()
    assert tracks["artist", "name"].notna().all() and tracks["track", "title"].notna().all()


def test_genre_lists_use_real_fma_ids_and_ancestors(tracks):
    table = pd.read_csv(fma.GENRE_TABLE, index_col=0)
    for _, row in tracks.iterrows():
        genres, genres_all = row["track", "genres"], row["track", "genres_all"]
        assert genres and set(genres) <= set(genres_all)
        top_id = int(table.index[table["title"] == row["track", "genre_top"]][0])
        assert top_id in genres_all
        for genre_id in genres_all:  # every listed genre sits under the track's top genre
            assert table.loc[genre_id, "top_level"] == top_id


def test_genre_rows_come_from_the_real_table(root, tracks):
    genres = fma.load_genres(root)
    table = pd.read_csv(fma.GENRE_TABLE, index_col=0)
    columns = ["parent", "title", "top_level"]
    pd.testing.assert_frame_equal(genres[columns], table.loc[genres.index, columns])
    used = pd.Series([g for ids in tracks["track", "genres_all"] for g in ids]).value_counts()
    assert genres["#tracks"].to_dict() == used.sort_index().to_dict()


def test_tiers_nest_and_tier_folders_hold_their_whole_tier(root, tracks):
    subset = tracks["set", "subset"]
    order = list(fma.SUBSETS)
    for track_id, tier in subset.items():
        name = f"{track_id:06d}"
        for folder in order:
            clip = root / f"fma_{folder}" / name[:3] / f"{name}.mp3"
            assert clip.exists() == (order.index(folder) >= order.index(tier)), (track_id, tier, folder)
        assert fma.audio_path(root, track_id).parent.parent.name == f"fma_{tier}"
    sizes = {tier: len(select(root, subset=tier)) for tier in order}
    assert sizes["small"] < sizes["medium"] < sizes["large"] == len(tracks)
    assert set(select(root, size="8k").labels) == set(demo.STYLES)


def test_plan_splits_by_artist_with_fmas_proportions():
    tracks, styles = demo.plan_dataset(50, seed=1)
    assert set(styles) == set(tracks.index)
    split = tracks["set", "split"].astype(str)
    assert (split.groupby(tracks["artist", "id"]).nunique() == 1).all()  # no artist in two splits
    assert tracks["artist", "id"].value_counts().max() > 1  # several tracks per artist
    for genre, group in tracks.groupby(("track", "genre_top")):
        shares = group["set", "split"].astype(str).value_counts(normalize=True)
        assert shares["training"] == pytest.approx(0.8, abs=0.04), genre
        assert shares["validation"] == pytest.approx(0.1, abs=0.04), genre
        assert shares["test"] == pytest.approx(0.1, abs=0.04), genre
        cumulative = group["set", "subset"].astype(str).value_counts(normalize=True)
        assert cumulative["small"] == pytest.approx(0.4, abs=0.05), genre
        assert cumulative["small"] + cumulative["medium"] == pytest.approx(0.7, abs=0.05), genre
    small = tracks[tracks["set", "subset"] == "small"]["set", "split"].astype(str)
    assert small.value_counts(normalize=True)["training"] == pytest.approx(0.8, abs=0.05)


@pytest.mark.parametrize("tracks_per_genre", [1, 2, 4])
def test_tiny_plans_still_have_every_genre_in_small_and_a_test_split(tracks_per_genre):
    tracks, _ = demo.plan_dataset(tracks_per_genre, seed=0)
    small = tracks[tracks["set", "subset"] == "small"]
    assert set(small["track", "genre_top"]) == set(demo.STYLES)
    assert set(tracks["set", "split"].astype(str)) == {"training", "validation", "test"}


def test_same_seed_gives_identical_files_whatever_the_workers(root, tmp_path):
    again = demo.build_demo(tmp_path / "again", TRACKS_PER_GENRE, SEED, clip_seconds=CLIP_SECONDS, workers=2)
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts)
    assert files == sorted(p.relative_to(again) for p in again.rglob("*")
                           if p.is_file() and ".cache" not in p.parts)
    for name in files:  # CSVs, dataset.json and MP3 bytes (libsndfile's LAME encodes deterministically)
        assert (root / name).read_bytes() == (again / name).read_bytes(), name
    tracks, styles = demo.plan_dataset(TRACKS_PER_GENRE, SEED + 1)
    assert not tracks.drop(columns=[("track", "bit_rate")]).equals(
        demo.plan_dataset(TRACKS_PER_GENRE, SEED)[0].drop(columns=[("track", "bit_rate")]))
    track_id = int(tracks.index[0])
    assert not np.array_equal(demo.render_clip(track_id, styles[track_id], SEED + 1, 1.0),
                              demo.render_clip(track_id, styles[track_id], SEED, 1.0))


def test_clips_decode_to_their_length_and_sound(root, tracks):
    for track_id in tracks.index[:8]:
        y, sr = sf.read(fma.audio_path(root, track_id), dtype="float32")
        assert sr == demo.SAMPLE_RATE and y.ndim == 1
        assert len(y) == pytest.approx(CLIP_SECONDS * sr, abs=1)
        assert 0.01 < np.abs(y).max() <= 1.0


def test_a_full_length_clip_decodes_to_30_seconds(tmp_path):
    tracks, styles = demo.plan_dataset(1, seed=0)
    track_id = int(tracks.index[0])
    path = tmp_path / "clip.mp3"
    demo._write_clip((track_id, styles[track_id], 0, demo.CLIP_SECONDS, path))
    info = sf.info(path)
    assert info.samplerate == demo.SAMPLE_RATE
    assert info.frames / info.samplerate == pytest.approx(30.0, abs=1 / demo.SAMPLE_RATE)


def test_dataset_json_marks_the_root_synthetic(root):
    stored = json.loads((root / "dataset.json").read_text())
    assert stored["synthetic"] is True and stored["name"] == "demo"
    assert stored["seed"] == SEED and stored["tracks_per_genre"] == TRACKS_PER_GENRE
    assert "synthetic" in stored["description"].lower()
    assert fma.dataset_info(root)["synthetic"] is True
    assert select(root).synthetic is True


def test_rerun_keeps_finished_files_and_new_arguments_rebuild(tmp_path):
    dest = tmp_path / "demo"
    demo.build_demo(dest, 2, 0, clip_seconds=1.0, workers=1)
    before = {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()}
    clip = next(p for p in before if p.suffix == ".mp3")
    clip.unlink()  # as if the first build had been interrupted
    demo.build_demo(dest, 2, 0, clip_seconds=1.0, workers=1)
    assert clip.exists()
    after = {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()}
    kept = [p for p in before if p != clip]
    assert all(after[p] == before[p] for p in kept)  # clips and unchanged CSVs were not rewritten

    (dest / "fma_metadata" / "features.csv").write_text("derived from the old clips\n")
    demo.build_demo(dest, 3, 0, clip_seconds=1.0, workers=1)
    assert not (dest / "fma_metadata" / "features.csv").exists()
    assert len(fma.load_tracks(dest)) == 3 * len(demo.STYLES)
    assert len(list((dest / "fma_large").rglob("*.mp3"))) == 3 * len(demo.STYLES)


def test_a_build_of_some_genres_holds_only_those(tmp_path):
    root = demo.build_demo(tmp_path / "d", 3, 0, clip_seconds=1.0, genres=["Rock", "Pop"], workers=1)
    tracks = fma.load_tracks(root)
    assert sorted(tracks["track", "genre_top"].unique()) == ["Pop", "Rock"]
    assert len(tracks) == 6 and len(list((root / "fma_large").rglob("*.mp3"))) == 6
    assert fma.dataset_info(root)["genres"] == ["Rock", "Pop"]


def test_refuses_a_folder_that_is_not_a_demo_build(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(GenreLabError, match="not a demo dataset"):
        demo.build_demo(tmp_path, 2, 0, clip_seconds=1.0, workers=1)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize("kwargs, message", [
    ({"tracks_per_genre": 0}, "tracks-per-genre"),
    ({"tracks_per_genre": 2.5}, "tracks-per-genre"),
    ({"seed": -1}, "seed"),
    ({"clip_seconds": 0}, "clip_seconds"),
    ({"genres": ["Pop", "Polka"]}, "genres"),
    ({"genres": ["Pop", "Pop"]}, "genres"),
])
def test_bad_arguments_raise_one_line_errors(tmp_path, kwargs, message):
    args = {"tracks_per_genre": 2, "seed": 0, "clip_seconds": 1.0, **kwargs}
    with pytest.raises(GenreLabError, match=message) as err:
        demo.build_demo(tmp_path / "d", workers=1, **args)
    assert "\n" not in str(err.value)


def test_the_plan_is_frozen_for_this_generator_version(tmp_path):
    """tracks.csv of a plan, byte for byte as the generator wrote it before it was split into modules:
    a change here must bump GENERATOR_VERSION (a rebuild then replaces older builds' clips)."""
    assert demo.GENERATOR_VERSION == 1
    fma.write_tracks(demo.plan_dataset(2, seed=0)[0], tmp_path / "tracks.csv")
    digest = hashlib.sha256((tmp_path / "tracks.csv").read_bytes()).hexdigest()
    assert digest == "9c663c6d62b4080a4bf8c37f3c70e51b3b4db41b16acd7055219feb7823ed244"


def test_files_get_the_users_umask_permissions(root):
    umask = os.umask(0)
    os.umask(umask)
    for path in (root / "dataset.json", root / "fma_metadata" / "tracks.csv", next(root.rglob("*.mp3"))):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
