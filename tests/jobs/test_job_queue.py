"""core.jobs.queue: background processes, queue, cancel, progress and logs (with small Python commands)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core import jobs, processes
from core.config import PROJECT_ROOT
from core.errors import GenreLabError
from tests.jobs.helpers import (fake_run, read_job_file, sleeper, wait_for, wait_for_group_to_end,
                                wait_on_disk)


def test_finished_job_has_progress_log_and_times(jobs_root):
    job_id = jobs.submit_command(fake_run(fits=3), label="fake")
    job = wait_for(job_id)
    assert job["status"] == "finished" and job["returncode"] == 0
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    assert job["argv"][0] == sys.executable and isinstance(job["argv"], list)
    progress = jobs.read_progress(job_id)
    assert progress["status"] == "finished" and progress["fits_done"] == 3
    assert jobs.tail_log(job_id, 2).splitlines() == ["fit 1", "fit 2"]
    on_disk = json.loads((jobs_root / job_id / "job.json").read_text())
    assert on_disk["status"] == "finished"
    assert [p.name for p in (jobs_root / job_id).iterdir() if p.name.endswith(".tmp")] == []


def test_failed_job_reports_last_log_line(jobs_root):
    job_id = jobs.submit_command(
        lambda p: [sys.executable, "-c", "import sys; print('error: spec.toml: no such key', file=sys.stderr); sys.exit(1)"],
        label="bad")
    job = wait_for(job_id)
    assert job["status"] == "failed" and job["returncode"] == 1
    assert job["message"] == "error: spec.toml: no such key"


def test_queue_runs_one_at_a_time_and_cancel_frees_the_slot(jobs_root):
    first = jobs.submit_command(sleeper, label="first")
    second = jobs.submit_command(fake_run(), label="second")
    assert jobs.get_job(first)["status"] == "running"
    assert jobs.get_job(second)["status"] == "queued"
    jobs.refresh()
    assert jobs.get_job(second)["status"] == "queued"

    jobs.cancel(first)
    assert wait_for(first)["status"] == "killed"
    wait_for_group_to_end(jobs.get_job(first)["pid"])
    assert wait_for(second)["status"] == "finished"


def test_queue_advances_without_anyone_calling_refresh(jobs_root):
    first = jobs.submit_command(
        lambda p: [sys.executable, "-c", "import time; time.sleep(0.5); print('first done', flush=True)"], label="first")
    second = jobs.submit_command(lambda p: [sys.executable, "-c", "print('second done')"], label="second")
    assert read_job_file(jobs_root, second)["status"] == "queued"

    done_first, done_second = wait_on_disk(jobs_root, first), wait_on_disk(jobs_root, second)
    assert done_first["status"] == done_second["status"] == "finished"
    assert done_first["returncode"] == done_second["returncode"] == 0
    assert done_first["finished_at"] <= done_second["started_at"]
    assert jobs.tail_log(first) == "first done" and jobs.tail_log(second) == "second done"


def test_cancel_ends_the_job_and_starts_the_next_without_refresh(jobs_root):
    first = jobs.submit_command(sleeper, label="first")
    second = jobs.submit_command(fake_run(), label="second")
    end = time.monotonic() + 30
    while jobs.tail_log(first) != "sleeping" and time.monotonic() < end:  # the command itself has started
        time.sleep(0.05)
    jobs.cancel(first)
    killed = wait_on_disk(jobs_root, first)
    assert killed["status"] == "killed" and killed["returncode"] == -15  # the command got the SIGTERM
    wait_for_group_to_end(killed["pid"])
    assert wait_on_disk(jobs_root, second)["status"] == "finished"


def test_cancel_during_start_up_never_starts_the_command(jobs_root, tmp_path):
    marker = tmp_path / "started"
    job_id = jobs.submit_command(lambda p: [sys.executable, "-c", f"open({str(marker)!r}, 'w')"], label="x")
    jobs.cancel(job_id)  # the supervisor is still starting: it holds the SIGTERM until it can record it
    job = wait_on_disk(jobs_root, job_id)
    assert job["status"] == "killed" and job["returncode"] is None and not marker.exists()


def test_command_that_cannot_start_fails_with_the_reason(jobs_root, tmp_path):
    job_id = jobs.submit_command(lambda p: [str(tmp_path / "no-such-program")], label="missing")
    job = wait_on_disk(jobs_root, job_id)
    assert job["status"] == "failed" and job["message"].startswith("could not start: ")
    assert "\n" not in job["message"]


def test_max_jobs_from_environment(jobs_root, monkeypatch):
    monkeypatch.setenv("GENRELAB_MAX_JOBS", "2")
    ids = [jobs.submit_command(sleeper, label=str(i)) for i in range(3)]
    assert [jobs.get_job(i)["status"] for i in ids] == ["running", "running", "queued"]
    monkeypatch.setenv("GENRELAB_MAX_JOBS", "zero")
    with pytest.raises(GenreLabError, match="GENRELAB_MAX_JOBS"):
        jobs.refresh()


def test_cancel_queued_job_never_starts(jobs_root):
    jobs.submit_command(sleeper, label="running")
    queued = jobs.submit_command(fake_run(), label="queued")
    assert jobs.cancel(queued)["status"] == "cancelled"
    jobs.refresh()
    job = jobs.get_job(queued)
    assert job["status"] == "cancelled" and job["pid"] is None


def test_once_returns_the_active_twin_instead_of_queueing_again(jobs_root):
    running = jobs.submit_command(sleeper, label="running")
    first = jobs.submit_command(fake_run(), label="study", once=True)
    assert jobs.submit_command(fake_run(), label="study", once=True) == first
    assert jobs.submit_command(fake_run(fits=5), label="study", once=True) != first  # another command
    assert jobs.submit_command(fake_run(), label="study") != first  # without once: queued again
    jobs.cancel(first)
    assert jobs.submit_command(fake_run(), label="study", once=True) not in (first, running)


def test_job_outlives_the_process_that_started_it(jobs_root):
    """A server restart: another process submits; this one sees it run, then notices it died."""
    code = ("import sys, time; from core import jobs; "
            "print(jobs.submit_command(lambda p: [sys.executable, '-c', 'import time; time.sleep(120)'], label='x'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                         capture_output=True, text=True, check=True, timeout=60)
    job_id = out.stdout.strip()
    job = jobs.refresh()[0]
    assert job["id"] == job_id and job["status"] == "running"
    assert psutil.Process(job["pid"]).is_running()

    os.killpg(job["pid"], 9)  # dies without a progress report
    job = wait_for(job_id)
    assert job["status"] == "lost" and job["returncode"] is None
    assert job["message"].startswith(f"its process (pid {job['pid']}) ended without recording how")


# --- a recorded pid that another program holds now (issue 14 #2) ----------------------------------

def record_running_job(root: Path, pid: int, started: float, **fields) -> str:
    """A job.json as a crash leaves it: still ``running``, with its supervisor's pid and start time."""
    job_id = "20000101-000000-c0ffee"
    (root / job_id).mkdir(parents=True)
    job = {"id": job_id, "label": "crashed", "argv": [sys.executable, "-c", "pass"], "status": "running",
           "pid": pid, "process_created": started, "host": processes.host_id(), "returncode": None,
           "created_at": started, "started_at": started, "finished_at": None, "cancel_requested_at": None,
           "message": "", **fields}
    (root / job_id / "job.json").write_text(json.dumps(job))
    return job_id


