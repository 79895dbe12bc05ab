"""FMA's metadata files, read and written exactly as FMA publishes them.

A dataset root holds ``fma_metadata/{tracks,genres,features,echonest}.csv`` and audio under
``fma_small|fma_medium|fma_large|fma_full/NNN/NNNNNN.mp3``. ``load_tracks`` gives the same frame as
FMA's own ``utils.load`` (list columns parsed, dates parsed, ordered ``subset``, categoricals), plus a
categorical ``split``. Bad files raise ``GenreLabError`` with one line naming the file and the problem.

Parsing the real tracks.csv (106,574 rows) and features.csv (about 1 GB) takes a while, so each loaded
frame is cached as parquet in ``fma_metadata/.cache/``, keyed by the CSV's size and modification time:
editing or replacing the CSV makes the next load parse it again.

A features.csv computed by this project has a sidecar ``features.json`` saying how (``features_info``):
the audio window (``core.features.window``), the source, the feature version. A features.csv without
one is FMA's published table, which FMA computed on the full-length tracks: window ``full``.
"""
from __future__ import annotations

import ast
import csv
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import GenreLabError, first_line
from core.files import atomic_write, write_atomic

log = logging.getLogger(__name__)

#: FMA's genre table (genres.csv as published: id, #tracks, parent, title, top_level), shipped with the code.
GENRE_TABLE = Path(__file__).with_name("fma_genres.csv")
METADATA_DIR = "fma_metadata"
#: Derived arrays (feature vectors, log-mels) live under ``ROOT/cache/<kind>/<key>/``.
CACHE_DIR = "cache"
#: Audio folders in the order ``audio_path`` searches them: 30 s clips first, untrimmed tracks last.
AUDIO_DIRS = ("fma_small", "fma_medium", "fma_large", "fma_full")
#: Audio file extensions ``audio_path`` accepts, FMA's own ``.mp3`` first.
AUDIO_EXTENSIONS = (".mp3", ".wav", ".flac", ".ogg", ".opus", ".aiff", ".aif")
SUBSETS = ("small", "medium", "large")
SPLITS = ("training", "validation", "test")
#: fma_small clips that FMA reports as broken: reported when selected, never fatal.
KNOWN_BAD_CLIPS = {
    99134: "empty", 108925: "empty", 133297: "empty",
    98565: "short", 98567: "short", 98569: "short",
}

TRACKS_COLUMNS = [
    *(("album", c) for c in (
        "comments", "date_created", "date_released", "engineer", "favorites", "id", "information",
        "listens", "producer", "tags", "title", "tracks", "type")),
    *(("artist", c) for c in (
        "active_year_begin", "active_year_end", "associated_labels", "bio", "comments", "date_created",
        "favorites", "id", "latitude", "location", "longitude", "members", "name", "related_projects",
        "tags", "website", "wikipedia_page")),
    ("set", "split"), ("set", "subset"),
    *(("track", c) for c in (
        "bit_rate", "comments", "composer", "date_created", "date_recorded", "duration", "favorites",
        "genre_top", "genres", "genres_all", "information", "interest", "language_code", "license",
        "listens", "lyricist", "number", "publisher", "tags", "title")),
]
# The column groups FMA's utils.load converts (the split is our addition).
LIST_COLUMNS = [("track", "tags"), ("album", "tags"), ("artist", "tags"),
                ("track", "genres"), ("track", "genres_all")]
DATE_COLUMNS = [("track", "date_created"), ("track", "date_recorded"), ("album", "date_created"),
                ("album", "date_released"), ("artist", "date_created"),
                ("artist", "active_year_begin"), ("artist", "active_year_end")]
CATEGORY_COLUMNS = [("track", "genre_top"), ("track", "license"), ("album", "type"),
                    ("album", "information"), ("artist", "bio")]
