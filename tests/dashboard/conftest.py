"""Dashboard fixtures: a tiny dataset root, MLflow stores (empty, populated, broken) and AppTest.

Stores live on /dev/shm when it exists: SQLite commits there cost nothing, on a busy disk each
costs ~15 ms and a run tree takes many.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT

ENTRY = str(PROJECT_ROOT / "dashboard" / "app.py")
PAGES = ["views/overview.py", "views/launch.py", "views/compare.py", "views/data.py"]


def fast_dir(prefix: str) -> Path:
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    from tests.dashboard.builders import tiny_root

    return tiny_root(tmp_path_factory.mktemp("data") / "tiny")


def _store(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="session")
def populated_store() -> str:
    """A store with one MLP dataset-size study and one CNN clip-length study (synthetic data)."""
    from core import tracking
    from tests.dashboard.builders import TreeWriter, cnn_clip_study, mlp_size_study

    folder = fast_dir("genrelab-store-")
    uri = _store(folder)
    tracking.configure(uri)  # each test's `env` points MLFLOW_TRACKING_URI where it needs
    mlp_size_study(TreeWriter("demo_mlp"), sizes=("8k", "25k"), n_candidates=2, folds=2, epochs=4)
    cnn_clip_study(TreeWriter("demo_cnn"), clip_seconds=(3.0, 10.0), folds=2, epochs=3)
    yield uri
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def empty_store() -> str:
    """A store with its tables created and no runs (no test writes to it)."""
    from core import tracking

    folder = fast_dir("genrelab-empty-")
    uri = tracking.configure(_store(folder))
    tracking.runs_frame()  # creates the tables once (seconds of migrations)
    yield uri
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fresh_store() -> str:
    """The URI of a new, not yet created store of this test's own."""
    folder = fast_dir("genrelab-fresh-")
    yield _store(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def env(tmp_path, monkeypatch, tiny_data, empty_store):
    """Point the dashboard at the tiny data, the empty store and a fresh jobs folder; returns a
    setter to swap the store or data root."""
    monkeypatch.setenv("GENRELAB_DATA", str(tiny_data))
    monkeypatch.setenv("GENRELAB_JOBS", str(tmp_path / "jobs"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", empty_store)
    monkeypatch.setenv("GENRELAB_MLFLOW_UI", "http://127.0.0.1:9")  # nothing listens there

    def use(store: str | None = None, data: str | None = None) -> None:
        if store is not None:
            monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
        if data is not None:
            monkeypatch.setenv("GENRELAB_DATA", data)

    yield use
    from core import jobs

    for job in jobs.list_jobs():
        if job["status"] in jobs.ACTIVE:
            jobs.cancel(job["id"])


@pytest.fixture
def open_page():
    """``open_page("views/x.py")`` → an AppTest that has rendered that page through app.py."""
    from streamlit.testing.v1 import AppTest

    def open_(page: str):
        at = AppTest.from_file(ENTRY, default_timeout=120)
        at.run()
        if page != PAGES[0]:
            at.switch_page(page).run()
        return at

    return open_

