"""Where fits run: a visible GPU when there is one (one fit per GPU at a time), else the CPU cores.

A local study with GPUs starts one fit worker per GPU and pins each to its own device
(``CUDA_VISIBLE_DEVICES``, set before TensorFlow starts in that worker), so two fits never share a
GPU; without one, fits run on the CPU as before. Every fit reports :func:`this_device`, which the
engine records on its run. ``precision`` (``[compute] precision``) builds the networks' layers with
a Keras mixed-precision policy; the output layer stays float32 for a stable softmax.
"""
from __future__ import annotations

import os
import platform

from core.errors import GenreLabError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DEVICES = ("auto", "cpu", "gpu")


def precision_param(precision: str) -> dict[str, str]:
    """``{"precision": ...}`` for a fit's params, empty for float32: the params (and so the content keys
    of runs made before precision was an option) stay as they were for the default."""
    return {} if precision == "float32" else {"precision": precision}


def visible_gpus() -> list[str]:
    """Names of the GPUs TensorFlow sees in this process (empty without one)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name") or gpu.name)
    return names


def fit_gpus(device: str) -> list[str]:
    """The GPUs fits use for ``[compute] device``: all visible ones for "auto" and "gpu", none for "cpu".

    "gpu" with no GPU visible is an error rather than a silent CPU run.
    """

    if device == "cpu":
        return []
    gpus = visible_gpus()
    if device == "gpu" and not gpus:
        raise GenreLabError("compute.device = \"gpu\": TensorFlow sees no GPU here (install tensorflow[and-cuda])")
    return gpus


def pin(index: int) -> None:
    """Make GPU ``index`` the only one this process sees (call before TensorFlow starts here)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = str(index)


def this_device(threads: int | None = None) -> str:
    """What this process fits on, for the run record: "GPU 1: NVIDIA H200" or "CPU: x86_64, 1 thread"."""
    pinned = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    gpus = visible_gpus()
    if gpus:
        return f"GPU {pinned or 0}: {gpus[0]}"
    threads = threads or int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    return f"CPU: {platform.machine()}, {threads} thread{'s' if threads != 1 else ''}"
