"""core.jobs fixtures: a fresh jobs folder per test, and a process that is not a job's."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from core import jobs
from core.jobs import queue


@pytest.fixture
def jobs_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "jobs"
    monkeypatch.setenv("GENRELAB_JOBS", str(root))
    monkeypatch.delenv("GENRELAB_MAX_JOBS", raising=False)
    yield root
    for job in jobs.list_jobs():  # never leave a test's processes behind
        if job["status"] in jobs.ACTIVE:
            job = jobs.cancel(job["id"])
            if job["status"] == "running":
                queue._signal_group(job, signal.SIGKILL)


@pytest.fixture
def stranger() -> subprocess.Popen:
    """A live process group leader (``setsid sleep 300``): the program that holds a job's pid after a
    crash or reboot. Killed at the end of the test, whatever the test did."""
    proc = subprocess.Popen(["setsid", "sleep", "300"])
    end = time.monotonic() + 10
    while os.getpgid(proc.pid) != proc.pid and time.monotonic() < end:  # setsid() happens after the fork
        time.sleep(0.01)
    assert os.getpgid(proc.pid) == proc.pid, "setsid did not make the sleeper a group leader"
    yield proc
    proc.kill()
    proc.wait()
