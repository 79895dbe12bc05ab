"""Reading and writing FMA's metadata files: layouts, dtypes, parquet cache, audio paths."""
from __future__ import annotations

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from core.data import fma
from tests.builders import GENRES_CSV, TRACK_ROWS, build_fma_root

# FMA's real tracks.csv header and its first data row (track 2), typed out independently of the code.
REAL_HEADER = (
    ",album,album,album,album,album,album,album,album,album,album,album,album,album,artist,artist,artist,"
    "artist,artist,artist,artist,artist,artist,artist,artist,artist,artist,artist,artist,artist,artist,set,set,"
    "track,track,track,track,track,track,track,track,track,track,track,track,track,track,track,track,track,"
    "track,track,track\n"
    ",comments,date_created,date_released,engineer,favorites,id,information,listens,producer,tags,title,"
    "tracks,type,active_year_begin,active_year_end,associated_labels,bio,comments,date_created,favorites,id,"
    "latitude,location,longitude,members,name,related_projects,tags,website,wikipedia_page,split,subset,"
    "bit_rate,comments,composer,date_created,date_recorded,duration,favorites,genre_top,genres,genres_all,"
    "information,interest,language_code,license,listens,lyricist,number,publisher,tags,title\n"
    "track_id" + "," * 52 + "\n"
)
REAL_ROW_2 = (
    '2,0,2008-11-26 01:44:45,2009-01-05 00:00:00,,4,1,<p></p>,6073,,[],AWOL - A Way Of Life,7,Album,'
    '2006-01-01 00:00:00,,,"<p>A Way Of Life, A Collective of Hip-Hop from different backgrounds,\n'
    'all in one place.</p>",0,2008-11-26 01:42:32,9,1,40.058324,New Jersey,-74.405661,'
    '"Sajje Morocco,Brownbum,ZawidaGod,Custodian of Records,Sajje Morocco, Tha Snake",AWOL,'
    '"The list of past projects, present projects",[\'awol\'],http://www.AzillionRecords.blogspot.com,,'
    'training,small,256000,0,,2008-11-26 01:48:12,2008-11-26 00:00:00,168,2,Hip-Hop,[21],[21],,4656,en,'
    'Attribution-NonCommercial-ShareAlike 3.0 International,1293,,3,,[],Food\n'
)
REAL_ROW_20 = (  # a track without a genre_top, in the large subset
    "20,0,2008-11-26 01:45:08,2009-01-06 00:00:00,,2,4,,1,,[],Niris,2,Album,,,,,0,2008-11-26 01:42:52,"
    "10,6,,,,,Nicky Cook,,[],,,training,large,256000,0,,2008-11-26 01:48:56,,311,0,,\"[76, 103]\","
    "\"[17, 10, 76, 103]\",,184,en,Attribution-NonCommercial-NoDerivatives (aka Music Sharing) 3.0 "
    "International,114,,3,,[],Spiritual Level\n"
)


def write_real_root(root):
    meta = root / fma.METADATA_DIR
    meta.mkdir(parents=True)
    (meta / "tracks.csv").write_text(REAL_HEADER + REAL_ROW_2 + REAL_ROW_20)
    (meta / "genres.csv").write_bytes(GENRES_CSV.read_bytes())
    return root


def test_tracks_columns_are_fmas_52_in_order():
    assert len(fma.TRACKS_COLUMNS) == 52
    header0, header1 = REAL_HEADER.splitlines()[:2]
    assert list(zip(header0.split(",")[1:], header1.split(",")[1:])) == fma.TRACKS_COLUMNS


