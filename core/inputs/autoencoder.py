"""``autoencoder``: codes of FMA's 518 features, from an autoencoder fitted on each fold's training rows
only (and the final one on training+validation), so no test row ever reaches a fit. A registered model
carries its encoder and takes the 518 features."""
from __future__ import annotations

from core.inputs.input_kind import InputKind
from core.models.autoencoder import AutoencoderParams

KIND = InputKind(name="autoencoder", label="autoencoder codes", takes_audio=False,
                 fill="python -m core features --data ROOT", section=AutoencoderParams, encodes="features")
