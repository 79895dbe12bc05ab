"""The estimator interface shared by both MLP families, the autoencoder, the baselines, the metrics."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import GenreLabError
from core.models.autoencoder import Autoencoder
from core.models.baselines import BASELINES, make_baseline
from core.models.mlp import make_estimator
from core.study.evaluate import classification_metrics, confusion


def blobs(n=90, d=12, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.array(["Pop", "Rock", "Hip-Hop"])[np.arange(n) % 3]
    centres = {g: rng.normal(scale=3, size=d) for g in set(labels)}
    X = np.stack([centres[g] for g in labels]) + rng.normal(size=(n, d))
    return X.astype(np.float32), labels


@pytest.mark.parametrize("family, params", [
    ("keras_mlp", {"hidden_units": [16], "dropout": 0.2, "batchnorm": True, "l2": 0.001,
                   "optimizer": "rmsprop", "epochs": 3, "batch_size": 16}),
    ("sklearn_mlp", {"hidden_units": [16], "l2": 0.001, "epochs": 3, "batch_size": 16}),
])
def test_estimators_share_one_interface(family, params):
    X, y = blobs()
    model = make_estimator(family, params)
    history = model.fit(X[:60], y[:60], X[60:], y[60:])
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.values())
    proba = model.predict_proba(X[60:])
    assert proba.shape == (30, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert list(model.classes_) == ["Hip-Hop", "Pop", "Rock"]
    assert model.get_params()["hidden_units"] == [16]


@pytest.mark.parametrize("family", ["keras_mlp", "sklearn_mlp"])
def test_early_stopping_uses_an_inner_slice(family):
    X, y = blobs()
    model = make_estimator(family, {"hidden_units": [8], "epochs": 40, "early_stopping": True, "patience": 1,
                                    "batch_size": 16, "validation_fraction": 0.2})
    history = model.fit(X, y)  # no validation data given: the curves come from the inner slice
    assert "val_loss" in history and 1 <= len(history["val_loss"]) <= 40


def test_unknown_params_are_one_line_errors():
    with pytest.raises(GenreLabError, match="unknown parameter"):
        make_estimator("keras_mlp", {"width": 3})
    with pytest.raises(GenreLabError, match="optimizer"):
        make_estimator("sklearn_mlp", {"optimizer": "rmsprop"})
    with pytest.raises(GenreLabError, match="unknown MLP family"):
        make_estimator("torch_mlp", {})


def test_training_schedules_are_checked_alike_for_mlp_and_autoencoder():
    with pytest.raises(GenreLabError, match="^keras_mlp: epochs: must be >= 1"):
        make_estimator("keras_mlp", {"epochs": 0})
    with pytest.raises(GenreLabError, match="^sklearn_mlp: validation_fraction"):
        make_estimator("sklearn_mlp", {"validation_fraction": 0.7})
    with pytest.raises(GenreLabError, match="^autoencoder: batch_size: must be >= 1"):
        Autoencoder(batch_size=0)
    with pytest.raises(GenreLabError, match="^autoencoder: learning_rate"):
        Autoencoder(learning_rate=0.0)
    assert Autoencoder().get_params()["epochs"] == 50  # its own defaults survive the shared schedule


def test_autoencoder_codes_and_reload(tmp_path):
    X, _ = blobs(d=20)
    ae = Autoencoder(bottleneck=5, epochs=2, batch_size=32)
    history = ae.fit(X)
    assert set(history) == {"loss", "val_loss"} and len(history["loss"]) == 2
    codes = ae.transform(X)
    assert codes.shape == (90, 5)
    ae.save(tmp_path)
    assert np.allclose(Autoencoder.load(tmp_path).transform(X), codes, atol=1e-5)


def test_baselines_fit_and_predict():
    X, y = blobs()
    for name in BASELINES:
        model = make_baseline(name, n_train=60).fit(X[:60], y[:60])
        assert set(model.predict(X[60:])) <= {"Pop", "Rock", "Hip-Hop"}
    assert make_baseline("knn", n_train=60, knn_k=200)[-1].n_neighbors == 60  # k never exceeds the rows


def test_metrics_names_and_confusion():
    y_true = np.array(["Hip-Hop", "Pop", "Pop", "Rock"])
    y_pred = np.array(["Hip-Hop", "Pop", "Rock", "Rock"])
    m = classification_metrics(y_true, y_pred, ["Hip-Hop", "Pop", "Rock"])
    assert m["test_accuracy"] == 0.75 and m["n_test"] == 4
    assert m["test_accuracy_ci_low"] < 0.75 < m["test_accuracy_ci_high"]
    assert m["test_precision/Hip-Hop"] == 1.0 and m["test_recall/Pop"] == 0.5  # genre names kept exactly
    assert {"test_f1_macro", "test_f1/Rock"} <= set(m) and "n_test_artists" not in m
    by_artist = classification_metrics(y_true, y_pred, ["Hip-Hop", "Pop", "Rock"], artists=np.array([5, 5, 6, 6]))
    assert by_artist["n_test_artists"] == 2 and by_artist["test_accuracy"] == 0.75
    assert by_artist["test_accuracy_ci_low"] < m["test_accuracy_ci_low"]  # two artists say less than four tracks
    cm = confusion(y_true, y_pred, ["Hip-Hop", "Pop", "Rock"])
    assert cm == {"labels": ["Hip-Hop", "Pop", "Rock"], "matrix": [[1, 0, 0], [0, 1, 1], [0, 0, 1]]}
