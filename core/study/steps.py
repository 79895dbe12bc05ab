"""The one keyed step every run of a study's tree goes through (:class:`Steps`), and the logging a
step's work does (:class:`RunLog`); what a finished run logged (:class:`Done`).

A step has a content key (:func:`core.study.lineage.content_key`); :meth:`Steps.once` reuses a finished
run with that key (artifacts included, :func:`core.study.lineage.reuse`) or opens a child run under the
innermost open one, lets the work log into it through a :class:`RunLog`, and advances the progress file.
The engine and the families (:mod:`core.study.contract`) share it; families never import mlflow.
"""
from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from core import tracking
from core.study import runtree
from core.study.contract import Arm
from core.study.lineage import content_key
from core.tracking import find_finished_run

#: The roles data plays in each kind of run (logged as MLflow dataset inputs).
DATA_ROLES = {"search": ("training", "test"), "candidate": ("training", "validation"),
              "fold": ("training", "validation"), "final": ("training", "test"), "baseline": ("training", "test"),
              "autoencoder": ("training",)}



class RunLog:
    """Logging into one run of the tree (the work of a step writes through this, not through mlflow)."""

    def __init__(self, run_id: str):
        self.id = run_id
        self._client = MlflowClient()

    def metrics(self, values: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        self._batch([Metric(k, float(v), now, 0) for k, v in values.items()])

    def history(self, curves: dict[str, list[float]]) -> None:
        """Per-epoch curves: one metric per key, step = epoch (0-based)."""
        now = int(time.time() * 1000)
        self._batch([Metric(name, float(v), now, step) for name, values in curves.items()
                     for step, v in enumerate(values)])

    def params(self, values: dict[str, Any]) -> None:
        self._client.log_batch(self.id, params=[Param(k, tracking.param_text(v)) for k, v in values.items()])

    def tags(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._client.set_tag(self.id, name, value)

    def dict(self, payload: Any, path: str) -> None:
        self._client.log_dict(self.id, payload, path)

    def text(self, text: str, path: str) -> None:
        self._client.log_text(self.id, text, path)

    def folder(self, local: Path, path: str) -> None:
        """Every file under ``local`` as artifacts under ``path``."""
        self._client.log_artifacts(self.id, str(local), path)

    def _batch(self, metrics: list[Metric]) -> None:
        for start in range(0, len(metrics), 1000):  # MLflow caps one batch at 1000 metrics
            self._client.log_batch(self.id, metrics=metrics[start:start + 1000])


@dataclass
class Done:
    """A finished run of the tree (reused or just fitted): what it logged."""

    run: Any  # mlflow.entities.Run

    @property
    def id(self) -> str:
        return self.run.info.run_id

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.run.data.metrics)

    @property
    def params(self) -> dict[str, str]:
        return dict(self.run.data.params)

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.run.data.tags)

    def artifact(self, path: str) -> Path:
        """A local copy of the artifact (file or folder) ``path``."""
        return Path(mlflow.artifacts.download_artifacts(run_id=self.id, artifact_path=path))

    def load_dict(self, path: str) -> Any:
        return json.loads(self.artifact(path).read_text(encoding="utf-8"))


class Steps:
    """The runs of one study: find, reuse or open them, each under the innermost open one, and count
    them on the progress file (``progress``: a :class:`core.study.progress.ProgressFile`, or None)."""

    def __init__(self, experiment: str, family: str, seed: int, selection: Any, progress=None):
        self.experiment, self.family, self.seed, self.selection = experiment, family, seed, selection
        self.progress = progress
        self._open: list[str] = []   # run ids, outermost first

    @property
    def parent(self) -> str | None:
        """The innermost open run (new and reused runs go under it)."""
        return self._open[-1] if self._open else None

    def advance(self, n: int = 1, where: str | None = None) -> None:
        if self.progress is not None:
            self.progress.advance(n, where)

    def now(self, where: str) -> None:
        """Say what is being fitted (the progress file's current step)."""
        if self.progress is not None:
            self.progress.set_current(where)

    def find(self, kind: str, key: str) -> Done | None:
        """The newest finished run of ``kind`` with content ``key`` (where it is), or None."""
        run = find_reusable(self.experiment, kind, key)
        return None if run is None else Done(run)

    def adopt(self, done: Done) -> Done:
        """``done`` made part of the tree under the innermost open run (moved, or copied with artifacts)."""
        return Done(reuse(done.run, self.parent))

    def reuse(self, kind: str, key: str, advance: int = 0, where: str | None = None) -> Done | None:
        """The finished run of ``kind`` with ``key`` adopted under the innermost open run (and
        ``advance`` steps of progress counted), or None when there is none."""
        done = self.find(kind, key)
        if done is None:
            return None
        done = self.adopt(done)
        if advance:
            self.advance(advance, where)
        return done

    @contextlib.contextmanager
    def run(self, name: str, kind: str, key: str, arm: Arm | None = None, *, params: dict | None = None,
            tags: dict | None = None, description: str | None = None, advance: int = 0,
            where: str | None = None) -> Iterator[RunLog]:
        """A new run of ``kind`` under the innermost open one, tagged with its key, the family and the
        search's settings, with the data it fits or scores on as MLflow dataset inputs (one per role);
        ``advance`` steps of progress are counted when it finishes."""
        settings = {"family": self.family, **(arm.settings if arm else {})}
        with tracking.start_run(name, experiment=self.experiment, kind=kind, parent=self.parent, params=params,
                                tags={**runtree.tags(kind, key, **settings), **(tags or {})}, seed=self.seed,
                                selection=arm.dataset if arm else self.selection, description=description) as run:
            for role in DATA_ROLES.get(kind, ()) if arm else ():
                tracking.log_dataset(**dataset_input(arm, role), context=role)
            self._open.append(run.info.run_id)
            try:
                yield RunLog(run.info.run_id)
            finally:
                self._open.pop()
        if advance:
            self.advance(advance, where)

    def once(self, name: str, kind: str, key: str, arm: Arm | None, work: Callable[[RunLog], Any], *,
             params: dict | None = None, tags: dict | None = None, description: str | None = None,
             progress: int = 1, counts_itself: bool = False, where: str | None = None) -> Done:
        """The step: the finished run of ``kind`` with ``key`` if there is one, else a new run in which
        ``work(log)`` fits and logs. ``progress``: the steps of the progress file it stands for, counted
        when it is reused, or when the work ends unless the work counts them as it goes (``counts_itself``)."""
        done = self.reuse(kind, key, progress, where)
        if done is not None:
            return done
        with self.run(name, kind, key, arm, params=params, tags=tags, description=description,
                      advance=0 if counts_itself else progress, where=where) as log:
            work(log)
        return Done(MlflowClient().get_run(log.id))


