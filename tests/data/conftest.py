"""Fixtures of the data tests; the builders live in tests/builders.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import build_fma_root


@pytest.fixture
def fma_root(tmp_path: Path) -> Path:
    """A dataset root with all four metadata files and (placeholder) audio for a few tracks in fma_small/fma_large."""
    return build_fma_root(tmp_path / "fma", audio={tid: b"ID3" for tid in (2, 5, 10, 99134, 1001)})
