"""The runs of a store as one DataFrame, fast (the dashboard and the report read them this way)."""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from sqlalchemy.exc import SQLAlchemyError

from core.errors import GenreLabError, first_line
from core.tracking.store import sqlite_path


def runs_frame(experiments: list[str] | None = None, max_results: int = 10000):
    """All active runs (of the named experiments, or every experiment) as a DataFrame.

    Columns as ``mlflow.search_runs`` gives them (``run_id``, ``experiment_id``, ``status``,
    ``start_time``, ``end_time``, ``artifact_uri``, ``metrics.*``, ``params.*``, ``tags.*``) plus
    ``experiment``, the experiment's name. A SQLite store is read directly (one query per table:
    about 20x faster than ``search_runs`` for thousands of runs, which keeps the dashboard quick);
    another store goes through ``mlflow.search_runs``. Raises GenreLabError naming the store when it
    cannot be read.
    """
    uri = mlflow.get_tracking_uri()
    db = sqlite_path(uri)
    try:
        if db is not None:
            return _read_sqlite_runs(db, experiments, max_results)
        return _search_runs(experiments, max_results)
    except (MlflowException, SQLAlchemyError, OSError, sqlite3.Error) as err:
        raise GenreLabError(f"{uri}: cannot read the MLflow store ({first_line(err)})") from None


def _empty_runs():
    return pd.DataFrame(columns=["run_id", "experiment", "experiment_id", "status", "start_time", "end_time"])


def _search_runs(experiments, max_results):
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

