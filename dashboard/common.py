"""What every page shares: the active dataset root, cached reads through ``core``, and notices.

Pages stay thin: they call these readers (cached with a short TTL so a rerun never re-reads the
MLflow store or tracks.csv) and draw with :mod:`core.report.charts`. Readers raise ``GenreLabError``
with one line; pages show it with ``st.error`` and carry on where they can.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import streamlit as st

from core import config
from core.audio import load_audio
from core.data import fma
from core.data.selection import summary
from core.errors import GenreLabError
from core.features.mels import DEFAULT_HOP_LENGTH, list_caches, log_mel
from core.report import charts
from core.report.results import KIND, PARENT
from core.study import runtree

#: Seconds a read of a changing MLflow store stays cached: long enough for reruns, short enough that
#: a running job's progress shows up without a reload (an unchanged SQLite store is never re-read).
RUNS_TTL_SECONDS = 15
#: Dataset summaries change only when data is generated or imported.
DATA_TTL_SECONDS = 60


os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keeps the server log readable
SYNTHETIC_NOTE = ("Synthetic demo data: these tracks and results come from generated audio, not real "
                  "music, so the accuracies say nothing about genre recognition on FMA.")


# --- the active dataset root ----------------------------------------------------------------------

def candidate_roots() -> list[Path]:
    """The configured root first, then other FMA-layout folders under ``data/``."""
    roots = [config.data_root()]
    data_dir = config.PROJECT_ROOT / "data"
    if data_dir.is_dir():
        roots += sorted(p for p in data_dir.iterdir() if (p / "fma_metadata" / "tracks.csv").is_file()
                        and p.resolve() != roots[0])
    return roots


def sidebar() -> None:
    """Dataset root chooser (kept in session state across pages) and the store in use."""
    roots = [str(p) for p in candidate_roots()]
    with st.sidebar:
        choice = st.selectbox("Dataset root", roots + ["other folder..."], key="data_root_choice",
                              help="Set GENRELAB_DATA or pick a folder in FMA layout (fma_metadata/tracks.csv).")
        if choice == "other folder...":
            choice = st.text_input("Folder", key="data_root_other", placeholder="/path/to/fma") or roots[0]
        st.session_state["data_root"] = choice
        st.caption(f"MLflow store: `{config.tracking_uri()}`")


def active_root() -> Path:
    return Path(st.session_state.get("data_root") or config.data_root())


# --- cached reads ---------------------------------------------------------------------------------

def store_uri() -> str:
    """Point MLflow at the store (``MLFLOW_TRACKING_URI`` or the project's) and return its URI."""
    from core import tracking

    return tracking.configure()


class _RunsCache:
    """The runs frame per store, shared by all sessions, re-read only when it may have changed.

    A SQLite store is re-read when its files' modification time moved, but at most once every
    ``RUNS_TTL_SECONDS`` while a job keeps writing; any other store (a server) every
    ``RUNS_TTL_SECONDS``. Reading 2,000 runs takes seconds, a stat microseconds. Callers get the
    shared frame and must not modify it (``assign``/``copy`` first).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int | None, float, pd.DataFrame]] = {}

    def get(self, uri: str) -> pd.DataFrame:
        from core import tracking

        with self._lock:
            stamp, now = _store_stamp(uri), time.monotonic()
            entry = self._entries.get(uri)
            if entry is not None:
                old_stamp, read_at, frame = entry
                if (stamp is not None and stamp == old_stamp) or now - read_at < RUNS_TTL_SECONDS:
                    return frame
            frame = tracking.runs_frame()
            self._entries[uri] = (stamp, now, frame)
            return frame

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _store_stamp(uri: str) -> int | None:
    """Latest modification time of a SQLite store's files (database, WAL, journal); None for others."""
    if not uri.startswith("sqlite:///"):
        return None
    db = uri[len("sqlite:///"):]
    stamps = []
    for path in (db, f"{db}-wal", f"{db}-journal"):
        with contextlib.suppress(OSError):  # a WAL or journal file exists only while written
            stamps.append(os.stat(path).st_mtime_ns)
    return max(stamps, default=0)


_runs_cache = _RunsCache()


def load_runs() -> pd.DataFrame:
    """Every run in the store (``run_id``, ``experiment``, ``status``, ``metrics.*``, ``params.*``,
    ``tags.*``); a shared frame: do not modify it."""
    return _runs_cache.get(store_uri())


def forget_runs() -> None:
    """Drop cached runs (a job just finished: its runs should appear now)."""
    _runs_cache.clear()


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False, max_entries=4)
def _summary(root: str, stamp: float) -> dict:
    return summary(root)


def dataset_summary(root: Path) -> dict:
    """``core.data.selection.summary`` of ``root`` (re-read when tracks.csv changes)."""
    return _summary(str(root), _stamp(root))


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False, max_entries=2)
def _tracks(root: str, stamp: float) -> pd.DataFrame:
    tracks = fma.load_tracks(root)
    table = pd.DataFrame({
        "title": tracks["track", "title"], "artist": tracks["artist", "name"],
        "genre_top": tracks["track", "genre_top"].astype("string"),
        "subset": tracks["set", "subset"].astype("string"), "split": tracks["set", "split"].astype("string"),
        "duration": tracks["track", "duration"],
    }, index=tracks.index)
    return table


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False, max_entries=4)
def mel_caches(root: Path) -> list[dict]:
    """The log-mel caches of ``root`` (:func:`core.features.mels.list_caches`)."""
    return list_caches(root)