def test_reads_fmas_real_bytes_like_fma_utils_load(tmp_path):
    tracks = fma.load_tracks(write_real_root(tmp_path))
    assert tracks.index.tolist() == [2, 20] and tracks.index.name == "track_id"
    assert tracks.columns.tolist() == fma.TRACKS_COLUMNS
    assert tracks.loc[2, ("track", "genre_top")] == "Hip-Hop"
    assert pd.isna(tracks.loc[20, ("track", "genre_top")])
    assert tracks.loc[20, ("track", "genres_all")] == [17, 10, 76, 103]
    assert tracks.loc[2, ("artist", "tags")] == ["awol"]
    assert tracks.loc[2, ("track", "listens")] == 1293
    assert tracks.loc[2, ("track", "date_created")] == pd.Timestamp("2008-11-26 01:48:12")
    assert tracks.loc[2, ("artist", "bio")].endswith("all in one place.</p>")
    assert tracks["set", "subset"].tolist() == ["small", "large"]


def test_dtypes_and_category_order(fma_root):
    tracks = fma.load_tracks(fma_root)
    subset = tracks["set", "subset"]
    assert subset.dtype == pd.CategoricalDtype(["small", "medium", "large"], ordered=True)
    assert sorted(tracks.index[subset <= "medium"]) == sorted(r[0] for r in TRACK_ROWS if r[1] != "large")
    assert tracks["set", "split"].cat.categories.tolist() == ["training", "validation", "test"]
    for column in fma.CATEGORY_COLUMNS:
        assert isinstance(tracks[column].dtype, pd.CategoricalDtype), column
    for column in fma.DATE_COLUMNS:
        assert tracks[column].dtype == "datetime64[us]", column
    for column in fma.LIST_COLUMNS:
        assert all(isinstance(v, list) for v in tracks[column]), column
    assert tracks.loc[2, ("track", "tags")] == ["dub", "rock 'n' roll, live"]
    assert tracks.loc[3, ("artist", "tags")] == ['say "hi"', "awol"]
    assert tracks["track", "genre_top"].isna().sum() == 2
    assert tracks.loc[2, ("artist", "bio")] == '<p>Line one,\nline "two"</p>'
    assert tracks["track", "bit_rate"].dtype == np.int64


def test_parquet_cache_matches_csv_and_follows_csv_changes(fma_root):
    first = fma.load_tracks(fma_root)
    cache_dir = fma_root / fma.METADATA_DIR / ".cache"
    assert [p.name.split("-")[0] for p in cache_dir.glob("*.parquet")] == ["tracks"]
    cached = fma.load_tracks(fma_root)
    pd.testing.assert_frame_equal(first, cached)
    assert isinstance(cached.loc[2, ("track", "genres")], list)

    changed = first.drop(index=[2])
    fma.write_tracks(changed, fma.metadata_path(fma_root, "tracks"))
    reloaded = fma.load_tracks(fma_root)
    assert 2 not in reloaded.index and len(reloaded) == len(first) - 1
    assert len(list(cache_dir.glob("tracks-*.parquet"))) == 1  # the stale copy is gone


def test_write_tracks_round_trips(fma_root, tmp_path):
    tracks = fma.load_tracks(fma_root)
    root = tmp_path / "copy"
    (root / fma.METADATA_DIR).mkdir(parents=True)
    fma.write_genres(fma.load_genres(fma_root), fma.metadata_path(root, "genres"))
    fma.write_tracks(tracks, fma.metadata_path(root, "tracks"))
    pd.testing.assert_frame_equal(fma.load_tracks(root), tracks)
    assert fma.metadata_path(root, "genres").read_bytes() == GENRES_CSV.read_bytes()


def test_write_tracks_refuses_incomplete_columns(tmp_path):
    tracks = fma.load_tracks(build_fma_root(tmp_path / "r"))
    with pytest.raises(ValueError, match="missing"):
        fma.write_tracks(tracks.drop(columns=[("track", "title")]), tmp_path / "t.csv")