GENRES_COLUMNS = ["#tracks", "parent", "title", "top_level"]
FEATURES_LEVELS = ["feature", "statistics", "number"]
#: Feature name -> number of rows (coefficients), as in FMA's features.py.
FEATURE_SIZES = {
    "chroma_cens": 12, "chroma_cqt": 12, "chroma_stft": 12, "mfcc": 20, "rmse": 1, "spectral_bandwidth": 1,
    "spectral_centroid": 1, "spectral_contrast": 7, "spectral_rolloff": 1, "tonnetz": 6, "zcr": 1,
}
STATISTICS = ("kurtosis", "max", "mean", "median", "min", "skew", "std")
#: features.csv's 518 columns in FMA's order: (feature, statistics, number), lexicographically sorted.
FEATURE_COLUMNS = pd.MultiIndex.from_tuples(
    sorted((feature, statistic, f"{i + 1:02d}")
           for feature, size in FEATURE_SIZES.items() for statistic in STATISTICS for i in range(size)),
    names=FEATURES_LEVELS,
)
#: What ``features_info`` says of a features.csv without a sidecar: FMA's own, on full-length tracks.
#: Version of the values core.features.fma_features computes for these columns: bump when they change
#: (feature caches and selection fingerprints are keyed by it).
FEATURES_VERSION = "fma518-1"
PUBLISHED_FEATURES = {"window": "full", "source": "fma published"}
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
FLOAT_FORMAT = "%.6e"  # features.csv's values, as FMA wrote them
# Bump when the cached frame's layout, or what parsing checks, changes: old caches are then ignored.
CACHE_VERSION = 2

csv.field_size_limit(sys.maxsize)  # artist bios in the real tracks.csv exceed csv's default limit


def metadata_path(root: str | os.PathLike, name: str) -> Path:
    """``ROOT/fma_metadata/<name>.csv``."""
    return Path(root) / METADATA_DIR / f"{name}.csv"


def dataset_info(root: str | os.PathLike) -> dict:
    """``ROOT/dataset.json`` if present, with ``name`` (default: folder name) and ``synthetic`` (default False)."""
    root = Path(root)
    info: dict = {}
    path = root / "dataset.json"
    if path.exists():
        try:
            info = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise GenreLabError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(info, dict):
            raise GenreLabError(f"{path}: expected a JSON object")
    info.setdefault("name", root.resolve().name)
    info.setdefault("synthetic", False)
    info.setdefault("description", "")
    return info


def is_fma(info: dict) -> bool:
    """Whether a root (its :func:`dataset_info`) holds FMA's own tracks: not synthetic, not a folder import.
    Only there do the original study's reported figures mean anything."""
    return not info["synthetic"] and info.get("source") != "folder"


# ---------------------------------------------------------------------------------------- reading

def load_tracks(root: str | os.PathLike) -> pd.DataFrame:
    """tracks.csv as FMA's ``utils.load`` returns it, validated against genres.csv.

    Index ``track_id`` (int64); columns: the 52 ``TRACKS_COLUMNS`` (2-level MultiIndex). List columns
    hold Python lists, date columns datetime64, ``('set','subset')`` is ordered small < medium < large,
    ``('set','split')`` categorical training/validation/test, ``('track','genre_top')`` categorical
    with NaN for tracks without a top genre.
    """
    path = metadata_path(root, "tracks")
    tracks = _cached(path, _parse_tracks, list_columns=LIST_COLUMNS, restore=_categorize_tracks)
    _check_genres_known(path, tracks, load_genres(root))
    return tracks


def load_genres(root: str | os.PathLike) -> pd.DataFrame:
    """genres.csv: index ``genre_id``; columns ``#tracks``, ``parent``, ``title``, ``top_level``."""
    path = metadata_path(root, "genres")
    header = _read_header(path, 1)[0]
    if header != ["genre_id", *GENRES_COLUMNS]:
        raise GenreLabError(f"{path}: wrong header {','.join(header)!r}, expected FMA's "
                            f"'genre_id,{','.join(GENRES_COLUMNS)}'")
    _check_rows(path, header_rows=1, n_fields=len(header))
    genres = _read_csv(path, index_col=0)
    _check_unique_ids(path, genres.index, "genre_id")
    return genres


