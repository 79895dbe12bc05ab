"""The only module that sets up MLflow: where the store is, what every run records, how runs end.

Store: ``MLFLOW_TRACKING_URI`` if set, else SQLite at ``mlruns/mlflow.db`` with artifacts under
``mlruns/artifacts/`` (see :func:`core.config.tracking_uri`). :func:`configure` creates (or migrates)
a SQLite store's schema under a file lock (``mlruns/.store.lock``), because two processes creating the
same fresh store at once race on MLflow's ``CREATE TABLE``. MLflow writes absolute artifact paths
into the database, so a moved checkout would point at the old place; :func:`configure` also notices
the move (``mlruns/store_root.txt`` remembers where the store was) and rewrites those paths once.

Every run started with :func:`start_run` carries the git commit (and dirty flag), package versions,
the seed, the dataset's name and fingerprint and its owner process (host, pid, start time), and ends
FAILED on an error and KILLED when interrupted (Ctrl-C, or SIGTERM once
:func:`install_signal_handlers` ran), never stuck RUNNING; :func:`end_orphaned_runs` ends the runs of
processes that died without a word (``kill -9``). :func:`study_lock` keeps one study from running
twice at once.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import platform
import random
import re
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from core import config, processes
from core.config import PROJECT_ROOT
from core.errors import GenreLabError, first_line
from core.files import write_atomic

#: Tag naming what a run is in the lineage: study, search, candidate, fold, final, autoencoder,
#: baseline, clip_length.
KIND_TAG = "genrelab.kind"
#: Tag with a hash of everything that determines a run's result (see :mod:`core.study.lineage`).
KEY_TAG = "genrelab.key"
#: Tags naming the process that owns a run (see :mod:`core.processes`).
HOST_TAG, PID_TAG, STARTED_TAG = "genrelab.host", "genrelab.pid", "genrelab.process_started"
#: MLflow 3's UI opens an experiment on its GenAI overview unless this tag says it holds training runs.
EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT = "mlflow.experimentKind", "custom_model_development"
PACKAGES = ("numpy", "pandas", "scikit-learn", "tensorflow", "keras", "librosa", "soundfile", "mlflow")
_STORE_MARKER = "store_root.txt"
_STORE_LOCK = ".store.lock"
#: SQLite stores this process has prepared: MLflow opens a store once per process, so do we.
_prepared: set[Path] = set()
#: Seconds a refused :func:`study_lock` waits for the holder to write who it is.
_HOLDER_WAIT_S = 1.0


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None (a server or another backend)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):]).expanduser().resolve()


def _make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GenreLabError(f"{folder}: cannot create the MLflow store ({err.strerror})") from None


def configure(uri: str | None = None) -> str:
    """Point MLflow at the store and return its URI.

    ``uri`` wins, then ``MLFLOW_TRACKING_URI``, then ``sqlite:///<project>/mlruns/mlflow.db``.
    For a SQLite store the folder is created, artifact paths of a moved store are rewritten, and
    the schema is created or migrated, all under an exclusive lock on ``.store.lock`` beside the
    database so that processes starting together never race on it.

    Raises
    ------
    GenreLabError
        When the store's folder cannot be created or the database cannot be read.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    uri = uri or config.tracking_uri()
    db = _sqlite_path(uri)
    if db is not None:
        uri = f"sqlite:///{db}"
    if db is not None and db not in _prepared:
        _make_dir(db.parent)
        try:
            with _exclusive(db.parent / _STORE_LOCK):
                _relocate(db)
                _create_schema(uri)
        except (MlflowException, SQLAlchemyError, OSError, sqlite3.Error) as err:
            raise GenreLabError(f"{uri}: cannot read the MLflow store ({first_line(err)})") from None
        _prepared.add(db)
    mlflow.set_tracking_uri(uri)
    return uri


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) until the block ends."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _create_schema(uri: str) -> None:
    """Create or migrate the store's tables: MLflow does it when it first opens a store."""
    from mlflow.tracking import MlflowClient

    MlflowClient(uri).search_experiments(max_results=1)


