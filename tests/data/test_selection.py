"""Selecting tracks by subset, size, genre and split; the fingerprint; the dataset summary."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.data import fma
from core.data.selection import fingerprint, select, summary
from core.errors import GenreLabError
from tests.builders import TRACK_ROWS, build_fma_root


def ids_where(predicate):
    return sorted(r[0] for r in TRACK_ROWS if r[3] and predicate(r))


TIER = {"small": 0, "medium": 1, "large": 2}


@pytest.mark.parametrize("subset", ["small", "medium", "large"])
def test_subset_means_at_most_that_tier_with_genre_top(fma_root, subset):
    chosen = select(fma_root, subset=subset, feature_version="v1")
    assert chosen.track_ids.tolist() == ids_where(lambda r: TIER[r[1]] <= TIER[subset])
    assert chosen.track_ids.dtype == np.int64


@pytest.mark.parametrize("size, subset", [("8k", "small"), ("25k", "medium"), ("45k", "large")])
def test_sizes_name_subsets(fma_root, size, subset):
    by_size = select(fma_root, size=size, feature_version="v1")
    by_subset = select(fma_root, subset=subset, feature_version="v1")
    assert by_size.track_ids.tolist() == by_subset.track_ids.tolist()
    assert by_size.fingerprint == by_subset.fingerprint


def test_everything_by_default_but_only_with_genre_top(fma_root):
    chosen = select(fma_root, feature_version="v1")
    assert chosen.track_ids.tolist() == ids_where(lambda r: True)
    assert 20 not in chosen.track_ids and 26 not in chosen.track_ids
    assert chosen.genres == ["Experimental", "Folk", "Hip-Hop", "Pop", "Rock"]


def test_labels_splits_and_paths_are_aligned(fma_root):
    chosen = select(fma_root, subset="small", feature_version="v1")
    rows = {r[0]: r for r in TRACK_ROWS}
    for track_id, label, split, path in zip(chosen.track_ids, chosen.labels, chosen.splits, chosen.paths):
        assert (label, split) == (rows[track_id][3], rows[track_id][2])
        assert path == fma.audio_path(fma_root, track_id)
    assert chosen.paths[0] == fma_root / "fma_small/000/000002.mp3"
    assert chosen.labels.dtype.kind == "U" and chosen.splits.dtype.kind == "U"


def test_genre_and_split_filters(fma_root):
    chosen = select(fma_root, genres=["Hip-Hop", "Folk"], split="training", feature_version="v1")
    assert chosen.track_ids.tolist() == [2, 3, 140]
    assert chosen.genres == ["Folk", "Hip-Hop"]
    both = select(fma_root, subset="small", split=["validation", "test"], feature_version="v1")
    assert both.track_ids.tolist() == [5, 134, 141]


def test_known_bad_clip_is_reported_not_fatal(fma_root):
    chosen = select(fma_root, subset="small", feature_version="v1")
    assert 99134 in chosen.track_ids
    assert chosen.warnings == ["track 099134: known empty clip in fma_small"]


def test_require_audio_keeps_tracks_with_files(fma_root):
    chosen = select(fma_root, subset="small", require_audio=True, feature_version="v1")
    assert chosen.track_ids.tolist() == [2, 5, 10, 99134]
    assert all(p is not None and p.exists() for p in chosen.paths)
    assert "3 selected tracks have no audio file and were left out" in chosen.warnings


def test_require_audio_without_any_audio_is_an_error(tmp_path):
    root = build_fma_root(tmp_path / "noaudio")
    with pytest.raises(GenreLabError, match="no audio file for any selected track"):
        select(root, require_audio=True, feature_version="v1")


def test_fingerprint_is_stable_and_sensitive(fma_root):
    base = select(fma_root, subset="medium", feature_version="v1")
    again = select(fma_root, subset="medium", feature_version="v1")
    assert base.fingerprint == again.fingerprint and len(base.fingerprint) == 64
    assert select(fma_root, subset="medium", feature_version="v2").fingerprint != base.fingerprint
    assert select(fma_root, subset="small", feature_version="v1").fingerprint != base.fingerprint
    relabelled = base.labels.copy()
    relabelled[0] = "Rock"
    assert fingerprint(base.track_ids, relabelled, base.splits, "v1") != base.fingerprint
    moved = base.splits.copy()
    moved[0] = "test"
    assert fingerprint(base.track_ids, base.labels, moved, "v1") != base.fingerprint
    order = np.arange(len(base))[::-1]  # the order the rows come in does not matter
    assert fingerprint(base.track_ids[order], base.labels[order], base.splits[order], "v1") == base.fingerprint


def test_default_feature_version_is_the_one_the_features_are_computed_with(fma_root):
    from core.features import table

    chosen = select(fma_root)
    assert chosen.feature_version == fma.FEATURES_VERSION
    assert table.features_store(fma_root, table.FULL).dir.name.startswith(fma.FEATURES_VERSION)


def test_dataset_name_and_synthetic_flag(fma_root):
    assert select(fma_root, feature_version="v1").dataset_name == "fma"
    (fma_root / "dataset.json").write_text(json.dumps({"name": "demo", "synthetic": True}))
    chosen = select(fma_root, feature_version="v1")
    assert (chosen.dataset_name, chosen.synthetic) == ("demo", True)


@pytest.mark.parametrize("kwargs, message", [
    ({"subset": "tiny"}, "unknown subset 'tiny'"),
    ({"size": "10k"}, "unknown size '10k'"),
    ({"size": "8k", "subset": "large"}, "contradicts subset=large"),
    ({"genres": ["Hip-Hop", "Rok"]}, "unknown genre 'Rok'"),
    ({"split": "train"}, "unknown split 'train'"),
    ({"genres": ["Rock"], "subset": "small"}, "no tracks with a genre_top match"),
])
def test_bad_selection_arguments(fma_root, kwargs, message):
    with pytest.raises(GenreLabError, match=message):
        select(fma_root, feature_version="v1", **kwargs)


def test_summary_counts(fma_root):
    info = summary(fma_root)
    assert info["tracks"] == len(TRACK_ROWS) and info["with_genre_top"] == len(TRACK_ROWS) - 2
    assert info["subsets"] == {"small": 7, "medium": 3, "large": 3}
    assert info["sizes"] == {"8k": 7, "25k": 9, "45k": 11}
    assert info["splits"] == {"training": 7, "validation": 3, "test": 3}
    assert info["genres"] == {"Experimental": 1, "Folk": 2, "Hip-Hop": 4, "Pop": 2, "Rock": 2}
    assert info["genres_by_subset"]["small"] == {"Folk": 2, "Hip-Hop": 3, "Pop": 2}
    assert info["audio_folders"] == {"fma_small": 4, "fma_large": 1}
    assert info["metadata_files"] == dict.fromkeys(["tracks.csv", "genres.csv", "features.csv", "echonest.csv"], True)
    assert info["known_bad_clips"] == ["099134"]
    assert info["name"] == "fma" and info["synthetic"] is False
    json.dumps(info)  # the dashboard and --json need it serialisable