def load_features(root: str | os.PathLike, drop_incomplete: bool = False) -> pd.DataFrame:
    """features.csv: index ``track_id`` (int64), FMA's 518 float32 ``FEATURE_COLUMNS`` (feature/statistics/number).

    A header other than FMA's 518 columns, or a row with a missing value, raises ``GenreLabError``
    naming the file and the first column or track at fault. ``drop_incomplete`` leaves rows with a
    missing value out instead (for a caller about to recompute them); that read is not cached.
    """
    path = metadata_path(root, "features")
    if drop_incomplete:
        return _parse_features(path, drop_incomplete=True)
    return _cached(path, _parse_features)


def features_info(root: str | os.PathLike) -> dict:
    """How ``ROOT/fma_metadata/features.csv`` was computed: its sidecar ``features.json``.

    At least ``window`` (``core.features.window`` grammar) and ``source``; without a sidecar the
    table is FMA's published one, ``PUBLISHED_FEATURES`` (window ``full``).
    """
    path = features_info_path(metadata_path(root, "features"))
    if not path.is_file():
        return dict(PUBLISHED_FEATURES)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GenreLabError(f"{path}: not valid JSON ({first_line(err)})") from None
    if not isinstance(info, dict) or not isinstance(info.get("window"), str):
        raise GenreLabError(f"{path}: expected a JSON object with a \"window\" text")
    return info


def features_window(root: str | os.PathLike) -> str:
    """The audio window ROOT's features.csv was computed on (``full``, ``center:30``, ...; see ``features_info``)."""
    return features_info(root)["window"]


def features_info_path(csv_path: str | os.PathLike) -> Path:
    """The sidecar of a feature table: ``features.csv`` -> ``features.json``."""
    return Path(csv_path).with_suffix(".json")


def load_echonest(root: str | os.PathLike) -> pd.DataFrame:
    """echonest.csv as FMA reads it: 3 header rows (+ the ``track_id`` row), index ``track_id``."""
    path = metadata_path(root, "echonest")
    header = _read_header(path, 4)
    if len(header) < 4 or header[3][:1] != ["track_id"]:
        raise GenreLabError(f"{path}: wrong header, expected FMA's 3 header rows and a track_id row")
    _check_rows(path, header_rows=4, n_fields=len(header[0]))
    echonest = _read_csv(path, index_col=0, header=[0, 1, 2])
    _check_unique_ids(path, echonest.index, "track_id")
    return echonest


def _parse_tracks(path: Path) -> pd.DataFrame:
    header = _read_header(path, 3)
    if len(header) < 3 or header[0][:1] != [""] or header[2][:1] != ["track_id"]:
        raise GenreLabError(f"{path}: wrong header, expected FMA's 2 header rows (group, column) and a track_id row")
    got = list(zip(header[0][1:], header[1][1:]))
    if got != TRACKS_COLUMNS:
        raise GenreLabError(f"{path}: wrong header, {_header_difference(got, TRACKS_COLUMNS, 'tracks.csv')}")
    _check_rows(path, header_rows=3, n_fields=len(TRACKS_COLUMNS) + 1)
    tracks = _read_csv(path, index_col=0, header=[0, 1], low_memory=False)
    tracks.columns = pd.MultiIndex.from_tuples(TRACKS_COLUMNS)  # drops the "Unnamed" empty-cell names
    tracks.index = _integer_ids(path, tracks.index)
    _check_unique_ids(path, tracks.index, "track_id")

    for column in LIST_COLUMNS:
        tracks[column] = _parse_lists(path, tracks[column])
    for column in DATE_COLUMNS:
        try:
            # One unit for every date column, and one parquet stores as is.
            tracks[column] = pd.to_datetime(tracks[column], format="ISO8601").astype("datetime64[us]")
        except (ValueError, TypeError) as err:
            raise GenreLabError(f"{path}: column {column} has a value that is not a date "
                                f"({first_line(err)})") from None
    for column, values in ((("set", "subset"), SUBSETS), (("set", "split"), SPLITS)):
        unknown = set(tracks[column].dropna().unique()) - set(values)
        if unknown:
            raise GenreLabError(f"{path}: column {column} has unknown value {sorted(unknown)[0]!r}, "
                                f"expected one of {', '.join(values)}")
    return _categorize_tracks(tracks)


