"""core.jobs: background processes, queue, cancel, progress and logs (with small Python commands)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core import jobs
from core.config import PROJECT_ROOT
from core.errors import GenreLabError

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


def wait_for(job_id: str, statuses=("finished", "failed", "killed", "cancelled"), deadline: float = 60) -> dict:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        jobs.refresh()
        job = jobs.get_job(job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {jobs.get_job(job_id)['status']}")


@pytest.fixture
def jobs_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "jobs"
    monkeypatch.setenv("GENRELAB_JOBS", str(root))
    monkeypatch.delenv("GENRELAB_MAX_JOBS", raising=False)
    yield root
    for job in jobs.list_jobs():  # never leave a test's processes behind
        if job["status"] in jobs.ACTIVE:
            jobs.cancel(job["id"])
            if job.get("pid"):
                jobs._signal_group(job["pid"], 9)


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
    assert job["status"] == "failed" and job["message"]


def test_run_argv_passes_values_as_data(tmp_path):
    hostile = "x; rm -rf / $(whoami)"
    argv = jobs.run_argv(tmp_path / "spec.toml", {"selection.genres": ["Rock", "Hip-Hop"], "name": hostile,
                                                  "search.epochs": 3, "cv.shuffle": True},
                         tmp_path / "data", tmp_path / "progress.json")
    assert argv[:5] == [sys.executable, "-m", "core", "run", str(tmp_path / "spec.toml")]
    assert argv[5:7] == ["--data", str(tmp_path / "data")]
    assert f"name={hostile}" in argv
    assert 'selection.genres=["Rock", "Hip-Hop"]' in argv
    assert "search.epochs=3" in argv and "cv.shuffle=true" in argv
    assert argv[-2:] == ["--progress", str(tmp_path / "progress.json")]


def test_bad_input_is_one_line_error(jobs_root, tmp_path):
    with pytest.raises(GenreLabError, match="spec not found"):
        jobs.submit(tmp_path / "missing.toml")
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


def test_dry_run_error_is_the_runners_one_line(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[model]\nfamily = "keras_mlp"\n[search]\nfolds = 1\n')
    with pytest.raises(GenreLabError) as caught:
        jobs.dry_run(spec)
    assert str(caught.value) == f"{spec}: search.folds: must be >= 2"


def test_cli_queues_commands_and_studies(jobs_root, tmp_path, capsys, monkeypatch):
    from core.__main__ import main

    monkeypatch.chdir(tmp_path)  # relative paths are made absolute: the job runs from the project root
    code = "import sys, time; time.sleep(1); print('progress at', sys.argv[1])"
    assert main(["jobs", "submit-command", "first", "--", sys.executable, "-c", code, "{progress}"]) == 0
    first = capsys.readouterr().out.strip()
    (tmp_path / "spec.toml").write_text("")
    assert main(["jobs", "submit", "spec.toml", "--data", "data", "--set", "search.epochs=3"]) == 0
    study = capsys.readouterr().out.strip()

    queued = jobs.get_job(study)
    assert queued["status"] == "queued" and queued["label"] == "spec search.epochs=3"
    assert queued["argv"][3:] == ["run", str(tmp_path / "spec.toml"), "--data", str(tmp_path / "data"),
                                  "--set", "search.epochs=3", "--progress", str(jobs_root / study / "progress.json")]
    assert main(["jobs", "cancel", study]) == 0
    assert wait_on_disk(jobs_root, first)["status"] == "finished"
    assert jobs.tail_log(first) == f"progress at {jobs_root / first / 'progress.json'}"

    capsys.readouterr()
    assert main(["jobs", "list"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [row[:3] for row in rows] == [[study, "cancelled", "spec search.epochs=3"], [first, "finished", "first"]]


def test_cli_bad_input_is_one_line_error(jobs_root, tmp_path, capsys):
    from core.__main__ import main

    assert main(["jobs", "submit", str(tmp_path / "missing.toml")]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing.toml'}: experiment spec not found\n"
    (tmp_path / "spec.toml").write_text("")
    assert main(["jobs", "submit", str(tmp_path / "spec.toml"), "--set", "epochs"]) == 1
    assert capsys.readouterr().err == "error: --set epochs: expected KEY=VALUE\n"
    assert main(["jobs", "submit-command", "nothing", "--"]) == 1
    assert "no command given" in capsys.readouterr().err
    assert jobs.list_jobs() == []
