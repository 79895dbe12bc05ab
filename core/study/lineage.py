"""How an interrupted study resumes: content keys, and reusing finished runs without stealing them.

Every run's ``genrelab.key`` hashes everything that decides its result (params, fold indices, data
fingerprint). A FINISHED run with the same kind and key is reused instead of refitted:

- if its old parent ended without finishing (a killed or failed study: no live owner, because
  ``tracking.end_orphaned_runs`` already ended the runs of dead processes), it is moved under the
  new parent, so the resumed tree is whole;
- otherwise (its parent finished, or still runs in a live process) it stays where it is and the new
  parent gets a copy: same name, params, tags, final metrics and artifacts (an autoencoder's
  ``encoder/``), tagged ``genrelab.reused_from``.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import time
from typing import Any

import numpy as np
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from core.study import runtree
from core.tracking import find_finished_run


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
    return find_finished_run(experiment, genrelab__kind=kind, genrelab__key=key)


def reuse(run, parent_run_id: str | None):
    """Make finished ``run`` part of the tree under ``parent_run_id`` (moved or copied, see above).

    Returns the run that now stands under the parent.
    """
    client = MlflowClient()
    old_parent = run.data.tags.get(runtree.PARENT)
    if parent_run_id is None or old_parent == parent_run_id:
        return run
    if old_parent and client.get_run(old_parent).info.status in ("KILLED", "FAILED"):
        client.set_tag(run.info.run_id, runtree.PARENT, parent_run_id)
        client.set_tag(run.info.run_id, runtree.ADOPTED_FROM, old_parent)
        return run
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    tags.update({runtree.PARENT: parent_run_id, runtree.REUSED_FROM: run.info.run_id,
                 runtree.RUN_NAME: run.data.tags.get(runtree.RUN_NAME, "")})
    copy = client.create_run(run.info.experiment_id, tags=tags, run_name=tags[runtree.RUN_NAME])
    now = int(time.time() * 1000)
    client.log_batch(copy.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in run.data.metrics.items()],
                     params=[Param(k, v) for k, v in run.data.params.items()])
    if client.list_artifacts(run.info.run_id):  # a fitted encoder, a results file: the copy stands alone
        with tempfile.TemporaryDirectory() as tmp:
            client.log_artifacts(copy.info.run_id, client.download_artifacts(run.info.run_id, "", tmp))
    client.set_terminated(copy.info.run_id, "FINISHED")
    return client.get_run(copy.info.run_id)

