"""Configuration in one place: where the project, the data root and the MLflow store live.

Every default can be overridden by an environment variable, and every command takes the explicit
value as an argument, so nothing below a command reads the environment on its own. This module is the
only reader of the project's environment variables: ``GENRELAB_DATA``, ``GENRELAB_JOBS``,
``GENRELAB_MAX_JOBS``, ``GENRELAB_FMA_URL``, ``GENRELAB_MLFLOW_UI``, ``GENRELAB_VERBOSE``, ``GENRELAB_CACHE`` and
``MLFLOW_TRACKING_URI`` (:mod:`core.quiet` passes its own setting on to the processes it spawns).
"""
from __future__ import annotations

import os
from pathlib import Path

from core.errors import GenreLabError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Default dataset root (the generated demo dataset); ``GENRELAB_DATA`` overrides it.
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "demo"
#: The MLflow store: SQLite database + artifacts under ``mlruns/``; ``MLFLOW_TRACKING_URI`` overrides it.
MLRUNS_DIR = PROJECT_ROOT / "mlruns"
#: Background jobs launched from the dashboard keep their status and logs here.
JOBS_DIR = PROJECT_ROOT / "jobs"
#: Machine-specific caches (e.g. the measured cost of a fit used by dry-run estimates).
CACHE_DIR = PROJECT_ROOT / ".cache"
#: Experiment specs shipped with the project.
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"
#: Where the MLflow UI is expected (``make mlflow``); ``GENRELAB_MLFLOW_UI`` overrides it.
DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"


def data_root(path: str | os.PathLike | None = None) -> Path:
    """The dataset root: ``path`` if given, else ``$GENRELAB_DATA``, else ``data/demo``."""
    if path:
        return Path(path).expanduser().resolve()
    env = os.environ.get("GENRELAB_DATA")
    return Path(env).expanduser().resolve() if env else DEFAULT_DATA_DIR


def jobs_dir() -> Path:
    """Folder for dashboard-launched jobs; ``GENRELAB_JOBS`` overrides it (tests use a temp dir)."""
    env = os.environ.get("GENRELAB_JOBS")
    return Path(env).expanduser().resolve() if env else JOBS_DIR


def mlflow_ui_url() -> str:
    return os.environ.get("GENRELAB_MLFLOW_UI", DEFAULT_MLFLOW_UI)


def cache_dir() -> Path:
    """This machine's caches (study locks of a shared store, cost calibration); ``GENRELAB_CACHE`` moves them."""
    return Path(os.environ.get("GENRELAB_CACHE") or CACHE_DIR)


def verbose() -> bool:
    """``GENRELAB_VERBOSE=1``: commands show TensorFlow's start-up and log lines (as ``--verbose``)."""
    return os.environ.get("GENRELAB_VERBOSE", "") not in ("", "0")


def tracking_uri() -> str:
    """The MLflow store: ``$MLFLOW_TRACKING_URI``, else SQLite at ``mlruns/mlflow.db`` in the project."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"


def fma_url() -> str | None:
    """Base URL of a mirror of FMA's archives (``$GENRELAB_FMA_URL``), or None for FMA's own server."""
    return os.environ.get("GENRELAB_FMA_URL") or None


def max_jobs() -> int:
    """How many background jobs may run at once: ``$GENRELAB_MAX_JOBS`` (default 1).

    Raises
    ------
    GenreLabError
        When the value is not a whole number of at least 1.
    """
    raw = os.environ.get("GENRELAB_MAX_JOBS", "1")
    try:
        value = int(raw)
    except ValueError:
        raise GenreLabError(f"GENRELAB_MAX_JOBS: expected a whole number, got {raw!r}") from None
    if value < 1:
        raise GenreLabError(f"GENRELAB_MAX_JOBS: must be at least 1, got {value}")
    return value
