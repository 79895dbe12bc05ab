"""Where the MLflow store is, and its experiments.

Store: ``MLFLOW_TRACKING_URI`` if set, else SQLite at ``mlruns/mlflow.db`` with artifacts under
``mlruns/artifacts/`` (see :func:`core.config.tracking_uri`). :func:`configure` creates (or migrates)
a SQLite store's schema under a file lock (``mlruns/.store.lock``), because two processes creating the
same fresh store at once race on MLflow's ``CREATE TABLE``. MLflow writes absolute artifact paths
into the database, so a moved checkout would point at the old place; :func:`configure` also notices
the move (``mlruns/store_root.txt`` remembers where the store was) and rewrites those paths once.
"""
from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient
from sqlalchemy.exc import SQLAlchemyError

from core import config
from core.errors import GenreLabError, first_line
from core.files import write_atomic

#: MLflow 3's UI opens an experiment on its GenAI overview unless this tag says it holds training runs.
EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT = "mlflow.experimentKind", "custom_model_development"
_STORE_MARKER = "store_root.txt"
_STORE_LOCK = ".store.lock"
#: SQLite stores this process has prepared: MLflow opens a store once per process, so do we.
_prepared: set[Path] = set()


def sqlite_path(uri: str) -> Path | None:
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
    uri = uri or config.tracking_uri()
    db = sqlite_path(uri)
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
    db = sqlite_path(mlflow.get_tracking_uri())
    return str(db.parent / "artifacts") if db is not None else None


def experiment_id(name: str) -> str:
    """The id of experiment ``name``, created (with artifacts beside the store) if missing.

    The experiment carries ``mlflow.experimentKind = custom_model_development`` (set here on
    experiments created before this tag was), so MLflow's UI opens it on its training runs.
    """
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

