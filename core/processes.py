"""Which process is which: a pid alone is reused after a crash or reboot, pid + start time is not.

Jobs, run owners and study locks record :func:`this_process` and later ask :func:`is_running`, so a
reused pid (another program now holds it) reads as "gone", never as the recorded process.
"""
from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass

import psutil

#: Start times are compared to this many seconds (psutil's value is rounded to the clock tick).
START_TOLERANCE_S = 1.0


def start_time(pid: int) -> float | None:
    """Start time of process ``pid`` (seconds since the epoch), or None if no such process exists."""

    try:
        return psutil.Process(int(pid)).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, ValueError):
        return None
    except psutil.AccessDenied:
        return None


@dataclass(frozen=True)
class ProcessId:
    """A process as another process can recognise it later: host, pid and start time."""

    host: str
    pid: int
    started: float

    def as_dict(self) -> dict:
        return asdict(self)


def host_id() -> str:
    """This host as pids see it: the host name plus the pid namespace (two containers may share a name)."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}/pidns:{namespace}"


def this_process() -> ProcessId:
    pid = os.getpid()
    return ProcessId(host_id(), pid, start_time(pid) or 0.0)


def is_running(pid: int | str | None, started: float | str | None, host: str | None = None) -> bool:
    """True if the process recorded as (``host``, ``pid``, ``started``) still runs on this host.

    A process on another host cannot be checked from here: it counts as running. Without a recorded
    start time (records written before start times were kept) the pid alone decides.
    """
    if host is not None and host != host_id():
        return True
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    now = start_time(pid)
    if now is None:
        return False
    if started in (None, "", 0, 0.0):
        return True
    return abs(now - float(started)) <= START_TOLERANCE_S
