"""Content keys: how a study knows a run it already finished (:func:`content_key`), and fingerprints
of the track ids on each side of a split (:func:`indices_fingerprint`).

Every run's ``genrelab.key`` hashes everything that decides its result (params, fold indices, data
fingerprint); :mod:`core.study.steps` reuses a finished run with the same kind and key instead of
fitting it again.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np


def content_key(**parts: Any) -> str:
    """A 16-hex-digit hash of JSON-able ``parts`` (order-independent)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def indices_fingerprint(*id_arrays: np.ndarray) -> str:
    """Hash of the ids on each side of a split (e.g. train ids, validation ids)."""
    digest = hashlib.sha256()
    for ids in id_arrays:
        digest.update(("|".join(map(str, np.sort(np.asarray(ids)))) + "#").encode())
    return digest.hexdigest()[:16]
