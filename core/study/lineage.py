"""The run tree every study shares, and how an interrupted study resumes.

study → search → candidate → fold (plus autoencoder, final and baseline runs). Each run carries
``genrelab.kind`` and ``genrelab.key``: a hash of everything that determines its result (params, fold
indices, data fingerprint). A FINISHED run with the same kind and key is reused instead of refitted;
a reused fold whose old parent did not finish (a killed study) is moved under the new parent so the
resumed tree is complete.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np

KEY_TAG = "genrelab.key"


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


def find_reusable(experiment: str, kind: str, key: str):
    """The newest FINISHED run of ``kind`` with content ``key`` in ``experiment``, or None."""
    from core.tracking import find_finished_run

    return find_finished_run(experiment, genrelab__kind=kind, genrelab__key=key)


def adopt(run, parent_run_id: str) -> None:
    """Move a reused finished ``run`` under ``parent_run_id`` if its old parent did not finish."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    old_parent = run.data.tags.get("mlflow.parentRunId")
    if old_parent == parent_run_id:
        return
    if old_parent and client.get_run(old_parent).info.status == "FINISHED":
        client.set_tag(run.info.run_id, "genrelab.reused_by", parent_run_id)
        return
    client.set_tag(run.info.run_id, "mlflow.parentRunId", parent_run_id)
    if old_parent:
        client.set_tag(run.info.run_id, "genrelab.adopted_from", old_parent)


def log_history(history: dict[str, list[float]]) -> None:
    """Per-epoch curves on the active run: one metric per key, step = epoch (0-based)."""
    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(name, float(v), now, step) for name, values in history.items()
               for step, v in enumerate(values)]
    run_id = mlflow.active_run().info.run_id
    client = mlflow.tracking.MlflowClient()
    for start in range(0, len(metrics), 1000):  # MLflow caps one batch at 1000 metrics
        client.log_batch(run_id, metrics=metrics[start:start + 1000])