def tracks_table(root: Path) -> pd.DataFrame:
    """One row per track (index track_id): title, artist, genre_top, subset, split, duration (s)."""
    return _tracks(str(root), _stamp(root))


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False, max_entries=2)
def _features(root: str, stamp: float) -> pd.DataFrame | None:
    if not fma.metadata_path(root, "features").is_file():
        return None
    return fma.load_features(root)


def features_table(root: Path) -> pd.DataFrame | None:
    """features.csv (518 columns, 3-level header) or None when the root has none."""
    return _features(str(root), _stamp(root, "features"))


def _stamp(root: Path, name: str = "tracks") -> float:
    """Modification time of a metadata file: part of the cache key so edits are seen at once."""
    path = Path(root) / "fma_metadata" / f"{name}.csv"
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(ttl=RUNS_TTL_SECONDS, show_spinner=False, max_entries=32)
def metric_histories(uri: str, run_ids: tuple[str, ...], keys: tuple[str, ...]) -> pd.DataFrame:
    """Per-step metric history of runs: columns run_id, key, step, value."""
    from mlflow.tracking import MlflowClient

    client, rows = MlflowClient(uri), []
    for run_id in run_ids:
        for key in keys:
            rows += [(run_id, key, m.step, m.value) for m in client.get_metric_history(run_id, key)]
    return pd.DataFrame(rows, columns=["run_id", "key", "step", "value"])


@st.cache_data(ttl=RUNS_TTL_SECONDS, show_spinner=False, max_entries=32)
def json_artifact(uri: str, run_id: str, name: str) -> dict | None:
    """A run's JSON artifact (e.g. ``confusion_matrix.json``), or None when the run has none."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    if name not in {f.path for f in client.list_artifacts(run_id)}:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, name, tmp)
            return json.loads(Path(path).read_text())
        except (MlflowException, OSError, ValueError) as err:
            raise GenreLabError(f"run {run_id}: cannot read {name} ({str(err).splitlines()[0]})") from None


# --- a clip, seen -----------------------------------------------------------------------------------

#: The first seconds of a clip a page draws (FMA clips are 30 s), at the rate features and mels use (Hz).
PREVIEW_SECONDS, PREVIEW_SAMPLE_RATE = 30.0, 22050


@st.cache_data(ttl=300, show_spinner=False, max_entries=16)
def clip_preview(key: str, _path: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(waveform at PREVIEW_SAMPLE_RATE, log-mel dB (n_mels, frames), hop length) of the first
    PREVIEW_SECONDS of the file at ``_path``, cached by ``key`` (a dataset file's path, an upload's
    digest). GenreLabError (one line) when the file does not decode."""

    y, sr = load_audio(_path, sr=PREVIEW_SAMPLE_RATE, duration=PREVIEW_SECONDS)
    return y, log_mel(y, sr, hop_length=DEFAULT_HOP_LENGTH), DEFAULT_HOP_LENGTH


def show_clip(y: np.ndarray, db: np.ndarray, hop: int) -> None:
    """A :func:`clip_preview`'s waveform and log-mel side by side."""

    left, right = st.columns(2)
    left.plotly_chart(charts.waveform(y, PREVIEW_SAMPLE_RATE), key="waveform", config=charts.TOOLBAR)
    right.plotly_chart(charts.spectrogram(db, PREVIEW_SAMPLE_RATE, hop), key="log_mel", config=charts.TOOLBAR)


# --- notices --------------------------------------------------------------------------------------

def note_synthetic(is_synthetic: bool) -> None:
    if is_synthetic:
        st.warning(SYNTHETIC_NOTE, icon=":material/science:")


@st.cache_data(ttl=5, show_spinner=False)
def mlflow_ui_up(url: str) -> bool:
    """Whether something listens at the MLflow UI's host and port (a 0.3 s connect)."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=0.3):
            return True
    except OSError:
        return False


def top_level(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs without a parent (studies and stand-alone runs)."""
    if PARENT not in runs:
        return runs
    return runs[runs[PARENT].isna()]


def run_table(runs: pd.DataFrame) -> pd.DataFrame:
    """A readable table of runs, newest first: experiment, name, kind, status, dataset, start, minutes,
    test accuracy and CV accuracy where logged."""
    def column(name: str) -> pd.Series:
        return runs[name] if name in runs else pd.Series(pd.NA, index=runs.index, dtype="object")

    started = pd.to_datetime(column("start_time"), utc=True)
    ended = pd.to_datetime(column("end_time"), utc=True)
    table = pd.DataFrame({
        "experiment": column("experiment"), "run": column(f"tags.{runtree.RUN_NAME}"), "kind": column(KIND),
        "status": column("status"), "dataset": column(f"tags.{runtree.DATASET}"), "started": started,
        "minutes": (ended - started).dt.total_seconds() / 60,
        "test_accuracy": column(f"metrics.{runtree.TEST_ACCURACY}"),
        "cv_accuracy_mean": column(f"metrics.{runtree.CV_MEAN}"),
        "run_id": column("run_id"),
    })
    return table.sort_values("started", ascending=False, na_position="last")
