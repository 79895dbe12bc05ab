"""Spec parsing, overrides and one-line validation errors, checked once when the spec loads."""
from __future__ import annotations

import pytest

from core.__main__ import main
from core.config import EXPERIMENTS_DIR
from core.errors import GenreLabError
from core.study.search import draw_candidates, rungs
from core.study.spec import load_spec

VALID = """
experiment = "t"
[dataset]
sizes = ["small"]
[model]
family = "keras_mlp"
[search]
n_candidates = 3
folds = 2
[search.space]
hidden_units = [[16], [8, 4]]
dropout = [0.2, 0.5]
epochs = [10, 20]
"""
CNN = """
[model]
family = "keras_cnn"
[input]
kinds = ["mels"]
[cnn]
epochs = 3
"""


def write(tmp_path, text: str):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_valid_spec_defaults_and_overrides(tmp_path):
    spec = load_spec(write(tmp_path, VALID), ["search.folds=4", "dataset.root=data/x", 'input.kinds=["autoencoder"]'])
    assert spec.name == "t" and spec.family == "keras_mlp"
    assert spec.search.folds == 4 and spec.get("search.folds") == 4
    assert spec.dataset.root == "data/x"  # not TOML: taken as a string
    assert spec.evaluation.baselines is True
    assert spec.input.kinds == ["autoencoder"] and spec.autoencoder.bottleneck is None
    assert spec.resolved()["search"]["patience"] == 10


def test_each_family_owns_its_tables(tmp_path):
    spec = load_spec(write(tmp_path, CNN))
    assert spec.cnn.epochs == 3 and spec.mels.clip_seconds == [30.0, 3.0]
    with pytest.raises(GenreLabError, match=r"\[cnn\]: unknown table"):
        load_spec(write(tmp_path, VALID + "\n[cnn]\nepochs = 3\n"))


@pytest.mark.parametrize("edit, key", [
    ("[search]\nfolds = 2\nfoldz = 3", "search.foldz"),
    ("[search]\nfolds = 'five'", "search.folds"),
    ("[search]\nfolds = 1", "search.folds"),
    ("[search]\nseed = -1", "search.seed"),
    ("[model]\nfamily = 'svm'", "model.family"),
    ("[search.space]\nwidth = [1]", "search.space.width"),
    ("[search.space]\ndropout = []", "search.space.dropout"),
    ("[search.space]\nhidden_units = [['abc']]", "search.space.hidden_units"),
    ("[search.space]\ndropout = [1.5]", "search.space.dropout"),
    ("[input]\nkinds = ['mels']", "input.kinds"),
    ("[autoencoder]\nbottleneck = 'big'", "autoencoder.bottleneck"),
    ("[compute]\nparallel = 'gpu'", "compute.parallel"),
    ("[serach]\nfolds = 3", "[serach]"),
    ("[evaluation]\nknn_k = 0", "evaluation.knn_k"),
    ("[embeddings]\nlayer = ['taggram', 'taggram']", "embeddings.model, layer"),
    ("[embeddings]\nmodel = 'MSD_musicnn+MSD_musicnn'", "embeddings.unknown model"),
    ("[embeddings]\nlayer = []", "embeddings.model, layer"),
    ("[embeddings]\nlayer = 3", "embeddings.layer"),
])
def test_bad_specs_name_file_and_key(tmp_path, edit, key):
    base = VALID
    section = edit.split("\n")[0]
    if section in base:  # replace the section's keys with the edited ones
        start = base.index(section)
        end = base.find("\n[", start + 1)
        base = base[:start] + base[end + 1:] if end != -1 else base[:start]
    path = write(tmp_path, base + "\n" + edit + "\n")
    with pytest.raises(GenreLabError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(path) in message and key in message and "\n" not in message


@pytest.mark.parametrize("override, key", [
    ("nosuch.key=5", "[nosuch]"), ("search.seed=-1", "search.seed"), ("search.nosuch=1", "search.nosuch"),
    ('search.space.hidden_units=[["abc"]]', "search.space.hidden_units"), ("cnn.patience=3", "cnn.patience"),
])
def test_bad_overrides_are_one_line_errors_with_nonzero_exit(tmp_path, capsys, override, key):
    text = CNN if override.startswith("cnn") else VALID
    assert main(["run", str(write(tmp_path, text)), "--dry-run", "--set", override]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and key in err and len(err.splitlines()) == 1


def test_missing_spec_and_bad_toml(tmp_path):
    with pytest.raises(GenreLabError, match="not found"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(GenreLabError, match="not valid TOML"):
        load_spec(write(tmp_path, "[dataset\n"))


def test_candidates_are_distinct_and_seeded(tmp_path):
    space = load_spec(write(tmp_path, VALID)).search.space
    first, again = draw_candidates(space, 3, 0), draw_candidates(space, 3, 0)
    assert first == again and len({repr(c) for c in first}) == 3
    assert len({repr(c) for c in draw_candidates(space, 100, 0)}) == 8  # all 8 combinations, once
    assert draw_candidates({}, 10, 0) == [{}]  # no space: one candidate, the family's settings


def test_halving_rungs():
    assert rungs(True, 3, 1 / 9, 8) == [(pytest.approx(1 / 9), 8), (pytest.approx(1 / 3), 3), (1.0, 1)]
    assert rungs(False, 3, 1 / 9, 8) == [(1.0, 8)]


def test_a_spec_extends_another_table_by_table(tmp_path):
    (tmp_path / "base.toml").write_text('experiment = "base"\n[model]\nfamily = "keras_mlp"\n'
                                        '[search]\nfolds = 4\nhalving = true\n[search.space]\ndropout = [0.2]\n')
    (tmp_path / "child.toml").write_text('extends = "base.toml"\nexperiment = "child"\n[search]\nhalving = false\n')
    spec = load_spec(tmp_path / "child.toml")
    assert spec.name == "child" and spec.search.folds == 4 and spec.search.halving is False
    assert spec.search.space == {"dropout": [0.2]}
    (tmp_path / "base.toml").write_text('extends = "child.toml"\n')
    with pytest.raises(GenreLabError, match="extends: child.toml extends this file again"):
        load_spec(tmp_path / "child.toml")


def test_the_seed_grid_is_the_default_plan_without_its_levers():
    seed, default = load_spec("experiments/mlp_dataset_size_seed.toml"), load_spec("experiments/mlp_dataset_size.toml")
    assert (seed.search.early_stopping, seed.search.halving, seed.search.carry, seed.search.group_by) == (
        False, False, 0, "track")
    assert seed.search.space == default.search.space and seed.autoencoder == default.autoencoder


@pytest.mark.parametrize("name", sorted(p.name for p in EXPERIMENTS_DIR.glob("*.toml")))
def test_every_shipped_spec_loads(name):
    spec = load_spec(EXPERIMENTS_DIR / name)
    assert spec.family and spec.name