def assert_still_running(proc: subprocess.Popen) -> None:
    with pytest.raises(subprocess.TimeoutExpired):  # a SIGTERM or SIGKILL would end it well within this
        proc.wait(timeout=0.5)


def test_cancel_never_signals_a_process_that_reuses_the_jobs_pid(jobs_root, stranger):
    job_id = record_running_job(jobs_root, stranger.pid, started=processes.start_time(stranger.pid) - 3600)
    job = jobs.cancel(job_id)
    assert_still_running(stranger)
    assert job["status"] == "lost" and job["cancel_requested_at"] is None
    assert job["message"].startswith(f"its process (pid {stranger.pid}) ended without recording how")
    assert jobs.get_job(job_id) == job


@pytest.mark.parametrize(("cancel_requested", "status"), [(False, "lost"), (True, "killed")])
def test_refresh_never_signals_a_process_that_reuses_the_jobs_pid(jobs_root, stranger, cancel_requested, status):
    started = processes.start_time(stranger.pid)
    asked = started - 2 * jobs.KILL_AFTER_SECONDS if cancel_requested else None  # due for its SIGKILL
    job_id = record_running_job(jobs_root, stranger.pid, started=started - 3600, cancel_requested_at=asked)
    [job] = jobs.refresh()
    assert_still_running(stranger)
    assert job["id"] == job_id and job["status"] == status


def test_job_on_another_host_is_neither_checked_nor_signalled_here(jobs_root, stranger):
    # Same pid and start time as a live process here, but recorded on another host (or pid namespace).
    job_id = record_running_job(jobs_root, stranger.pid, started=processes.start_time(stranger.pid),
                                host="elsewhere/pidns:1")
    with pytest.raises(GenreLabError, match="the job runs on elsewhere/pidns:1; cancel it there"):
        jobs.cancel(job_id)
    assert [job["status"] for job in jobs.refresh()] == ["running"]
    assert_still_running(stranger)
    (jobs_root / job_id / "job.json").unlink()  # no job for the fixture to cancel


def test_bad_job_id_is_one_line_error(jobs_root):
    with pytest.raises(GenreLabError, match="no such job"):
        jobs.cancel("../etc")
    assert jobs.list_jobs() == [] and jobs.refresh() == []


def test_remaining_seconds_prefers_runner_estimate():
    assert jobs.remaining_seconds({"eta_seconds": 12.5}) == 12.5
    assert jobs.remaining_seconds({"fits_done": 2, "fits_total": 6, "started_at": 100.0, "eta_seconds": None},
                                  now=110.0) == pytest.approx(20.0)
    assert jobs.remaining_seconds({"fits_done": 0, "fits_total": 6, "started_at": 100.0}) is None


def test_tail_log_reads_only_the_end(jobs_root):
    job_id = jobs.submit_command(lambda p: [sys.executable, "-c", "print('\\n'.join(map(str, range(5000))))"],
                                 label="long")
    wait_for(job_id)
    assert jobs.tail_log(job_id, 3).splitlines() == ["4997", "4998", "4999"]
