"""The study's CNN on log-mel clips, and a small fit/predict_proba wrapper around it.

Input: standardized log-mel clips, shape (n_mels, frames, 1). Five blocks of Conv2D 3x3 → BatchNorm →
ReLU → MaxPool 2x2 with 8/16/32/64/128 filters, then either ``"study"``: Flatten → Dropout → softmax
(the study's network, sized by the clip length), or ``"compact"``: global average pooling → Dropout →
softmax (few weights whatever the clip length). Padding is "same" so any clip of at least one frame
passes all five poolings. TensorFlow places the work on a GPU when one is present.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.calibration import apply_temperature, fit_temperature
from core.devices import PRECISIONS
from core.errors import GenreLabError, require
from core.models.mlp import build_params

if TYPE_CHECKING:  # TensorFlow loads only when a network is built, so specs validate in a second
    import keras

ARCHITECTURES = ("study", "compact")
STUDY_FILTERS = (8, 16, 32, 64, 128)
#: Keras' default (0.99) suits long runs; with a few batches per epoch (30 s clips of a few hundred
#: tracks) the moving statistics would still be near their start when validation uses them. On the
#: demo, 3 s clips, fold 1: validation accuracy after 10 epochs 54% with 0.99, 78% with 0.9.
BN_MOMENTUM = 0.9


def build_cnn(input_shape: tuple[int, int, int], n_classes: int, architecture: str = "study",
              filters: tuple[int, ...] = STUDY_FILTERS, dropout: float = 0.3,
              learning_rate: float = 5e-4, precision: str = "float32") -> keras.Model:
    """A compiled Keras model: (batch, n_mels, frames, 1) → (batch, n_classes) probabilities, Adam.

    ``precision``: the layers' Keras dtype policy (see :mod:`core.devices`); the output stays float32.
    """
    import keras

    if architecture not in ARCHITECTURES:
        raise GenreLabError(f"cnn: architecture {architecture!r} is not one of {', '.join(ARCHITECTURES)}")
    inputs = keras.Input(shape=input_shape, name="log_mel")
    x = inputs
    for width in filters:
        x = keras.layers.Conv2D(width, 3, padding="same", dtype=precision)(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=precision)(x)
        x = keras.layers.ReLU(dtype=precision)(x)
        x = keras.layers.MaxPooling2D(2, padding="same", dtype=precision)(x)
    pool = keras.layers.Flatten if architecture == "study" else keras.layers.GlobalAveragePooling2D
    x = keras.layers.Dropout(dropout, dtype=precision)(pool(dtype=precision)(x))
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="genre", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=f"cnn_{architecture}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@dataclass
class CNNParams:
    """The CNN's hyper-parameters (the ``[cnn]`` table of a spec); constructing one checks it."""

    architecture: str = "study"
    filters: list[int] = (8, 16, 32, 64, 128)
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 5e-4
    dropout: float = 0.3
    time_shift: float = 0.0          # augmentation: roll clips in time by up to this fraction
    mix_within_genre: float = 0.0    # augmentation: probability of blending a clip with one of its genre
    early_stopping: bool = True      # on an inner, song-grouped slice of the training tracks
    patience: int = 5
    validation_fraction: float = 0.1
    seed: int = 0
    precision: str = "float32"       # Keras dtype policy of the layers ([compute] precision)

    def __post_init__(self):
        self.filters = [int(f) for f in self.filters]
        require(self.architecture in ARCHITECTURES, f"architecture: must be one of {', '.join(ARCHITECTURES)}")
        require(len(self.filters) > 0 and min(self.filters) > 0, "filters: a non-empty list of positive ints")
        require(self.epochs >= 1 and self.batch_size >= 1 and self.patience >= 1,
              "epochs, batch_size, patience: must be >= 1")
        require(self.learning_rate > 0, "learning_rate: must be > 0")
        require(0.0 <= self.dropout < 1.0, "dropout: must be in [0, 1)")
        require(0.0 <= self.time_shift < 1.0, "time_shift: must be in [0, 1)")
        require(0.0 <= self.mix_within_genre <= 1.0, "mix_within_genre: must be in [0, 1]")
        require(0.0 < self.validation_fraction < 0.5, "validation_fraction: must be in (0, 0.5)")
        require(self.seed >= 0, "seed: must be >= 0")
        require(self.precision in PRECISIONS, f"precision: one of {', '.join(PRECISIONS)}")


class CNNClassifier:
    """Fit on batches of (clips, one-hot labels); early stopping on a validation set restores the best epoch.

    ``fit`` takes a ``keras.utils.PyDataset`` (or any indexable sequence of batches) yielding
    ``(x of shape (batch, n_mels, frames, 1), y one-hot of shape (batch, n_classes))``; the input shape
    and class count are read from its first batch. Without a validation set, early stopping watches
    the training loss. After fitting: ``model_``, ``history_`` (per-epoch
    ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``), ``epochs_trained_``; ``temperature_``
    (1 until :meth:`calibrate` fits it on held-out tracks) divides every clip's log-probabilities.
    """

    temperature_: float = 1.0

    def __init__(self, **params):
        self.params = build_params(CNNParams, "cnn", params)

    def get_params(self) -> dict:
        return asdict(self.params)

    def fit(self, train, validation=None, callbacks: list | tuple = ()) -> CNNClassifier:
        import keras

        p = self.params
        keras.utils.set_random_seed(p.seed)
        x, y = train[0][:2]
        self.model_ = build_cnn(tuple(x.shape[1:]), int(y.shape[1]), p.architecture, tuple(p.filters),
                                p.dropout, p.learning_rate, p.precision)
        monitor = "val_loss" if validation is not None else "loss"
        stopping = keras.callbacks.EarlyStopping(monitor=monitor, patience=p.patience,
                                                 restore_best_weights=True)
        history = self.model_.fit(train, validation_data=validation, epochs=p.epochs,
                                  callbacks=[stopping, *callbacks], verbose=0)
        self.history_ = {name: [float(v) for v in values] for name, values in history.history.items()}
        self.epochs_trained_ = len(history.history["loss"])
        return self

    def predict_proba(self, data) -> np.ndarray:
        """Class probabilities, shape (n_clips, n_classes), for a PyDataset or an array of clips."""
        if not hasattr(self, "model_"):
            raise GenreLabError("cnn: predict_proba before fit")
        return apply_temperature(np.asarray(self.model_.predict(data, verbose=0)), self.temperature_)

    def calibrate(self, data, labels: np.ndarray, tracks: np.ndarray) -> CNNClassifier:
        """Fit ``temperature_`` on held-out clips ``data`` of ``tracks`` (n_clips,) with ``labels`` (n_clips,
        class indices), so each track's mean clip probability is calibrated; returns self."""
        self.temperature_ = 1.0
        self.temperature_ = fit_temperature(self.predict_proba(data), labels, groups=tracks)
        return self
