"""A fixed fit cost for the tests' study plans.

Every study plans before it runs, and its plan's cost is timed on the study's executor the first time
that executor is seen (:func:`core.study.cost.measured_cost`: about 30 s of CPU, more on a busy machine).
No test but the cost model's own (``tests/test_cost.py``, ``tests/cnn/test_cnn_cost.py``) needs that timing,
so ``tests/conftest.py`` installs :func:`fixed` for the whole session, and a test that runs a study in
another process with its own ``GENRELAB_CACHE`` writes the same constants there (:func:`write_cost_file`).
"""
from __future__ import annotations

import json
from pathlib import Path

from core.study import cost

CONSTANTS = {"per_unit": 1e-9, "per_epoch": 0.01, "per_update": 0.0, "per_fit": 0.0}


def fixed(executor=None, precision: str = "float32", probe=None) -> cost.Cost:
    """:func:`core.study.cost.measured_cost`'s stand-in: the same cost whatever the executor or network."""
    return cost.Cost(**CONSTANTS, source="fixed for the tests")


def write_cost_file(cache: Path, executor, precision: str = "float32") -> Path:
    """``cache`` (a ``GENRELAB_CACHE``) with a cost file that already knows ``executor`` at ``precision``."""
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "mlp_cost.json").write_text(json.dumps({cost.cost_key(executor, precision): CONSTANTS}))
    return cache
