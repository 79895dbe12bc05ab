"""The contract between the study engine and its model families: what each hands the other.

The engine (:mod:`core.study.engine`) owns the flow of a study; a family (:mod:`core.study.families`)
owns its data and its fits. They meet only here and in :mod:`core.study.steps`:

- :class:`Arm`: one search a family's ``load`` describes (its data, folds and settings);
- :class:`Family`: the methods the engine calls;
- :class:`FinalFit` and :class:`Baseline`: what a refit and a reference classifier hand back;
- :class:`core.study.steps.Steps`: the one keyed step every run of the tree goes through, handed to
  the family's methods (with the executor), never the engine's ``Study``. Families never import mlflow.

This module stays light (no MLflow, no scikit-learn): spec checks and worker processes import it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import GenreLabError
from core.study import cost as costing

if TYPE_CHECKING:  # annotations only: the step lives with MLflow, which workers need not import
    from core.study.steps import RunLog, Steps

#: Added to every family's params by the engine, from ``[search]`` (and ``precision`` from ``[compute]``).
SEARCH_CONTROLS = ("seed", "early_stopping", "patience", "validation_fraction", "precision")
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
    """What a family's refit hands back: test labels and predictions (per track), extras, the model.

    ``proba`` are the test tracks' probabilities (rows as ``y_true``, columns ``classes``) as the
    registered model answers them, after temperature scaling with ``temperature``, fitted on a validation
    slice the refit kept out of its training (:mod:`core.calibration`); the engine measures their
    calibration. None for a family that gives no probabilities. ``artists`` are the test tracks'
    artists (rows as ``y_true``) where the data names them: the test interval then counts artists.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    metrics: dict[str, float]
    model_info: Any = None
    card_extra: dict[str, str] = field(default_factory=dict)
    proba: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)
    temperature: float = 1.0
    artists: np.ndarray | None = None


@dataclass
class Baseline:
    """A reference classifier's result: the arm it was fitted on, its row's names, its test metrics."""

    arm: Arm
    search: str          # the results row's search column, e.g. "small features"
    model: str           # e.g. "logistic regression"
    metrics: dict[str, float]
    params: dict[str, Any]


# ---------------------------------------------------------------------------------------- families
class Family:
    """What a model family implements; one module per family (:mod:`core.study.families`).

    - ``params``: the hyper-parameter dataclass (defaults + checks). ``search.space`` keys and the
      family's own spec table are its fields; the engine adds :data:`SEARCH_CONTROLS` from ``[search]``.
    - ``inputs``: the input kinds it takes; ``sections``: the spec tables it owns, each a dataclass.
    - ``load``: the searches (:class:`Arm`) of a spec: data, folds, settings.
    - ``fold_task``: a picklable ``(function, args)`` that fits one fold anywhere and returns a dict with
      ``history``, ``accuracy``, ``fit_seconds``, ``device``, ``epochs_run``, ``best_epoch`` (and
      optionally ``metrics``); ``fit_final``: the refit on training+validation (a validation slice kept
      out for early stopping and the temperature) and the test predictions and probabilities
      (:class:`FinalFit`), run in the study's process and logged through ``log``.
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

