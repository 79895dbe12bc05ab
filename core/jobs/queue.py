"""The job queue: any command as a background job in its own process group, N at a time.

A job is a folder under :func:`core.config.jobs_dir`::

    <job_id>/job.json       {"id", "label", "argv": [...], "status", "pid", "process_created", "host",
                             "returncode", "created_at", "started_at", "finished_at",
                             "cancel_requested_at", "message"}
    <job_id>/log.txt        the process's stdout and stderr
    <job_id>/progress.json  written by the command (it gets the path), see :func:`read_progress`

Status moves ``queued -> running -> finished | failed | killed | lost``: ``lost`` is a job whose
process ended without recording how (killed from outside, the machine restarted). A queued job that
is cancelled becomes ``cancelled``. A job runs as ``python -m core.jobs supervise JOB_DIR``
(:func:`supervise`), started with ``start_new_session=True`` so it keeps running when the browser
reloads or the Streamlit server restarts. The supervisor runs the job's argv as its child in the same
process group, records how it ended and then starts the next queued job, so the queue advances with no
dashboard open. The job folder is the only shared state, so any process can pick up where another left
off. Arguments travel as an argv list (never through a shell). Nothing here imports Streamlit.

The supervisor is recorded by pid, start time and host (:mod:`core.processes`): after a crash or reboot
its pid may belong to another program, which must never be signalled or taken for the job.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil

from core import processes
from core.config import PROJECT_ROOT, jobs_dir, max_jobs
from core.errors import GenreLabError, first_line
from core.files import write_atomic

ACTIVE = ("queued", "running")
#: A cancelled job that still runs this long after SIGTERM gets SIGKILL (the runner had its chance
#: to end its MLflow runs as KILLED).
KILL_AFTER_SECONDS = 30.0
_JOB_FILE, _LOG_FILE, _PROGRESS_FILE, _LOCK_FILE = "job.json", "log.txt", "progress.json", ".lock"

# Processes started by this server process, so their exit status can be collected (and zombies
# reaped). Jobs started by an earlier server process are watched by pid and start time alone.
_children: dict[str, subprocess.Popen] = {}


def submit_command(make_argv: Callable[[Path], list[str]], *, label: str, once: bool = False) -> str:
    """Queue any command; ``make_argv(progress_path)`` returns its argv. Returns the job id.

    Parameters
    ----------
    make_argv
        Builds the command line, given the path where the command may keep its progress report.
    label
        The name shown in job lists.
    once
        If a job whose command is the same (up to its progress path) is still queued or running,
        return its id instead of queueing a twin (``make demo`` run twice queues nothing new).
    """
    root = jobs_dir()
    root.mkdir(parents=True, exist_ok=True)
    if once:
        wanted = [str(a) for a in make_argv(Path(_PROGRESS_FILE))]
        for job in refresh():
            if job["status"] in ACTIVE and _without_progress(job) == wanted:
                return job["id"]
    job_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    folder = root / job_id
    folder.mkdir()
    argv = [str(a) for a in make_argv(folder / _PROGRESS_FILE)]
    _write_job(folder, {
        "id": job_id, "label": label, "argv": argv, "status": "queued", "pid": None, "returncode": None,
        "created_at": time.time(), "started_at": None, "finished_at": None,
        "cancel_requested_at": None, "message": "",
    })
    refresh()
    return job_id


def _without_progress(job: dict) -> list[str]:
    """A job's argv with its own progress path replaced by the bare file name (for comparisons)."""
    own = str(jobs_dir() / job["id"] / _PROGRESS_FILE)
    return [_PROGRESS_FILE if a == own else a for a in job["argv"]]


def refresh() -> list[dict]:
    """Update every job's status: collect ended processes, escalate stuck cancellations, start queued
    jobs while fewer than :func:`max_jobs` run. Returns all jobs, newest first. Safe to call often and
    from several server processes at once (a file lock serialises it)."""
    root = jobs_dir()
    if not root.is_dir():
        return []
    with _locked(root):
        jobs = _read_all(root)
        for job in jobs:
            if job["status"] == "running":
                _check_running(root / job["id"], job)
            elif job["id"] in _children and _children[job["id"]].poll() is not None:
                del _children[job["id"]]  # its supervisor recorded the end and exited: reaped now
        free = max_jobs() - sum(job["status"] == "running" for job in jobs)
        for job in sorted((j for j in jobs if j["status"] == "queued"), key=lambda j: j["created_at"]):
            if free <= 0:
                break
            _start(root / job["id"], job)
            free -= 1
    return jobs


def list_jobs() -> list[dict]:
    """All jobs, newest first (as last written; call :func:`refresh` to update them)."""
    root = jobs_dir()
    return _read_all(root) if root.is_dir() else []


