"""The only module that sets up MLflow: where the store is, what every run records, how runs end.

Store: ``MLFLOW_TRACKING_URI`` if set, else SQLite at ``mlruns/mlflow.db`` with artifacts under
``mlruns/artifacts/``. MLflow writes absolute artifact paths into the database, so a moved checkout
would point at the old place; :func:`configure` notices the move (``mlruns/store_root.txt`` remembers
where the store was) and rewrites those paths once.

Every run started with :func:`start_run` carries the git commit (and dirty flag), package versions,
the seed and the dataset's name and fingerprint, and ends FAILED on an error and KILLED when
interrupted (Ctrl-C, or SIGTERM once :func:`install_signal_handlers` ran), never stuck RUNNING.
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform
import signal
import socket
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from core.config import MLRUNS_DIR, PROJECT_ROOT
from core.errors import GenreLabError

#: Tag naming what a run is in the lineage: study, search, candidate, fold, final, autoencoder,
#: baseline, clip_length.
KIND_TAG = "genrelab.kind"
PACKAGES = ("numpy", "pandas", "scikit-learn", "tensorflow", "keras", "librosa", "soundfile", "mlflow")
_STORE_MARKER = "store_root.txt"


def default_uri() -> str:
    return f"sqlite:///{MLRUNS_DIR / 'mlflow.db'}"


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None (a server or another backend)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):]).expanduser().resolve()


def configure(uri: str | None = None) -> str:
    """Point MLflow at the store and return its URI.

    ``uri`` wins, then ``MLFLOW_TRACKING_URI``, then ``sqlite:///<project>/mlruns/mlflow.db``.
    For a SQLite store the folder is created and artifact paths of a moved store are rewritten.
    """
    import mlflow

    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri()
    db = _sqlite_path(uri)
    if db is not None:
        if not db.parent.is_dir():
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise GenreLabError(f"{db.parent}: cannot create the MLflow store ({err.strerror})") from None
        _relocate(db)
        uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(uri)
    return uri


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
        marker.write_text(here + "\n")


def _artifact_root() -> str | None:
    """Artifacts of a SQLite store live beside the database; a server decides for itself."""
    import mlflow

    db = _sqlite_path(mlflow.get_tracking_uri())
    return str(db.parent / "artifacts") if db is not None else None


def experiment_id(name: str) -> str:
    """The id of experiment ``name``, created (with artifacts beside the store) if missing."""
    import mlflow

    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return mlflow.create_experiment(name, artifact_location=_artifact_root())


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
    """Reproducibility tags: git, packages, host/pid (to detect orphaned runs), seed, dataset."""
    commit, dirty = git_state()
    tags = {
        "mlflow.source.git.commit": commit,
        "genrelab.git_dirty": str(dirty).lower(),
        "genrelab.host": socket.gethostname(),
        "genrelab.pid": str(os.getpid()),
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
              selection: Any = None) -> Iterator[Any]:
    """Start an MLflow run (a child of run id ``parent`` if given) and end it with the right status.

    Yields the active run. Params are logged once at the start; ``seed`` is also a param.
    """
    import mlflow

    all_tags = {KIND_TAG: kind, **context_tags(seed, selection), **(tags or {})}
    run = mlflow.start_run(run_name=name, experiment_id=experiment_id(experiment), parent_run_id=parent,
                           tags=all_tags, nested=parent is not None)
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


def _param(value: Any) -> str:
    """MLflow params are strings of at most 6000 characters; lists keep their Python spelling."""
    return str(value)[:6000]


def _raise_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
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

    Returns how many runs were ended. Call it before resuming a study.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        return 0
    client, host, ended = MlflowClient(), socket.gethostname(), 0
    for run in client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'", max_results=5000):
        pid = run.data.tags.get("genrelab.pid")
        if run.data.tags.get("genrelab.host") == host and pid and not _alive(int(pid)):
            client.set_terminated(run.info.run_id, "KILLED")
            ended += 1
    return ended


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GenreLabError(f"{uri}: cannot read the MLflow store ({first_line})") from None


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