def dataset_input(arm: Arm, role: str) -> dict:
    """The MLflow dataset a search's runs use in ``role``: named by data root and selection.

    The training data's digest is the selection's fingerprint; the validation and test parts get
    digests derived from it (MLflow keeps one input per name and digest in a run).
    """
    selection = str(arm.settings.get("size") or "all")
    fingerprint = arm.dataset.fingerprint
    profile = {"tracks": arm.n_dev + arm.n_test, "genres": arm.genres, "training+validation": arm.n_dev,
               "test": arm.n_test, "input": arm.settings.get("input", ""), "window": arm.window,
               "synthetic": bool(arm.dataset.synthetic), "fingerprint": fingerprint}
    return {"name": f"{Path(arm.source).name or arm.dataset.dataset_name} · {selection}",
            "digest": fingerprint if role == "training" else content_key(fingerprint=fingerprint, role=role),
            "source": arm.source, "profile": profile}


# ------------------------------------------------------------------ reusing finished runs (resume)
# A FINISHED run with the same kind and key is reused instead of refitted:
# - if its old parent ended without finishing (a killed or failed study: no live owner, because
# ``tracking.end_orphaned_runs`` already ended the runs of dead processes), it is moved under the
# new parent, so the resumed tree is whole;
# - otherwise (its parent finished, or still runs in a live process) it stays where it is and the new
# parent gets a copy: same name, params, tags, final metrics and artifacts (an autoencoder's
# ``encoder/``), tagged ``genrelab.reused_from``.


def find_reusable(experiment: str, kind: str, key: str):
    """The newest FINISHED run of ``kind`` with content ``key`` in ``experiment``, or None."""
    return find_finished_run(experiment, genrelab__kind=kind, genrelab__key=key)


def reuse(run, parent_run_id: str | None):
    """Make finished ``run`` part of the tree under ``parent_run_id`` (moved or copied, see above).

    Returns the run that now stands under the parent.
    """
    client = MlflowClient()
    old_parent = run.data.tags.get(runtree.PARENT)
    if parent_run_id is None or old_parent == parent_run_id:
        return run
    if old_parent and client.get_run(old_parent).info.status in ("KILLED", "FAILED"):
        client.set_tag(run.info.run_id, runtree.PARENT, parent_run_id)
        client.set_tag(run.info.run_id, runtree.ADOPTED_FROM, old_parent)
        return run
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    tags.update({runtree.PARENT: parent_run_id, runtree.REUSED_FROM: run.info.run_id,
                 runtree.RUN_NAME: run.data.tags.get(runtree.RUN_NAME, "")})
    copy = client.create_run(run.info.experiment_id, tags=tags, run_name=tags[runtree.RUN_NAME])
    now = int(time.time() * 1000)
    client.log_batch(copy.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in run.data.metrics.items()],
                     params=[Param(k, v) for k, v in run.data.params.items()])
    if client.list_artifacts(run.info.run_id):  # a fitted encoder, a results file: the copy stands alone
        with tempfile.TemporaryDirectory() as tmp:
            client.log_artifacts(copy.info.run_id, client.download_artifacts(run.info.run_id, "", tmp))
    client.set_terminated(copy.info.run_id, "FINISHED")
    return client.get_run(copy.info.run_id)

