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


def write_spec(folder: Path, name: str, text: str) -> Path:
    path = Path(folder) / f"{name}.toml"
    path.write_text(f'experiment = "{name}"\n' + text)
    return path
