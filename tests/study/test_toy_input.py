"""A new input kind is one module and one line: a toy kind (tests/study/toy_input.py) registered in
``core.inputs.KINDS`` runs a tiny study end to end: specs accept it, its cache is filled, the MLP
family cross-validates and tests on it, the baselines take it as their raw table, and the pages name it."""
from __future__ import annotations

import mlflow
import pytest

from core import inputs
from core.study.engine import run_study
from core.study.spec import load_spec
from tests.builders import build_fma_root, genre_rows
from tests.study import toy_input
from tests.study.conftest import write_spec

SPEC = """
[dataset]
sizes = ["small"]
[input]
kinds = ["loudness"]
[model]
family = "sklearn_mlp"
[search]
n_candidates = 1
folds = 2
[search.space]
hidden_units = [[8]]
[evaluation]
register = true
[compute]
parallel = "none"
"""


def test_a_toy_input_kind_runs_a_tiny_study_end_to_end(mlflow_store, tmp_path, monkeypatch):
    monkeypatch.setitem(inputs.KINDS, "loudness", toy_input.KIND)  # the one line
    rows = genre_rows(6)
    root = build_fma_root(tmp_path / "fma", rows, audio={r.track_id: 1.5 for r in rows}, features=False,
                          echonest=False)
    results = run_study(load_spec(write_spec(tmp_path, "toy_kind", SPEC)), data=str(root))

    search = next(r for r in results if r["model"] == "sklearn_mlp")
    assert search["search"] == "small loudness" and search["input"] == "loudness"
    assert 0 <= search["cv_mean"] <= 1 and len(search["cv_folds"]) == 2
    assert search["n_test"] == sum(r.split == "test" and r.subset == "small" for r in rows)
    baselines = {r["model"] for r in results if r["model"] != "sklearn_mlp" and r["search"].startswith("small loudness")}
    assert len(baselines) == 3, "the FMA paper's baselines take the kind's table as their raw input"
    cached = list((root / "cache" / "loudness").rglob("*.npy"))
    assert len(cached) == sum(r.subset == "small" for r in rows)
    runs = mlflow.search_runs(search_all_experiments=True)
    kinds = set(runs["tags.genrelab.input"].dropna())
    assert kinds == {"loudness"}
    assert "tags.genrelab.model_version" not in runs, "an audio kind without log_model registers nothing"
    assert inputs.label("loudness") == "loudness statistics"


def test_specs_refuse_a_kind_no_module_defines(tmp_path):
    from core.errors import GenreLabError

    with pytest.raises(GenreLabError, match="loudness"):
        load_spec(write_spec(tmp_path, "toy_kind", SPEC))
