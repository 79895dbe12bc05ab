"""Several processes on one MLflow store: creating a fresh store at once, and the study lock."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mlflow
import pytest

from core import processes, tracking
from core.config import PROJECT_ROOT
from core.errors import GenreLabError
from core.tracking.locks import HELD_TAG

#: Seconds any child may take (importing MLflow alone takes a few).
CHILD_TIMEOUT_S = 120


def _spawn(code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """Run ``code`` in a fresh interpreter from the project root (so ``core`` imports)."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=PROJECT_ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Wait until ``proc`` created ``path`` (fails the test if it exits first or takes too long)."""
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"child exited {proc.returncode} early: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


# --- creating the store -----------------------------------------------------------------------------

# Each child imports everything, says it is ready, waits for "go", then does what a study does first.
_FIRST_RUN = """
    import sys, time
    from pathlib import Path
    import mlflow
    from core import tracking
    uri, barrier, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    (barrier / f"ready-{name}").touch()
    while not (barrier / "go").exists():
        time.sleep(0.001)
    tracking.configure(uri)
    with tracking.start_run(name, experiment="race", kind="study"):
        mlflow.log_metric("accuracy", 0.5)
"""


def test_processes_creating_a_fresh_store_at_once_all_succeed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    names = [f"p{i}" for i in range(4)]
    procs = [_spawn(_FIRST_RUN, uri, str(barrier), name) for name in names]
    for name, proc in zip(names, procs):
        _wait_for(barrier / f"ready-{name}", proc)
    (barrier / "go").touch()
    results = [proc.communicate(timeout=CHILD_TIMEOUT_S) for proc in procs]
    for proc, (_, err) in zip(procs, results):
        assert proc.returncode == 0 and "Traceback" not in err, err
    tracking.configure(uri)
    runs = tracking.runs_frame(["race"])
    assert sorted(runs["tags.mlflow.runName"]) == names
    assert set(runs["status"]) == {"FINISHED"}


# --- the study lock ---------------------------------------------------------------------------------

# Takes the lock of study (exp, KEY) and holds it until the file "release" appears.
_HOLDER = """
    import sys, time
    from pathlib import Path
    from core import tracking
    uri, flags, key = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    tracking.configure(uri)
    with tracking.study_lock("exp", key):
        (flags / "locked").touch()
        while not (flags / "release").exists():
            time.sleep(0.02)
"""

# Asks for the same lock (waiting if told to) and reports as the CLI does: one line, exit status 1.
_CONTENDER = """
    import sys
    from pathlib import Path
    from core import tracking
    from core.errors import GenreLabError
    uri, flags, key, wait = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "wait"
    tracking.configure(uri)
    (flags / "asking").touch()
    try:
        with tracking.study_lock("exp", key, wait=wait, poll_s=0.05):
            (flags / "acquired").touch()
    except GenreLabError as err:
        sys.exit(f"error: {err}")
"""

_REFUSAL = (r"error: study exp \({key}\) is already running: pid {pid} on {host} since \d\d:\d\d:\d\d; "
            r"wait for it or pass --wait")


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory) -> str:
    """One store for the study lock tests (creating one takes seconds); each test uses its own keys."""
    return tracking.configure(f"sqlite:///{tmp_path_factory.mktemp('locks') / 'mlruns' / 'mlflow.db'}")


@pytest.fixture
def store(shared_store) -> str:
    """The shared store, configured in this process; its URI."""
    return tracking.configure(shared_store)


def _lock_file(store: str, key: str) -> Path:
    return Path(store[len("sqlite:///"):]).parent / "locks" / f"exp-{key}.lock"


@pytest.fixture
def holder(store, tmp_path, request):
    """A process holding the lock of study (exp, <test name>); yields (process, flags folder, key)."""
    flags, key = tmp_path / "flags", request.node.name
    flags.mkdir()
    proc = _spawn(_HOLDER, store, str(flags), key)
    _wait_for(flags / "locked", proc)
    yield proc, flags, key
    (flags / "release").touch()
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=CHILD_TIMEOUT_S)


def test_second_study_process_refuses_with_one_line(store, holder):
    proc, flags, key = holder
    contender = _spawn(_CONTENDER, store, str(flags), key, "refuse")
    _, err = contender.communicate(timeout=CHILD_TIMEOUT_S)
    assert contender.returncode == 1 and not (flags / "acquired").exists()
    assert re.fullmatch(_REFUSAL.format(key=key, pid=proc.pid, host=re.escape(processes.host_id())),
                        err.strip()), err
    payload = json.loads(_lock_file(store, key).read_text())
    assert (payload["pid"], payload["host"]) == (proc.pid, processes.host_id())
    assert payload["started"] == processes.start_time(proc.pid) and payload["since"] >= payload["started"]


