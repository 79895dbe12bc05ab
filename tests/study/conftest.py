"""Study fixtures: a small FMA root (features with a learnable per-genre signal), stores, spec files.

The root has 3 genres (Hip-Hop, Pop, Rock), 20 tracks each, subsets small/medium and the three splits.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import build_fma_root, genre_rows


@pytest.fixture(scope="session")
def study_root(tmp_path_factory) -> Path:
    """Shared, read-only FMA root (60 tracks, 3 genres)."""
    return build_fma_root(tmp_path_factory.mktemp("study") / "fma", genre_rows(20), echonest=False)


@pytest.fixture(autouse=True, scope="session")
def fixed_cost(tmp_path_factory):
    """A fixed fit cost, so dry-run plans never time a network on the test machine."""
    from core.study import cost

    fixed = cost.Cost(per_unit=1e-9, per_epoch=0.01, source="fixed for the tests")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cost, "measured_cost", lambda executor, precision="float32", probe=None: fixed)
        yield fixed


def write_spec(folder: Path, name: str, text: str) -> Path:
    path = Path(folder) / f"{name}.toml"
    path.write_text(f'experiment = "{name}"\n' + text)
    return path
