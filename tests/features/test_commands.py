import json

import numpy as np
import pandas as pd

from core.__main__ import main
from core.data import fma
from tests.builders import build_fma_root, simple_rows, write_audio


def test_features_for_files_writes_features_csv_format(tmp_path, capsys):
    good = [write_audio(tmp_path / "000002.mp3", 1.3), write_audio(tmp_path / "000010.flac", 1.3, sr=48000)]
    out = tmp_path / "out" / "features.csv"
    assert main(["features", *map(str, good), "--out", str(out), "--workers", "1"]) == 0
    table = pd.read_csv(out, index_col=0, header=[0, 1, 2])
    assert table.shape == (2, 518) and table.index.tolist() == [2, 10] and table.index.name == "track_id"
    lines = out.read_text().splitlines()
    assert [line.split(",")[0] for line in lines[:4]] == ["feature", "statistics", "number", "track_id"]
    assert json.loads(out.with_suffix(".json").read_text())["window"] == "full"

    assert main(["features", *map(str, good), "--out", str(out), "--workers", "1", "--window", "center:1"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["window"] == "center:1"
    assert not np.allclose(pd.read_csv(out, index_col=0, header=[0, 1, 2]).to_numpy(), table.to_numpy())

    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt junk")
    assert main(["features", str(good[0]), str(bad), "--out", str(out), "--workers", "1"]) == 1
    assert "broken.wav: not a readable audio file" in capsys.readouterr().err


def test_features_and_mels_for_a_dataset_root(tmp_path, capsys):
    root = build_fma_root(tmp_path / "root", simple_rows([3, 4]), audio={3: 3.2, 4: 1.5}, features=False)
    assert main(["features", "--data", str(root), "--workers", "1"]) == 0
    assert fma.load_features(root).index.tolist() == [3, 4]
    assert main(["mels", "--data", str(root), "--workers", "1", "--clip-seconds", "3", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 s clips (129 frames): 2 from 2 tracks" in out  # 3.2 s: one full clip; 1.5 s: one padded
    assert "1 s clips (43 frames): 5 from 2 tracks" in out  # 3.2 s: 3 full; 1.5 s: 1 full + 0.5 s tail


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["features", "--data", str(tmp_path)]) == 1
    assert "not a dataset root" in capsys.readouterr().err
    assert main(["features", "x.mp3", "--data", str(tmp_path)]) == 1
    assert main(["mels", "--data", str(tmp_path), "--workers", "0"]) == 1
    assert main(["features", "x.mp3", "--window", "middle:30"]) == 1
    assert "error: --window: expected full, center:SECONDS or start:SECONDS:SECONDS, got 'middle:30'" \
        in capsys.readouterr().err
    assert np.all(["Traceback" not in capsys.readouterr().err])
