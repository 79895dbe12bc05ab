"""The zero-shot genre model: its tag -> genre table, its card, and real music in and out of the checkout."""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.__main__ import main
from core.errors import GenreLabError
from core.serving import zeroshot
from tests.registry.outside import run_outside_checkout

MUSIC = Path(__file__).resolve().parent.parent / "data" / "music"
#: The real clips (tests/data/music/CREDITS.md) and the genre anyone would name for each.
CLIPS = {
    "muldjord_chaos_god.ogg": "Rock",       # Muldjord, a Danish metal band (FMA: Rock > Metal)
    "sectoid_war_of_freedom.ogg": "Rock",   # distorted guitars and drums, a metal song for Frets on Fire
    "colobot_infinite.ogg": "Electronic",   # synthesizers over a drum machine's steady grid
    "lincity_pronobozo.ogg": "Electronic",  # synthesizers over a drum machine's steady grid
}
FMA_TOP = ["Blues", "Classical", "Country", "Easy Listening", "Electronic", "Experimental", "Folk", "Hip-Hop",
           "Instrumental", "International", "Jazz", "Old-Time / Historic", "Pop", "Rock", "Soul-RnB", "Spoken"]


# --- The table ----------------------------------------------------------------------------------------

def test_every_fma_genre_is_either_mapped_or_named_unknown():
    assert zeroshot.fma_top_genres() == FMA_TOP
    both = zeroshot.read_mapping()
    assert both["unknown"] == ["Old-Time / Historic", "Spoken"]
    assert both["genres"] == [g for g in FMA_TOP if g not in both["unknown"]]
    msd = zeroshot.read_mapping(taggers=["MSD_musicnn"])  # MagnaTagATune is the only source of these two
    assert msd["unknown"] == ["Classical", "International", "Old-Time / Historic", "Spoken"]
    assert zeroshot.read_mapping()["taggers"]["MSD_musicnn"]["indie"] == {"Rock": 0.4, "Pop": 0.3}


def test_scores_are_weighted_tag_sums(tmp_path):
    mapping = zeroshot.read_mapping()
    genres = mapping["genres"]
    matrices = [zeroshot.mapping_matrix(mapping, t, genres) for t in zeroshot.DEFAULT_TAGGERS]
    assert matrices[0].shape == (50, 14) and matrices[0].dtype == np.float32
    from core.models.musicnn import MSD_TAGS, MTT_TAGS

    msd, mtt = np.zeros((1, 50)), np.zeros((1, 50))
    msd[0, MSD_TAGS.index("indie")], mtt[0, MTT_TAGS.index("harpsichord")] = 0.5, 0.8
    scores = zeroshot.genre_scores([msd, mtt], matrices)[0]
    assert scores[genres.index("Rock")] == pytest.approx(0.2) and scores[genres.index("Pop")] == pytest.approx(0.15)
    assert scores[genres.index("Classical")] == pytest.approx(0.8) and scores.sum() == pytest.approx(1.15)


@pytest.mark.parametrize("text, problem", [
    ('unknown = ["Old-Time / Historic", "Spoken"]\n[MSD_musicnn]\n"disco" = { Rock = 1.0 }\n', "has no tag 'disco'"),
    ('unknown = []\n[MSD_musicnn]\n"rock" = { Metal = 1.0 }\n', "'Metal' is not an FMA top-level genre"),
    ('unknown = []\n[MSD_musicnn]\n"rock" = { Rock = 1.5 }\n', "weight 1.5 for Rock is not in (0, 1]"),
    ('[MSD_musicnn]\n"rock" = { Rock = 1.0 }\n', "'unknown' must list exactly"),
    ('unknown = []\n[MSD_vgg]\n"rock" = { Rock = 1.0 }\n', "[MSD_vgg] is not a musicnn tagger"),
    ('[MSD_musicnn\n', "not valid TOML"),
])
def test_a_bad_table_is_refused_in_one_line(tmp_path, text, problem):
    path = tmp_path / "mapping.toml"
    path.write_text(text)
    with pytest.raises(GenreLabError) as err:
        zeroshot.read_mapping(path, ["MSD_musicnn"])
    assert problem in str(err.value) and str(err.value).startswith(str(path))


def test_the_register_command_refuses_a_bad_table_before_starting_a_run(tmp_path, mlflow_store, capsys):
    (tmp_path / "bad.toml").write_text('unknown = []\n[MSD_musicnn]\n"disco" = { Rock = 1.0 }\n')
    assert main(["models", "register-zeroshot", "--mapping", str(tmp_path / "bad.toml")]) == 1
    err = capsys.readouterr().err
    assert "bad.toml: [MSD_musicnn] has no tag 'disco'" in err and err.count("\n") == 1
    from mlflow.tracking import MlflowClient

    assert not MlflowClient().search_registered_models()


