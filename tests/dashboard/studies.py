"""Tiny real studies for the dashboard and run-tree tests: the engine itself writes the store.

:func:`study_store` runs two specs through ``core.study.engine.run_study`` into one fresh MLflow store,
each in its own process, both at once (about a minute and a half of CPU time):

- ``dash_mlp`` (keras_mlp): an FMA root from ``tests.builders`` whose genres carry a hyphen and a
  slash ("Hip-Hop", "Old-Time / Historic", "Rock"): features + autoencoder inputs, 2 candidates x 2
  folds, the FMA paper's baselines. Not synthetic data, so the original study's marks apply.
- ``dash_cnn`` (keras_cnn): the synthetic demo root (``tests.dashboard.builders.tiny_root``), 10 s vs
  3 s clips, one candidate x 2 folds, early stopping. One candidate: each Keras fit costs seconds of
  graph tracing whatever the data, and the MLP study already has runners-up to compare.

The store is built once per test run (the dashboard, run-tree and README tests share it), in the
background from the moment :func:`start` is called. Under pytest-xdist the run's processes share one
folder (:func:`shared_folder`): the first to need the store builds it there, the others wait for it
and read it, and the controlling process removes it at the end (``tests/conftest.py``); a single test
process builds its own and removes it at exit. ``python -m tests.dashboard.studies mlp|cnn FOLDER`` is
the worker each study runs in.
"""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from core.config import PROJECT_ROOT

#: Genres of the MLP root: FMA's own titles, with the characters a metric name must escape.
GENRES = {"Hip-Hop": 21, "Old-Time / Historic": 8, "Rock": 12}
TRACKS_PER_GENRE = 10
SPECS = {
    "mlp": """
experiment = "dash_mlp"
[dataset]
sizes = ["small"]
[input]
kinds = ["features", "autoencoder"]
[model]
family = "keras_mlp"
[autoencoder]
bottleneck = 8
epochs = 2
[search]
n_candidates = 2
folds = 2
[search.space]
hidden_units = [[16], [8]]
epochs = [2]
batch_size = [32]
[compute]
parallel = "none"
""",
    "cnn": """
experiment = "dash_cnn"
[input]
kinds = ["mels"]
[model]
family = "keras_cnn"
[cnn]
architecture = "compact"
epochs = 2
batch_size = 16
[mels]
n_mels = 16
clip_seconds = [10.0, 3.0]
[search]
folds = 2
early_stopping = true
patience = 2
validation_fraction = 0.2
[search.space]
learning_rate = [0.001]
[compute]
parallel = "none"
n_jobs = 1
""",
}
STUDY_TIMEOUT_S = 600
#: /dev/shm when writable: SQLite commits there cost nothing; on a busy disk a run tree takes seconds.
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


@dataclass
class StudyStore:
    uri: str
    folder: Path
    roots: dict[str, Path]         # "mlp" / "cnn" → the dataset root the study read
    rows: dict[str, list[dict]]    # "mlp" / "cnn" → the results rows run_study returned


_building: dict = {}
_lock = threading.Lock()


def shared_folder(run_id: str) -> Path:
    """The folder the processes of the pytest-xdist run ``run_id`` (``PYTEST_XDIST_TESTRUNUID``) share."""
    return Path(FAST_TMP or tempfile.gettempdir()) / f"genrelab-studies-{run_id}"


def start() -> None:
    """Start building the shared store in the background (the tests that do not need it run meanwhile)."""
    if "thread" in _building:
        return
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id:
        folder = shared_folder(run_id)
        folder.mkdir(exist_ok=True)
        make = build_once
    else:
        folder = Path(tempfile.mkdtemp(prefix="genrelab-studies-", dir=FAST_TMP))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        make = build
    atexit.register(_stop_workers)  # runs first (last registered)

    def work() -> None:
        try:
            _building["store"] = make(folder)
        except BaseException as err:  # handed to whoever waits for the store
            _building["error"] = err

    _building["thread"] = threading.Thread(target=work, name="study-store", daemon=True)
    _building["thread"].start()


def _stop_workers() -> None:
    """At exit: start no more study workers and stop those still running (a session that ended early)."""
    with _lock:
        _building["closed"] = True
        for process in _building.get("workers", []):
            if process.poll() is None:
                process.kill()
                process.wait()


def build_once(folder: Path) -> StudyStore:
    """The store in the shared ``folder``: built by the first process to take its lock, read by the others
    (or the first one's failure, raised again)."""
    with open(folder / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        failed = folder / "failed.txt"
        if failed.exists():
            raise RuntimeError(failed.read_text())
        if all((folder / f"{which}.json").exists() for which in SPECS):
            return read(folder)
        try:
            return build(folder)
        except BaseException as err:
            failed.write_text(f"in another test process: {err}")
            raise


def study_store() -> StudyStore:
    """The shared store with both studies (started now unless :func:`start` did earlier); waits for it."""
    start()
    _building["thread"].join()
    if "error" in _building:
        raise RuntimeError(f"building the study store failed: {_building['error']}")
    return _building["store"]


def build(folder: Path) -> StudyStore:
    """Run both studies into a new store at once, each in a fresh process (``core.tracking.configure``
    creates the store's schema under a lock, so the two never race on it)."""
    uri = _uri(folder)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "GENRELAB_JOBS": str(folder / "jobs"),
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(PROJECT_ROOT)}
    workers = {}
    for which in SPECS:
        with _lock:  # never after the cleanup at exit
            if _building.get("closed"):
                raise RuntimeError("the test session ended")
            log = open(folder / f"{which}.log", "wb")
            workers[which] = (subprocess.Popen([sys.executable, "-m", "tests.dashboard.studies", which, str(folder)],
                                               cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log)
            _building.setdefault("workers", []).append(workers[which][0])
    for which, (process, log) in workers.items():
        try:
            process.wait(timeout=STUDY_TIMEOUT_S)
        finally:
            log.close()
            if process.poll() is None:
                process.kill()
        if process.returncode != 0:
            raise RuntimeError(f"the {which} study failed:\n{(folder / f'{which}.log').read_text()[-4000:]}")
    return read(folder)


def _uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def read(folder: Path) -> StudyStore:
    """The store both studies wrote into ``folder``, with their results rows."""
    rows = {which: json.loads((folder / f"{which}.json").read_text()) for which in SPECS}
    return StudyStore(_uri(folder), folder, {which: folder / which for which in SPECS}, rows)


def run(which: str, folder: Path) -> None:
    """Build the study's dataset root and run its spec (the worker process)."""
    import tensorflow as tf

    from core.models.mlp import configure_threads
    from core.study import cost
    from core.study.engine import run_study
    from core.study.spec import load_spec
    from tests import fixed_cost

    configure_threads(1)  # two studies at once beside the other tests: one thread each, no oversubscription
    tf.constant(0)  # TensorFlow starts now with those pools (run_study's own configure_threads keeps them)

    cost.measured_cost = fixed_cost.fixed  # as in the test processes: the plan never times a network
    if which == "mlp":
        from tests.builders import build_fma_root, genre_rows

        root = build_fma_root(folder / which, genre_rows(TRACKS_PER_GENRE, GENRES), echonest=False)
    else:
        from tests.dashboard.builders import tiny_root

        root = tiny_root(folder / which)
    spec = folder / f"{which}.toml"
    spec.write_text(SPECS[which])
    rows = run_study(load_spec(spec), data=str(root))
    (folder / f"{which}.json").write_text(json.dumps(rows, default=str))


if __name__ == "__main__":
    run(sys.argv[1], Path(sys.argv[2]))
