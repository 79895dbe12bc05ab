"""Fixtures shared by every test area. Each test gets its own MLflow store and jobs folder.

Builders of test data (audio clips, FMA dataset roots) live in tests/builders.py.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from tests.builders import write_audio

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: The files that take longest (CI's log lists the slowest tests), longest first. The suite runs on two
#: processes, a file at a time (pytest-xdist ``--dist loadfile``, in collection order): started first,
#: they no longer leave one process running them alone at the end.
SLOW_FILES_FIRST = ("test_readme_commands.py", "e2e/test_browser.py", "features/test_numba_cache.py",
                    "test_tracking_server.py", "dashboard/test_launch.py", "study/test_concurrency.py",
                    "models/test_musicnn.py", "registry/test_zeroshot.py", "study/test_dask_processes.py")


def pytest_collection_modifyitems(config, items):
    tests = Path(__file__).parent
    rank = {tests / name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))  # stable: the others keep their order


def pytest_configure(config):
    """Under pytest-xdist, this (controlling) process names the run, so that its test processes can share
    a folder it removes at the end (the dashboard's studies store: ``tests/dashboard/studies.py``)."""
    if config.getoption("numprocesses", None) and not hasattr(config, "workerinput"):
        config.option.testrunuid = config.option.testrunuid or uuid.uuid4().hex


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput") and getattr(config.option, "testrunuid", None):
        from tests.dashboard import studies

        shutil.rmtree(studies.shared_folder(config.option.testrunuid), ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def plans_never_time_a_network(tmp_path_factory):
    """A study's plan costs its fits with :mod:`tests.fixed_cost`, not a timing of this machine: in this
    process, and in the studies tests start in other processes (the dashboard's jobs, ``python -m core
    run``), whose ``GENRELAB_CACHE`` is a folder of this session's that knows every local executor at the
    fixed cost (the checkout's own ``.cache`` is left alone)."""
    from core.study.executor import make_executor
    from tests import fixed_cost

    cache = tmp_path_factory.mktemp("genrelab-cache")
    for parallel in ("none", "processes", "threads"):
        for n_jobs in (0, 1, 2):
            with contextlib.closing(make_executor(parallel, n_jobs, None)) as executor:
                fixed_cost.write_cost_file(cache, executor)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("core.study.cost.measured_cost", fixed_cost.fixed)
        mp.setenv("GENRELAB_CACHE", str(cache))
        yield


@pytest.fixture(autouse=True)
def keep_main_module():
    """Streamlit's AppTest runs a page as ``__main__``; processes spawned later (worker pools, Dask
    nannies) would run that page again on start and die. Put the real ``__main__`` back after each test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def quiet_setting_stays_in_its_test():
    """``main([...])`` called in the test process installs core.quiet, which sets the environment for the
    processes it spawns: restore it, so a later test's subprocess does not inherit it."""
    from core import quiet

    saved = {k: os.environ.get(k) for k in (quiet.QUIET_ENV, "TF_CPP_MIN_LOG_LEVEL")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A fresh SQLite MLflow store under ``tmp_path``; returns its URI (also in MLFLOW_TRACKING_URI)."""
    from core import tracking

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("GENRELAB_JOBS", str(tmp_path / "jobs"))
    return tracking.configure()


@pytest.fixture(scope="module")
def module_store(tmp_path_factory) -> str:
    """A fresh MLflow store shared by one test module (a study run is too slow to repeat per test)."""
    from core import tracking

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        yield tracking.configure()


@pytest.fixture
def audio_file(tmp_path):
    """Factory: ``audio_file("x.mp3", seconds=2, sr=44100, channels=2)`` writes a ``write_audio`` clip in tmp_path."""

    def make(name: str, **kwargs) -> Path:
        return write_audio(tmp_path / name, **kwargs)

    return make
