"""Spec parsing, overrides and one-line validation errors (no TensorFlow needed)."""
from __future__ import annotations

import pytest

from core.__main__ import main
from core.errors import GenreLabError
from core.study.runner import MLPStudySettings
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


def write(tmp_path, text: str):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_valid_spec_defaults_and_overrides(tmp_path):
    spec = load_spec(write(tmp_path, VALID), ["search.folds=4", "dataset.root=data/x", 'input.kinds=["autoencoder"]'])
    assert spec.name == "t" and spec.family == "keras_mlp"
    assert spec.get("search.folds") == 4
    assert spec.get("dataset.root") == "data/x"  # not TOML: taken as a string
    assert spec.get("evaluation.baselines") is True
    settings = MLPStudySettings.from_spec(spec)
    assert settings.inputs == ["autoencoder"] and settings.autoencoder["bottleneck"] == 259


@pytest.mark.parametrize("edit, key", [
    ("[search]\nfolds = 2\nfoldz = 3", "search.foldz"),
    ("[search]\nfolds = 'five'", "search.folds"),
    ("[search]\nfolds = 1", "search.folds"),
    ("[model]\nfamily = 'svm'", "model.family"),
    ("[search.space]\nwidth = [1]", "search.space.width"),
    ("[search.space]\ndropout = []", "search.space.dropout"),
    ("[input]\nkinds = ['mels']", "input.kinds"),
    ("[autoencoder]\nbottleneck = 'big'", "autoencoder.bottleneck"),
    ("[compute]\nparallel = 'gpu'", "compute.parallel"),
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
        MLPStudySettings.from_spec(load_spec(path))
    message = str(err.value)
    assert str(path) in message and key in message and "\n" not in message


def test_cli_reports_bad_spec_in_one_line(tmp_path, capsys):
    path = write(tmp_path, VALID + "\n[evaluation]\nrefit = true\n")
    assert main(["run", str(path), "--dry-run"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "evaluation.refit" in err and len(err.splitlines()) == 1


def test_missing_spec_and_bad_toml(tmp_path):
    with pytest.raises(GenreLabError, match="not found"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(GenreLabError, match="not valid TOML"):
        load_spec(write(tmp_path, "[dataset\n"))


def test_candidates_are_distinct_and_seeded(tmp_path):
    spec = load_spec(write(tmp_path, VALID))
    settings = MLPStudySettings.from_spec(spec)
    first, again = settings.candidates(), settings.candidates()
    assert first == again and len(first) == 3
    assert len({repr(c) for c in first}) == 3
    settings.n_candidates = 100  # more than the 8 combinations: all of them, once
    assert len({repr(c) for c in settings.candidates()}) == 8


def test_halving_rungs(tmp_path):
    spec = load_spec(write(tmp_path, VALID), ["search.halving=true", "search.n_candidates=8"])
    settings = MLPStudySettings.from_spec(spec)
    assert settings.rung_fractions() == pytest.approx([1 / 9, 1 / 3, 1.0])
    assert settings.survivors_per_rung(8) == [8, 3, 1]
    assert settings.model_params({"epochs": 90}, 1 / 9)["epochs"] == 10


def test_plan_counts_fits_and_scales_with_data(tmp_path):
    import numpy as np

    from core.study.data import FeatureTable
    from core.study.plan import Cost, make_plan

    def table(n):
        rng = np.random.default_rng(0)
        return FeatureTable(X=rng.normal(size=(n, 10)).astype(np.float32),
                            labels=np.array(["a", "b"] * (n // 2)), splits=np.array(["training"] * (n - 4) + ["test"] * 4),
                            ids=np.arange(n), feature_names=[f"f{i}" for i in range(10)], genres=["a", "b"],
                            dataset_name="t", synthetic=True, size=str(n), source="test")

    spec = load_spec(write(tmp_path, VALID), ['input.kinds=["features", "autoencoder"]'])
    settings = MLPStudySettings.from_spec(spec)
    cost = Cost(per_unit=1e-9, per_epoch=0.01, source="test")
    plan = make_plan(settings, [table(40), table(400)], cost)
    # per size: features 3 candidates x 2 folds + final = 7; autoencoder adds 2 fold encoders + 1 final = 10
    assert [r["fits"] for r in plan.rows] == [7, 10, 7, 10]
    assert plan.fits_total == 2 * (7 + 10 + 3)  # + 3 baselines per size
    assert plan.rows[2]["seconds"] > plan.rows[0]["seconds"] > 0
    assert "fits" in plan.describe(settings)