def _relocate(db: Path) -> None:
    """Rewrite absolute artifact paths if the store folder moved since it was last used."""
    marker = db.parent / _STORE_MARKER
    here = str(db.parent)
    old = marker.read_text().strip() if marker.exists() else None
    if db.exists() and old and old != here:
        with contextlib.closing(sqlite3.connect(db)) as con, con:
            for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                columns = con.execute(f'PRAGMA table_info("{table}")').fetchall()
                for column in (c[1] for c in columns if "CHAR" in c[2].upper() or "TEXT" in c[2].upper()):
                    con.execute(
                        f'UPDATE "{table}" SET "{column}" = REPLACE("{column}", ?, ?) WHERE instr("{column}", ?) > 0',
                        (old, here, old),
                    )
    if old != here:
        write_atomic(marker, here + "\n")


def _artifact_root() -> str | None:
    """Artifacts of a SQLite store live beside the database; a server decides for itself."""
    import mlflow

    db = _sqlite_path(mlflow.get_tracking_uri())
    return str(db.parent / "artifacts") if db is not None else None


def experiment_id(name: str) -> str:
    """The id of experiment ``name``, created (with artifacts beside the store) if missing.

    The experiment carries ``mlflow.experimentKind = custom_model_development`` (set here on
    experiments created before this tag was), so MLflow's UI opens it on its training runs.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, artifact_location=_artifact_root(),
                                            tags={EXPERIMENT_KIND_TAG: MODEL_DEVELOPMENT})
        except MlflowException as err:
            if err.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            exp = client.get_experiment_by_name(name)  # another process created it a moment ago
    if EXPERIMENT_KIND_TAG not in exp.tags:
        client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT)
    return exp.experiment_id


@functools.cache
def git_state() -> tuple[str, bool]:
    """(commit, dirty) of the project checkout; ("unknown", False) outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()

    try:
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


@functools.cache
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def context_tags(seed: int | None = None, selection: Any = None) -> dict[str, str]:
    """Reproducibility tags: git, packages, owner process (to detect orphaned runs), seed, dataset."""
    commit, dirty = git_state()
    owner = processes.this_process()
    tags = {
        "mlflow.source.git.commit": commit,
        "genrelab.git_dirty": str(dirty).lower(),
        HOST_TAG: owner.host,
        PID_TAG: str(owner.pid),
        STARTED_TAG: str(owner.started),
    }
    tags.update({f"genrelab.version.{k}": v for k, v in package_versions().items()})
    if seed is not None:
        tags["genrelab.seed"] = str(seed)
    if selection is not None:
        tags["genrelab.dataset"] = str(selection.dataset_name)
        tags["genrelab.data_fingerprint"] = str(selection.fingerprint)
        tags["genrelab.synthetic"] = str(bool(selection.synthetic)).lower()
    return tags


@contextlib.contextmanager
def start_run(name: str, *, experiment: str, kind: str, parent: str | None = None,
              params: dict | None = None, tags: dict | None = None, seed: int | None = None,
              selection: Any = None, description: str | None = None) -> Iterator[Any]:
    """Start an MLflow run (a child of run id ``parent`` if given) and end it with the right status.

    Yields the active run. Params are logged once at the start; ``seed`` is also a param.
    ``description`` becomes the run's note (``mlflow.note.content``, shown in MLflow's UI).
    """
    import mlflow

    all_tags = {KIND_TAG: kind, **context_tags(seed, selection), **(tags or {})}
    run = mlflow.start_run(run_name=name, experiment_id=experiment_id(experiment), parent_run_id=parent,
                           tags=all_tags, nested=parent is not None, description=description)
    try:
        logged = {**(params or {}), **({"seed": seed} if seed is not None else {})}
        if logged:
            mlflow.log_params({k: _param(v) for k, v in logged.items()})
        yield run
    except KeyboardInterrupt:
        mlflow.end_run("KILLED")
        raise
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    else:
        mlflow.end_run("FINISHED")


def log_dataset(*, name: str, digest: str, source: str, profile: dict, context: str) -> None:
    """Record the data the active run used as an MLflow dataset input (the UI's Dataset column).

    Parameters
    ----------
    name
        What the UI shows, e.g. the dataset root's name and the selection: ``"demo · small"``.
    digest
        The selection's fingerprint.
    source
        The dataset root's path.
    profile
        JSON-able summary, e.g. tracks, genres, split sizes, feature window and kind.
    context
        The dataset's role in the run, e.g. ``"training"`` or ``"evaluation"``.
    """
    import mlflow
    from mlflow.data.dataset_source_registry import get_dataset_source_from_json

    # By type, not by resolving the path: MLflow registers two "local" sources and warns on resolving.
    local = get_dataset_source_from_json(json.dumps({"uri": str(source)}), source_type="local")
    mlflow.log_input(_profiled_dataset()(local, name=name, digest=digest, profile=profile), context=context)