# --- The registered model -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def registered(module_store):
    """``python -m core models register-zeroshot`` into a fresh store: version 1 of genre-zeroshot."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["models", "register-zeroshot"]) == 0
    return out.getvalue()


def test_register_prints_what_it_registered_and_how_to_promote(registered):
    assert registered.startswith("registered genre-zeroshot/1 (pretrained, not trained on your data)")
    assert "genre-zeroshot/1 is the champion" in registered
    assert main(["models", "register-zeroshot", "--if-missing"]) == 0  # make demo's second run: no new version
    assert "cannot know Old-Time / Historic, Spoken" in registered


def test_the_card_says_pretrained_and_names_what_it_cannot_know(registered):
    from core.registry import list_versions

    (version,) = [v for v in list_versions() if v.name == "genre-zeroshot"]
    card = version.card
    assert version.aliases == ("champion",)  # the first version is what a fresh clone predicts with
    assert card.family == "musicnn_zeroshot" and card.input_kind == "embeddings" and card.takes_audio
    assert card.window == "full" and not card.synthetic and card.fingerprint == ""
    assert card.extra["pretrained"] == "true" and card.extra["training"] == "pretrained, not trained on your data"
    assert "not trained on your data" in card.dataset and "not trained on your data" in version.label
    assert json.loads(card.extra["unknown_genres"]) == ["Old-Time / Historic", "Spoken"]
    assert card.genres == [g for g in FMA_TOP if g not in ("Old-Time / Historic", "Spoken")]
    assert card.n_test == 0 and math.isnan(card.test_accuracy)  # no test split: no score to show
    assert card.extra["taggers"] == "MSD_musicnn,MTT_musicnn" and card.extra["mapping"] == zeroshot.mapping_digest()
    # Its calibration, measured out-of-fold on the development set its prior was fitted on, and what that was.
    prior = json.loads(zeroshot.PRIOR.read_text())
    assert card.calibration == prior["calibration"] and card.calibration["scored_on"] == "development set, out-of-fold"
    assert card.extra["tuned_on"] == prior["fitted_on"] and "Debian packages" in card.extra["tuned_on"]
    assert card.ece_text.startswith("ECE ") and "development set" in card.ece_text


# --- The prior ----------------------------------------------------------------------------------------

def test_the_shipped_prior_belongs_to_the_shipped_table():
    """bench/bench_zeroshot.py --write-prior must run again whenever the mapping changes."""
    prior = json.loads(zeroshot.PRIOR.read_text())
    assert prior["mapping"] == zeroshot.mapping_digest() and prior["taggers"] == list(zeroshot.DEFAULT_TAGGERS)
    genres = zeroshot.read_mapping()["genres"]
    read = zeroshot.read_prior(zeroshot.PRIOR, zeroshot.DEFAULT_TAGGERS, zeroshot.MAPPING, genres)
    assert read["bias"].shape == (len(genres),) and abs(read["bias"].sum()) < 1e-3  # zero-sum: no genre pushed overall
    assert 0.05 <= read["temperature"] <= 20 and read["calibration"]["n"] > 50


def test_a_prior_fitted_for_other_taggers_or_another_table_is_not_used(tmp_path):
    genres = zeroshot.read_mapping()["genres"]
    assert zeroshot.read_prior(zeroshot.PRIOR, ("MSD_musicnn",), zeroshot.MAPPING, genres) is None
    table = tmp_path / "mapping.toml"
    table.write_text(zeroshot.MAPPING.read_text() + "\n# edited\n")
    assert zeroshot.read_prior(zeroshot.PRIOR, zeroshot.DEFAULT_TAGGERS, table, genres) is None
    assert zeroshot.read_prior(tmp_path / "none.json", zeroshot.DEFAULT_TAGGERS, zeroshot.MAPPING, genres) is None
    bad = tmp_path / "prior.json"
    bad.write_text(json.dumps({**json.loads(zeroshot.PRIOR.read_text()), "bias": {"Metal": 1.0}}))
    with pytest.raises(GenreLabError, match="bias for genre.s. the mapping does not answer: Metal"):
        zeroshot.read_prior(bad, zeroshot.DEFAULT_TAGGERS, zeroshot.MAPPING, genres)


def test_the_prior_shifts_and_scales_segment_probabilities():
    scores = np.array([[0.6, 0.3, 0.1], [0.0, 0.0, 0.0]])
    assert np.allclose(zeroshot.genre_probabilities(scores[:1]), [[0.6, 0.3, 0.1]])
    shifted = zeroshot.genre_probabilities(scores, np.array([0.0, np.log(2.0), 0.0]), 1.0)
    assert np.allclose(shifted[0], np.array([0.6, 0.6, 0.1]) / 1.3)  # the bias multiplies a genre's odds
    assert np.allclose(shifted[1], [0.25, 0.5, 0.25])  # a segment no tag spoke for: the prior alone
    flat = zeroshot.genre_probabilities(scores[:1], None, 1e6)
    assert np.allclose(flat, 1 / 3, atol=1e-4)  # a huge temperature says nothing
    assert np.allclose(shifted.sum(axis=1), 1.0)


def test_it_carries_the_checkpoints_the_table_and_the_licence(registered):
    import mlflow

    from core.models.musicnn import weights_folder

    folder = Path(mlflow.artifacts.download_artifacts("models:/genre-zeroshot/1"))
    weights = folder / "artifacts" / "musicnn"
    for model in zeroshot.DEFAULT_TAGGERS:
        for name in (".index", ".data-00000-of-00001"):
            mine, wheel = weights / model / name, weights_folder() / model / name
            assert hashlib.sha256(mine.read_bytes()).digest() == hashlib.sha256(wheel.read_bytes()).digest()
    assert "ISC" in (weights / "LICENSE-musicnn.txt").read_text() and "Jordi Pons" in (weights / "LICENSE-musicnn.txt").read_text()
    assert (folder / "artifacts" / "zeroshot_genres.toml").read_bytes() == zeroshot.MAPPING.read_bytes()
    assert (folder / "code" / "core" / "serving" / "zeroshot.py").is_file()
    pins = dict(line.split("==") for line in (folder / "requirements.txt").read_text().split())
    assert set(pins) == {"mlflow", "cloudpickle", "numpy", "pandas", "keras", "tensorflow", "librosa", "soundfile",
                         "soxr"}  # no musicnn: the weights travel as artifacts


@pytest.fixture(scope="module")
def answers(registered):
    from core.serving import predictor

    return {name: predictor.predict_file(MUSIC / name, "genre-zeroshot/1") for name in CLIPS}


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_it_names_the_genre_of_real_music(answers, name):
    answer = answers[name]
    assert "error" not in answer, answer
    ranked = sorted(answer["probabilities"], key=answer["probabilities"].get, reverse=True)
    assert answer["top"] == ranked[0] == CLIPS[name]
    assert answer["probabilities"][CLIPS[name]] > 0.5
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
    assert "Spoken" not in answer["probabilities"] and len(answer["probabilities"]) == 14


def test_it_reports_raw_tags_per_clip_and_segment(answers):
    answer = answers["muldjord_chaos_god.ogg"]
    # 10 s: three whole 2.99 s patches; the last second is dropped (musicnn's rule for leftovers).
    assert [(s["start"], s["end"]) for s in answer["segments"]] == [(0.0, 2.992), (2.992, 5.984), (5.984, 8.976)]
    for segment in answer["segments"]:
        assert set(segment["tags"]) == {"MSD_musicnn", "MTT_musicnn"}
        msd = segment["tags"]["MSD_musicnn"]
        assert len(msd) == zeroshot.TOP_TAGS and list(msd.values()) == sorted(msd.values(), reverse=True)
        assert "metal" in msd
    assert next(iter(answer["tags"]["MSD_musicnn"])) == "metal" and len(answer["tags"]["MTT_musicnn"]) == 10
    taggram = answer["taggram"]["MTT_musicnn"]
    assert len(taggram["tags"]) == 50 and np.asarray(taggram["values"]).shape == (3, 50)
    rock = taggram["tags"].index("rock")
    assert answer["tags"]["MTT_musicnn"]["rock"] == pytest.approx(np.mean(np.asarray(taggram["values"])[:, rock]),
                                                                 abs=1e-3)


def test_bad_audio_is_a_one_line_input_error(registered):
    import mlflow

    from core.serving.pyfunc import InputError

    model = mlflow.pyfunc.load_model("models:/genre-zeroshot/1")
    with pytest.raises(InputError) as err:
        model.predict(pd.DataFrame({"audio": [b"no music here" * 50]}))
    assert str(err.value) == "audio[0]: not a readable audio file (unrecognised format or corrupt data)"


#: The zero-shot model on the real clips, as if the musicnn wheel were not installed: the weights can
#: only come from the model's artifacts.
WITHOUT_THE_WHEEL = 'sys.modules["musicnn"] = None  # `import musicnn` fails and find_spec("musicnn") finds nothing'
ANSWER = r"""
model = mlflow.pyfunc.load_model("models:/genre-zeroshot/1")
answer = model.predict(pd.DataFrame({"audio": [open(path, "rb").read() for path in request["clips"]]}))
result.update(columns=list(answer.columns), rows=answer.to_dict(orient="records"))
"""


def test_it_loads_and_answers_outside_the_checkout_without_the_wheel(registered, module_store, answers, tmp_path):
    from core.config import PROJECT_ROOT

    names = sorted(CLIPS)
    request = {"store": module_store, "clips": [str(MUSIC / n) for n in names]}
    result = run_outside_checkout(ANSWER, request, tmp_path, before=WITHOUT_THE_WHEEL)
    assert not result["core"].startswith(str(PROJECT_ROOT))
    assert result["core"].endswith(os.path.join("code", "core", "__init__.py"))
    assert result["columns"] == ["top", "probabilities", "segments", "tags", "taggram"]
    for name, row in zip(names, result["rows"]):
        assert row["top"] == CLIPS[name]
        mine = answers[name]
        np.testing.assert_allclose(list(row["probabilities"].values()), list(mine["probabilities"].values()), atol=1e-5)
        assert list(row["tags"]["MSD_musicnn"]) == list(mine["tags"]["MSD_musicnn"])
        assert [s["tags"] for s in row["segments"]] == [s["tags"] for s in mine["segments"]]
