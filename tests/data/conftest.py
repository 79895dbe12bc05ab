"""Fixtures of the data tests; the builders live in fma_fixtures.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from fma_fixtures import build_fma_root


@pytest.fixture
def fma_root(tmp_path: Path) -> Path:
    """A dataset root with all four metadata files and audio for a few tracks in fma_small/fma_large."""
    return build_fma_root(tmp_path / "fma", audio={2: "fma_small", 5: "fma_small", 10: "fma_small",
                                                   99134: "fma_small", 1001: "fma_large"})