def test_features_are_float32_with_three_levels(fma_root):
    text = fma.metadata_path(fma_root, "features").read_text().splitlines()
    assert [line.split(",")[0] for line in text[:4]] == ["feature", "statistics", "number", "track_id"]
    assert text[2].split(",")[1] == "01"
    features = fma.load_features(fma_root)
    assert features.columns.names == ["feature", "statistics", "number"]
    assert list(features.columns) == list(fma.FEATURE_COLUMNS) and len(features.columns) == 518
    assert (features.dtypes == np.float32).all() and features.index.dtype == np.int64
    assert features.index.tolist() == [r[0] for r in TRACK_ROWS]
    pd.testing.assert_frame_equal(fma.load_features(fma_root), features)  # from the parquet copy


def test_features_sidecar_says_how_the_table_was_computed(fma_root):
    path = fma.metadata_path(fma_root, "features")
    assert fma.features_info(fma_root) == {"window": "full", "source": "fma published"}  # no sidecar
    features = fma.load_features(fma_root)
    info = {"window": "center:30", "source": "computed by genrelab"}
    fma.write_features(features, path, info=info)
    assert fma.features_info_path(path) == path.with_name("features.json")
    assert fma.features_info(fma_root) == info and fma.features_window(fma_root) == "center:30"
    fma.write_features(features, path)  # a table written without a description loses the stale one
    assert not path.with_name("features.json").exists() and fma.features_window(fma_root) == "full"
    with pytest.raises(ValueError, match="518 columns"):
        fma.write_features(features.iloc[:, 1:], path)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_written_tables_and_caches_follow_the_umask(tmp_path, umask, mode):
    """Issue 14 #5: tables written through mkstemp were 0600 whatever the umask."""
    previous = os.umask(umask)
    try:
        root = build_fma_root(tmp_path / "r")
        meta = root / fma.METADATA_DIR
        fma.write_features(fma.load_features(root), meta / "features.csv", info={"window": "full", "source": "x"})
        fma.load_features(root)
        fma.load_tracks(root)
    finally:
        os.umask(previous)
    written = [meta / "features.csv", meta / "features.json", meta / "tracks.csv", *meta.glob(".cache/*.parquet")]
    assert len(written) == 5
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_echonest_and_genres(fma_root):
    echonest = fma.load_echonest(fma_root)
    assert echonest.loc[3, ("echonest", "metadata", "artist_name")] == "Name, Jr"
    assert echonest.loc[2, ("echonest", "audio_features", "acousticness")] == pytest.approx(0.41)
    genres = fma.load_genres(fma_root)
    assert len(genres) == 163 and genres.index.name == "genre_id"
    assert genres.loc[21, "title"] == "Hip-Hop" and (genres["parent"] == 0).sum() == 16


def test_audio_path_prefers_clips_and_mp3(tmp_path):
    root = tmp_path / "r"
    for rel in ("fma_full/000/000005.mp3", "fma_large/000/000005.flac", "fma_large/000/000005.mp3",
                "fma_full/000/000007.wav", "fma_full/000/000007.ogg", "fma_small/001/001000.opus"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    assert fma.audio_path(root, 5) == root / "fma_large/000/000005.mp3"
    assert fma.audio_path(root, 7) == root / "fma_full/000/000007.wav"
    assert fma.audio_path(root, 1000) == root / "fma_small/001/001000.opus"
    assert fma.audio_path(root, 6) is None
    assert fma.audio_index(root) == {t: fma.audio_path(root, t) for t in (5, 7, 1000)}


def test_dataset_info_defaults_and_file(tmp_path):
    root = tmp_path / "my_fma"
    root.mkdir()
    assert fma.dataset_info(root) == {"name": "my_fma", "synthetic": False, "description": ""}
    (root / "dataset.json").write_text(json.dumps({"name": "demo", "synthetic": True}))
    assert fma.dataset_info(root)["synthetic"] is True and fma.dataset_info(root)["name"] == "demo"


def test_known_bad_clips_are_fmas():
    assert {f"{t:06d}" for t, why in fma.KNOWN_BAD_CLIPS.items() if why == "empty"} == {"099134", "108925", "133297"}
    assert {f"{t:06d}" for t, why in fma.KNOWN_BAD_CLIPS.items() if why == "short"} == {"098565", "098567", "098569"}

