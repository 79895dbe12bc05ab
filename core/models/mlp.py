"""Two MLP families behind one small estimator interface: Keras (the study's network) and scikit-learn.

Both take their hyper-parameters as constructor arguments, learn integer-free string labels, and offer
``fit(X, y, X_val=None, y_val=None) -> history``, ``predict_proba(X)``, ``classes_``, ``get_params()``
and ``calibrate(X_held_out, y_held_out)`` (temperature scaling, :mod:`core.calibration`). ``history`` maps ``loss``/``accuracy`` (and ``val_loss``/``val_accuracy`` when a
validation set was seen) to one float per epoch, so every fold run logs the same curves.

TensorFlow is imported inside ``fit`` so that importing this module (e.g. to validate a spec) is instant.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from core.calibration import apply_temperature, fit_temperature
from core.devices import PRECISIONS
from core.errors import GenreLabError, require

KERAS_OPTIMIZERS = ("adam", "rmsprop", "sgd")
SKLEARN_OPTIMIZERS = ("adam", "sgd")


def configure_threads(n_threads: int) -> None:
    """Cap the BLAS/TensorFlow threads of this process (call before TensorFlow runs anything)."""
    n_threads = max(1, int(n_threads))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n_threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notices of many small fits drown the progress output
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n_threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, n_threads))
    except RuntimeError:
        pass  # TensorFlow already initialised in this process: its thread pools are fixed for its life


def inner_validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) of a stratified inner slice of ``y`` for early stopping.

    The slice comes from the data being fitted, never from the fold being scored.
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.unique(y, return_counts=True)[1]
    n_val = max(int(round(fraction * len(y))), 1)
    stratify = y if counts.min() >= 2 and n_val >= len(counts) else None
    return train_test_split(idx, test_size=n_val, random_state=seed, stratify=stratify)


@dataclass
class TrainingSchedule:
    """How a network is trained, shared by the MLPs and the autoencoder (each sets its own defaults).

    Constructing one checks it: a value no training could use raises ``ValueError("key: problem")``.
    """

    learning_rate: float = 0.001
    epochs: int = 100
    batch_size: int = 128
    early_stopping: bool = False
    patience: int = 10
    validation_fraction: float = 0.1  # of the fitted rows, held out for early stopping
    seed: int = 0
    precision: str = "float32"  # Keras dtype policy of the layers ([compute] precision, core.devices)

    def __post_init__(self):
        require(int(self.epochs) >= 1, f"epochs: must be >= 1, got {self.epochs}")
        require(int(self.batch_size) >= 1, f"batch_size: must be >= 1, got {self.batch_size}")
        require(0.0 < float(self.validation_fraction) < 0.5,
               f"validation_fraction: must be in (0, 0.5), got {self.validation_fraction}")
        require(float(self.learning_rate) > 0, f"learning_rate: must be > 0, got {self.learning_rate}")
        require(int(self.patience) >= 1, f"patience: must be >= 1, got {self.patience}")
        require(int(self.seed) >= 0, f"seed: must be >= 0, got {self.seed}")
        require(self.precision in PRECISIONS, f"precision: one of {', '.join(PRECISIONS)}, got {self.precision!r}")


@dataclass
class _MLPParams(TrainingSchedule):
    hidden_units: list[int] = field(default_factory=lambda: [3000, 500])
    l2: float = 0.0
    optimizer: str = "adam"
    OPTIMIZERS = SKLEARN_OPTIMIZERS

    def __post_init__(self):
        super().__post_init__()
        units = self.hidden_units
        require(isinstance(units, (list, tuple)) and len(units) > 0
               and all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units),
               f"hidden_units: must be a non-empty list of positive ints, got {units!r}")
        self.hidden_units = [int(u) for u in units]
        require(self.optimizer in self.OPTIMIZERS,
               f"optimizer: must be one of {', '.join(self.OPTIMIZERS)}, got {self.optimizer!r}")
        require(float(self.l2) >= 0, f"l2: must be >= 0, got {self.l2}")


class _Estimator:
    """Shared label handling and parameter access; subclasses implement ``_fit`` and ``_proba``."""

    params: _MLPParams
    #: Divides the log-probabilities (core.calibration); 1 until :meth:`calibrate` fits it.
    temperature_: float = 1.0

    def get_params(self) -> dict:
        return asdict(self.params)

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> dict[str, list[float]]:
        """Fit on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,) of any hashable type.

        ``X_val``/``y_val`` only feed the validation curves, unless early stopping is on: then an inner
        slice of ``X`` decides when to stop (and feeds the curves), so a scored fold never steers training.
        """
        X = np.asarray(X, dtype=np.float32)
        self.classes_, y_idx = np.unique(np.asarray(y), return_inverse=True)
        p = self.params
        if p.early_stopping:
            tr, va = inner_validation_split(y_idx, p.validation_fraction, p.seed)
            X, X_val, y_idx, val_idx = X[tr], X[va], y_idx[tr], y_idx[va]
        elif X_val is not None and y_val is not None:
            val_idx = self._encode(y_val)
            X_val = np.asarray(X_val, dtype=np.float32)
        else:
            X_val = val_idx = None
        return self._fit(X, y_idx, X_val, val_idx)

    def _encode(self, y: np.ndarray) -> np.ndarray:
        """Class indices of ``y``; labels unseen in training map to -1 (always wrong, never crash)."""
        pos = np.searchsorted(self.classes_, y)
        pos = np.clip(pos, 0, len(self.classes_) - 1)
        return np.where(self.classes_[pos] == y, pos, -1)

    def calibrate(self, X: np.ndarray, y: np.ndarray) -> "_Estimator":
        """Fit ``temperature_`` on held-out rows ``X`` (never fitted on, never the test split); returns self."""
        self.temperature_ = fit_temperature(self._proba(np.asarray(X, dtype=np.float32)), self._encode(np.asarray(y)))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n_samples, len(classes_)), columns in ``classes_`` order (tempered)."""
        return apply_temperature(self._proba(np.asarray(X, dtype=np.float32)), self.temperature_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


@dataclass
class KerasMLPParams(_MLPParams):
    dropout: float = 0.5
    batchnorm: bool = False
    OPTIMIZERS = KERAS_OPTIMIZERS

    def __post_init__(self):
        super().__post_init__()
        require(0.0 <= float(self.dropout) < 1.0, f"dropout: must be in [0, 1), got {self.dropout}")


class KerasMLP(_Estimator):
    """The study's network: per hidden layer Dense(relu, L2) → Dropout → optional BatchNorm; softmax out."""

    def __init__(self, **params):
        self.params = build_params(KerasMLPParams, "keras_mlp", params)
        self.model_ = None

    def build(self, n_features: int, n_classes: int):
        import keras

        p = self.params
        keras.utils.set_random_seed(p.seed)
        reg = keras.regularizers.L2(p.l2) if p.l2 > 0 else None
        layers = [keras.Input(shape=(n_features,))]
        for units in p.hidden_units:
            layers.append(keras.layers.Dense(units, activation="relu", kernel_regularizer=reg, dtype=p.precision))
            layers.append(keras.layers.Dropout(p.dropout, dtype=p.precision))
            if p.batchnorm:
                layers.append(keras.layers.BatchNormalization(dtype=p.precision))
        layers.append(keras.layers.Dense(n_classes, activation="softmax", dtype="float32"))  # a stable softmax
        model = keras.Sequential(layers)
        optimizer = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
                     "sgd": keras.optimizers.SGD}[p.optimizer](learning_rate=p.learning_rate)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def _fit(self, X, y, X_val, y_val) -> dict[str, list[float]]:
        import keras

        p = self.params
        self.model_ = self.build(X.shape[1], len(self.classes_))
        callbacks = []
        if p.early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=p.patience,
                                                           restore_best_weights=True))
        validation = None
        if X_val is not None:
            keep = y_val >= 0  # a validation label unseen in training cannot enter the loss
            validation = (X_val[keep], y_val[keep])
        hist = self.model_.fit(X, y, epochs=p.epochs, batch_size=p.batch_size, validation_data=validation,
                               callbacks=callbacks, verbose=0, shuffle=True)
        return {k: [float(v) for v in vals] for k, vals in hist.history.items()
                if k in ("loss", "accuracy", "val_loss", "val_accuracy")}

    def _proba(self, X):
        return self.model_.predict(X, batch_size=4096, verbose=0)


