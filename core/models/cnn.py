"""The study's CNN on log-mel clips, and a small fit/predict_proba wrapper around it.

Input: standardized log-mel clips, shape (n_mels, frames, 1). Five blocks of Conv2D 3x3 → BatchNorm →
ReLU → MaxPool 2x2 with 8/16/32/64/128 filters, then either ``"study"``: Flatten → Dropout → softmax
(the study's network, sized by the clip length), or ``"compact"``: global average pooling → Dropout →
softmax (few weights whatever the clip length). Padding is "same" so any clip of at least one frame
passes all five poolings. TensorFlow places the work on a GPU when one is present.
"""
from __future__ import annotations

import keras
import numpy as np

from core.errors import GenreLabError

ARCHITECTURES = ("study", "compact")
STUDY_FILTERS = (8, 16, 32, 64, 128)
#: Keras' default (0.99) suits long runs; with a few batches per epoch (30 s clips of a few hundred
#: tracks) the moving statistics would still be near their start when validation uses them. On the
#: demo, 3 s clips, fold 1: validation accuracy after 10 epochs 54% with 0.99, 78% with 0.9.
BN_MOMENTUM = 0.9


def build_cnn(input_shape: tuple[int, int, int], n_classes: int, architecture: str = "study",
              filters: tuple[int, ...] = STUDY_FILTERS, dropout: float = 0.3,
              learning_rate: float = 5e-4) -> keras.Model:
    """A compiled Keras model: (batch, n_mels, frames, 1) → (batch, n_classes) probabilities, Adam."""
    if architecture not in ARCHITECTURES:
        raise GenreLabError(f"cnn: architecture {architecture!r} is not one of {', '.join(ARCHITECTURES)}")
    inputs = keras.Input(shape=input_shape, name="log_mel")
    x = inputs
    for width in filters:
        x = keras.layers.Conv2D(width, 3, padding="same")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.Flatten()(x) if architecture == "study" else keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="genre")(x)
    model = keras.Model(inputs, outputs, name=f"cnn_{architecture}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class EpochCallback(keras.callbacks.Callback):
    """Hands each epoch's ``loss``/``accuracy``/``val_loss``/``val_accuracy`` to ``log(metrics, epoch)``."""

    NAMES = ("loss", "accuracy", "val_loss", "val_accuracy")

    def __init__(self, log):
        super().__init__()
        self.log = log

    def on_epoch_end(self, epoch, logs=None):
        self.log({k: float(v) for k, v in (logs or {}).items() if k in self.NAMES}, epoch)


class CNNClassifier:
    """Fit on batches of (clips, one-hot labels); early stopping on a validation set restores the best epoch.

    ``fit`` takes a ``keras.utils.PyDataset`` (or any indexable sequence of batches) yielding
    ``(x of shape (batch, n_mels, frames, 1), y one-hot of shape (batch, n_classes))``; the input shape
    and class count are read from its first batch. Without a validation set, early stopping watches
    the training loss. After fitting: ``model_``, ``history_`` (per-epoch
    ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``), ``epochs_trained_``.
    """

    def __init__(self, architecture: str = "study", epochs: int = 30, learning_rate: float = 5e-4,
                 dropout: float = 0.3, patience: int = 5, filters: tuple[int, ...] = STUDY_FILTERS,
                 seed: int = 0, verbose: int = 0):
        if architecture not in ARCHITECTURES:
            raise GenreLabError(f"cnn: architecture {architecture!r} is not one of {', '.join(ARCHITECTURES)}")
        if epochs < 1 or patience < 1:
            raise GenreLabError(f"cnn: epochs ({epochs}) and patience ({patience}) must be at least 1")
        self.architecture, self.epochs, self.learning_rate = architecture, epochs, learning_rate
        self.dropout, self.patience, self.filters = dropout, patience, tuple(filters)
        self.seed, self.verbose = seed, verbose

    def get_params(self) -> dict:
        return {"architecture": self.architecture, "epochs": self.epochs, "learning_rate": self.learning_rate,
                "dropout": self.dropout, "patience": self.patience, "filters": list(self.filters),
                "seed": self.seed}

    def fit(self, train, validation=None, callbacks: list | tuple = ()) -> CNNClassifier:
        keras.utils.set_random_seed(self.seed)
        x, y = train[0][:2]
        self.model_ = build_cnn(tuple(x.shape[1:]), int(y.shape[1]), self.architecture, self.filters,
                                self.dropout, self.learning_rate)
        monitor = "val_loss" if validation is not None else "loss"
        stopping = keras.callbacks.EarlyStopping(monitor=monitor, patience=self.patience,
                                                 restore_best_weights=True)
        history = self.model_.fit(train, validation_data=validation, epochs=self.epochs,
                                  callbacks=[stopping, *callbacks], verbose=self.verbose)
        self.history_ = {name: [float(v) for v in values] for name, values in history.history.items()}
        self.epochs_trained_ = len(history.history["loss"])
        return self

    def predict_proba(self, data) -> np.ndarray:
        """Class probabilities, shape (n_clips, n_classes), for a PyDataset or an array of clips."""
        if not hasattr(self, "model_"):
            raise GenreLabError("cnn: predict_proba before fit")
        return np.asarray(self.model_.predict(data, verbose=0))
