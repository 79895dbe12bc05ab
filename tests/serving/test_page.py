"""The Predict page (AppTest): one lead answer and a table of the others, champions by default, promotion, uploads in several formats, private
temporary files, a corrupt file, an empty registry."""
from __future__ import annotations

import gc
import json
import os
import stat
import tomllib

import pytest
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT

PAGE = str(PROJECT_ROOT / "dashboard" / "views" / "predict.py")
TIMEOUT = 120  # seconds: the first run loads the models


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_leads_with_the_best_model_and_asks_every_other_champion(registry):
    at = page()
    assert not at.exception and not errors(at)
    lead, others = at.selectbox(key="lead"), at.pills(key="others")
    # No model heard real music here: the best test accuracy leads (genre-cnn/1 0.50 > genre-mlp/1 0.40);
    # genre-mlp/2 scores 0.55 but is not the champion, so it answers only when asked.
    assert lead.value == "genre-cnn/1" and lead.options[0] == "genre-cnn/1 (synthetic demo)"
    assert others.value == ["genre-mlp/1"]
    assert [o.content for o in others.proto.options] == ["genre-cnn/1", "genre-mlp/1", "genre-mlp/2"]
    notes = [c.value for c in at.caption if "champion" in c.value]
    assert notes == ["No champion yet for genre-cnn: its newest version answers (choose one under Champions, "
                     "or `python -m core models promote NAME VERSION`)."]


def test_lead_prefers_a_model_that_heard_real_music():
    from core.registry import ModelCard, Version, lead_version

    def version(name: str, accuracy: float, synthetic: bool = True, pretrained: bool = False) -> Version:
        card = ModelCard(family="keras_mlp", input_kind="features", window="full", dataset="d", fingerprint="f",
                         synthetic=synthetic, genres=["Pop", "Rock"], test_accuracy=accuracy, n_test=100,
                         test_accuracy_ci_low=accuracy - 0.1, test_accuracy_ci_high=accuracy + 0.1, run_id="r",
                         extra={"pretrained": "true"} if pretrained else {})
        return Version(name=name, version="1", aliases=[], card=card)

    demo, zeroshot, fma = version("demo", 0.9), version("zs", 0.5, pretrained=True), version("fma", 0.6, False)
    assert lead_version([demo, zeroshot]) is zeroshot  # heard real music, though unscored
    assert lead_version([demo, zeroshot, fma]) is fma  # real music and scored on a test split
    assert lead_version([version("a", 0.4), demo]) is demo
    assert lead_version([]) is None


@pytest.fixture
def restore_champion(registry):
    yield
    import streamlit as st

    from core.registry import promote

    promote("genre-mlp", "1")
    st.cache_data.clear()  # the page's registry listing


def test_champions_section_compares_and_promotes(registry, restore_champion):
    at = page()
    at.selectbox(key="champion_name").select("genre-mlp").run()
    assert at.selectbox(key="champion_version").value == "2"
    table = at.dataframe[0].value
    assert list(table.columns) == ["champion genre-mlp/1", "genre-mlp/2"]
    assert table.loc["test accuracy [95% CI]"].str.startswith(("40.0% [", "55.0% [")).all()
    assert table.loc["trained on"].tolist() == ["demo (synthetic)"] * 2
    assert any("Same test split: genre-mlp/2 scores +15.0 points" in c.value for c in at.caption)
    at.button(key="promote").click().run()
    assert not at.exception
    from core.registry import champion

    assert champion("genre-mlp").version == "2"
    assert "genre-mlp/2" in [at.selectbox(key="lead").value, *at.pills(key="others").value]


