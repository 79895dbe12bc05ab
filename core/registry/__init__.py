"""Registered genre models: self-contained MLflow pyfunc models, the card each version carries, champions.

- :mod:`core.registry.pyfunc`: the models as MLflow pyfunc models, logged with their code and pinned
  requirements (:func:`log_feature_model`, :func:`log_audio_model`); :mod:`core.registry.embedding_model`
  (an MLP on musicnn embeddings, audio in) and :mod:`core.registry.zeroshot` (pretrained taggers, no training).
- :mod:`core.registry.card`: :class:`ModelCard`, what a version says it is, written as its tags.
- :mod:`core.registry.versions`: :func:`register_version`, listing, the ``champion`` alias
  (:func:`promote`, :func:`promote_if_better`) and how a user names a version.
- :mod:`core.registry.commands`: ``python -m core models``.
"""
from core.registry.card import AUDIO_INPUTS, FEATURE_INPUTS, INPUT_KINDS, ModelCard, is_comparable
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

_PYFUNC = ("log_feature_model", "log_audio_model")


def __getattr__(name: str):
    # The pyfunc module imports MLflow (seconds): loaded on first use, so `python -m core --help` stays instant.
    if name in _PYFUNC:
        from core.registry import pyfunc

        return getattr(pyfunc, name)
    raise AttributeError(f"module 'core.registry' has no attribute {name!r}")


__all__ = ["AUDIO_INPUTS", "CHAMPION", "FEATURE_INPUTS", "INPUT_KINDS", "ModelCard", "Version", "champion",
           "default_versions", "fallback_note", "is_comparable", "lead_version", "list_versions", "promote", "promote_if_better",
           "register_version", "resolve", *_PYFUNC]
