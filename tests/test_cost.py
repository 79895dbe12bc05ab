"""The fit cost behind the dry-run plan: timed on the study's own workers, once per executor."""
from __future__ import annotations

import pytest

from core.study import cost

#: Collected before any fixture runs: tests/study fixes ``cost.measured_cost`` for the rest of the session.
measured_cost = cost.measured_cost


class Inline:
    """An executor whose two workers run each task when its result is asked for, counting them."""

    workers, threads = 2, 1

    def __init__(self, name: str):
        self.name, self.tasks = name, 0

    def describe(self) -> str:
        return self.name

    def submit(self, fn, *args):
        self.tasks += 1
        return type("Done", (), {"result": lambda _: fn(*args)})()


def test_cost_is_timed_on_every_worker_once_per_executor(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path))
    timings = iter([{"per_unit": 1e-10, "per_epoch": 0.2, "per_update": 1e-9},
                    {"per_unit": 3e-10, "per_epoch": 0.4, "per_update": 3e-9},
                    {"per_unit": 5e-10, "per_epoch": 0.5, "per_update": 5e-9}])
    monkeypatch.setattr(cost, "calibrate", lambda precision: next(timings))
    two = Inline("2 local processes")
    first = measured_cost(two)
    assert two.tasks == 2 and "measured just now on 2 local processes" in first.source
    assert (first.per_unit, first.per_epoch, first.per_update) == pytest.approx((2e-10, 0.3, 2e-9))  # their mean
    again = measured_cost(Inline("2 local processes"))
    assert (again.per_unit, again.per_epoch) == pytest.approx((2e-10, 0.3)) and "mlp_cost.json" in again.source
    inline = Inline("inline")
    inline.workers = 1
    other = measured_cost(inline)  # another executor is timed on its own
    assert inline.tasks == 1 and other.per_epoch == pytest.approx(0.5)


def test_small_batches_cost_more_per_epoch():
    c = cost.Cost(per_unit=1e-10, per_epoch=0.1, source="test", per_update=1e-8)
    weights = 1_000_000
    # 10 epochs x (0.1 s + 1,000 samples x 1e6 x 1e-10 s + steps x 1e6 x 1e-8 s)
    assert c.fit_seconds(10, 1000, weights, batch_size=1000) == pytest.approx(10 * (0.1 + 0.1 + 0.01))
    assert c.fit_seconds(10, 1000, weights, batch_size=100) == pytest.approx(10 * (0.1 + 0.1 + 0.1))
