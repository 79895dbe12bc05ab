"""Background jobs for the dashboard: long study runs in their own process group, queued N at a time.

A job is a folder under :func:`core.config.jobs_dir`::

    <job_id>/job.json       {"id", "label", "argv": [...], "status", "pid", "returncode",
                             "created_at", "started_at", "finished_at", "cancel_requested_at", "message"}
    <job_id>/log.txt        the process's stdout and stderr
    <job_id>/progress.json  written by the runner (``--progress``), see :func:`read_progress`

Status moves ``queued -> running -> finished | failed | killed``; a queued job that is cancelled
becomes ``cancelled``. A job runs as ``python -m core.jobs supervise JOB_DIR`` (:func:`supervise`),
started with ``start_new_session=True`` so it keeps running when the browser reloads or the Streamlit
server restarts. The supervisor runs the job's argv as its child in the same process group, records
how it ended and then starts the next queued job, so the queue advances with no dashboard open. The
job folder is the only shared state, so any process can pick up where another left off. Arguments
travel as an argv list (never through a shell). Nothing here imports Streamlit.
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

from core.config import PROJECT_ROOT, jobs_dir
from core.errors import GenreLabError

ACTIVE = ("queued", "running")
#: A cancelled job that still runs this long after SIGTERM gets SIGKILL (the runner had its chance
#: to end its MLflow runs as KILLED).
KILL_AFTER_SECONDS = 30.0
_JOB_FILE, _LOG_FILE, _PROGRESS_FILE, _LOCK_FILE = "job.json", "log.txt", "progress.json", ".lock"

# Processes started by this server process, so their exit status can be collected (and zombies
# reaped). Jobs started by an earlier server process are watched by pid alone.
_children: dict[str, subprocess.Popen] = {}


def max_jobs() -> int:
    """How many jobs may run at once: ``$GENRELAB_MAX_JOBS`` (default 1)."""
    raw = os.environ.get("GENRELAB_MAX_JOBS", "1")
    try:
        value = int(raw)
    except ValueError:
        raise GenreLabError(f"GENRELAB_MAX_JOBS: expected a whole number, got {raw!r}") from None
    if value < 1:
        raise GenreLabError(f"GENRELAB_MAX_JOBS: must be at least 1, got {value}")
    return value


def run_argv(spec_path: str | os.PathLike, overrides: Mapping[str, Any] | None, data_root: str | os.PathLike | None,
             progress_path: Path | None = None, dry_run: bool = False) -> list[str]:
    """The study runner's command line:
    ``python -m core run SPEC [--data DIR] [--set k=v ...] [--dry-run] [--progress PATH]``."""
    argv = [sys.executable, "-m", "core", "run", str(spec_path)]
    if data_root is not None:
        argv += ["--data", str(data_root)]
    for key, value in (overrides or {}).items():
        argv += ["--set", f"{key}={_setting(value)}"]
    if dry_run:
        argv.append("--dry-run")
    if progress_path is not None:
        argv += ["--progress", str(progress_path)]
    return argv


def dry_run(spec_path: str | os.PathLike, overrides: Mapping[str, Any] | None = None,
            data_root: str | os.PathLike | None = None, timeout: float = 180.0) -> str:
    """The runner's plan for this spec and overrides (``--dry-run``), as the text it prints.

    Raises GenreLabError with the runner's one-line error, or when it takes longer than ``timeout`` s.
    """
    argv = run_argv(spec_path, overrides, data_root, dry_run=True)
    try:
        done = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise GenreLabError(f"{spec_path}: the dry run took longer than {timeout:.0f} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        error = next((line for line in reversed(lines) if line.startswith("error:")), lines[-1] if lines else "")
        raise GenreLabError(error.removeprefix("error: ") or f"{spec_path}: dry run exited with status {done.returncode}")
    return done.stdout.strip()


def _setting(value: Any) -> str:
    """A ``--set`` value in the spec's TOML spelling (lists and strings as JSON, which TOML reads)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return str(value)


def submit(spec_path: str | os.PathLike, overrides: Mapping[str, Any] | None = None,
           data_root: str | os.PathLike | None = None, once: bool = False) -> str:
    """Queue a study run of ``spec_path`` with ``--set`` ``overrides``; start it if a slot is free.

    Returns the job id (with ``once``, that of an identical job already queued or running, if any).
    """
    spec = Path(spec_path)
    if not spec.is_file():
        raise GenreLabError(f"{spec}: experiment spec not found")
    label = spec.stem + "".join(f" {k}={_setting(v)}" for k, v in (overrides or {}).items())
    return submit_command(lambda progress: run_argv(spec, overrides, data_root, progress), label=label, once=once)


