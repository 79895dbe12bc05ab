"""What every run records and how it ends.

Every run started with :func:`start_run` carries the git commit (and dirty flag), package versions,
the seed, the dataset's name and fingerprint and its owner process (host, pid, start time), and ends
FAILED on an error and KILLED when interrupted (Ctrl-C, or SIGTERM once
:func:`install_signal_handlers` ran), never stuck RUNNING; :func:`end_orphaned_runs` ends the runs of
processes that died without a word (``kill -9``). :func:`find_finished_run` finds a finished run by its
tags (for resume).
"""
from __future__ import annotations

import contextlib
import functools
import json
import platform
import signal
import socket
import subprocess
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import mlflow
from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.data.meta_dataset import MetaDataset
from mlflow.tracking import MlflowClient

from core import processes
from core.config import PROJECT_ROOT
from core.tracking.store import experiment_id

#: Tag naming what a run is in the lineage: study, search, candidate, fold, final, autoencoder,
#: baseline, clip_length.
KIND_TAG = "genrelab.kind"
#: Tag with a hash of everything that determines a run's result (see :mod:`core.study.lineage`).
KEY_TAG = "genrelab.key"
#: Tags naming the process that owns a run (see :mod:`core.processes`).
HOST_TAG, PID_TAG, STARTED_TAG = "genrelab.host", "genrelab.pid", "genrelab.process_started"
PACKAGES = ("numpy", "pandas", "scikit-learn", "tensorflow", "keras", "librosa", "soundfile", "mlflow")


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
        tags["genrelab.fma"] = str(bool(getattr(selection, "from_fma", False))).lower()
    return tags


@contextlib.contextmanager
def start_run(name: str, *, experiment: str, kind: str, parent: str | None = None,
              params: dict | None = None, tags: dict | None = None, seed: int | None = None,
              selection: Any = None, description: str | None = None) -> Iterator[Any]:
    """Start an MLflow run (a child of run id ``parent`` if given) and end it with the right status.

    Yields the active run. Params are logged once at the start; ``seed`` is also a param.
    ``description`` becomes the run's note (``mlflow.note.content``, shown in MLflow's UI).
    """
    all_tags = {KIND_TAG: kind, **context_tags(seed, selection), **(tags or {})}
    run = mlflow.start_run(run_name=name, experiment_id=experiment_id(experiment), parent_run_id=parent,
                           tags=all_tags, nested=parent is not None, description=description)
    try:
        logged = {**(params or {}), **({"seed": seed} if seed is not None else {})}
        if logged:
            mlflow.log_params({k: param_text(v) for k, v in logged.items()})
        yield run
    except KeyboardInterrupt:
        _end_down_to(run.info.run_id, "KILLED")
        raise
    except BaseException:
        _end_down_to(run.info.run_id, "FAILED")
        raise
    else:
        _end_down_to(run.info.run_id, "FINISHED")


def _end_down_to(run_id: str, status: str) -> None:
    """End the active runs down to and including ``run_id``, all with ``status``.

    Normally ``run_id`` is the active run. But a signal (a cancelled job's SIGTERM) can land after MLflow
    made a child run active and before the child's own :func:`start_run` could guard it; ending just the
    active run would then end the child and leave this run RUNNING.
    """
    while (active := mlflow.active_run()) is not None:
        mlflow.end_run(status)
        if active.info.run_id == run_id:
            return


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
    # By type, not by resolving the path: MLflow registers two "local" sources and warns on resolving.
    local = get_dataset_source_from_json(json.dumps({"uri": str(source)}), source_type="local")
    mlflow.log_input(ProfiledDataset(local, name=name, digest=digest, profile=profile), context=context)


class ProfiledDataset(MetaDataset):
    """MLflow's ``MetaDataset`` (metadata only, no rows) with a profile, which it lacks."""

    def __init__(self, source, *, name: str, digest: str, profile: dict):
        self._profile = dict(profile)
        super().__init__(source, name=name, digest=digest)

    @property
    def profile(self) -> dict:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self._profile, default=str)}


def param_text(value: Any) -> str:
    """MLflow params are strings of at most 6000 characters; lists keep their Python spelling."""
    return str(value)[:6000]


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers() -> None:
    """Turn SIGTERM (a cancelled job) into KeyboardInterrupt so open runs end KILLED."""
    signal.signal(signal.SIGTERM, _raise_interrupt)


def quote(value: str) -> str:
    return "'" + str(value).replace("'", "\\'") + "'"


def find_finished_run(experiment: str, **tags: str) -> Any | None:
    """The newest FINISHED run of ``experiment`` whose tags equal ``tags`` (for resume), or None.

    Tag keys are written with ``__`` for dots: ``genrelab__kind="fold"`` means ``genrelab.kind``.
    """
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        return None
    clauses = ["attributes.status = 'FINISHED'"]
    clauses += [f"tags.`{key.replace('__', '.')}` = {quote(value)}" for key, value in tags.items()]
    runs = mlflow.search_runs([exp.experiment_id], filter_string=" and ".join(clauses),
                              order_by=["attributes.start_time DESC"], max_results=1, output_format="list")
    return runs[0] if runs else None


def end_orphaned_runs(experiment: str) -> int:
    """Mark RUNNING runs of this host whose process is gone as KILLED (e.g. after ``kill -9``).

    A run's process is gone when no process has its pid, or another program now holds that pid
    (a different start time). Runs of another host or container are never touched: their process
    cannot be checked from here. Returns how many runs were ended. Call it before resuming a study.
    """
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        return 0
    client, ended = MlflowClient(), 0
    for run in client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'", max_results=5000):
        owner = run_owner(run.data.tags)
        if owner is not None and not processes.is_running(*owner):
            client.set_terminated(run.info.run_id, "KILLED")
            ended += 1
    return ended


def run_owner(tags: dict[str, str]) -> tuple[str, str | None, str] | None:
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

