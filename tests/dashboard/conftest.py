"""Dashboard fixtures: a tiny dataset root, MLflow stores (empty, one written by real studies, broken)
and AppTest.

The studies' store (``tests/dashboard/studies.py``: a tiny MLP and a tiny CNN study run by the engine)
starts building in the background as soon as the collected tests need it (under pytest-xdist, with the
first file that needs it), and the tests that need it run last, so other tests run meanwhile. Stores live on /dev/shm when it exists: SQLite commits there cost nothing, on a
busy disk each costs ~15 ms and a run tree takes many.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT

ENTRY = str(PROJECT_ROOT / "dashboard" / "app.py")
PAGES = [f"views/{name}" for name in ("overview.py", "launch.py", "compare.py", "data.py", "predict.py")
         if (PROJECT_ROOT / "dashboard" / "views" / name).exists()]


def fast_dir(prefix: str) -> Path:
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    from tests.dashboard.builders import tiny_root

    return tiny_root(tmp_path_factory.mktemp("data") / "tiny")


def _store(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


#: The test files with a test that needs the studies' store (found at collection).
_FILES_NEEDING_STUDIES: set[Path] = set()


def pytest_collection_modifyitems(config, items):
    """Run the tests that need the studies' store last, and start building it: a single test process
    starts now, so the build overlaps every other test of the session (the browser tests too); under
    pytest-xdist, where every process collects every test but runs a file at a time, a process starts
    it with the first such file it runs (:func:`studies_start_with_their_file`), so no process builds a
    store it never uses."""
    needs = [item for item in items if {"studies", "populated_store"} & set(item.fixturenames)]
    if needs:
        items[:] = [item for item in items if item not in needs] + needs
        _FILES_NEEDING_STUDIES.update(item.path for item in needs)
        if not os.environ.get("PYTEST_XDIST_WORKER"):
            from tests.dashboard import studies

            studies.start()


@pytest.fixture(autouse=True, scope="module")
def studies_start_with_their_file(request):
    if request.path in _FILES_NEEDING_STUDIES:
        from tests.dashboard import studies

        studies.start()


@pytest.fixture(scope="session")
def studies():
    """The store two tiny real studies wrote (``dash_mlp``, ``dash_cnn``), their roots and results rows."""
    from tests.dashboard.studies import study_store

    return study_store()


@pytest.fixture(scope="session")
def populated_store(studies) -> str:
    return studies.uri


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

