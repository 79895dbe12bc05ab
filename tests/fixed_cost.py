"""A fixed fit cost for the tests' study plans.

Every study plans before it runs, and its plan's cost is timed on the study's executor the first time
that executor is seen (:func:`core.study.cost.measured_cost`: about 30 s of CPU, more on a busy machine).
No test but the cost model's own (``tests/test_cost.py``, ``tests/cnn/test_cnn_cost.py``) needs that timing,
so ``tests/conftest.py`` installs :func:`fixed` for the whole session, and a test that runs a study in
another process with its own ``GENRELAB_CACHE`` writes the same constants there (:func:`write_cost_file`,
or :func:`write_plan_costs` for every network a spec's plan times).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.study import cost

CONSTANTS = {"per_unit": 1e-9, "per_epoch": 0.01, "per_update": 0.0, "per_fit": 0.0}


def fixed(executor=None, precision: str = "float32", probe=None) -> cost.Cost:
    """:func:`core.study.cost.measured_cost`'s stand-in: the same cost whatever the executor or network."""
    return cost.Cost(**CONSTANTS, source="fixed for the tests")


def write_cost_file(cache: Path, executor, precision: str = "float32", probe: str = "") -> Path:
    """``cache`` (a ``GENRELAB_CACHE``) with a cost file that also knows ``executor`` at ``precision``
    (for the network of the probe named ``probe``, else the study MLP)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "mlp_cost.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**known, cost.cost_key(executor, precision, probe): CONSTANTS}))
    return cache


def write_plan_costs(cache: Path, spec_path: str | Path, root: str | Path) -> Path:
    """``cache`` with the fixed cost of every network that planning ``spec_path`` on ``root`` times (the
    plan made here, in this process), so that the same command in another process reads them."""
    from core.study.engine import run_study
    from core.study.spec import load_spec

    def writing(executor, precision="float32", probe=None):
        write_cost_file(cache, executor, precision, probe[0] if probe else "")
        return fixed()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cost, "measured_cost", writing)
        run_study(load_spec(spec_path), data=str(root), dry_run=True, out=lambda line: None)
    return cache
