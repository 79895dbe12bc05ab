"""The fit cost behind the dry-run plan: timed on the study's own workers, once per executor."""
from __future__ import annotations

import json

import pytest

from core.study import cost

#: Collected before any fixture runs: tests/conftest.py fixes ``cost.measured_cost`` for the session.
measured_cost = cost.measured_cost


class Inline:
    """An executor whose two workers run each task when its result is asked for, counting them."""

    workers, threads = 2, 1

    def __init__(self, name: str):
        self.name, self.tasks = name, 0

    def describe(self) -> str:
        return self.name

    cost_identity = describe

    def submit(self, fn, *args):
        self.tasks += 1
        return type("Done", (), {"result": lambda _: fn(*args)})()


def test_cost_is_timed_on_every_worker_once_per_executor(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path))
    timings = iter([{"per_unit": 1e-10, "per_epoch": 0.2, "per_update": 1e-9, "per_fit": 1.0},
                    {"per_unit": 3e-10, "per_epoch": 0.4, "per_update": 3e-9, "per_fit": 2.0},
                    {"per_unit": 5e-10, "per_epoch": 0.5, "per_update": 5e-9, "per_fit": 3.0},
                    {"per_unit": 5e-10, "per_epoch": 0.6, "per_update": 5e-9, "per_fit": 3.0}])
    monkeypatch.setattr(cost, "calibrate", lambda precision: next(timings))
    two = Inline("2 local processes")
    first = measured_cost(two)
    assert two.tasks == 2 and "measured just now on 2 local processes" in first.source
    assert (first.per_unit, first.per_epoch, first.per_update, first.per_fit) == pytest.approx((2e-10, 0.3, 2e-9, 1.5))  # their mean
    again = measured_cost(Inline("2 local processes"))
    assert (again.per_unit, again.per_epoch) == pytest.approx((2e-10, 0.3)) and "mlp_cost.json" in again.source
    inline = Inline("inline")
    inline.workers = 1
    other = measured_cost(inline)  # another executor is timed on its own
    assert inline.tasks == 1 and other.per_epoch == pytest.approx(0.5)
    known = json.loads((tmp_path / "mlp_cost.json").read_text())
    del known[next(key for key in known if key.startswith("inline"))]["per_fit"]  # as an older cost model measured it
    (tmp_path / "mlp_cost.json").write_text(json.dumps(known))
    inline.tasks = 0
    assert measured_cost(inline).per_epoch == pytest.approx(0.6) and inline.tasks == 1  # timed again


def test_a_fit_costs_its_setup_once_and_each_epoch_its_loop():
    """The tiny network's timing: building and tracing it costs more than an epoch of one batch, and a fit of
    many epochs is costed as one setup plus its epochs (a per-epoch-only model priced each epoch with the setup)."""
    constants = cost.calibrate(n=512, d=16, hidden=(8,), epochs=2, span=10)
    assert set(constants) == cost.CONSTANTS and all(v >= 0 for v in constants.values())
    assert constants["per_fit"] > 3 * constants["per_epoch"] > 0
    c = cost.Cost(**constants, source="test")
    assert c.fit_seconds(60, 64, 200, batch_size=64) < 60 * c.fit_seconds(1, 64, 200, batch_size=64) / 3


def test_small_batches_cost_more_per_epoch():
    c = cost.Cost(per_unit=1e-10, per_epoch=0.1, source="test", per_update=1e-8)
    weights = 1_000_000
    # 10 epochs x (0.1 s + 1,000 samples x 1e6 x 1e-10 s + steps x 1e6 x 1e-8 s)
    assert c.fit_seconds(10, 1000, weights, batch_size=1000) == pytest.approx(10 * (0.1 + 0.1 + 0.01))
    assert c.fit_seconds(10, 1000, weights, batch_size=100) == pytest.approx(10 * (0.1 + 0.1 + 0.1))
    with_setup = cost.Cost(per_unit=1e-10, per_epoch=0.1, source="test", per_update=1e-8, per_fit=2.0)
    assert with_setup.fit_seconds(10, 1000, weights, batch_size=100) == pytest.approx(2.0 + 10 * (0.1 + 0.1 + 0.1))
