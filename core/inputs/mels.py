"""``mels``: full-length log-mel spectrograms per track (``ROOT/cache/mels/<key>/``), cut into clips by
the CNN, which reads them itself (:mod:`core.features.mels`); a registered CNN answers an audio file."""
from __future__ import annotations

from core.inputs.input_kind import InputKind

KIND = InputKind(name="mels", label="log-mel clips", takes_audio=True, fill="python -m core mels --data ROOT")