@functools.cache
def _profiled_dataset() -> type:
    """MLflow's ``MetaDataset`` (metadata only, no rows) with a profile, which it lacks."""
    from mlflow.data.meta_dataset import MetaDataset

    class ProfiledDataset(MetaDataset):
        def __init__(self, source, *, name: str, digest: str, profile: dict):
            self._profile = dict(profile)
            super().__init__(source, name=name, digest=digest)

        @property
        def profile(self) -> dict:
            return self._profile

        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "profile": json.dumps(self._profile, default=str)}

    return ProfiledDataset


def _param(value: Any) -> str:
    """MLflow params are strings of at most 6000 characters; lists keep their Python spelling."""
    return str(value)[:6000]


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers() -> None:
    """Turn SIGTERM (a cancelled job) into KeyboardInterrupt so open runs end KILLED."""
    signal.signal(signal.SIGTERM, _raise_interrupt)


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "\\'") + "'"


def find_finished_run(experiment: str, **tags: str) -> Any | None:
    """The newest FINISHED run of ``experiment`` whose tags equal ``tags`` (for resume), or None.

    Tag keys are written with ``__`` for dots: ``genrelab__kind="fold"`` means ``genrelab.kind``.
    """
    import mlflow

    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        return None
    clauses = ["attributes.status = 'FINISHED'"]
    clauses += [f"tags.`{key.replace('__', '.')}` = {_quote(value)}" for key, value in tags.items()]
    runs = mlflow.search_runs([exp.experiment_id], filter_string=" and ".join(clauses),
                              order_by=["attributes.start_time DESC"], max_results=1, output_format="list")
    return runs[0] if runs else None


def end_orphaned_runs(experiment: str) -> int:
    """Mark RUNNING runs of this host whose process is gone as KILLED (e.g. after ``kill -9``).

    A run's process is gone when no process has its pid, or another program now holds that pid
    (a different start time). Runs of another host or container are never touched: their process
    cannot be checked from here. Returns how many runs were ended. Call it before resuming a study.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        return 0
    client, ended = MlflowClient(), 0
    for run in client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'", max_results=5000):
        owner = _owner(run.data.tags)
        if owner is not None and not processes.is_running(*owner):
            client.set_terminated(run.info.run_id, "KILLED")
            ended += 1
    return ended


def _owner(tags: dict[str, str]) -> tuple[str, str | None, str] | None:
    """(pid, start time, host) of the process that started a run, or None if it recorded none.

    Runs recorded before start times were kept name their host by its bare host name (no pid
    namespace); that name here means this host, and the pid alone decides, as it did then.
    """
    pid, host, started = tags.get(PID_TAG), tags.get(HOST_TAG), tags.get(STARTED_TAG)
    if not pid or not host:
        return None
    if not started and host == socket.gethostname():
        host = processes.host_id()
    return pid, started or None, host


# --- one study at a time ------------------------------------------------------------------------------

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
    study's key, deleted when the lock is released. A process creates its claim,
    then lists the claims of the key: if there is another, it deletes its own and backs off. The
    store orders the creations, so of two processes at least the later one sees the other: never do
    both proceed (both may back off at once: they retry after a random pause). A claim whose process
    is gone is deleted when it belongs to this host; one of another host counts as held (that host's
    processes cannot be checked from here: delete its ``study lock`` run in MLflow if the machine died).

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


CLAIM_KIND = "study-claim"
#: Rounds of create-then-check before a contended claim counts as held by the other process.
_CLAIM_ROUNDS = 3


def _claim(experiment: str, key: str) -> tuple[str | None, dict | None]:
    """(run id of this process's claim, None), or (None, the holder's host/pid/since)."""
    from mlflow.tracking import MlflowClient

    client, exp_id, me = MlflowClient(), experiment_id(experiment), processes.this_process()
    query = f"attributes.status = 'RUNNING' and tags.`{KIND_TAG}` = '{CLAIM_KIND}' and tags.`{KEY_TAG}` = {_quote(key)}"
    holder = None
    for _ in range(_CLAIM_ROUNDS):
        mine = client.create_run(exp_id, run_name=f"study lock {key}", tags={
            KIND_TAG: CLAIM_KIND, KEY_TAG: key, HOST_TAG: me.host, PID_TAG: str(me.pid),
            STARTED_TAG: str(me.started)}).info.run_id
        others = []
        for run in client.search_runs([exp_id], query, max_results=100):
            owner = _owner(run.data.tags)
            if run.info.run_id == mine:
                continue
            if owner is not None and not processes.is_running(*owner):
                _release_claim(run.info.run_id)  # its process died on this host
                continue
            others.append(run)
        if not others:
            return mine, None
        _release_claim(mine)
        first = min(others, key=lambda r: r.info.start_time)
        owner = _owner(first.data.tags) or ("?", None, "?")
        holder = {"host": owner[2], "pid": owner[0], "since": first.info.start_time / 1000}
        time.sleep(random.uniform(0.05, 0.5))  # two contenders that saw each other part ways
    return None, holder


def _release_claim(run_id: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    client.set_terminated(run_id, "FINISHED")
    client.delete_run(run_id)


def _locks_dir() -> Path:
    """Where study locks of the configured store live (created if missing)."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    db = _sqlite_path(uri)
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