def _categorize_tracks(tracks: pd.DataFrame) -> pd.DataFrame:
    """FMA's categorical columns (also after parquet, which drops the dtype of all-empty ones)."""
    tracks["set", "subset"] = tracks["set", "subset"].astype(pd.CategoricalDtype(SUBSETS, ordered=True))
    tracks["set", "split"] = tracks["set", "split"].astype(pd.CategoricalDtype(SPLITS))
    for column in CATEGORY_COLUMNS:
        tracks[column] = tracks[column].astype("category")
    return tracks


def _parse_lists(path: Path, column: pd.Series) -> pd.Series:
    """Cells like ``"[21, 138]"`` or ``"['a', 'b']"`` → Python lists (an empty cell → [])."""
    cells = column.to_numpy(dtype=object, na_value=None)  # iterating Arrow strings one by one is slow
    parsed: dict[str, list] = {}
    for text in set(cells) - {None}:  # values repeat a lot ("[]", "[21]"): parse each once
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        if not isinstance(value, list):
            raise GenreLabError(f"{path}: column {column.name} has {text!r}, which is not a list")
        parsed[text] = value
    # A fresh list per row, as FMA's frame has: rows must not share one mutable list.
    return pd.Series([[] if v is None else list(parsed[v]) for v in cells],
                     index=column.index, dtype=object, name=column.name)


def _parse_features(path: Path, drop_incomplete: bool = False) -> pd.DataFrame:
    header = _read_header(path, 4)
    firsts = [row[0] for row in header]
    if firsts != [*FEATURES_LEVELS, "track_id"]:
        raise GenreLabError(f"{path}: wrong header, expected FMA's rows feature/statistics/number/track_id "
                            f"but the first column reads {'/'.join(firsts)}")
    got = list(zip(*(row[1:] for row in header[:3])))
    if got != list(FEATURE_COLUMNS):
        raise GenreLabError(f"{path}: wrong header, {_header_difference(got, list(FEATURE_COLUMNS), 'features.csv')}")
    # No field count pass over this 1 GB file: pandas rejects long rows, and pads short ones with
    # NaN, which the check below reports.
    _check_complete(path)
    # Parsed straight to float32 (the index too: FMA's ids < 2**24 are exact in float32).
    features = _read_csv(path, index_col=0, header=[0, 1, 2], dtype=np.float32)
    features.index = _integer_ids(path, features.index)
    features.columns.names = FEATURES_LEVELS
    _check_unique_ids(path, features.index, "track_id")
    missing = features.isna().any(axis=1)
    if drop_incomplete:
        return features[~missing]
    if missing.any():
        raise GenreLabError(f"{path}: truncated or ragged CSV, missing values for track_id "
                            f"{features.index[missing][0]}")
    return features


def _check_genres_known(path: Path, tracks: pd.DataFrame, genres: pd.DataFrame) -> None:
    known_ids = genres.index
    for column in (("track", "genres"), ("track", "genres_all")):
        ids = tracks[column].explode()  # one row per (track, genre id), index = track id
        unknown = ids[ids.notna() & ~ids.isin(known_ids)]
        if len(unknown):
            raise GenreLabError(f"{path}: unknown genre {unknown.iloc[0]} for track_id {unknown.index[0]} "
                                f"(not in genres.csv)")
    titles = set(genres["title"].tolist())
    top = tracks["track", "genre_top"]
    unknown_titles = sorted(set(top.dropna().unique()) - titles)
    if unknown_titles:
        track_id = top.index[top == unknown_titles[0]][0]
        raise GenreLabError(f"{path}: unknown genre {unknown_titles[0]!r} for track_id {track_id} "
                            f"(not in genres.csv)")


# ------------------------------------------------------------------------------------- validation

def _read_header(path: Path, n_rows: int) -> list[list[str]]:
    """The first ``n_rows`` rows of a CSV; a missing or empty file is an error."""
    if not path.is_file():
        raise GenreLabError(f"{path}: missing file")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for _, row in zip(range(n_rows), csv.reader(f))]
    except UnicodeDecodeError as err:
        raise GenreLabError(f"{path}: not UTF-8 text ({err.reason})") from None
    if not rows:
        raise GenreLabError(f"{path}: empty file")
    return rows


def _check_complete(path: Path) -> None:
    """The file ends with a newline: it was not cut off mid-row."""
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) not in (b"\n", b"\r"):
            raise GenreLabError(f"{path}: truncated CSV (the last row is cut off)")


