"""``python -m core predict``: every format, the JSON contract, errors as one line, exit status."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.__main__ import main
from core.config import PROJECT_ROOT
from tests.serving.conftest import FORMATS

GENRES = {"Electronic", "Pop", "Rock"}


def predict_json(capsys, *argv) -> tuple[int, list[dict]]:
    status = main(["predict", *map(str, argv), "--json"])
    out = capsys.readouterr().out
    return status, [json.loads(line) for line in out.splitlines()]


def check_contract(result: dict, path, model: str) -> None:
    assert set(result) == {"file", "model", "top", "probabilities", "segments", "seconds", "calibration"}
    assert result["calibration"].startswith("ECE ")  # measured, or "ECE not measured"
    assert result["file"] == str(path) and result["model"] == model
    assert set(result["probabilities"]) == GENRES
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
    assert result["top"] == max(result["probabilities"], key=result["probabilities"].get)
    for segment in result["segments"]:
        assert segment["start"] < segment["end"]
        assert sum(segment["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_every_format_with_every_default_model(registry, audio_file, capsys, ext):
    sr = 48000 if ext == "opus" else 44100
    path = audio_file(f"clip.{ext}", seconds=7, sr=sr, channels=2)
    status, results = predict_json(capsys, path)
    assert status == 0
    assert [r["model"] for r in results] == ["genre-cnn/1", "genre-mlp/1"]  # champion, else the newest
    for result in results:
        check_contract(result, path, result["model"])
    cnn, mlp = results
    assert [(s["start"], s["end"]) for s in cnn["segments"]] == [(0, 3), (3, 6)]  # the 1 s tail is dropped
    assert mlp["segments"] == []


def test_model_choice_and_one_line_per_file(registry, audio_file, capsys):
    files = [audio_file("a.mp3", seed=0), audio_file("b.wav", seed=3)]
    status, results = predict_json(capsys, *files, "--model", "genre-mlp/2")
    assert status == 0 and [r["file"] for r in results] == [str(f) for f in files]
    assert {r["model"] for r in results} == {"genre-mlp/2"}
    assert results[0]["probabilities"] != results[1]["probabilities"]


def test_a_model_without_champion_is_named_in_one_note(registry, audio_file, capsys):
    path = audio_file("a.wav")
    assert main(["predict", str(path), "--json"]) == 0
    notes = capsys.readouterr().err.splitlines()
    assert notes == ["note: genre-cnn has no champion: using its newest version genre-cnn/1 "
                     "(choose one: python -m core models promote genre-cnn VERSION)"]
    assert main(["predict", str(path), "--model", "genre-cnn/1"]) == 0
    assert capsys.readouterr().err == ""


def test_a_failed_file_gives_exit_1_and_the_others_still_answer(registry, audio_file, tmp_path, capsys):
    silent = audio_file("silent.wav", silent=True)
    junk = tmp_path / "notes.txt"
    junk.write_text("not audio at all\n" * 100)
    good = audio_file("good.flac")
    status, results = predict_json(capsys, silent, junk, good, "--model", "genre-mlp")
    assert status == 1
    assert "silent" in results[0]["error"] and set(results[0]) == {"file", "model", "error"}
    assert "not a readable audio file" in results[1]["error"]
    check_contract(results[2], good, "genre-mlp/1")


def test_readable_table(registry, audio_file, capsys):
    path = audio_file("a.ogg", seconds=6)
    assert main(["predict", str(path), "--model", "genre-cnn@clip-3s"]) == 0
    out = capsys.readouterr().out
    assert str(path) in out and "genre-cnn/1" in out and "%" in out and "2 segments" in out


def test_unknown_model_is_one_line(registry, audio_file, capsys):
    assert main(["predict", str(audio_file("a.wav")), "--model", "genre-cnn@clip-99s"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: model 'genre-cnn@clip-99s': not in the registry") and err.count("\n") == 1


def test_empty_registry_in_a_fresh_process_without_traceback(empty_registry, audio_file):
    path = audio_file("a.wav")
    proc = subprocess.run([sys.executable, "-m", "core", "predict", str(path), "--json"], cwd=PROJECT_ROOT,
                          env={**os.environ, "MLFLOW_TRACKING_URI": empty_registry},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: no model registered yet: run `make demo`")


def test_long_file(registry, audio_file, capsys):
    """Two and a half minutes of MP3: the feature model reads its centre, the clip model every segment."""
    path = audio_file("long.mp3", seconds=150, sr=22050)
    status, (cnn, mlp) = predict_json(capsys, path)
    assert status == 0
    check_contract(cnn, path, "genre-cnn/1")
    check_contract(mlp, path, "genre-mlp/1")
    assert len(cnn["segments"]) == 50 and cnn["segments"][-1]["end"] == pytest.approx(150, abs=0.1)