def runs_frame(experiments: list[str] | None = None, max_results: int = 10000):
    """All active runs (of the named experiments, or every experiment) as a DataFrame.

    Columns as ``mlflow.search_runs`` gives them (``run_id``, ``experiment_id``, ``status``,
    ``start_time``, ``end_time``, ``artifact_uri``, ``metrics.*``, ``params.*``, ``tags.*``) plus
    ``experiment``, the experiment's name. A SQLite store is read directly (one query per table:
    about 20x faster than ``search_runs`` for thousands of runs, which keeps the dashboard quick);
    another store goes through ``mlflow.search_runs``. Raises GenreLabError naming the store when it
    cannot be read.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    uri = mlflow.get_tracking_uri()
    db = _sqlite_path(uri)
    try:
        if db is not None:
            return _read_sqlite_runs(db, experiments, max_results)
        return _search_runs(experiments, max_results)
    except (MlflowException, SQLAlchemyError, OSError, sqlite3.Error) as err:
        raise GenreLabError(f"{uri}: cannot read the MLflow store ({first_line(err)})") from None


def _empty_runs():
    import pandas as pd

    return pd.DataFrame(columns=["run_id", "experiment", "experiment_id", "status", "start_time", "end_time"])


def _search_runs(experiments, max_results):
    import mlflow

    if experiments is None:
        found = mlflow.search_experiments()
    else:
        found = [e for e in (mlflow.get_experiment_by_name(n) for n in experiments) if e is not None]
    if not found:
        return _empty_runs()
    runs = mlflow.search_runs([e.experiment_id for e in found], max_results=max_results)
    names = {e.experiment_id: e.name for e in found}
    runs.insert(1, "experiment", runs["experiment_id"].map(names))
    return runs


def _read_sqlite_runs(db: Path, experiments, max_results):
    import pandas as pd

    if not db.exists():
        return _empty_runs()
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name='runs'").fetchone():
            return _empty_runs()
        where, args = "r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active'", []
        if experiments is not None:
            where += f" AND e.name IN ({','.join('?' * len(experiments))})"
            args = list(experiments)
        runs = pd.read_sql_query(
            "SELECT r.run_uuid AS run_id, e.name AS experiment, CAST(r.experiment_id AS TEXT) AS experiment_id,"
            " r.status, r.start_time, r.end_time, r.artifact_uri FROM runs r"
            f" JOIN experiments e ON e.experiment_id = r.experiment_id WHERE {where}"
            f" ORDER BY r.start_time DESC LIMIT {int(max_results)}", con, params=args)
        if runs.empty:
            return _empty_runs()
        ids = runs["run_id"].tolist()
        parts = [runs.set_index("run_id")]
        for table, prefix, value in (("latest_metrics", "metrics.", "CASE WHEN is_nan THEN NULL ELSE value END"),
                                     ("params", "params.", "value"), ("tags", "tags.", "value")):
            long = pd.concat([pd.read_sql_query(
                f"SELECT run_uuid, key, {value} AS value FROM {table}"
                f" WHERE run_uuid IN ({','.join('?' * len(chunk))})", con, params=chunk)
                for chunk in (ids[i:i + 900] for i in range(0, len(ids), 900))])
            wide = long.pivot(index="run_uuid", columns="key", values="value")
            if prefix == "metrics.":
                wide = wide.astype(float)
            parts.append(wide.add_prefix(prefix))
    frame = pd.concat(parts, axis=1).reindex(ids).rename_axis("run_id").reset_index()
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame
