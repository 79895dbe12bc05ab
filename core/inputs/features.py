"""``features``: FMA's 518 statistics per track (``fma_metadata/features.csv``: FMA's published table,
or the one ``python -m core features`` computes from the audio with the same recipe)."""
from __future__ import annotations

from core.data.tables import load_fma_table
from core.inputs.input_kind import InputKind


def table(root, size, genres, section=None):
    """features.csv rows of the selected tracks (:func:`core.data.tables.load_fma_table`)."""
    return load_fma_table(root, size, genres)


KIND = InputKind(name="features", label="raw features", takes_audio=False,
                 fill="python -m core features --data ROOT", table=table)
