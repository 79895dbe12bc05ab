"""What an input kind is: :class:`InputKind`, the one record the study, the registry's cards and the pages
read about a kind (see :mod:`core.inputs`)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InputKind:
    """One kind of model input.

    Parameters
    ----------
    name : str
        As specs (``input.kinds``), MLflow params and model cards write it.
    label : str
        How pages and reports name it ("raw features").
    takes_audio : bool
        Whether a registered model on it reads the audio file itself (else it takes a row of FMA's
        518 features).
    fill : str
        The command that computes and caches it, as error messages tell users to run it.
    section : type, optional
        Its spec table (a dataclass named as the kind, e.g. ``[embeddings]``), or None.
    variants : callable, optional
        ``variants(section) -> [(label, section)]``: the versions of the kind one spec table asks to
        compare (``[embeddings] layer = ["penultimate", "taggram"]``), each studied as a search of its own
        whose runs carry the label (tag ``genrelab.variant``); the other functions get one such section.
        Without it, a kind is one search per size, unlabelled.
    table : callable, optional
        ``table(root, size, genres, section) -> core.data.tables.FeatureTable``: its cached per-track
        vectors for a selection (size '8k'/'25k'/'45k', a subset name or None for all). Kinds without
        one are read by their family directly (the CNN reads the log-mel cache clip by clip).
    encodes : str, optional
        For codes learnt from another kind's table inside each fold (the autoencoder: ``"features"``).
    log_model : callable, optional
        ``log_model(estimator, scaler, family, section, window) -> mlflow ModelInfo``: how a table
        model on an audio kind is logged so that, registered, it answers an audio file (computing the
        vector itself). An audio kind without one is studied but not registered.
    card : callable, optional
        ``card(section) -> dict``: what a registered model's card records about the input.
    """

    name: str
    label: str
    takes_audio: bool
    fill: str
    section: type | None = None
    variants: Callable[[Any], list[tuple[str, Any]]] | None = None
    table: Callable[..., Any] | None = None
    encodes: str | None = None
    log_model: Callable[..., Any] | None = None
    card: Callable[[Any], dict[str, str]] | None = None
