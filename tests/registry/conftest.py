"""One store (session-wide) holding every registered flavour: Keras MLP, scikit-learn MLP, MLP on
autoencoder codes, CNN on log-mel clips, MLP on musicnn embeddings, each logged by the project's code on
a tiny network."""
from __future__ import annotations

import pytest

#: name -> (family, input kind) of the flavours in the store.
FLAVOURS = {
    "genre-mlp": ("keras_mlp", "features"),
    "genre-mlp-sklearn": ("sklearn_mlp", "features"),
    "genre-mlp-ae": ("keras_mlp", "autoencoder"),
    "genre-cnn": ("cnn", "mels"),
    "genre-mlp-embeddings": ("sklearn_mlp", "embeddings"),
}


@pytest.fixture(scope="session")
def flavours(tmp_path_factory) -> dict:
    """``{"uri": store URI, "models": {name: (model URI, run id)}}``; each name has version 1.

    MLFLOW_TRACKING_URI points at the store for the whole session.
    """
    from tests.registry import builders

    uri = f"sqlite:///{tmp_path_factory.mktemp('flavours') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        from core import tracking
        from core.registry import register_version

        tracking.configure()
        logged = {"genre-mlp": builders.log_feature("keras_mlp"),
                  "genre-mlp-sklearn": builders.log_feature("sklearn_mlp"),
                  "genre-mlp-ae": builders.log_feature("keras_mlp", autoencoder=True),
                  "genre-cnn": builders.log_clip(3.0),
                  "genre-mlp-embeddings": builders.log_embedding()}
        for name, (model_uri, run_id) in logged.items():
            family, kind = FLAVOURS[name]
            extra = ({"clip_seconds": 3} if kind == "mels" else
                     {"size": "small", "embedding_model": "MSD_musicnn", "embedding_layer": "penultimate"}
                     if kind == "embeddings" else {"size": "small"})
            register_version(model_uri, name, builders.card(family, kind, run_id, **extra),
                             aliases=["clip-3s"] if kind == "mels" else [])
        yield {"uri": uri, "models": logged}


@pytest.fixture
def store(flavours, monkeypatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", flavours["uri"])
    from core import tracking

    return tracking.configure()