def _check_rows(path: Path, header_rows: int, n_fields: int) -> None:
    """Complete, and every data row has ``n_fields`` fields (pandas would pad short rows silently)."""
    _check_complete(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, strict=True)
        try:
            for row in reader:
                if reader.line_num > header_rows and len(row) != n_fields and row:
                    raise GenreLabError(f"{path}: truncated or ragged CSV, line {reader.line_num} has "
                                        f"{len(row)} fields instead of {n_fields}")
        except csv.Error as err:
            raise GenreLabError(f"{path}: truncated or malformed CSV near line {reader.line_num} ({err})") from None
        except UnicodeDecodeError as err:
            raise GenreLabError(f"{path}: not UTF-8 text ({err.reason} near line {reader.line_num})") from None


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` with its parse errors turned into one-line GenreLabErrors."""
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise GenreLabError(f"{path}: malformed CSV ({first_line(err)})") from None


def _integer_ids(path: Path, index: pd.Index) -> pd.Index:
    name = index.name
    try:
        ids = pd.to_numeric(pd.Series(index), errors="raise")
    except (ValueError, TypeError):
        ids = None
    if ids is None or ids.isna().any() or not np.all(np.mod(ids.to_numpy(), 1) == 0):
        raise GenreLabError(f"{path}: {name or 'id'} column holds a value that is not an integer id")
    return pd.Index(ids.to_numpy().astype(np.int64), name=name)


def _check_unique_ids(path: Path, index: pd.Index, what: str) -> None:
    duplicated = index[index.duplicated()]
    if len(duplicated):
        raise GenreLabError(f"{path}: duplicate {what} {duplicated[0]}")


def _header_difference(got: list[tuple], expected: list[tuple], table: str) -> str:
    """Where the columns ``got`` first depart from FMA's ``expected`` ones, in words.

    Columns are numbered as in the file, where track_id is column 1. A column FMA has and the file
    lacks reads "missing", one the file adds "unexpected"; a renamed or moved one, both names.
    """
    for i, (g, e) in enumerate(zip(got, expected)):
        if g == e:
            continue
        dropped, added = e not in got, g not in expected
        if dropped and not added:
            return f"missing column {e} (column {i + 2} of FMA's {table})"
        if added and not dropped:
            return f"unexpected column {i + 2} {g}"
        return f"column {i + 2} is {g} where FMA's {table} has {e}"
    if len(got) < len(expected):
        return f"missing column {expected[len(got)]} (column {len(got) + 2} of FMA's {table})"
    return f"unexpected column {len(expected) + 2} {got[len(expected)]} after FMA's {len(expected)}"


# ---------------------------------------------------------------------------------------- caching

def _cached(path: Path, parse, list_columns: list[tuple] = (), restore=None) -> pd.DataFrame:
    """``parse(path)``, or its parquet copy (passed through ``restore``) if the CSV is unchanged."""
    if not path.is_file():
        raise GenreLabError(f"{path}: missing file")
    stat = path.stat()
    cache_dir = path.parent / ".cache"
    cache = cache_dir / f"{path.stem}-{stat.st_size}-{stat.st_mtime_ns}-v{CACHE_VERSION}.parquet"
    if cache.exists():
        try:
            frame = _read_parquet(cache, list_columns)
            return restore(frame) if restore else frame
        except Exception as err:  # a damaged cache is only a lost shortcut: parse again
            log.warning("ignoring unreadable cache %s (%s)", cache, err)
    frame = parse(path)
    try:
        cache_dir.mkdir(exist_ok=True)
        for old in cache_dir.glob(f"{path.stem}-*.parquet"):
            old.unlink(missing_ok=True)
        with atomic_write(cache) as tmp:
            _flat(frame, list_columns).to_parquet(tmp)
    except Exception as err:  # read-only data root, or a value parquet can't hold: work uncached
        log.warning("could not cache %s as parquet (%s)", path, err)
    return frame


def _flat(frame: pd.DataFrame, list_columns: list[tuple]) -> pd.DataFrame:
    """The frame as parquet takes it: each MultiIndex tuple named by its JSON list, list cells as FMA's text.

    List cells stay text because rebuilding Python lists from parquet's list type is slower than
    parsing the few distinct texts they take.
    """
    flat = frame.copy(deep=False)
    for column in list_columns:
        flat[column] = flat[column].map(_list_text)
    flat.columns = [json.dumps(list(c)) for c in frame.columns]
    return flat


def _read_parquet(path: Path, list_columns: list[tuple]) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    frame.columns = pd.MultiIndex.from_tuples([tuple(json.loads(n)) for n in frame.columns])
    for column in list_columns:
        frame[column] = _parse_lists(path, frame[column])
    if frame.columns.nlevels == len(FEATURES_LEVELS):
        frame.columns.names = FEATURES_LEVELS
    return frame


# ---------------------------------------------------------------------------------------- writing

def write_tracks(tracks: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write tracks.csv in FMA's layout: 2 header rows + ``track_id`` row, the 52 TRACKS_COLUMNS.

    ``tracks`` must have exactly those columns (any order) and be indexed by track id. List cells
    may be lists, tuples or arrays; dates datetime64 or strings.
    """
    columns = set(tracks.columns)
    missing = [c for c in TRACKS_COLUMNS if c not in columns]
    extra = sorted(columns - set(TRACKS_COLUMNS), key=str)
    if missing or extra:
        raise ValueError(f"tracks frame must have FMA's 52 columns: missing {missing}, unexpected {extra}")
    out = tracks[TRACKS_COLUMNS].copy()
    out.columns = pd.MultiIndex.from_tuples(TRACKS_COLUMNS)
    for column in LIST_COLUMNS:
        out[column] = out[column].map(_list_text)
    out.index = pd.Index(np.asarray(tracks.index, dtype=np.int64), name="track_id")
    with atomic_write(path) as tmp:
        out.to_csv(tmp, date_format=DATE_FORMAT)


def write_genres(genres: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write genres.csv: index ``genre_id``, columns ``#tracks, parent, title, top_level``."""
    out = genres[GENRES_COLUMNS].copy()
    out.index = pd.Index(np.asarray(genres.index, dtype=np.int64), name="genre_id")
    with atomic_write(path) as tmp:
        out.to_csv(tmp)


def write_features(features: pd.DataFrame, path: str | os.PathLike, info: dict | None = None) -> None:
    """Write a features.csv: 3 header rows feature/statistics/number + the index row, values as FMA's ``%.6e``.

    ``features`` must have exactly FMA's 518 ``FEATURE_COLUMNS`` (any order; written in FMA's). An
    integer index is written as ``track_id`` (int64), any other (file stems) as it is. ``info`` (see
    ``features_info``) goes to the sidecar ``features.json`` beside the table; without it a stale
    sidecar is removed, since it would describe another table.
    """
    columns = set(features.columns)
    if columns != set(FEATURE_COLUMNS):
        missing = [c for c in FEATURE_COLUMNS if c not in columns]
        extra = sorted(columns - set(FEATURE_COLUMNS), key=str)
        raise ValueError(f"features frame must have FMA's 518 columns: missing {missing[:3]}, unexpected {extra[:3]}")
    out = features[list(FEATURE_COLUMNS)]
    out.columns = FEATURE_COLUMNS
    if pd.api.types.is_integer_dtype(features.index):
        out.index = pd.Index(np.asarray(features.index, dtype=np.int64), name="track_id")
    # The sidecar first: were the table written first, a crash between the two would leave a
    # computed table that reads as FMA's published one.
    sidecar = features_info_path(path)
    if info is None:
        sidecar.unlink(missing_ok=True)
    else:
        write_atomic(sidecar, json.dumps(info, indent=2, sort_keys=True) + "\n")
    with atomic_write(path) as tmp:
        out.to_csv(tmp, float_format=FLOAT_FORMAT)


def _list_text(value) -> str:
    """A list cell as FMA writes it (Python repr of a list of plain ints/strings)."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        return "[]" if pd.isna(value) else str(value)
    return repr([v.item() if isinstance(v, np.generic) else v for v in value])


# ------------------------------------------------------------------------------------------ audio

def audio_path(root: str | os.PathLike, track_id: int) -> Path | None:
    """The audio file of ``track_id`` in the first audio folder that has it, or None.

    Looks for ``AUDIO_DIR/NNN/NNNNNN<ext>`` over ``AUDIO_DIRS`` (clips before full tracks), each with
    ``AUDIO_EXTENSIONS`` (``.mp3`` first).
    """
    name = f"{int(track_id):06d}"
    for folder in AUDIO_DIRS:
        base = Path(root) / folder / name[:3]
        if not base.is_dir():
            continue
        for ext in AUDIO_EXTENSIONS:
            candidate = base / f"{name}{ext}"
            if candidate.is_file():
                return candidate
    return None


def tracks_audio(root: str | os.PathLike) -> dict[int, Path]:
    """``{track_id: path}`` for the tracks of tracks.csv whose audio exists (see ``audio_index``)."""
    audio = audio_index(root)
    return {tid: audio[tid] for tid in load_tracks(root).index if tid in audio}


def audio_index(root: str | os.PathLike) -> dict[int, Path]:
    """``{track_id: path}`` for every audio file under the root, with ``audio_path``'s precedence.

    One directory listing per ``NNN`` folder instead of a few stat calls per track: what a selection
    of 100k tracks needs.
    """
    rank = {ext: i for i, ext in enumerate(AUDIO_EXTENSIONS)}
    found: dict[int, tuple[int, int, Path]] = {}
    for folder_rank, folder in enumerate(AUDIO_DIRS):
        top = Path(root) / folder
        if not top.is_dir():
            continue
        for sub in os.scandir(top):
            if not (sub.is_dir() and len(sub.name) == 3 and sub.name.isdigit()):
                continue
            for entry in os.scandir(sub.path):
                stem, ext = os.path.splitext(entry.name)
                if ext not in rank or len(stem) != 6 or not stem.isdigit() or not entry.is_file():
                    continue
                key = (folder_rank, rank[ext])
                track_id = int(stem)
                if track_id not in found or key < found[track_id][:2]:
                    found[track_id] = (*key, Path(entry.path))
    return {track_id: path for track_id, (_, _, path) in found.items()}
