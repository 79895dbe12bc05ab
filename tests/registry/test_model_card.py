"""ModelCard: what a version says it is, as tags and back; versions registered before cards."""
from __future__ import annotations

import pytest

from core.errors import GenreLabError
from core.registry import ModelCard


def card(**changes) -> ModelCard:
    fields = dict(family="keras_mlp", input_kind="autoencoder", window="center:30.0", dataset="fma_small",
                  fingerprint="ab" * 32, synthetic=False, genres=["Hip-Hop", "Folk, Acoustic"], test_accuracy=0.61,
                  n_test=800, test_accuracy_ci_low=0.576, test_accuracy_ci_high=0.643, run_id="r" * 32,
                  extra={"size": "small"})
    return ModelCard(**{**fields, **changes})


def test_round_trip_through_tags():
    original = card()
    tags = original.to_tags()
    assert all(isinstance(v, str) for v in tags.values())
    assert tags["genres"] == '["Hip-Hop", "Folk, Acoustic"]' and tags["synthetic"] == "false"
    assert tags["window"] == "center:30" and tags["size"] == "small" and tags["n_test"] == "800"
    assert ModelCard.from_tags({**tags, "mlflow.internal": "x"}) == original
    assert not original.takes_audio and card(input_kind="mels", window="full").takes_audio
    new_kind = card(input_kind="loudness", takes_audio=True)  # a kind the registry has never heard of
    assert new_kind.to_tags()["takes_audio"] == "true" and ModelCard.from_tags(new_kind.to_tags()) == new_kind
    before = {k: v for k, v in card(input_kind="embeddings", window="full").to_tags().items() if k != "takes_audio"}
    assert ModelCard.from_tags(before).takes_audio  # registered before cards said: what its kind took then
    assert original.accuracy_text == "61.0% [57.6, 64.3] on 800 tracks"
    assert original.calibration is None and "calibration" not in tags and original.ece_text == "ECE not measured"
    assert original.n_test_artists == 0 and tags["n_test_artists"] == "0"


def test_the_test_artists_travel_and_older_cards_read_without_them():
    by_artist = card(n_test_artists=57)
    assert by_artist.accuracy_text == "61.0% [57.6, 64.3] on 800 tracks by 57 artists"
    assert ModelCard.from_tags(by_artist.to_tags()) == by_artist
    older = {k: v for k, v in by_artist.to_tags().items() if k != "n_test_artists"}
    assert ModelCard.from_tags(older) == card() and card(n_test_artists=1).accuracy_text.endswith("by 1 artist")


def test_the_calibration_travels_as_one_tag():
    summary = {"ece": 0.043, "n": 800, "scored_on": "test split", "temperature": 1.62,
               "bins": [{"low": 0.5, "high": 0.6, "count": 800, "confidence": 0.557, "accuracy": 0.6}]}
    calibrated = card(calibration=summary)
    tags = calibrated.to_tags()
    assert set(tags) == set(card().to_tags()) | {"calibration"}
    assert ModelCard.from_tags(tags) == calibrated
    assert calibrated.ece_text == "ECE 0.043 on the test split (n=800)"  # a card from before the range
    ranged = card(calibration={**summary, "ece_if_calibrated": [0.012, 0.031]})
    assert ranged.ece_text == "ECE 0.043 on the test split (n=800; a perfectly calibrated model: 0.012-0.031)"
    with pytest.raises(GenreLabError, match="^model card: the calibration tag is not JSON$"):
        ModelCard.from_tags({**tags, "calibration": "{ece"})


@pytest.mark.parametrize("changes, problem", [
    ({"input_kind": "log mel"}, "input_kind 'log mel' is not an input kind's name"),
    ({"window": "30s"}, "window '30s' is not full, center:SECONDS or start:SECONDS:SECONDS"),
    ({"extra": {"window": "full"}}, "extra tag(s) window would overwrite card fields"),
    ({"test_accuracy": 0.7}, "test accuracy 0.7 must lie within its interval [0.576, 0.643] inside [0, 1]"),
    ({"genres": []}, "genres is empty"),
])
def test_a_card_that_cannot_be_true_is_refused_in_one_line(changes, problem):
    with pytest.raises(GenreLabError) as caught:
        card(**changes)
    assert str(caught.value) == f"model card: {problem}"


def test_tags_of_a_version_that_is_not_a_genre_model():
    with pytest.raises(GenreLabError, match=r"^model card: tag\(s\) dataset, family, .* missing$"):
        ModelCard.from_tags({"owner": "someone"})
    with pytest.raises(GenreLabError, match="^model card: malformed tag value"):
        ModelCard.from_tags({**card().to_tags(), "n_test": "many"})


@pytest.mark.parametrize("tags, kind", [
    ({"family": "cnn", "clip_seconds": "3", "test_accuracy": "0.5000", "dataset": "demo", "synthetic": "true"}, "mels"),
    ({"family": "keras_mlp", "input": "autoencoder", "test_accuracy": "0.4", "dataset": "demo"}, "autoencoder"),
    ({"family": "sklearn_mlp", "input": "features", "test_accuracy": "0.4", "dataset": "demo"}, "features"),
])
def test_versions_registered_before_cards_read_what_their_tags_say(tags, kind):
    old = ModelCard.from_tags(tags)
    assert (old.input_kind, old.window, old.family, old.dataset) == (kind, "full", tags["family"], "demo")
    assert old.test_accuracy == float(tags["test_accuracy"]) and old.n_test == 0 and old.fingerprint == ""
    assert old.accuracy_text == f"{float(tags['test_accuracy']):.1%}"
    assert "clip_seconds" in old.extra if kind == "mels" else "input" in old.extra
