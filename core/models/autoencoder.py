"""Autoencoder that compresses standardized feature vectors into codes for the MLP search.

Layout for d input features: d → 2d → d → bottleneck (default d // 2, i.e. 518 → 1036 → 518 → 259)
→ mirrored decoder → d, ReLU hidden layers, linear code and output, mean squared error. The scaler and
the network are fitted on the rows given to ``fit`` only: the study passes training rows (a fold's
training part, or training+validation for the final model), never the test split.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.errors import require
from core.models.mlp import TrainingSchedule, build_params, inner_validation_split


@dataclass
class AutoencoderParams(TrainingSchedule):
    bottleneck: int | None = None  # None: half the input width
    epochs: int = 50
    batch_size: int = 256
    early_stopping: bool = True
    patience: int = 5

    def __post_init__(self):
        super().__post_init__()
        require(self.bottleneck is None or int(self.bottleneck) >= 1, f"bottleneck: must be >= 1, got {self.bottleneck}")


class Autoencoder:
    """``fit(X) -> history`` (loss/val_loss per epoch), ``transform(X) -> codes`` (n, bottleneck)."""

    def __init__(self, **params):
        self.params = build_params(AutoencoderParams, "autoencoder", params)
        self.encoder_ = None

    def get_params(self) -> dict:
        return asdict(self.params)

    def fit(self, X: np.ndarray) -> dict[str, list[float]]:
        """Fit scaler and network on ``X`` (n_samples, n_features); an inner slice of X monitors MSE."""
        import keras
        from sklearn.preprocessing import StandardScaler

        p = self.params
        X = np.asarray(X, dtype=np.float32)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X).astype(np.float32)
        tr, va = inner_validation_split(np.zeros(len(Z), dtype=int), p.validation_fraction, p.seed)
        d = Z.shape[1]
        code = int(p.bottleneck or max(d // 2, 1))
        keras.utils.set_random_seed(p.seed)
        inputs = keras.Input(shape=(d,))
        dtype = p.precision  # the reconstruction and the codes stay float32
        h = keras.layers.Dense(2 * d, activation="relu", dtype=dtype)(inputs)
        h = keras.layers.Dense(d, activation="relu", dtype=dtype)(h)
        codes = keras.layers.Dense(code, name="code", dtype="float32")(h)
        h = keras.layers.Dense(d, activation="relu", dtype=dtype)(codes)
        h = keras.layers.Dense(2 * d, activation="relu", dtype=dtype)(h)
        outputs = keras.layers.Dense(d, dtype="float32")(h)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=p.learning_rate), loss="mse")
        callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=p.patience,
                                                   restore_best_weights=True)] if p.early_stopping else []
        hist = model.fit(Z[tr], Z[tr], validation_data=(Z[va], Z[va]), epochs=p.epochs,
                         batch_size=p.batch_size, callbacks=callbacks, verbose=0)
        self.encoder_ = keras.Model(inputs, codes)
        return {k: [float(v) for v in hist.history[k]] for k in ("loss", "val_loss")}

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Codes, shape (n_samples, bottleneck), float32."""
        Z = self.scaler_.transform(np.asarray(X, dtype=np.float32)).astype(np.float32)
        return self.encoder_.predict(Z, batch_size=4096, verbose=0).astype(np.float32)

    def save(self, folder: Path) -> None:
        """Write ``encoder.keras`` and ``encoder_scaler.npz`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.encoder_.save(folder / "encoder.keras")
        np.savez(folder / "encoder_scaler.npz", mean=self.scaler_.mean_, scale=self.scaler_.scale_)

    @classmethod
    def load(cls, folder: Path, params: dict | None = None) -> "Autoencoder":
        """An encoder saved by ``save`` (ready to ``transform``)."""
        import keras
        from sklearn.preprocessing import StandardScaler

        folder = Path(folder)
        ae = cls(**(params or {}))
        ae.encoder_ = keras.models.load_model(folder / "encoder.keras", compile=False)
        stats = np.load(folder / "encoder_scaler.npz")
        ae.scaler_ = StandardScaler()
        ae.scaler_.mean_, ae.scaler_.scale_ = stats["mean"], stats["scale"]
        ae.scaler_.var_ = stats["scale"] ** 2
        ae.scaler_.n_features_in_ = len(stats["mean"])
        return ae
