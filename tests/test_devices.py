"""Fits on GPUs when there are some (one worker pinned to each), on the CPU otherwise; mixed precision.

These machines have no GPU: the device list is faked, and each worker's start is run here.
"""
from __future__ import annotations

import os
import queue

import numpy as np
import pytest

from core import devices
from core.errors import GenreLabError
from core.models import mlp
from core.study import executor as executor_module
from core.study.executor import make_executor


def test_one_worker_per_gpu_each_pinned_to_its_own(monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", lambda: ["Fake GPU A", "Fake GPU B"])
    executor = make_executor("threads", 7, None, "auto")  # GPUs override the CPU settings
    assert executor.n_jobs == executor.workers == 2 and executor.parallel == "processes"
    assert executor.describe() == "2 local processes, one per GPU (Fake GPU A, Fake GPU B)"
    # what each worker runs first: it takes the next free GPU and sees only that one
    monkeypatch.setattr(mlp, "configure_threads", lambda threads: None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    slots = queue.Queue()
    for index in range(2):
        slots.put(index)
    seen = []
    for _ in range(2):
        executor_module._init_worker(1, slots)
        seen.append(os.environ["CUDA_VISIBLE_DEVICES"])
    assert seen == ["0", "1"] and slots.empty()


def test_cpu_when_asked_or_when_there_is_no_gpu(monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", list)
    assert make_executor("processes", 2, None, "auto").describe() == "2 local processes on the CPU"
    with pytest.raises(GenreLabError, match="sees no GPU"):
        make_executor("processes", 2, None, "gpu")
    monkeypatch.setattr(devices, "visible_gpus", lambda: pytest.fail("device cpu must not look for GPUs"))
    assert make_executor("processes", 2, None, "cpu").gpus == []


def test_float16_on_the_cpu_is_refused_before_anything_runs(monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", list)
    with pytest.raises(GenreLabError, match="needs a GPU") as raised:
        make_executor("processes", 2, None, "auto", "mixed_float16")
    assert "\n" not in str(raised.value)
    assert make_executor("processes", 2, None, "auto", "mixed_bfloat16").gpus == []
    monkeypatch.setattr(devices, "visible_gpus", lambda: ["Fake GPU A"])
    assert make_executor("processes", 2, None, "auto", "mixed_float16").gpus == ["Fake GPU A"]


def test_this_device_names_the_cpu_here(monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", list)
    assert devices.this_device(1) == f"CPU: {os.uname().machine}, 1 thread"
    monkeypatch.setattr(devices, "visible_gpus", lambda: ["Fake GPU B"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert devices.this_device() == "GPU 1: Fake GPU B"


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "float32"])
def test_mixed_precision_layers_with_a_float32_softmax(precision):
    from core.models.mlp import KerasMLP

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 6)).astype(np.float32), np.array(["a", "b"] * 32)
    model = KerasMLP(hidden_units=[8], epochs=1, batch_size=16, precision=precision)
    model.fit(X, y)
    assert model.model_.layers[0].dtype_policy.name == precision
    proba = model.predict_proba(X)
    assert proba.dtype == np.float32 and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_unknown_precision_is_one_line():
    from core.models.mlp import KerasMLP

    with pytest.raises(GenreLabError, match="precision: one of float32, mixed_float16, mixed_bfloat16"):
        KerasMLP(precision="float8")