def get_job(job_id: str) -> dict:
    """Job ``job_id`` as last written; GenreLabError if there is no such job."""
    return _read_job(_folder(job_id))


def cancel(job_id: str) -> dict:
    """Cancel a job and return it, updated.

    A queued job never starts. A running one's process group gets SIGTERM (the runner ends its MLflow
    runs as KILLED). A running job whose process is gone (its pid may now be another program's) is
    recorded as ended, as :func:`refresh` would, and nothing is signalled. A job running on another
    host can only be cancelled there (GenreLabError).
    """
    folder = _folder(job_id)
    with _locked(folder.parent):
        job = _read_job(folder)
        if job["status"] == "queued":
            job.update(status="cancelled", finished_at=time.time(), message="cancelled before it started")
            _write_job(folder, job)
        elif job["status"] == "running":
            if not _on_this_host(job):
                raise GenreLabError(f"{folder}: the job runs on {job['host']}; cancel it there")
            if _signal_group(job, signal.SIGTERM):
                job["cancel_requested_at"] = job["cancel_requested_at"] or time.time()
                _write_job(folder, job)
            else:  # gone, and its pid perhaps another program's: record how it ended, signal nothing
                _check_running(folder, job)
    return job


def read_progress(job_id: str) -> dict | None:
    """The command's last progress report, or None before its first one.

    Keys (as the study runner writes them): status, fits_done, fits_total, current, started_at,
    updated_at, eta_seconds, message.
    """
    return _read_progress_at(_folder(job_id))


def _read_progress_at(folder: Path) -> dict | None:
    try:
        return json.loads((folder / _PROGRESS_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Written by os.replace, so a half-written file should not happen; treat it as "no news yet".
        return None


def remaining_seconds(progress: Mapping[str, Any], now: float | None = None) -> float | None:
    """Seconds left: the runner's own estimate, else elapsed time scaled by the fits still to do."""
    if progress.get("eta_seconds") is not None:
        return float(progress["eta_seconds"])
    done, total, started = progress.get("fits_done") or 0, progress.get("fits_total") or 0, progress.get("started_at")
    if not done or not total or started is None:
        return None
    elapsed = (now or time.time()) - float(started)
    return max(0.0, elapsed / done * (total - done))


def tail_log(job_id: str, n: int = 40) -> str:
    """The last ``n`` lines of the job's log (empty before the job starts)."""
    return _tail(_folder(job_id) / _LOG_FILE, n)


def _tail(path: Path, n: int) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        block, data = 8192, b""
        while size > 0 and data.count(b"\n") <= n:
            step = min(block, size)
            size -= step
            f.seek(size)
            data = f.read(step) + data
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-n:])


# --- the job folder -------------------------------------------------------------------------------

def _folder(job_id: str) -> Path:
    folder = jobs_dir() / job_id
    if not job_id or "/" in job_id or job_id.startswith(".") or not (folder / _JOB_FILE).is_file():
        raise GenreLabError(f"{folder}: no such job")
    return folder


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(root / _LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_job(folder: Path) -> dict:
    return json.loads((folder / _JOB_FILE).read_text())


def _write_job(folder: Path, job: dict) -> None:
    write_atomic(folder / _JOB_FILE, json.dumps(job, indent=1))


def _read_all(root: Path) -> list[dict]:
    jobs = []
    for path in root.glob(f"*/{_JOB_FILE}"):
        with contextlib.suppress(OSError, ValueError):
            jobs.append(json.loads(path.read_text()))
    return sorted(jobs, key=lambda j: j["created_at"], reverse=True)


# --- running a job --------------------------------------------------------------------------------

def supervise(folder: Path) -> int:
    """Run the job in ``folder`` to its end: the body of ``python -m core.jobs supervise JOB_DIR``.

    Runs as the leader of the job's process group (see :func:`_start`) with the job's argv as its
    child in that group. A cancel's SIGTERM to the group reaches the child; the supervisor itself
    stays to record the end, and SIGKILLs the child if it still runs :data:`KILL_AFTER_SECONDS` later.
    Then it records status and returncode in job.json and starts queued jobs (:func:`refresh`).
    Returns the child's exit status.
    """
    folder = Path(folder).resolve()
    os.environ["GENRELAB_JOBS"] = str(folder.parent)  # refresh() below must see this job's queue
    terminated = False
    child: subprocess.Popen | None = None

    def on_term(signum: int, frame: Any) -> None:
        nonlocal terminated
        terminated = True
        signal.alarm(int(KILL_AFTER_SECONDS))

    def on_alarm(signum: int, frame: Any) -> None:
        if child is not None:
            child.kill()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # blocked by _start; a pending one lands now
    argv = _read_job(folder)["argv"]
    try:
        if not terminated:  # a cancel that came while this process started up: do not begin
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, cwd=PROJECT_ROOT)
            if terminated:  # the group's SIGTERM came between the check and the start: pass it on
                child.terminate()
    except OSError as err:
        returncode, message = None, f"could not start: {first_line(err)}"
    else:
        returncode = child.wait() if child is not None else None
        message = ""
    with _locked(folder.parent):
        job = _read_job(folder)
        if job["status"] == "running":
            _finish(folder, job, returncode, killed=terminated, message=message)
    refresh()
    return 1 if returncode is None else returncode


