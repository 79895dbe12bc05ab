"""Configuration in one place: where the project, the data root and the MLflow store live.

Every default can be overridden by an environment variable, and every command takes the explicit
value as an argument, so nothing below a command reads the environment on its own.
"""
from __future__ import annotations

import os
from pathlib import Path

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
