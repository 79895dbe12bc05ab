"""Every registered flavour loads with plain MLflow in a process that cannot import the checkout."""
from __future__ import annotations

import os

import numpy as np
import pytest

from core import inputs
from tests.registry.conftest import FLAVOURS
from tests.registry.outside import run_outside_checkout

#: Each flavour's answer to one request (audio models: the clip's bytes; feature models: the row).
ANSWER = r"""
for name, takes_audio in request["models"].items():
    model = mlflow.pyfunc.load_model(f"models:/{name}/1")
    if takes_audio:
        frame = pd.DataFrame({"audio": [open(request["audio"], "rb").read()]})
    else:
        frame = pd.DataFrame([request["row"]], columns=request["columns"])
    result[name] = model.predict(frame).to_dict(orient="records")
"""


@pytest.fixture(scope="module")
def elsewhere(flavours, tmp_path_factory):
    """What each flavour answers in a fresh process outside the checkout, and the file it was given."""
    from core.serving import predictor
    from tests.serving.conftest import write_audio

    folder = tmp_path_factory.mktemp("elsewhere")
    clip = write_audio(folder / "clip.mp3", seconds=7, sr=44100, channels=2)
    row = predictor.file_features(clip)
    request = {"store": flavours["uri"], "audio": str(clip), "columns": list(row.columns),
               "row": row.iloc[0].tolist(), "models": {name: inputs.kind(kind).takes_audio for name, (_, kind) in FLAVOURS.items()}}
    return run_outside_checkout(ANSWER, request, folder, timeout=300), clip


def test_the_model_brought_its_own_code(elsewhere):
    answers, _ = elsewhere
    from core.config import PROJECT_ROOT

    assert not answers["core"].startswith(str(PROJECT_ROOT))
    assert answers["core"].endswith(os.path.join("code", "core", "__init__.py"))


@pytest.mark.parametrize("name", sorted(FLAVOURS))
def test_every_flavour_answers_as_in_the_project(elsewhere, flavours, name):
    from core.serving import predictor

    answers, clip = elsewhere
    mine = predictor.predict_file(clip, f"{name}/1")
    (answer,) = answers[name]
    if inputs.kind(FLAVOURS[name][1]).takes_audio:
        assert set(answer) == {"top", "probabilities", "segments"}
        assert answer["top"] == mine["top"]
        # the CNN answers per 3 s clip; the embeddings MLP once per file (one vector per track)
        spans = [(0, 3), (3, 6)] if FLAVOURS[name][1] == "mels" else []
        assert [(s["start"], s["end"]) for s in answer["segments"]] == spans
        probabilities = answer["probabilities"]
    else:
        probabilities = answer
    assert list(probabilities) == ["Electronic", "Pop", "Rock"]
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(list(probabilities.values()), list(mine["probabilities"].values()), atol=1e-6)


@pytest.mark.parametrize("name", sorted(FLAVOURS))
def test_every_flavour_carries_its_code_and_pinned_requirements(flavours, store, name):
    from importlib import metadata
    from pathlib import Path

    import mlflow

    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/1"))
    assert (folder / "code" / "core" / "serving" / "pyfunc.py").is_file()
    assert not list((folder / "code").rglob("__pycache__"))
    pins = dict(line.split("==") for line in (folder / "requirements.txt").read_text().split())
    audio = {"keras", "tensorflow", "librosa", "soundfile", "soxr"}
    expected = {"mlflow", "numpy", "pandas", "cloudpickle"} | (
        audio if name == "genre-cnn" else {"scikit-learn", "joblib"})
    if name in ("genre-mlp", "genre-mlp-ae"):
        expected |= {"keras", "tensorflow"}
    if name == "genre-mlp-embeddings":
        expected |= audio
    assert set(pins) == expected
    assert all(pins[dist] == metadata.version(dist) for dist in pins)


@pytest.mark.parametrize("name", ["genre-mlp", "genre-mlp-ae"])
def test_a_feature_model_takes_fmas_own_three_level_frame(store, tmp_path, name):
    """``pd.read_csv(features.csv, index_col=0, header=[0, 1, 2])``, as FMA's ``utils.load`` returns it."""
    import mlflow
    import pandas as pd

    from core.data.fma import FEATURE_COLUMNS, write_features
    from core.serving import predictor
    from tests.serving.conftest import write_audio

    flat = pd.concat([predictor.file_features(write_audio(tmp_path / f"{i}.wav", seconds=3, seed=i))
                      for i in range(2)], ignore_index=True)
    flat.index = pd.Index([2, 5], name="track_id")
    by_name = {".".join(column): column for column in FEATURE_COLUMNS}
    write_features(flat.rename(columns=by_name), tmp_path / "features.csv")
    fma_frame = pd.read_csv(tmp_path / "features.csv", index_col=0, header=[0, 1, 2])
    assert isinstance(fma_frame.columns, pd.MultiIndex)
    model = mlflow.pyfunc.load_model(f"models:/{name}/1")
    answer = model.predict(fma_frame)
    assert list(answer.index) == [2, 5]
    np.testing.assert_allclose(answer.to_numpy(), model.predict(flat).to_numpy(), atol=1e-6)
