"""What makes the seed's study fit in hours: folds grouped by artist, the best candidates of a smaller
size carried into a larger one, and a plan that costs early-stopped fits at the epochs they stop after."""
from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest

from core.data.tables import load_csv_table, load_fma_table
from core.errors import GenreLabError
from core.study.engine import run_study
from core.study.families.mlp import table_folds
from core.study.search import rungs
from core.study.spec import load_spec
from tests.study.conftest import write_spec

SPEC = """
[dataset]
sizes = ["small", "medium"]
[input]
kinds = ["features"]
[model]
family = "keras_mlp"
[search]
n_candidates = 3
folds = 2
group_by = "artist"
halving = true
halving_min_fraction = 0.3333333
carry = 2
[search.space]
hidden_units = [[16], [8], [4]]
epochs = [3]
batch_size = [16]
[evaluation]
baselines = false
refit_and_test = false
register = false
[compute]
parallel = "none"
"""


def test_artist_folds_never_split_an_artist(study_root):
    table = load_fma_table(study_root, "medium")
    assert table.artists is not None and len(np.unique(table.artists)) < len(table.ids)
    for train, val in table_folds(table, 2, 0, "artist"):
        assert not set(table.artists[train]) & set(table.artists[val])
        assert not set(train) & set(table.test_rows) and not set(val) & set(table.test_rows)


def test_a_table_without_artists_refuses_artist_folds(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("id,x,genre\n" + "".join(f"{i},{i % 3},{'ab'[i % 2]}\n" for i in range(20)))
    with pytest.raises(GenreLabError, match="no artist ids to group folds by"):
        table_folds(load_csv_table(path, "genre"), 2, 0, "artist")


def test_a_rung_that_could_drop_nobody_is_left_out():
    assert rungs(True, 3, 1 / 9, 3) == [(pytest.approx(1 / 9), 3), (1.0, 1)]
    assert rungs(True, 3, 1 / 9, 10) == [(pytest.approx(1 / 9), 10), (pytest.approx(1 / 3), 4), (1.0, 2)]


def test_larger_size_searches_the_smaller_sizes_best_candidates(study_root, module_store, tmp_path):
    spec = load_spec(write_spec(tmp_path, "carry_test", SPEC))
    rows = run_study(spec, data=str(study_root), out=lambda line: None)
    assert [r["search"] for r in rows] == ["small features", "medium features"]
    runs = mlflow.search_runs(experiment_names=["carry_test"])
    searches = runs[runs["tags.genrelab.kind"] == "search"].set_index("tags.mlflow.runName")
    small, medium = searches.loc["small features"], searches.loc["medium features"]
    assert small["tags.genrelab.folds_grouped_by"] == medium["tags.genrelab.folds_grouped_by"] == "artist"
    assert medium["tags.genrelab.carried_from"] == "small features" and pd_missing(small["tags.genrelab.carried_from"])
    assert medium["params.n_candidates"] == "2"
    best_two = mlflow.artifacts.load_dict(f"runs:/{small['run_id']}/ranking.json")[:2]
    carried = runs[(runs["tags.genrelab.kind"] == "candidate") & (runs["tags.mlflow.parentRunId"] == medium["run_id"])]
    assert sorted(json.loads(h) for h in carried["params.hidden_units"].unique()) == sorted(
        c["hidden_units"] for c in best_two)
    assert all("small features's #" in name for name in carried["tags.mlflow.runName"])
    folds = runs[runs["tags.genrelab.kind"] == "fold"]
    assert len(folds) and all(d.startswith("CPU: ") for d in folds["tags.genrelab.device"])  # where each fit ran
    # carrying one: the small search is reused, and its ranking (read back from the run) gives the candidate
    run_study(load_spec(spec.path, ["search.carry=1"]), data=str(study_root), out=lambda line: None)
    runs = mlflow.search_runs(experiment_names=["carry_test"])
    small_searches = runs[(runs["tags.genrelab.kind"] == "search") & (runs["tags.mlflow.runName"] == "small features")]
    assert set(small_searches["tags.genrelab.reused_from"].dropna()) == {small["run_id"]}
    one = runs[(runs["tags.genrelab.kind"] == "search") & (runs["params.n_candidates"] == "1")]
    candidate = runs[(runs["tags.genrelab.kind"] == "candidate") & (runs["tags.mlflow.parentRunId"] == one["run_id"].iloc[0])]
    assert set(candidate["params.hidden_units"]) == {json.dumps(best_two[0]["hidden_units"])}


def pd_missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def test_plan_costs_early_stopped_fits_at_measured_epochs(study_root, tmp_path, monkeypatch):
    from core.study import engine

    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "cache"))
    short = load_spec(write_spec(tmp_path, "short_plan", SPEC), ["search.early_stopping=true"])
    lines = []
    run_study(short, data=str(study_root), dry_run=True, out=lines.append)
    assert "early stopping: fits costed at their epoch caps" in "\n".join(lines)  # too short to time
    monkeypatch.setattr(engine, "PROBE_ABOVE_SECONDS", 0)
    unstable = ["search.early_stopping=true", "search.patience=1", "search.space.epochs=[300]",
                "search.space.learning_rate=[0.5]", 'input.kinds=["features", "autoencoder"]',
                "autoencoder.epochs=300", "autoencoder.patience=1", "autoencoder.learning_rate=0.5"]
    spec = load_spec(write_spec(tmp_path, "plan_test", SPEC), unstable)
    first, second = [], []
    run_study(spec, data=str(study_root), dry_run=True, out=first.append)
    run_study(spec, data=str(study_root), dry_run=True, out=second.append)
    text = "\n".join(first)
    assert "timing early stopping on small features, fold 1: 2 fit(s)" in text  # a candidate, an autoencoder
    assert "medium features (best 2 of small features)" in text
    measured = text.split("stopped after on this data (")[1].split(");")[0]
    stops = dict(reversed(part.split(" epochs")) for part in measured.split(", "))
    assert set(stops) == {" at batch size 16", " (autoencoder)"}
    assert all(2 <= int(e) < 300 for e in stops.values())  # patience 1 ends an unstable 300-epoch fit early
    assert "at most" in text and "if no fit stopped before its epoch cap" in text
    assert not any(line.startswith("timing early stopping") for line in second)  # measured once per data
    assert second[-1] == first[-1]  # the same plan