def submit_command(make_argv: Callable[[Path], list[str]], *, label: str, once: bool = False) -> str:
    """Queue any command; ``make_argv(progress_path)`` returns its argv. Returns the job id.

    With ``once``, a job whose command is the same (up to its progress path) and is still queued or
    running is returned instead of queueing a twin (``make demo`` run twice queues nothing new).
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
    folder = _folder(job_id)
    return _read_job(folder)


def cancel(job_id: str) -> dict:
    """Cancel a job: a queued one never starts, a running one gets SIGTERM on its process group
    (the runner ends its MLflow runs as KILLED). Returns the updated job."""
    folder = _folder(job_id)
    with _locked(folder.parent):
        job = _read_job(folder)
        if job["status"] == "queued":
            job.update(status="cancelled", finished_at=time.time(), message="cancelled before it started")
        elif job["status"] == "running":
            job["cancel_requested_at"] = job["cancel_requested_at"] or time.time()
            _signal_group(job["pid"], signal.SIGTERM)
        _write_job(folder, job)
    return job


def read_progress(job_id: str) -> dict | None:
    """The runner's last progress report, or None before its first one.

    Keys: status, fits_done, fits_total, current, started_at, updated_at, eta_seconds, message.
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


# --- internals ------------------------------------------------------------------------------------

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
    tmp = folder / (_JOB_FILE + ".tmp")
    tmp.write_text(json.dumps(job, indent=1))
    os.replace(tmp, folder / _JOB_FILE)


def _read_all(root: Path) -> list[dict]:
    jobs = []
    for path in root.glob(f"*/{_JOB_FILE}"):
        with contextlib.suppress(OSError, ValueError):
            jobs.append(json.loads(path.read_text()))
    return sorted(jobs, key=lambda j: j["created_at"], reverse=True)


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
        returncode, message = None, f"could not start: {err}"
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
        job.update(status="failed", finished_at=time.time(), message=f"could not start: {err}")
    else:
        _children[job["id"]] = proc
        job.update(status="running", pid=proc.pid, started_at=time.time(),
                   process_created=psutil.Process(proc.pid).create_time())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        log.close()
    _write_job(folder, job)


def _check_running(folder: Path, job: dict) -> None:
    """Notice a job whose supervisor died without recording the end (killed, machine restarted)."""
    returncode = _exit_status(job)
    if returncode is _STILL_RUNNING:
        asked = job.get("cancel_requested_at")
        if asked and time.time() - asked > KILL_AFTER_SECONDS:
            _signal_group(job["pid"], signal.SIGKILL)
        return
    _children.pop(job["id"], None)
    _finish(folder, job, returncode)


def _finish(folder: Path, job: dict, returncode: int | None, *, killed: bool = False, message: str = "") -> None:
    """Record how a running job ended; ``returncode`` None means unknown (the runner's progress decides)."""
    progress = _read_progress_at(folder) or {}
    reported = progress.get("status")
    if killed or job.get("cancel_requested_at") or reported == "killed":
        status = "killed"
    elif returncode == 0 or (returncode is None and reported == "finished" and not message):
        status = "finished"
    else:
        status = "failed"
    message = message or progress.get("message") or ""
    if status == "failed" and not message:
        last_line = _tail(folder / _LOG_FILE, 1).strip()
        message = last_line or (f"exited with status {returncode}" if returncode is not None
                                else "the process ended without reporting")
    job.update(status=status, returncode=returncode, finished_at=time.time(), message=message)
    _write_job(folder, job)


_STILL_RUNNING = object()


def _exit_status(job: dict) -> Any:
    """The exit code, None when the process ended but its code is unknown (started by another server
    process), or ``_STILL_RUNNING``."""
    proc = _children.get(job["id"])
    if proc is not None:
        code = proc.poll()
        return _STILL_RUNNING if code is None else code
    try:
        process = psutil.Process(job["pid"])
        # A recycled pid belongs to a process created later than ours.
        if abs(process.create_time() - job.get("process_created", 0)) > 1.0:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return _reap(job["pid"])
    except (psutil.NoSuchProcess, TypeError):
        return None
    return _STILL_RUNNING


def _reap(pid: int) -> int | None:
    """Collect a dead child of this process that ``_children`` forgot; None if it is not our child."""
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if reaped else None


def _signal_group(pid: int | None, sig: int) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "supervise":
        sys.exit("usage: python -m core.jobs supervise JOB_DIR")
    sys.exit(supervise(Path(sys.argv[2])))
