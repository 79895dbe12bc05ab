"""Model families: what the engine fits. One module per family; adding a family is adding a module.

A family module defines one :class:`Family` subclass and lists itself in :data:`FAMILIES`. The engine
(:mod:`core.study.engine`) owns the flow (plan, candidates, folds, refit, test, register, resume,
progress); the family owns its data and its fits:

- ``params``: the hyper-parameter dataclass (defaults + checks). ``search.space`` keys and the
  family's own spec table are its fields; the engine adds ``seed``, ``early_stopping``, ``patience``
  and ``validation_fraction`` from ``[search]``.
- ``sections``: the spec tables it (and its input kinds) own, each a dataclass.
- ``load``: the searches (:class:`core.study.engine.Arm`) of a spec: data, folds, settings.
- ``fold_task``: a picklable ``(function, args)`` that fits one fold anywhere and returns a
  :class:`FoldResult`-shaped dict; ``fit_final``: the refit on training+validation and the test
  predictions, run in the study's process.
- ``fit_cost``, ``fit_seconds``, ``extra_fits``: the cost model behind the dry-run plan; ``probe_stopping`` and
  ``probe_tasks``: whether (and on which other fits) the plan may time early stopping on the data.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from core.errors import GenreLabError
from core.study import cost as costing

#: model.family → module defining it (imported only when a spec names it).
FAMILIES = {
    "keras_mlp": "core.study.families.mlp",
    "sklearn_mlp": "core.study.families.mlp",
    "keras_cnn": "core.study.families.cnn",
}
#: Added to every family's params by the engine, from ``[search]`` (and ``precision`` from ``[compute]``).
SEARCH_CONTROLS = ("seed", "early_stopping", "patience", "validation_fraction", "precision")


class Family:
    """The interface a model family implements (see the module docstring)."""

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

    # The engine calls these; each family implements them.
    def load(self, spec, root, *, features=None, label_column=None, dry_run=False, out=print) -> list:
        raise NotImplementedError

    def fold_inputs(self, arm, folds: list[int], study) -> None:
        """Prepare what the fits of ``folds`` need beyond the data (e.g. autoencoder codes)."""

    def fold_task(self, arm, params: dict, k: int) -> tuple[Callable, tuple]:
        raise NotImplementedError

    def fit_final(self, arm, params: dict, fold_results: list[dict], study):
        raise NotImplementedError

    def fit_cost(self, arms: list, base: dict, executor, precision: str):
        """What fits cost on ``executor``'s workers, for :meth:`fit_seconds` (anything with ``describe()``):
        the study MLP's timing (:func:`core.study.cost.measured_cost`) unless a family times its own."""
        return costing.measured_cost(executor, precision)

    def fit_seconds(self, arm, params: dict, n_train: int, cost) -> float:
        raise NotImplementedError

    def extra_fits(self, arm, cost, stops: dict | None = None) -> tuple[int, float]:
        """Fits (and seconds; 0 without a cost) a search makes besides candidates and the final refit;
        ``stops``: epochs after which early stopping ended the :meth:`probe_tasks` fits."""
        return 0, 0.0

    def probe_tasks(self, arm, study) -> dict[str, tuple[Callable, tuple]]:
        """Fits besides the candidates' (e.g. an autoencoder) whose early stopping the plan measures:
        name → picklable ``(function, args)`` returning a dict with ``history``."""
        return {}

    def run_baselines(self, study, parent: str) -> list[dict]:
        """Reference classifiers logged under the study run (none by default); their results rows."""
        return []

    def baseline_fits(self, arms: list) -> int:
        return 0


def family(name: str) -> Family:
    """The family named ``name`` (its module imported now)."""
    if name not in FAMILIES:
        raise GenreLabError(f"unknown model family {name!r} (known: {', '.join(FAMILIES)})")
    return importlib.import_module(FAMILIES[name]).FAMILY_CLASS(name)


def family_sections(name: str) -> dict[str, type]:
    """The spec tables family ``name`` owns."""
    return family(name).sections
