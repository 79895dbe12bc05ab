"""Commands to queue and ways to wait for jobs, shared by the core.jobs tests."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psutil

from core import jobs

# A stand-in for the runner: reports progress like `python -m core run --progress PATH` does.
FAKE_RUNNER = """
import json, os, sys, time
progress, fits, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def report(status, done):
    tmp = progress + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"status": status, "fits_done": done, "fits_total": fits, "current": f"fit {done}/{fits}",
                   "started_at": time.time(), "updated_at": time.time(), "eta_seconds": None,
                   "message": ""}, f)
    os.replace(tmp, progress)
for done in range(fits):
    report("running", done)
    print("fit", done, flush=True)
    time.sleep(pause)
report("finished", fits)
"""


def fake_run(fits: int = 2, pause: float = 0.0):
    return lambda progress: [sys.executable, "-c", FAKE_RUNNER, str(progress), str(fits), str(pause)]


def sleeper(progress: Path) -> list[str]:
    return [sys.executable, "-c", "import time; print('sleeping', flush=True); time.sleep(120)"]


def wait_for(job_id: str, statuses=("finished", "failed", "killed", "cancelled", "lost"), deadline: float = 60) -> dict:
    """Call refresh() until the job reaches one of ``statuses``; returns it."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        jobs.refresh()
        job = jobs.get_job(job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {jobs.get_job(job_id)['status']}")


def read_job_file(root: Path, job_id: str) -> dict:
    return json.loads((root / job_id / "job.json").read_text())


def wait_on_disk(root: Path, job_id: str, statuses=("finished", "failed", "killed"), deadline: float = 60) -> dict:
    """Poll job.json alone: no refresh() from this process, so only the job's supervisor moves it on."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        job = read_job_file(root, job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {read_job_file(root, job_id)['status']}")


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (not zombie) processes in process group ``pgid``."""
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, psutil.Error):
            pass
    return members


def wait_for_group_to_end(pgid: int, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while group_members(pgid) and time.monotonic() < end:
        time.sleep(0.05)
    assert not group_members(pgid), f"job processes still alive: {group_members(pgid)}"
