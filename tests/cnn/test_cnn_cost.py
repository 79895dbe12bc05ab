"""The CNN's plan is costed by timing the CNN itself, once per clip shape, not the study MLP."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.study import cost
from core.study.families import cnn

#: Collected before any fixture runs: tests/conftest.py fixes ``cost.measured_cost`` for the session.
MEASURED_COST = cost.measured_cost
MELS = {"sr": 22050, "n_fft": 2048, "hop_length": 512, "n_mels": 128}


class Inline:
    """An executor with two workers that runs each task when its result is asked for."""

    workers, threads = 2, 1

    def describe(self) -> str:
        return "2 local processes"

    cost_identity = describe

    def submit(self, fn, *args):
        return SimpleNamespace(result=lambda: fn(*args))


def arm(seconds: float):
    tracks = cnn.Tracks(np.arange(4), np.arange(4) % 2, np.arange(4))
    return SimpleNamespace(data=cnn.ClipInput(None, MELS, tracks, tracks, seconds, ["a", "b"]))


def test_timing_clips_measures_seconds_per_multiply_add():
    constants = cnn.time_clips("float32", (16, 40), "study", (2, 4), batch_size=8, n=16)
    assert constants["per_unit"] > 0 and constants["per_epoch"] == constants["per_update"] == constants["per_fit"] == 0.0
    seconds_per_clip = constants["per_unit"] * cost.conv_macs((16, 40), (2, 4))
    assert 1e-6 < seconds_per_clip < 1.0


def test_each_clip_length_is_timed_apart_and_costs_its_own_fits(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path))
    monkeypatch.setattr(cost, "measured_cost", MEASURED_COST)
    timed = []

    def time_clips(precision, shape, architecture, filters, batch_size):
        timed.append(shape)
        return {"per_unit": 1e-9 * (2 if shape[1] > 1000 else 1), "per_epoch": 0.0, "per_update": 0.0,
                "per_fit": 0.0}

    monkeypatch.setattr(cnn, "time_clips", time_clips)
    family = cnn.CNNFamily("keras_cnn")
    long, short = arm(30.0), arm(3.0)
    costs = family.fit_cost([long, short], {}, Inline(), "float32")
    assert sorted(timed) == [(128, 129), (128, 129), (128, 1292), (128, 1292)]  # each shape on both workers
    params = {"epochs": 10, "filters": [8, 16, 32, 64, 128], "early_stopping": False, "validation_fraction": 0.1}
    macs = cost.conv_macs((128, 1292), (8, 16, 32, 64, 128))
    assert family.fit_seconds(long, params, 100, costs) == pytest.approx(10 * 100 * macs * 2e-9)
    # a 3 s search trains on ten clips per 30 s track, each at its own shape's speed
    short_macs = cost.conv_macs((128, 129), (8, 16, 32, 64, 128))
    assert family.fit_seconds(short, params, 100, costs) == pytest.approx(10 * 1000 * short_macs * 1e-9)
    stopped = family.fit_seconds(long, {**params, "early_stopping": True}, 100, costs)
    assert stopped == pytest.approx(10 * 100 * (1 - 0.1 * 2 / 3) * macs * 2e-9)  # the inner slice is only scored
    assert "128x1292 clips at" in costs.describe() and "128x129 clips at" in costs.describe()
    timed.clear()
    family.fit_cost([long, short], {}, Inline(), "float32")
    assert timed == []  # kept per executor and shape
