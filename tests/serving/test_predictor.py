"""core.serving.predictor: registry listing, model references, defaults, file → probabilities."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from core.errors import GenreLabError
from core.serving import predictor


def test_lists_every_version_with_its_card_and_aliases(registry):
    models = {m.ref: m for m in predictor.list_models()}
    assert set(models) == {"genre-mlp/1", "genre-mlp/2", "genre-cnn/1"}
    mlp = models["genre-mlp/2"].card
    assert (mlp.input_kind, mlp.window, mlp.family, mlp.dataset, mlp.synthetic) == ("features", "full", "sklearn_mlp",
                                                                                  "demo", True)
    assert mlp.test_accuracy == pytest.approx(0.55) and mlp.n_test == 60
    assert mlp.test_accuracy_ci_low < 0.55 < mlp.test_accuracy_ci_high
    assert models["genre-mlp/1"].aliases == ("champion",)
    assert models["genre-cnn/1"].aliases == ("clip-3s",)
    assert models["genre-cnn/1"].card.input_kind == "mels" and models["genre-cnn/1"].card.extra["clip_seconds"] == "3"
    label = models["genre-mlp/2"].label
    assert "55.0% [" in label and "on 60 tracks" in label and "demo (synthetic)" in label


def test_resolves_name_alias_and_version(registry):
    assert predictor.resolve("genre-mlp").ref == "genre-mlp/1"  # the champion, not the best score
    assert predictor.resolve("genre-mlp/2").ref == "genre-mlp/2"
    assert predictor.resolve("genre-cnn@clip-3s").ref == "genre-cnn/1"
    assert predictor.resolve("genre-cnn").ref == "genre-cnn/1"  # no champion: the newest version
    with pytest.raises(GenreLabError, match=r"genre-mlp/7.*versions of genre-mlp: genre-mlp/1@champion, genre-mlp/2"):
        predictor.resolve("genre-mlp/7")
    with pytest.raises(GenreLabError, match="registered models: genre-cnn, genre-mlp"):
        predictor.resolve("genre-svm")


def test_default_is_the_champion_of_each_model_or_its_newest_with_a_note(registry):
    from core.registry import fallback_note

    defaults = predictor.default_models()
    assert [m.ref for m in defaults] == ["genre-cnn/1", "genre-mlp/1"]
    cnn, mlp = defaults
    assert fallback_note(mlp) is None
    assert fallback_note(cnn) == ("genre-cnn has no champion: using its newest version genre-cnn/1 "
                                  "(choose one: python -m core models promote genre-cnn VERSION)")
    assert fallback_note(cnn, "genre-cnn/1") is None  # a version named explicitly needs no excuse


def test_empty_registry_says_what_to_do(empty_registry):
    assert predictor.list_models() == []
    with pytest.raises(GenreLabError, match="no model registered yet: run `make demo`"):
        predictor.default_models()


def test_models_load_once(registry):
    info = predictor.resolve("genre-mlp/1")
    assert predictor.load(info) is predictor.load(info)


def test_feature_model_result(registry, audio_file):
    result = predictor.predict_file(audio_file("a.wav", seconds=3, sr=44100, channels=2), "genre-mlp")
    assert result["model"] == "genre-mlp/1"
    assert set(result["probabilities"]) == {"Electronic", "Pop", "Rock"}
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
    assert result["top"] == max(result["probabilities"], key=result["probabilities"].get)
    assert result["segments"] == [] and result["seconds"] >= 0


@pytest.mark.parametrize("window", ["full", "center:2"])
def test_features_are_those_of_the_features_command_on_the_cards_window(audio_file, window):
    from core.features.fma_features import FEATURE_NAMES, file_features
    from core.features.window import parse_window

    path = audio_file("phone.wav", seconds=5, sr=8000)
    served = predictor.file_features(path, window)[FEATURE_NAMES].to_numpy()[0]
    np.testing.assert_allclose(served, file_features(path, parse_window(window)), rtol=1e-6)
    assert np.isfinite(served).all()


def test_truncated_file_is_judged_by_what_decodes(registry, audio_file):
    path = audio_file("cut.wav", seconds=120, sr=22050)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 10])  # the header still promises 120 s
    assert "error" not in predictor.predict_file(path, "genre-mlp")
    segments = predictor.predict_file(path, "genre-cnn")["segments"]
    assert len(segments) == 4 and segments[-1]["end"] == pytest.approx(12.0, abs=0.01)


def peak_memory_of_prediction(path, info) -> tuple[dict, int]:
    tracemalloc.start()
    result = predictor.predict_file(path, info)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "error" not in result, result.get("error")
    return result, peak


def test_clip_model_segments_cover_a_long_file_in_bounded_memory(registry, audio_file):
    info = predictor.resolve("genre-cnn@clip-3s")
    predictor.load(info)
    _, short_peak = peak_memory_of_prediction(audio_file("short.wav", seconds=30), info)
    result, long_peak = peak_memory_of_prediction(audio_file("long.wav", seconds=150), info)
    assert long_peak < 1.25 * short_peak, f"{long_peak / 1e6:.0f} MB for 150 s, {short_peak / 1e6:.0f} MB for 30 s"
    segments = result["segments"]
    assert len(segments) == 50
    assert segments[0]["start"] == 0 and segments[-1]["end"] == pytest.approx(150)
    assert all(b["start"] == pytest.approx(a["end"]) for a, b in zip(segments, segments[1:]))
    for segment in segments:
        assert sum(segment["probabilities"].values()) == pytest.approx(1.0)
    mean = np.mean([list(s["probabilities"].values()) for s in segments], axis=0)
    np.testing.assert_allclose(list(result["probabilities"].values()), mean / mean.sum())


def test_clip_model_keeps_a_short_clip(registry, audio_file):
    result = predictor.predict_file(audio_file("short.ogg", seconds=2, sr=22050), "genre-cnn")
    assert [(s["start"], s["end"]) for s in result["segments"]] == [(0, 2.0)]  # padded, ends with the audio


@pytest.mark.parametrize("make, problem", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(b"this is a text file, not audio\n" * 50), "not a readable audio file"),
])
def test_bad_files_are_one_line_errors(registry, tmp_path, make, problem):
    path = tmp_path / "bad.mp3"
    make(path)
    for model in ("genre-mlp", "genre-cnn"):
        result = predictor.predict_file(path, model)
        assert problem in result["error"] and str(path) in result["error"]
        assert "\n" not in result["error"] and "probabilities" not in result


@pytest.mark.parametrize("kwargs, problem", [({"silent": True}, "silent"), ({"seconds": 0.5}, "too short")])
def test_unusable_audio_is_named(registry, audio_file, kwargs, problem):
    path = audio_file("x.flac", **kwargs)
    for model in ("genre-mlp", "genre-cnn"):
        assert problem in predictor.predict_file(path, model)["error"]
