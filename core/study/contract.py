"""The contract between the study engine and its model families: what each hands the other.

The engine (:mod:`core.study.engine`) owns the flow of a study; a family (:mod:`core.study.families`)
owns its data and its fits. They meet only here:

- :class:`Arm`: one search a family's ``load`` describes (its data, folds and settings);
- :class:`Family`: the methods the engine calls;
- :class:`FinalFit` and :class:`Baseline`: what a refit and a reference classifier hand back;
- :class:`Steps`: the one keyed step every run of the tree goes through. A step has a content key
  (:func:`core.study.lineage.content_key`); :meth:`Steps.once` reuses a finished run with that key
  (artifacts included, :func:`core.study.lineage.reuse`) or opens a child run under the innermost open
  one, lets the work log into it through a :class:`RunLog`, and advances the progress file. Families
  get ``Steps`` and the executor, never the engine's ``Study``, and never import mlflow.
"""
from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from core import tracking
from core.errors import GenreLabError
from core.study import cost as costing
from core.study import runtree
from core.study.lineage import content_key, find_reusable, reuse

#: Added to every family's params by the engine, from ``[search]`` (and ``precision`` from ``[compute]``).
SEARCH_CONTROLS = ("seed", "early_stopping", "patience", "validation_fraction", "precision")
#: The roles data plays in each kind of run (logged as MLflow dataset inputs).
DATA_ROLES = {"search": ("training", "test"), "candidate": ("training", "validation"),
              "fold": ("training", "validation"), "final": ("training", "test"), "baseline": ("training", "test"),
              "autoencoder": ("training",)}


@dataclass
class Arm:
    """One search of a study: the data a family fits candidates on, its folds and what it is called."""

    label: str                         # e.g. "small features", "30s"
    settings: dict[str, Any]           # size / input / clip_seconds: tags of every run of the search
    data: Any                          # the family's data (a FeatureTable, clip tracks...)
    dataset: Any                       # dataset_name, fingerprint, synthetic (recorded on every run)
    fingerprint: str                   # everything about the data that changes a fit
    genres: list[str]
    folds: list[tuple[np.ndarray, np.ndarray]]   # (train, validation) positions of dev units
    fold_ids: list[str]                # fingerprint of each fold's track ids
    n_dev: int
    n_test: int
    registered_name: str | None = None
    aliases: list[str] = field(default_factory=list)
    window: str = ""                   # audio window the input was computed on ("full", "center:30"...)
    source: str = ""                   # the dataset root (or table file) the data was read from
    details: dict[str, Any] = field(default_factory=dict)   # logged as params of the search run


@dataclass
class FinalFit:
    """What a family's refit hands back: test labels and predictions (per track), extras, the model."""

    y_true: np.ndarray
    y_pred: np.ndarray
    metrics: dict[str, float]
    model_info: Any = None
    card_extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Baseline:
    """A reference classifier's result: the arm it was fitted on, its row's names, its test metrics."""

    arm: Arm
    search: str          # the results row's search column, e.g. "small features"
    model: str           # e.g. "logistic regression"
    metrics: dict[str, float]
    params: dict[str, Any]


# ------------------------------------------------------------------------------------------ runs
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

    def __init__(self, experiment: str, family: str, seed: int, selection: Any, progress=None,
                 out: Callable[[str], None] = print):
        self.experiment, self.family, self.seed, self.selection = experiment, family, seed, selection
        self.progress, self.out = progress, out
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


