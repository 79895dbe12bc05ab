"""Model families: what the engine fits. One module per family; adding a family is adding a module
and one line in :data:`FAMILIES`.

A family module defines one :class:`core.study.contract.Family` subclass: the engine
(:mod:`core.study.engine`) owns the flow (plan, candidates, folds, refit, test, register, resume,
progress); the family owns its data and its fits, and meets the engine only through
:mod:`core.study.contract` and :mod:`core.study.steps`.
"""
from __future__ import annotations

from core.errors import GenreLabError
from core.study.contract import Family


def _mlp() -> type[Family]:
    from core.study.families import mlp  # a family's module is imported when a spec names it

    return mlp.MLPFamily


def _cnn() -> type[Family]:
    from core.study.families import cnn

    return cnn.CNNFamily


#: model.family → the function that imports its class.
FAMILIES = {"keras_mlp": _mlp, "sklearn_mlp": _mlp, "keras_cnn": _cnn}


def family(name: str) -> Family:
    """The family named ``name``."""
    if name not in FAMILIES:
        raise GenreLabError(f"unknown model family {name!r} (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]()(name)


def family_sections(name: str) -> dict[str, type]:
    """The spec tables family ``name`` owns."""
    return family(name).sections
