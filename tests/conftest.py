"""Fixtures shared by every test area. Each test gets its own MLflow store and jobs folder."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A fresh SQLite MLflow store under ``tmp_path``; returns its URI (also in MLFLOW_TRACKING_URI)."""
    from core import tracking

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("GENRELAB_JOBS", str(tmp_path / "jobs"))
    return tracking.configure()