def test_plan_says_which_devices_fit(study_root, tmp_path, monkeypatch):
    from core import devices

    monkeypatch.setattr(devices, "visible_gpus", lambda: ["Fake GPU A", "Fake GPU B"])
    spec = load_spec(write_spec(tmp_path, "gpu_plan", SPEC), ['compute.parallel="processes"',
                                                            'compute.precision="mixed_float16"'])
    lines = []
    run_study(spec, data=str(study_root), dry_run=True, out=lines.append)
    assert any(line.startswith("total: ") and line.endswith(
        "on 2 local processes, one per GPU (Fake GPU A, Fake GPU B), mixed_float16")
        for line in "\n".join(lines).splitlines())


def test_a_search_with_a_small_slice_trains_to_its_epochs(study_root, module_store, tmp_path):
    """``search.early_stopping_min_tracks``: early stopping only where its inner slice is large enough;
    the plan says which searches train to their epochs, and their fold runs record it."""
    from core.study.engine import stopping_slice

    controls = ["search.early_stopping=true", "search.halving=false", "search.carry=0",
                "search.validation_fraction=0.4"]
    spec = load_spec(write_spec(tmp_path, "min_slice", SPEC), controls)
    lines = []
    run_study(spec, data=str(study_root), dry_run=True, out=lines.append)
    dev = {label: int(line.split()[2]) for line in "\n".join(lines).splitlines()
           for label in ("small", "medium") if line.strip().startswith(f"{label} features")}
    slices = {label: stopping_slice(type("A", (), {"n_dev": n})(), spec.search) for label, n in dev.items()}
    assert slices["small"] < slices["medium"]
    spec = load_spec(spec.path, [*controls, f"search.early_stopping_min_tracks={slices['medium']}"])
    lines = []
    run_study(spec, data=str(study_root), out=lines.append)
    assert any(line.startswith("early stopping: off for small features (an inner slice of fewer than "
                               f"{slices['medium']} tracks") for line in "\n".join(lines).splitlines())
    runs = mlflow.search_runs(experiment_names=["min_slice"])
    folds = runs[runs["tags.genrelab.kind"] == "fold"]
    stopped = folds.groupby("tags.genrelab.size")["params.early_stopping"].unique()
    assert [list(v) for v in stopped.sort_index()] == [["True"], ["False"]]  # medium, small