def _start(folder: Path, job: dict) -> None:
    log = open(folder / _LOG_FILE, "ab")
    # The supervisor inherits SIGTERM blocked and unblocks it once its handler is in place: a cancel
    # during its start-up waits for it instead of killing it before it can record anything.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        proc = subprocess.Popen([sys.executable, "-m", "core.jobs", "supervise", str(folder)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=PROJECT_ROOT, start_new_session=True)
    except OSError as err:
        job.update(status="failed", finished_at=time.time(), message=f"could not start: {first_line(err)}")
    else:
        _children[job["id"]] = proc
        # Our child until we reap it, so its start time can be read even if it has already exited.
        job.update(status="running", pid=proc.pid, process_created=processes.start_time(proc.pid),
                   host=processes.host_id(), started_at=time.time())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        log.close()
    _write_job(folder, job)


def _check_running(folder: Path, job: dict) -> None:
    """Notice a job whose supervisor died without recording the end (killed, machine restarted), and
    SIGKILL a cancelled one that outlived :data:`KILL_AFTER_SECONDS`."""
    if not _on_this_host(job):
        return  # its process can be seen, and signalled, only from its own host
    returncode = _exit_status(job)
    if returncode is _STILL_RUNNING:
        asked = job.get("cancel_requested_at")
        if asked and time.time() - asked > KILL_AFTER_SECONDS:
            _signal_group(job, signal.SIGKILL)
        return
    _children.pop(job["id"], None)
    _finish(folder, job, returncode)


def _finish(folder: Path, job: dict, returncode: int | None, *, killed: bool = False, message: str = "") -> None:
    """Record how a running job ended.

    ``returncode`` None with no ``message`` means the process ended without a word: its last progress
    report decides, and without one the job is ``lost``.
    """
    progress = _read_progress_at(folder) or {}
    reported = progress.get("status")
    if killed or job.get("cancel_requested_at") or reported == "killed":
        status = "killed"
    elif returncode == 0:
        status = "finished"
    elif returncode is None and not message:
        status = reported if reported in ("finished", "failed") else "lost"
    else:
        status = "failed"
    message = message or progress.get("message") or ""
    if status == "lost" and not message:
        message = f"its process (pid {job['pid']}) ended without recording how: killed, or the machine restarted"
    elif status == "failed" and not message:
        message = _tail(folder / _LOG_FILE, 1).strip() or (
            f"exited with status {returncode}" if returncode is not None else "the command reported a failure")
    job.update(status=status, returncode=returncode, finished_at=time.time(), message=message)
    _write_job(folder, job)


# --- the recorded process -------------------------------------------------------------------------

_STILL_RUNNING = object()


def _on_this_host(job: dict) -> bool:
    """Whether the job's process runs on this host (pid namespace); records without a host are local."""
    return job.get("host") in (None, processes.host_id())


def _alive(job: dict) -> bool:
    """Whether the job's supervisor still runs here: its pid is held by a process with its start time."""
    return processes.is_running(job.get("pid"), job.get("process_created"))


def _exit_status(job: dict) -> Any:
    """The exit code, None when the process ended but its code is unknown (started by another server
    process), or ``_STILL_RUNNING``."""
    proc = _children.get(job["id"])
    if proc is not None:
        code = proc.poll()
        return _STILL_RUNNING if code is None else code
    if not _alive(job):
        return None
    with contextlib.suppress(psutil.NoSuchProcess):
        if psutil.Process(job["pid"]).status() == psutil.STATUS_ZOMBIE:
            return _reap(job["pid"])
    return _STILL_RUNNING


def _reap(pid: int) -> int | None:
    """Collect a dead child of this process that ``_children`` forgot; None if it is not our child."""
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if reaped else None


def _signal_group(job: dict, sig: int) -> bool:
    """Send ``sig`` to the job's process group if its supervisor still runs (:func:`_alive`).

    Returns False, signalling nothing, when the recorded process is gone: its pid, and so the group
    of that number, may belong to another program by now.
    """
    if not _alive(job):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(job["pid"], sig)
    return True