# ---------------------------------------------------------------------------------------- families
class Family:
    """What a model family implements; one module per family (:mod:`core.study.families`).

    - ``params``: the hyper-parameter dataclass (defaults + checks). ``search.space`` keys and the
      family's own spec table are its fields; the engine adds :data:`SEARCH_CONTROLS` from ``[search]``.
    - ``inputs``: the input kinds it takes; ``sections``: the spec tables it owns, each a dataclass.
    - ``load``: the searches (:class:`Arm`) of a spec: data, folds, settings.
    - ``fold_task``: a picklable ``(function, args)`` that fits one fold anywhere and returns a dict with
      ``history``, ``accuracy``, ``fit_seconds``, ``device``, ``epochs_run``, ``best_epoch`` (and
      optionally ``metrics``); ``fit_final``: the refit on training+validation and the test predictions,
      run in the study's process and logged through ``log``.
    - ``fit_cost``, ``fit_seconds``, ``extra_fits``: the cost model behind the dry-run plan;
      ``probe_stopping`` and ``probe_tasks``: whether (and on which other fits) the plan may time early
      stopping on the data.
    """

    name: str = ""
    params: type = object
    inputs: tuple[str, ...] = ()
    sections: dict[str, type] = {}
    #: Whether the plan may fit one fold per batch size to see when early stopping ends fits (cheap
    #: for an MLP on a table; a CNN's fold is the study's most expensive step, so its plan uses the caps).
    probe_stopping: bool = False

    def __init__(self, name: str):
        self.name = name

    def hyperparameters(self) -> list[str]:
        """The params that are hyper-parameters (everything but the search's controls)."""
        return [f.name for f in fields(self.params) if f.name not in SEARCH_CONTROLS]

    def check(self, sections: dict[str, Any], error: Callable[[str, str], GenreLabError]) -> None:
        """Cross-table checks once the spec loads: input kinds, search space keys and values."""
        bad = [k for k in sections["input"].kinds if k not in self.inputs]
        if bad:
            raise error("input.kinds", f"{self.name} takes {' or '.join(self.inputs)}, not {bad[0]!r}")
        allowed = self.hyperparameters()
        base = self.base_params(sections)
        for name, values in sections["search"].space.items():
            if name not in allowed:
                raise error(f"search.space.{name}", f"not a {self.name} parameter (known: {', '.join(allowed)})")
            for value in values:
                try:
                    self.params(**{**base, name: value})
                except (TypeError, ValueError, GenreLabError) as err:
                    raise error(f"search.space.{name}", f"{value!r}: {err}") from None
        if sections["search"].halving and "epochs" not in allowed:
            raise error("search.halving", f"{self.name} has no epochs to scale")

    def base_params(self, sections: dict[str, Any]) -> dict:
        """Fixed hyper-parameters from the family's own spec table (none by default)."""
        return {}

    def load(self, spec, root, *, features=None, label_column=None, dry_run=False, out=print) -> list[Arm]:
        raise NotImplementedError

    def fold_inputs(self, arm: Arm, folds: list[int], steps: Steps, executor) -> None:
        """Prepare what the fits of ``folds`` need beyond the data (e.g. autoencoder codes)."""

    def fold_task(self, arm: Arm, params: dict, k: int) -> tuple[Callable, tuple]:
        raise NotImplementedError

    def fit_final(self, arm: Arm, params: dict, fold_results: list[dict], steps: Steps, log: RunLog) -> FinalFit:
        raise NotImplementedError

    def fit_cost(self, arms: list[Arm], base: dict, executor, precision: str):
        """What fits cost on ``executor``'s workers, for :meth:`fit_seconds` (anything with ``describe()``):
        the study MLP's timing (:func:`core.study.cost.measured_cost`) unless a family times its own."""
        return costing.measured_cost(executor, precision)

    def fit_seconds(self, arm: Arm, params: dict, n_train: int, cost) -> float:
        raise NotImplementedError

    def extra_fits(self, arm: Arm, cost, stops: dict | None = None) -> tuple[int, float]:
        """Fits (and seconds; 0 without a cost) a search makes besides candidates and the final refit;
        ``stops``: epochs after which early stopping ended the :meth:`probe_tasks` fits."""
        return 0, 0.0

    def probe_tasks(self, arm: Arm, executor) -> dict[str, tuple[Callable, tuple]]:
        """Fits besides the candidates' (e.g. an autoencoder) whose early stopping the plan measures:
        name → picklable ``(function, args)`` returning a dict with ``history``."""
        return {}

    def run_baselines(self, arms: list[Arm], spec, steps: Steps) -> list[Baseline]:
        """Reference classifiers fitted and scored once under the study run (none by default)."""
        return []

    def baseline_fits(self, arms: list[Arm]) -> int:
        return 0