def test_waiting_study_process_proceeds_when_the_first_ends(store, holder):
    proc, flags, key = holder
    waiter = _spawn(_CONTENDER, store, str(flags), key, "wait")
    _wait_for(flags / "asking", waiter)
    time.sleep(1)  # twenty polls
    assert waiter.poll() is None and not (flags / "acquired").exists()
    (flags / "release").touch()
    out, err = waiter.communicate(timeout=CHILD_TIMEOUT_S)
    assert waiter.returncode == 0 and (flags / "acquired").exists()
    assert out == "" and "Traceback" not in err
    assert proc.wait(timeout=CHILD_TIMEOUT_S) == 0


def test_lock_of_a_killed_process_does_not_block(store, holder):
    proc, _, key = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=CHILD_TIMEOUT_S)
    lock = _lock_file(store, key)
    assert json.loads(lock.read_text())["pid"] == proc.pid, "the dead holder's file is still there"
    with tracking.study_lock("exp", key):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_lock_is_per_study_and_refuses_in_the_same_process(store):
    with tracking.study_lock("exp", "same-1"):
        with tracking.study_lock("exp", "same-2"), tracking.study_lock("other/exp", "same-1"):
            pass
        with pytest.raises(GenreLabError, match=rf"pid {os.getpid()} on .* since"):
            with tracking.study_lock("exp", "same-1"):
                pass
    with tracking.study_lock("exp", "same-1"):  # released on leaving the block
        pass
    assert _lock_file(store, "same-1").with_name("other_exp-same-1.lock").exists(), "names are file-safe"


def _study_claim(key: str, host: str, pid: int, started: float) -> None:
    """A study lock's claim on ``key`` in experiment ``exp`` (a RUNNING run), owned as given."""
    from mlflow.tracking import MlflowClient

    tags = {tracking.KIND_TAG: tracking.CLAIM_KIND, tracking.KEY_TAG: key, tracking.HOST_TAG: host,
            tracking.PID_TAG: str(pid), tracking.STARTED_TAG: str(started), HELD_TAG: "held"}
    MlflowClient().create_run(tracking.experiment_id("exp"), tags=tags)


def test_study_claimed_on_another_host_counts_as_locked(store):
    _study_claim("remote-1", "elsewhere/pidns:4026531836", 4321, 1700000000.0)
    _study_claim("remote-2", processes.host_id(), 999999999, 1700000000.0)  # this host, dead: removed
    with pytest.raises(GenreLabError, match=r"^study exp \(remote-1\) is already running: pid 4321 on "
                                            r"elsewhere/pidns:4026531836 since \d\d:\d\d:\d\d; wait"):
        with tracking.study_lock("exp", "remote-1"):
            pass
    with tracking.study_lock("exp", "remote-2"):
        pass
    claims = mlflow.search_runs(experiment_names=["exp"], filter_string=f"tags.`{tracking.KIND_TAG}` = 'study-claim'")
    remote = claims[claims["tags.genrelab.key"].str.startswith("remote-")]
    assert list(remote["tags.genrelab.key"]) == ["remote-1"]  # the dead one's claim and ours are gone


# Contends for the claim of study (exp, KEY) the way two hosts do (no lock file in common), all at once;
# prints "won" (and holds the claim until "done" appears) or the holder it was refused for.
_CLAIMANT = """
    import sys, time
    from pathlib import Path
    from core import tracking
    from core.tracking import locks
    uri, barrier, key, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    tracking.configure(uri)
    tracking.experiment_id("exp")
    (barrier / f"ready-{name}").touch()
    while not (barrier / "go").exists():
        time.sleep(0.001)
    claim, holder = locks._claim("exp", key)
    print("won" if claim else f"refused for {holder['pid']}", flush=True)
    (barrier / f"said-{name}").touch()
    while claim and not (barrier / "done").exists():
        time.sleep(0.01)
    if claim:
        locks._release_claim(claim)
"""


@pytest.mark.parametrize("attempt", range(3))
def test_claims_made_at_once_let_exactly_one_process_through(store, tmp_path, attempt):
    """Contenders that see each other never all back off (they did, under load, in CI) nor both win."""
    barrier, key, names = tmp_path / "barrier", f"at-once-{attempt}", ["a", "b", "c"]
    barrier.mkdir()
    procs = [_spawn(_CLAIMANT, store, str(barrier), key, name) for name in names]
    for name, proc in zip(names, procs):
        _wait_for(barrier / f"ready-{name}", proc)
    (barrier / "go").touch()
    for name, proc in zip(names, procs):
        _wait_for(barrier / f"said-{name}", proc)
    (barrier / "done").touch()
    said = {proc.pid: proc.communicate(timeout=CHILD_TIMEOUT_S)[0].strip() for proc in procs}
    winners = [pid for pid, line in said.items() if line == "won"]
    assert len(winners) == 1, said
    assert all(line == f"refused for {winners[0]}" for pid, line in said.items() if pid != winners[0]), said
