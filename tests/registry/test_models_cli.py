"""``python -m core models``: the table, --json, promote, serve's one-line errors."""
from __future__ import annotations

import json

import pytest

from core.__main__ import main
from tests.registry.conftest import FLAVOURS


def test_table_lists_every_version_with_its_card(store, capsys):
    assert main(["models"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["MODEL", "ALIASES", "INPUT", "WINDOW"] and "ECE (ON)" in header
    by_ref = {row.split()[0]: row for row in rows}
    ece = header.index("ECE (ON)")
    assert {row[ece:].split()[0] for row in rows} == {"-"}  # these cards were written without a calibration
    for name, (family, kind) in FLAVOURS.items():
        row = by_ref[f"{name}/1"]
        assert f" {kind} " in row and f" {family} " in row and "50.0% [" in row and "demo (synthetic)" in row
    assert "@clip-3s" in by_ref["genre-cnn/1"]


def test_the_table_gives_ece_with_what_a_perfectly_calibrated_model_would_score():
    from types import SimpleNamespace

    from core.registry.commands import table
    from tests.registry.builders import calibration, card

    summary = calibration()
    version = SimpleNamespace(ref="genre-mlp/7", aliases=["champion"], problem="",
                              card=card("keras_mlp", "features", "r" * 32, calibration=summary))
    header, row = table([version]).splitlines()
    low, high = summary["ece_if_calibrated"]
    assert row[header.index("ECE (ON)"):].startswith(f"{summary['ece']:.3f} (test split), calibrated {low:.3f}-{high:.3f} ")


def test_json_holds_the_whole_card(store, flavours, capsys):
    assert main(["models", "--json"]) == 0
    listed = {(v["name"], v["version"]): v for v in json.loads(capsys.readouterr().out)}
    cnn = listed["genre-cnn", "1"]
    assert cnn["aliases"] == ["clip-3s"] and cnn["input_kind"] == "mels" and cnn["window"] == "full"
    assert cnn["genres"] == ["Electronic", "Pop", "Rock"] and cnn["n_test"] == 60 and cnn["synthetic"] is True
    assert cnn["run_id"] == flavours["models"]["genre-cnn"][1] and cnn["extra"] == {"clip_seconds": "3"}
    assert cnn["test_accuracy_ci_low"] < cnn["test_accuracy"] < cnn["test_accuracy_ci_high"]


def test_promote_and_its_errors(store, capsys):
    assert main(["models", "promote", "genre-mlp-ae", "1"]) == 0
    assert capsys.readouterr().out == "genre-mlp-ae/1 is the champion of genre-mlp-ae\n"
    assert main(["models", "promote", "genre-mlp-ae", "1"]) == 0
    assert capsys.readouterr().out == "genre-mlp-ae/1 is the champion of genre-mlp-ae (was version 1)\n"
    assert main(["models", "promote", "genre-mlp-ae", "4"]) == 1
    assert capsys.readouterr().err == ("error: model genre-mlp-ae/4: not in the registry "
                                       "(versions of genre-mlp-ae: 1)\n")


def test_serve_names_an_unknown_model_in_one_line(store, capsys):
    assert main(["models", "serve", "genre-svm"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: model 'genre-svm': not in the registry (registered models: ") and err.count("\n") == 1


def test_serve_binds_to_localhost_with_this_environment():
    from core.registry.commands import serve_command

    command = serve_command("models:/genre-cnn/1", 5005)
    assert command[1:] == ["-m", "mlflow", "models", "serve", "-m", "models:/genre-cnn/1", "--env-manager", "local",
                           "--host", "127.0.0.1", "--port", "5005"]


def test_an_unreadable_store_is_one_line(tmp_path, monkeypatch, capsys):
    broken = tmp_path / "mlflow.db"
    broken.write_text("not a database\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{broken}")
    assert main(["models"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: sqlite:///{broken}: cannot read the ") and err.count("\n") == 1


@pytest.mark.parametrize("verbose", [False, True])
def test_commands_that_load_tensorflow_are_quiet_unless_verbose(store, tmp_path, verbose):
    """No oneDNN / CUDA / cuInit start-up lines on stderr; ``--verbose`` shows them."""
    import os
    import subprocess
    import sys

    from core.config import PROJECT_ROOT
    from tests.builders import write_audio

    clip = write_audio(tmp_path / "clip.wav", seconds=4)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GENRELAB_VERBOSE")}
    command = [sys.executable, "-m", "core", *(["--verbose"] if verbose else []), "predict", str(clip),
               "--model", "genre-cnn"]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "[genre-cnn/1]" in done.stdout
    startup = [line for line in done.stderr.splitlines()
               if any(word in line for word in ("oneDNN", "cuda", "cuInit", "absl::InitializeLog"))]
    assert bool(startup) == verbose, done.stderr
