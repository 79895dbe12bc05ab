"""The Predict page (AppTest): upload in several formats, a corrupt file, an empty registry."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT

PAGE = str(PROJECT_ROOT / "dashboard" / "views" / "predict.py")
TIMEOUT = 120  # seconds: the first run loads the models


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_lists_models_and_defaults_to_the_best_of_each(registry):
    at = page()
    assert not at.exception and not errors(at)
    chooser = at.multiselect[0]
    assert [o.split()[0] for o in chooser.options] == ["genre-cnn/1", "genre-mlp/1", "genre-mlp/2"]
    assert "@clip-3s" in chooser.options[0] and "test accuracy 55.0%" in chooser.options[2]
    assert "trained on demo" in chooser.options[2]
    assert chooser.value == ["genre-cnn/1", "genre-mlp/2"]


@pytest.mark.parametrize("ext, mime", [("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("flac", "audio/flac"),
                                       ("ogg", "audio/ogg")])
def test_upload_shows_probabilities_of_every_chosen_model(registry, audio_file, ext, mime):
    at = page()
    at.file_uploader(key="upload").upload(f"clip.{ext}", audio_file(f"clip.{ext}", seconds=7).read_bytes(), mime).run()
    assert not at.exception and not errors(at), errors(at)
    assert [s.value for s in at.subheader] == ["genre-cnn/1", "genre-mlp/2"]
    assert len(at.metric) == 2 and {m.value for m in at.metric} <= {"Electronic", "Pop", "Rock"}
    # waveform, log-mel, then per model: bars (+ a timeline for the clip model)
    assert len(at.get("plotly_chart")) == 2 + 2 + 1


def test_corrupt_upload_shows_one_line_and_the_page_stays_usable(registry, audio_file):
    at = page()
    at.file_uploader(key="upload").upload("broken.mp3", b"ID3\x03\x00garbage" * 200, "audio/mpeg").run()
    assert not at.exception
    assert len(errors(at)) == 1
    message = errors(at)[0]
    assert message.startswith("broken.mp3: ") and "\n" not in message
    at.file_uploader(key="upload").upload("fine.wav", audio_file("fine.wav").read_bytes(), "audio/wav").run()
    assert not at.exception and not errors(at) and len(at.metric) == 2


def test_recording_is_predicted(registry, audio_file):
    at = page()
    at.audio_input(key="record").upload("recording.wav", audio_file("rec.wav", sr=44100).read_bytes()).run()
    assert not at.exception and not errors(at) and len(at.metric) == 2


def test_empty_registry_says_what_to_do(empty_registry):
    at = page()
    assert not at.exception
    assert any("make demo" in i.value for i in at.info)


def test_page_is_in_the_app_menu(registry):
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("views/predict.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Predict"]
