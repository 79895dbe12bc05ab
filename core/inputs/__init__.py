"""Input kinds: what a model reads of a track, in one registry.

Each kind is one module defining ``KIND`` (a :class:`~core.inputs.input_kind.InputKind`): how its data is
computed and cached (``table``, and the command that fills the cache), how a registered model on it
answers (``takes_audio``, ``log_model``), what the model's card records (``card``), how pages name it
(``label``), and its spec table (``section``). Adding a kind is one module and one line in
:data:`KINDS`; the MLP family studies every kind with a ``table`` (or that ``encodes`` one).
"""
from __future__ import annotations

from core.errors import GenreLabError
from core.inputs import autoencoder, embeddings, features, mels
from core.inputs.input_kind import InputKind

#: Every input kind by name.
KINDS: dict[str, InputKind] = {k.name: k for k in (features.KIND, autoencoder.KIND, embeddings.KIND, mels.KIND)}


def kind(name: str) -> InputKind:
    """The kind named ``name``; GenreLabError naming the known ones otherwise."""
    if name not in KINDS:
        raise GenreLabError(f"unknown input kind {name!r} (known: {', '.join(KINDS)})")
    return KINDS[name]


def label(name: str) -> str:
    """How pages name kind ``name`` (the name itself for a kind no longer known)."""
    return KINDS[name].label if name in KINDS else name


__all__ = ["KINDS", "InputKind", "kind", "label"]
