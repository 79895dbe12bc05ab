"""``python -m core data ...`` wiring: summary output, demo and import-folder arguments."""
from __future__ import annotations

import json

import pytest

from core.__main__ import main
from tests.builders import TRACK_ROWS


def test_summary_json(fma_root, capsys):
    assert main(["data", "summary", "--data", str(fma_root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tracks"] == len(TRACK_ROWS) and info["sizes"]["8k"] == 7


def test_summary_text_uses_env_data_root(fma_root, capsys, monkeypatch):
    monkeypatch.setenv("GENRELAB_DATA", str(fma_root))
    assert main(["data", "summary"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"fma (real data) at {fma_root}")
    assert "subsets: small 7, medium 3, large 3" in out
    assert "audio folders: fma_small (4 files), fma_large (1 files)" in out
    assert "known bad fma_small clips present: 099134" in out


def test_demo_command_passes_its_arguments(tmp_path, monkeypatch, capsys):
    demo = pytest.importorskip("core.demo.build")
    calls = []

    def build_demo(dest, seed, progress, **sizing):
        calls.append((dest, seed, sizing))
        progress(1, 2)
        progress(2, 2)
        return dest

    monkeypatch.setattr(demo, "build_demo", build_demo)
    assert main(["data", "demo", "--dest", str(tmp_path / "d"), "--tracks-per-genre", "3", "--seed", "7"]) == 0
    assert calls == [(tmp_path / "d", 7, {"tracks_per_genre": 3})]
    assert main(["data", "demo", "--dest", str(tmp_path / "e")]) == 0
    assert calls[-1] == (tmp_path / "e", 0, {})
    assert main(["data", "demo", "--dest", str(tmp_path / "f"), "--genres", "Pop", "Rock"]) == 0
    assert calls[-1] == (tmp_path / "f", 0, {"genres": ["Pop", "Rock"]})
    assert f"demo dataset written to {tmp_path / 'e'}" in capsys.readouterr().out


def test_import_folder_command(tmp_path, capsys):
    for genre in ("Rock", "Folk"):
        for i in range(3):
            (tmp_path / "src" / genre).mkdir(parents=True, exist_ok=True)
            (tmp_path / "src" / genre / f"{i}.wav").write_bytes(b"RIFF")
    assert main(["data", "import-folder", str(tmp_path / "src"), "--dest", str(tmp_path / "d"), "--copy"]) == 0
    assert capsys.readouterr().out == f"imported 6 tracks into {tmp_path / 'd'}: Folk 3, Rock 3\n"
    assert not (tmp_path / "d" / "fma_full" / "000" / "000001.wav").is_symlink()
