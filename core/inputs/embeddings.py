"""``embeddings``: one vector per track from a pretrained musicnn network (``[embeddings]``: which
network, layer and audio window; ``ROOT/cache/embeddings/<key>/``). A registered model carries the
network and computes the vector of an audio file itself, with the function that filled the cache."""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import GenreLabError
from core.features.embeddings import DEFAULT_LAYER, DEFAULT_MODEL, check_choice, load_embeddings_feature_table
from core.features.window import parse_window
from core.inputs.input_kind import InputKind


@dataclass
class EmbeddingsSection:
    """The ``[embeddings]`` table: which pretrained network, layer and audio window make a track's vector.

    ``model`` and ``layer`` may each list several values: the study then compares every model x layer
    (:func:`variants`), one search each, on the same tracks and folds.
    """

    model: str | list[str] = DEFAULT_MODEL     # "MSD_musicnn", "MTT_musicnn", or both: "MSD_musicnn+MTT_musicnn"
    layer: str | list[str] = DEFAULT_LAYER     # "penultimate", "taggram", "mean_pool", "max_pool"
    window: str = "full"                       # the part of each file embedded (core.features.window)

    def __post_init__(self):
        models, layers = _listed(self.model), _listed(self.layer)
        if not models or not layers or len(set(models)) < len(models) or len(set(layers)) < len(layers):
            raise ValueError("model, layer: a value or a list of distinct values")
        try:
            for model in models:
                for layer in layers:
                    check_choice(model, layer)
            parse_window(self.window)
        except GenreLabError as err:
            raise ValueError(str(err).removeprefix("embeddings: ")) from None


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def variants(section: EmbeddingsSection) -> list[tuple[str, EmbeddingsSection]]:
    """``(label, one-model one-layer section)`` for every model x layer the section lists, e.g.
    ``("MTT_musicnn taggram", EmbeddingsSection("MTT_musicnn", "taggram", "full"))``."""
    return [(f"{model} {layer}", EmbeddingsSection(model, layer, section.window))
            for model in _listed(section.model) for layer in _listed(section.layer)]


def table(root, size, genres, section: EmbeddingsSection):
    """The cached vectors of the selected tracks (:func:`core.features.embeddings.load_embeddings_feature_table`)."""
    return load_embeddings_feature_table(root, size, genres, section.model, section.layer, section.window)


def log_model(estimator, scaler, family: str, section: EmbeddingsSection, window: str):
    from core.serving.embedding_model import log_embedding_model  # MLflow: only when a model is logged

    return log_embedding_model(estimator, scaler, family, section.model, section.layer, window)


def card(section: EmbeddingsSection) -> dict[str, str]:
    return {"embedding_model": section.model, "embedding_layer": section.layer}


KIND = InputKind(name="embeddings", label="musicnn embeddings", takes_audio=True,
                 fill="python -m core embeddings --data ROOT", section=EmbeddingsSection, variants=variants,
                 table=table, log_model=log_model, card=card)