@dataclass
class SklearnMLPParams(_MLPParams):
    pass


class SklearnMLP(_Estimator):
    """scikit-learn's ``MLPClassifier`` trained one epoch at a time so it logs the same curves as Keras."""

    def __init__(self, **params):
        self.params = build_params(SklearnMLPParams, "sklearn_mlp", params)
        self.model_ = None

    def _fit(self, X, y, X_val, y_val) -> dict[str, list[float]]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.metrics import log_loss
        from sklearn.neural_network import MLPClassifier

        p = self.params
        classes = np.arange(len(self.classes_))
        model = MLPClassifier(hidden_layer_sizes=tuple(p.hidden_units), alpha=p.l2, solver=p.optimizer,
                              learning_rate_init=p.learning_rate, batch_size=min(p.batch_size, len(X)),
                              random_state=p.seed)
        history: dict[str, list[float]] = {"loss": [], "accuracy": []}
        if X_val is not None:
            history.update(val_loss=[], val_accuracy=[])
        best, best_loss, waited = None, np.inf, 0
        for _ in range(p.epochs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.partial_fit(X, y, classes=classes)
            proba = model.predict_proba(X)
            history["loss"].append(float(log_loss(y, proba, labels=classes)))
            history["accuracy"].append(float((proba.argmax(1) == y).mean()))
            if X_val is not None:
                vproba = model.predict_proba(X_val)
                keep = y_val >= 0
                history["val_loss"].append(float(log_loss(y_val[keep], vproba[keep], labels=classes)))
                history["val_accuracy"].append(float((vproba.argmax(1) == y_val).mean()))
                if p.early_stopping:
                    if history["val_loss"][-1] < best_loss:
                        best_loss, waited = history["val_loss"][-1], 0
                        best = [w.copy() for w in model.coefs_], [b.copy() for b in model.intercepts_]
                    else:
                        waited += 1
                        if waited >= p.patience:
                            break
        if best is not None:
            model.coefs_, model.intercepts_ = best
        self.model_ = model
        return history

    def _proba(self, X):
        return self.model_.predict_proba(X)


FAMILIES = {"keras_mlp": (KerasMLP, KerasMLPParams), "sklearn_mlp": (SklearnMLP, SklearnMLPParams)}


def param_names(family: str) -> set[str]:
    """Hyper-parameter names a family accepts (spec validation uses this without importing TensorFlow)."""
    if family not in FAMILIES:
        raise GenreLabError(f"unknown MLP family {family!r} (choose {', '.join(FAMILIES)})")
    return set(FAMILIES[family][1].__dataclass_fields__)


def make_estimator(family: str, params: dict) -> KerasMLP | SklearnMLP:
    """The estimator of ``family`` ('keras_mlp' | 'sklearn_mlp') built from a params dict."""
    param_names(family)
    return FAMILIES[family][0](**params)


def build_params(cls, family: str, params: dict):
    """``cls(**params)`` with unknown names and bad values as one-line GenreLabErrors."""
    unknown = set(params) - set(cls.__dataclass_fields__)
    if unknown:
        raise GenreLabError(f"{family}: unknown parameter(s) {', '.join(sorted(unknown))}")
    try:
        return cls(**params)
    except ValueError as err:
        raise GenreLabError(f"{family}: {err}") from None
