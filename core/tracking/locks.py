"""One study at a time: :func:`study_lock`, on this machine and across machines sharing a server."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from core import config, processes
from core.errors import GenreLabError
from core.tracking.runs import HOST_TAG, KEY_TAG, KIND_TAG, PID_TAG, STARTED_TAG, quote, run_owner
from core.tracking.store import experiment_id, sqlite_path

#: Seconds a refused :func:`study_lock` waits for the holder to write who it is.
_HOLDER_WAIT_S = 1.0
#: The kind of the run that stands for a held lock in the store.
CLAIM_KIND = "study-claim"
#: Tag a claim gets once its process holds the lock (until then it only contends for it).
HELD_TAG = "genrelab.claim"
#: Seconds the contender that waits (see :func:`study_lock`) waits for the others to withdraw.
_CONTENDED_S = 10.0


@contextlib.contextmanager
def study_lock(experiment: str, key: str, *, wait: bool = False, poll_s: float = 2.0) -> Iterator[None]:
    """Hold the lock of study ``key`` in ``experiment`` for as long as the block runs.

    On this machine the lock is an exclusive ``flock`` on a file in the store's folder:
    ``mlruns/locks/<experiment>-<key>.lock`` for a SQLite store, a folder under the machine's cache for
    any other store. The kernel drops it when its holder exits, however it exits, so a lock file left
    by a dead process never blocks. The file holds who has the lock (host, pid, process start time,
    since when) for the message others get.

    Machines sharing a tracking server share no folder (nor, reliably, a lock on a shared one), so the
    holder also keeps a *claim* in the store: a run tagged ``genrelab.kind = study-claim`` and the
    study's key, deleted when the lock is released. A process creates its claim, then lists the
    claims of the key, and holds the lock only when its own is the only one (it then tags it held).
    The store orders the creations, so of two processes at least the later one sees the other: never
    do both proceed. So that one of them does: a contender that sees a held claim, or a claim with a
    smaller run id than its own, withdraws; the one with the smallest id keeps its claim and looks
    again until the others are gone (at most ``_CONTENDED_S`` seconds). A claim whose process is gone
    is deleted when it belongs to this host; one of another host counts as held (that host's processes
    cannot be checked from here: delete its ``study lock`` run in MLflow if the machine died).

    Parameters
    ----------
    experiment, key
        The study's experiment name and content key.
    wait
        Wait (silently, checking every ``poll_s`` seconds) until the lock is free instead of refusing.

    Raises
    ------
    GenreLabError
        When the study is already running and ``wait`` is false.
    """
    path = _locks_dir() / f"{_file_part(experiment)}-{_file_part(key)}.lock"
    while True:
        fd, claim, holder = _try_lock(path), None, None
        if fd is not None:
            claim, holder = _claim(experiment, key)
            if claim is None:
                os.close(fd)
                fd = None
        if fd is not None:
            break
        if not wait:
            holder = holder or _lock_holder(path)
            since = time.strftime("%H:%M:%S", time.localtime(holder["since"])) if "since" in holder else "?"
            raise GenreLabError(f"study {experiment} ({key}) is already running: pid {holder.get('pid', '?')} "
                                f"on {holder.get('host', '?')} since {since}; wait for it or pass --wait")
        time.sleep(poll_s)
    try:
        payload = json.dumps({**processes.this_process().as_dict(), "since": time.time()}).encode()
        # Written in place, never replaced: a new file would be a new inode, lockable by anyone.
        os.pwrite(fd, payload, 0)
        os.ftruncate(fd, len(payload))
        yield
    finally:
        if claim is not None:
            with contextlib.suppress(Exception):  # a server gone away: the claim's owner is gone with us
                _release_claim(claim)
        os.close(fd)  # releases the lock


def _claim(experiment: str, key: str) -> tuple[str | None, dict | None]:
    """(run id of this process's claim, None), or (None, the holder's host/pid/since)."""
    client, exp_id, me = MlflowClient(), experiment_id(experiment), processes.this_process()
    query = f"attributes.status = 'RUNNING' and tags.`{KIND_TAG}` = '{CLAIM_KIND}' and tags.`{KEY_TAG}` = {quote(key)}"
    mine = client.create_run(exp_id, run_name=f"study lock {key}", tags={
        KIND_TAG: CLAIM_KIND, KEY_TAG: key, HOST_TAG: me.host, PID_TAG: str(me.pid),
        STARTED_TAG: str(me.started)}).info.run_id
    deadline = time.monotonic() + _CONTENDED_S
    while True:
        others = []
        for run in client.search_runs([exp_id], query, max_results=100):
            owner = run_owner(run.data.tags)
            if run.info.run_id == mine:
                continue
            if owner is not None and not processes.is_running(*owner):
                _release_claim(run.info.run_id)  # its process died on this host
                continue
            others.append(run)
        if not others:
            client.set_tag(mine, HELD_TAG, "held")
            return mine, None
        held = [run for run in others if run.data.tags.get(HELD_TAG)]
        if held or mine > min(run.info.run_id for run in others) or time.monotonic() > deadline:
            _release_claim(mine)
            return None, _holder(client, exp_id, query, held or others)
        time.sleep(random.uniform(0.05, 0.2))  # the smallest id waits for the other contenders to withdraw


def _holder(client: MlflowClient, exp_id: str, query: str, seen: list) -> dict:
    """Who a refused contender was refused for: the claim held, once its process holds it.

    A contender that withdrew for a smaller id saw only the claims made so far: the one it would name
    may withdraw in turn for a claim made later (under load in CI). So wait for a claim to be held (at
    most ``_CONTENDED_S``: the winner waits no longer for the others); if none is, the earliest seen.
    """
    deadline = time.monotonic() + _CONTENDED_S
    while not any(run.data.tags.get(HELD_TAG) for run in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
        now = client.search_runs([exp_id], query, max_results=100)
        if not now:  # every contender withdrew, or the winner already finished
            break
        seen = now
    winner = min(seen, key=lambda run: (not run.data.tags.get(HELD_TAG), run.info.start_time, run.info.run_id))
    owner = run_owner(winner.data.tags) or ("?", None, "?")
    return {"host": owner[2], "pid": owner[0], "since": winner.info.start_time / 1000}


def _release_claim(run_id: str) -> None:
    client = MlflowClient()
    client.set_terminated(run_id, "FINISHED")
    client.delete_run(run_id)


def _locks_dir() -> Path:
    """Where study locks of the configured store live (created if missing)."""
    uri = mlflow.get_tracking_uri()
    db = sqlite_path(uri)
    folder = db.parent / "locks" if db is not None else \
        config.cache_dir() / "study-locks" / hashlib.sha256(uri.encode()).hexdigest()[:12]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GenreLabError(f"{folder}: cannot create the study lock folder ({err.strerror})") from None
    return folder


def _file_part(text: str) -> str:
    """``text`` as safe file-name characters (experiment names may hold slashes and spaces)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def _try_lock(path: Path) -> int | None:
    """A descriptor of ``path`` holding its exclusive lock, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _lock_holder(path: Path) -> dict:
    """Who holds the lock on ``path`` as it wrote itself there ({} if it does not say in time).

    A new holder writes only after locking, so for a moment the file is empty or still names the
    previous, gone holder: read again until it names a running process.
    """
    deadline, holder = time.monotonic() + _HOLDER_WAIT_S, {}
    while True:
        with contextlib.suppress(OSError, ValueError):
            holder = json.JSONDecoder().raw_decode(path.read_text())[0]
            if processes.is_running(holder.get("pid"), holder.get("started"), holder.get("host")):
                return holder
        if time.monotonic() > deadline:
            return holder
        time.sleep(0.05)

