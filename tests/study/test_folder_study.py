"""A folder-per-genre collection through the README's own-music commands, and the demo study on it.

On such a root the demo's three dataset sizes select the same tracks: the study says so and searches
them once (before, the medium search copied the small one's autoencoder runs without their encoders and
failed). Also the README's "any pre-extracted feature table" command, with the demo spec as written.
"""
from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from core.__main__ import main
from core.config import PROJECT_ROOT
from tests.builders import write_audio

FAST = ["--set", "search.n_candidates=1", "--set", "search.folds=2", "--set", "autoencoder.epochs=2",
        "--set", "search.space.epochs=[2]", "--set", "compute.parallel=\"none\""]


@pytest.fixture(scope="module")
def folder_root(tmp_path_factory):
    """30 real-ish tracks (harmonic tones, 3 s) in three genre folders, imported and with features."""
    base = tmp_path_factory.mktemp("collection")
    for genre, f0 in (("rock", 110.0), ("jazz", 330.0), ("electronic", 880.0)):
        for i in range(10):
            write_audio(base / "music" / genre / f"{genre}{i:02d}.wav", seconds=3.0, seed=i, f0=f0 * (1 + 0.03 * i))
    root = base / "mine"
    assert main(["data", "import-folder", str(base / "music"), "--dest", str(root)]) == 0
    assert main(["features", "--data", str(root)]) == 0
    return root


def test_the_demo_study_on_a_folder_collection_searches_identical_sizes_once(folder_root, mlflow_store, capsys):
    spec = str(PROJECT_ROOT / "experiments" / "demo_mlp.toml")
    assert main(["run", spec, "--data", str(folder_root), *FAST]) == 0
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if "searched once" in line]
    assert said == ["medium features, large features: the same 30 tracks as small features; searched once, "
                    "as small features",
                    "medium autoencoder, large autoencoder: the same 30 tracks as small autoencoder; searched "
                    "once, as small autoencoder"]
    runs = mlflow.search_runs(experiment_names=["demo_mlp"])
    searches = runs[runs["tags.genrelab.kind"] == "search"]
    assert sorted(searches["tags.mlflow.runName"]) == ["small autoencoder", "small features"]
    assert set(runs["status"]) == {"FINISHED"}
    # real music, but not FMA's: the pages draw no original-study figure for it
    assert set(runs["tags.genrelab.fma"]) == {"false"} and set(runs["tags.genrelab.synthetic"]) == {"false"}
    encoders = runs[runs["tags.mlflow.runName"].str.contains("autoencoder fold")]
    assert len(encoders) == 2
    for run_id in encoders["run_id"]:  # every fold's autoencoder run holds its encoder
        assert mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path="encoder")


def test_the_readme_feature_table_command_runs_the_demo_spec(folder_root, mlflow_store, tmp_path, capsys):
    """``python -m core run experiments/demo_mlp.toml --features table.csv --label-column genre``."""
    from core.data.tables import load_fma_table

    table = load_fma_table(folder_root, "small", None)
    frame = pd.DataFrame(table.X, columns=table.feature_names)
    frame.insert(0, "track", table.ids)
    frame["genre"] = table.labels
    frame.to_csv(tmp_path / "table.csv", index=False)
    spec = str(PROJECT_ROOT / "experiments" / "demo_mlp.toml")
    assert main(["run", spec, "--features", str(tmp_path / "table.csv"), "--label-column", "genre", *FAST]) == 0
    out = capsys.readouterr().out
    assert "features" in out and "autoencoder" in out and "95% CI" in out
    runs = mlflow.search_runs(experiment_names=["demo_mlp"])
    assert sorted(runs[runs["tags.genrelab.kind"] == "search"]["tags.genrelab.input"]) == ["autoencoder", "features"]
