"""Registered genre models: the versions, the card each one carries, champions. (The models themselves,
and the predictor that asks them, are :mod:`core.serving`.)

- :mod:`core.registry.card`: :class:`ModelCard`, what a version says it is, written as its tags.
- :mod:`core.registry.versions`: :func:`register_version`, listing, the ``champion`` alias
  (:func:`promote`, :func:`promote_if_better`) and how a user names a version.
- :mod:`core.registry.commands`: ``python -m core models``.
"""
from core.registry.card import ModelCard, is_comparable
from core.registry.versions import (
    CHAMPION,
    Version,
    champion,
    default_versions,
    fallback_note,
    lead_version,
    list_versions,
    promote,
    promote_if_better,
    register_version,
    resolve,
)

__all__ = ["CHAMPION", "ModelCard", "Version", "champion",
           "default_versions", "fallback_note", "is_comparable", "lead_version", "list_versions", "promote", "promote_if_better",
           "register_version", "resolve"]