@pytest.mark.parametrize("ext, mime", [("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("flac", "audio/flac"),
                                       ("ogg", "audio/ogg")])
def test_upload_leads_with_one_answer_and_tables_the_others(registry, audio_file, ext, mime):
    at = page()
    at.file_uploader(key="upload").upload(f"clip.{ext}", audio_file(f"clip.{ext}", seconds=7).read_bytes(), mime).run()
    assert not at.exception and not errors(at), errors(at)
    assert [s.value for s in at.subheader] == ["genre-cnn/1", "Other models"]
    assert len(at.metric) == 1 and at.metric[0].value in {"Electronic", "Pop", "Rock"}  # the lead's, large
    others = at.dataframe[0].value
    assert list(others.columns) == ["model", "trained on", "top genre", "probability", "ECE", "ECE if calibrated",
                                    "answered in (s)"]
    row = others.iloc[0]
    assert row["model"] == "genre-mlp/1" and row["trained on"] == "synthetic demo"
    assert row["top genre"] in {"Electronic", "Pop", "Rock"} and 0 < row["probability"] <= 1
    assert row["ECE"] == "not measured" and row["ECE if calibrated"] == "-"
    assert [e.label for e in at.expander][0].startswith(f"genre-mlp/1: {row['top genre']} (")
    assert any(c.value.startswith("trained on synthetic demo data · test accuracy 40.0% [") for c in at.caption)
    # The lead's calibration: in its caption, and its reliability diagram beside its answer.
    from tests.registry.builders import calibration

    summary = calibration()
    ece, (low, high) = summary["ece"], summary["ece_if_calibrated"]
    assert any(c.value.endswith(f"calibration ECE {ece:.3f} (test split; a perfectly calibrated model: "
                                f"{low:.3f}-{high:.3f})") for c in at.caption)
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    reliability = [s["layout"]["title"]["text"] for s in specs if s["layout"]["title"]["text"].startswith("Calibration")]
    assert len(reliability) == 1 and (f"ECE {ece:.3f}, n=60, temperature 1.30<br>on the test split<br>perfectly calibrated: "
                                      f"{low:.3f}-{high:.3f}" in reliability[0])
    # waveform, log-mel; the lead's reliability, bars and timeline; the other model's bars (in its expander)
    assert len(specs) == 2 + 3 + 1
    at.selectbox(key="lead").set_value("genre-mlp/1").run()
    at.pills(key="others").set_value(["genre-cnn/1"]).run()  # the calibrated model among the others
    (others,) = [d.value for d in at.dataframe if "ECE" in d.value.columns]
    row = others.set_index("model").loc["genre-cnn/1"]
    assert (row["ECE"], row["ECE if calibrated"]) == (f"{ece:.3f}", f"{low:.3f}-{high:.3f}")


def test_an_upload_is_private_while_it_exists_and_gone_afterwards(registry, audio_file, monkeypatch):
    from core.serving import predictor

    seen = []
    predict_file = predictor.predict_file

    def watching(path, model):
        seen.append((stat.S_IMODE(os.stat(path).st_mode), stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)))
        return predict_file(path, model)

    monkeypatch.setattr(predictor, "predict_file", watching)
    at = page()
    at.file_uploader(key="upload").upload("clip.wav", audio_file("clip.wav", seconds=4).read_bytes(), "audio/wav").run()
    assert not at.exception and len(at.metric) == 1 and len(at.dataframe[0].value) == 1
    assert seen == [(0o600, 0o700)] * 2
    folder = at.session_state["clip_folder"].name
    assert os.listdir(folder) == []
    at.selectbox(key="lead").set_value("genre-mlp/1").run()  # a rerun answers from the session: nothing written
    assert len(seen) == 2 and os.listdir(folder) == [] and at.subheader[0].value == "genre-mlp/1"
    del at  # the session ends: its state, and the folder with it, goes
    gc.collect()
    assert not os.path.exists(folder)


def test_upload_limit_is_the_servers_too(registry):
    with open(PROJECT_ROOT / ".streamlit" / "config.toml", "rb") as f:
        server_limit = tomllib.load(f)["server"]["maxUploadSize"]
    at = page()
    assert at.file_uploader(key="upload").proto.max_upload_size_mb == server_limit == 100


def test_corrupt_upload_shows_one_line_and_the_page_stays_usable(registry, audio_file):
    at = page()
    at.file_uploader(key="upload").upload("broken.mp3", b"ID3\x03\x00garbage" * 200, "audio/mpeg").run()
    assert not at.exception
    assert len(errors(at)) == 1
    message = errors(at)[0]
    assert message.startswith("broken.mp3: ") and "\n" not in message
    at.file_uploader(key="upload").upload("fine.wav", audio_file("fine.wav").read_bytes(), "audio/wav").run()
    assert not at.exception and not errors(at) and len(at.metric) == 1


def test_recording_is_predicted(registry, audio_file):
    at = page()
    at.audio_input(key="record").upload("recording.wav", audio_file("rec.wav", sr=44100).read_bytes()).run()
    assert not at.exception and not errors(at) and len(at.metric) == 1


def test_empty_registry_says_what_to_do(empty_registry):
    at = page()
    assert not at.exception
    assert any("make demo" in i.value for i in at.info)


def test_page_is_in_the_app_menu(registry):
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("views/predict.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Predict"]
