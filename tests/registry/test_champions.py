"""register_version writes the card; only promote and promote_if_better move the champion alias."""
from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from core.errors import GenreLabError
from core.registry import champion, list_versions, promote, promote_if_better, register_version
from tests.registry import builders


@pytest.fixture
def register(flavours, store):
    """``register(name, accuracy, fingerprint=...)``: a new version of ``name`` (the sklearn MLP's model)."""
    model_uri, run_id = flavours["models"]["genre-mlp-sklearn"]

    def make(name: str, accuracy: float, **kwargs) -> str:
        return register_version(model_uri, name, builders.card("sklearn_mlp", "features", run_id, accuracy, **kwargs))
    return make


def champion_version(name: str) -> str | None:
    found = champion(name)
    return found.version if found else None


def test_a_version_carries_its_card_and_aliases_but_is_never_made_champion(flavours, store):
    model_uri, run_id = flavours["models"]["genre-cnn"]
    card = builders.card("cnn", "mels", run_id, 0.5, clip_seconds=3)
    version = register_version(model_uri, "cards-cnn", card, aliases=["clip-3s", "latest-demo"])
    tags = MlflowClient().get_model_version("cards-cnn", version).tags
    assert tags == card.to_tags() and tags["input_kind"] == "mels" and tags["clip_seconds"] == "3"
    (listed,) = [v for v in list_versions() if v.name == "cards-cnn"]
    assert listed.card == card and listed.aliases == ("clip-3s", "latest-demo")
    with pytest.raises(GenreLabError, match="registering never makes a champion"):
        register_version(model_uri, "cards-cnn", card, aliases=["champion"])


def test_promote_if_better_needs_the_same_test_split_and_a_higher_score(register):
    assert promote_if_better("race", register("race", 0.50)) and champion_version("race") == "1"  # the first
    assert not promote_if_better("race", register("race", 0.90, fingerprint="0" * 64))  # another test split
    assert not promote_if_better("race", register("race", 0.50))  # a tie is not better
    assert promote_if_better("race", register("race", 0.55)) and champion_version("race") == "4"
    assert not promote_if_better("race", "4")  # already the champion
    assert champion_version("race") == "4"


def test_promote_is_explicit_and_says_what_it_replaced(register):
    for accuracy in (0.6, 0.4):
        register("choice", accuracy)
    assert promote("choice", "1") is None
    assert promote("choice", "2").version == "1"  # a worse score: the user's call
    assert champion_version("choice") == "2"
    with pytest.raises(GenreLabError, match=r"^model choice/9: not in the registry \(versions of choice: 1, 2\)$"):
        promote("choice", "9")
