"""Bad input gives one line naming the file and the problem; the CLI prints it and exits 1."""
from __future__ import annotations

import csv
import subprocess
import sys

import pandas as pd
import pytest

from core.config import PROJECT_ROOT
from core.data import fma
from core.errors import GenreLabError


def tracks_csv(root):
    return fma.metadata_path(root, "tracks")


def cut(path, keep_bytes_from_end):
    data = path.read_bytes()
    path.write_bytes(data[:-keep_bytes_from_end])


def drop_last_fields(path, n_fields):
    """Rewrite the file with its last row short of ``n_fields`` fields."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    rows[-1] = rows[-1][:-n_fields]
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def replace_text(path, old, new, count=1):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def error_of(load, root) -> str:
    with pytest.raises(GenreLabError) as info:
        load(root)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(fma_root):
    tracks_csv(fma_root).unlink()
    assert error_of(fma.load_tracks, fma_root) == f"{tracks_csv(fma_root)}: missing file"
    fma.metadata_path(fma_root, "features").unlink()
    assert error_of(fma.load_features, fma_root).endswith("features.csv: missing file")


def test_file_cut_mid_row(fma_root):
    cut(tracks_csv(fma_root), 7)
    message = error_of(fma.load_tracks, fma_root)
    assert message.startswith(f"{tracks_csv(fma_root)}: truncated CSV")


def test_short_last_row(fma_root):
    drop_last_fields(tracks_csv(fma_root), 4)
    message = error_of(fma.load_tracks, fma_root)
    assert message.startswith(f"{tracks_csv(fma_root)}: truncated or ragged CSV")
    assert "49 fields instead of 53" in message


def test_file_cut_inside_quoted_field(fma_root):
    path = tracks_csv(fma_root)
    text = path.read_text()
    path.write_text(text[: text.index("Line one,") + 4] + "\n")  # the bio's quotes never close
    assert "truncated" in error_of(fma.load_tracks, fma_root)


def test_ragged_features_rows(fma_root):
    path = fma.metadata_path(fma_root, "features")
    drop_last_fields(path, 1)
    assert error_of(fma.load_features, fma_root) == (
        f"{path}: truncated or ragged CSV, missing values for track_id 99134")
    replace_text(path, "\n5,", "\n5,1.0,")  # one field too many
    assert error_of(fma.load_features, fma_root).startswith(f"{path}: malformed CSV (")


def rewrite_features(root, change):
    """Write features.csv as ``change(frame)`` leaves it, bypassing the writer's own checks."""
    path = fma.metadata_path(root, "features")
    change(fma.load_features(root)).to_csv(path, float_format=fma.FLOAT_FORMAT)
    return path


def column_number(column) -> int:
    return list(fma.FEATURE_COLUMNS).index(column) + 2  # as in the file, where track_id is column 1


def test_features_must_have_fmas_518_columns(fma_root):
    """Issue 14 #3: a features.csv missing a column used to load, and a study trained on 517 features."""
    dropped = ("mfcc", "mean", "03")
    path = rewrite_features(fma_root, lambda f: f.drop(columns=[dropped]))
    assert error_of(fma.load_features, fma_root) == (
        f"{path}: wrong header, missing column {dropped} (column {column_number(dropped)} of FMA's features.csv)")


def test_features_with_an_extra_column(fma_root):
    extra = ("zcr", "std", "02")
    column = pd.MultiIndex.from_tuples([extra], names=fma.FEATURES_LEVELS)
    path = rewrite_features(fma_root, lambda f: pd.concat([f, pd.DataFrame(0.0, f.index, column)], axis=1))
    assert error_of(fma.load_features, fma_root) == (
        f"{path}: wrong header, unexpected column 520 {extra} after FMA's 518")


def test_features_with_a_renamed_column(fma_root):
    path = rewrite_features(fma_root, lambda f: f.rename(columns={"chroma_cens": "chroma"}, level=0))
    assert error_of(fma.load_features, fma_root) == (f"{path}: wrong header, column 2 is ('chroma', 'kurtosis', '01') "
                                                     f"where FMA's features.csv has ('chroma_cens', 'kurtosis', '01')")


def test_a_missing_value_is_reported_unless_dropped(fma_root):
    def blank(frame):
        frame.iloc[2, 7] = float("nan")
        return frame

    path = rewrite_features(fma_root, blank)
    assert error_of(fma.load_features, fma_root) == f"{path}: truncated or ragged CSV, missing values for track_id 5"
    assert 5 not in fma.load_features(fma_root, drop_incomplete=True).index


def test_not_utf8(fma_root):
    path = tracks_csv(fma_root)
    path.write_bytes(path.read_bytes().replace(b"Track 3", b"Track \xff"))
    assert "not UTF-8 text" in error_of(fma.load_tracks, fma_root)


def test_wrong_tracks_header(fma_root):
    replace_text(tracks_csv(fma_root), ",genre_top,", ",top_genre,")
    message = error_of(fma.load_tracks, fma_root)
    assert message == (f"{tracks_csv(fma_root)}: wrong header, column 41 is ('track', 'top_genre') "
                       f"where FMA's tracks.csv has ('track', 'genre_top')")


def test_single_header_row_is_wrong(fma_root, tmp_path):
    path = tracks_csv(fma_root)
    path.write_text("track_id,genre_top\n2,Rock\n")
    assert "wrong header" in error_of(fma.load_tracks, fma_root)


def test_wrong_features_and_genres_headers(fma_root):
    replace_text(fma.metadata_path(fma_root, "features"), "statistics,", "stats,")
    assert "wrong header" in error_of(fma.load_features, fma_root)
    replace_text(fma.metadata_path(fma_root, "genres"), "#tracks", "tracks")
    assert "genres.csv: wrong header" in error_of(fma.load_genres, fma_root)


def test_unknown_genre_id(fma_root):
    replace_text(tracks_csv(fma_root), ",[17],[17],", ",[17],[17000],")
    message = error_of(fma.load_tracks, fma_root)
    assert message == f"{tracks_csv(fma_root)}: unknown genre 17000 for track_id 140 (not in genres.csv)"


def test_unknown_genre_top(fma_root):
    replace_text(tracks_csv(fma_root), ",Folk,", ",No Such Genre,")
    message = error_of(fma.load_tracks, fma_root)
    assert message == f"{tracks_csv(fma_root)}: unknown genre 'No Such Genre' for track_id 140 (not in genres.csv)"


def test_duplicate_track_id(fma_root):
    replace_text(tracks_csv(fma_root), "\n5,", "\n2,")
    assert error_of(fma.load_tracks, fma_root) == f"{tracks_csv(fma_root)}: duplicate track_id 2"


def test_unknown_subset_value(fma_root):
    replace_text(tracks_csv(fma_root), ",training,small,", ",training,tiny,")
    assert "column ('set', 'subset') has unknown value 'tiny'" in error_of(fma.load_tracks, fma_root)


def test_bad_date(fma_root):
    replace_text(tracks_csv(fma_root), "2008-11-01 01:48:12", "someday")
    assert "column ('track', 'date_created') has a value that is not a date" in error_of(fma.load_tracks, fma_root)


def test_cli_prints_one_line_and_exits_1(fma_root):
    replace_text(tracks_csv(fma_root), "\n5,", "\n2,")
    done = subprocess.run([sys.executable, "-m", "core", "data", "summary", "--data", str(fma_root)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == f"error: {tracks_csv(fma_root)}: duplicate track_id 2\n"
    assert "Traceback" not in done.stderr + done.stdout
