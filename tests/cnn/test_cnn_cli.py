"""``python -m core run experiments/demo_cnn.toml`` on a tiny demo root in FMA's real formats (MP3s)."""
import json

import pytest

from core.__main__ import main
from core.config import EXPERIMENTS_DIR

SPEC = str(EXPERIMENTS_DIR / "demo_cnn.toml")
#: 3 s demo clips → 3 s and 1 s CNN clips, a tiny network, one epoch, two folds.
TINY = ["--set", "cnn.clip_seconds=[3.0, 1.0]", "--set", "cnn.epochs=1", "--set", "cnn.filters=[4, 8]",
        "--set", "mels.n_mels=16", "--set", "search.folds=2"]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """A demo root of 3 s clips, 6 per genre; two tracks of each studied genre moved to the test split
    (so few tracks leave the artist-grouped split with too few test tracks)."""
    from core.data.demo import build_demo
    from core.data.fma import load_tracks, metadata_path, write_tracks

    root = build_demo(tmp_path_factory.mktemp("demo"), tracks_per_genre=6, clip_seconds=3.0, workers=1)
    tracks = load_tracks(root)
    for genre in ("Pop", "Rock", "Electronic"):
        ids = tracks.index[(tracks["track", "genre_top"] == genre).to_numpy()]
        tracks.loc[ids[-2:], ("set", "split")] = "test"
    write_tracks(tracks, metadata_path(root, "tracks"))
    return root


def test_demo_spec_runs_end_to_end(demo_root, mlflow_store, tmp_path, capsys):
    import mlflow

    progress = tmp_path / "progress.json"
    assert main(["run", SPEC, "--data", str(demo_root), "--progress", str(progress), *TINY]) == 0
    out = capsys.readouterr().out
    assert "(synthetic)" in out and "cv track acc" in out and "3s" in out and "1s" in out
    state = json.loads(progress.read_text())
    assert state["status"] == "finished" and state["fits_done"] == state["fits_total"] == 6
    client = mlflow.tracking.MlflowClient()
    for alias in ("clip-3s", "clip-1s"):
        version = client.get_model_version_by_alias("genre-cnn", alias)
        assert version.tags["dataset"] == "demo" and version.tags["synthetic"] == "true"
    # the spec is kept with the study run
    study = mlflow.search_runs(experiment_names=["demo_cnn"], filter_string="tags.`genrelab.kind` = 'study'",
                               output_format="list")[0]
    assert "keras_cnn" in mlflow.artifacts.load_text(f"runs:/{study.info.run_id}/spec.toml")


def test_dry_run_plans_without_fitting(demo_root, mlflow_store, capsys):
    assert main(["run", SPEC, "--data", str(demo_root), "--dry-run", *TINY]) == 0
    out = capsys.readouterr().out
    assert "2 folds grouped by artist + 1 final refit each = 6 fits" in out
    import mlflow

    assert mlflow.get_experiment_by_name("demo_cnn") is None  # nothing was run


def test_bad_cnn_setting_is_one_line_error(demo_root, mlflow_store, capsys):
    assert main(["run", SPEC, "--data", str(demo_root), "--set", "cnn.kernel=5"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "cnn.kernel" in err and "\n" not in err
