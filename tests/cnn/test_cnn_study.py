"""The demo CNN spec through the engine on a tiny demo root (MP3s in FMA's layout): run tree, test
isolation, a search over candidates, the registered audio model."""
from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from core.__main__ import main
from core.config import EXPERIMENTS_DIR
from core.data.selection import artist_ids, select
from core.models import clip_batches as clips_module
from core.study.families import cnn as cnn_family

SPEC = str(EXPERIMENTS_DIR / "demo_cnn.toml")
GENRES = ["Electronic", "Pop", "Rock"]
#: 3 s demo clips → 3 s and 1 s CNN clips, a tiny network, one epoch, two folds, two candidates.
TINY = ["--set", "mels.clip_seconds=[3.0, 1.0]", "--set", "cnn.epochs=1", "--set", "cnn.filters=[4, 8]",
        "--set", "mels.n_mels=16", "--set", "search.folds=2", "--set", "search.space.dropout=[0.2, 0.4]",
        "--set", "search.n_candidates=2", "--set", "compute.parallel='none'"]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """A demo root of 3 s clips, 6 per genre; two tracks of each studied genre moved to the test split
    (so few tracks leave the artist-grouped split with too few test tracks)."""
    from core.data.fma import load_tracks, metadata_path, write_tracks
    from core.demo.build import build_demo

    root = build_demo(tmp_path_factory.mktemp("demo"), tracks_per_genre=6, clip_seconds=3.0, workers=1)
    tracks = load_tracks(root)
    for genre in GENRES:
        ids = tracks.index[(tracks["track", "genre_top"] == genre).to_numpy()]
        tracks.loc[ids[-2:], ("set", "split")] = "test"
    write_tracks(tracks, metadata_path(root, "tracks"))
    return root


@pytest.fixture(scope="module")
def finished(demo_root, module_store, tmp_path_factory):
    """The demo spec run once, with every fit's tracks and band statistics recorded."""
    from core.models.cnn import CNNClassifier

    tmp = tmp_path_factory.mktemp("cnn")
    fitted, stats, calibrated = [], [], []
    original_fit, original_stats = CNNClassifier.fit, clips_module.band_statistics
    original_calibrate = CNNClassifier.calibrate

    def recording_calibrate(self, data, labels, tracks):
        calibrated.append(set(np.asarray(tracks).tolist()))
        return original_calibrate(self, data, labels, tracks)

    def recording_fit(self, train, validation=None, callbacks=()):
        fitted.append((set(train.row_tracks.tolist()),
                       set() if validation is None else set(validation.row_tracks.tolist())))
        return original_fit(self, train, validation, callbacks)

    def recording_stats(source, track_ids, clip_seconds):
        stats.append(set(np.asarray(track_ids).tolist()))
        return original_stats(source, track_ids, clip_seconds)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CNNClassifier, "fit", recording_fit)
        patch.setattr(CNNClassifier, "calibrate", recording_calibrate)
        patch.setattr(clips_module, "band_statistics", recording_stats)
        progress = tmp / "progress.json"
        assert main(["run", SPEC, "--data", str(demo_root), "--progress", str(progress), *TINY]) == 0
    runs = {}
    for run in mlflow.search_runs(experiment_names=["demo_cnn"], output_format="list"):
        runs.setdefault(run.data.tags["genrelab.kind"], []).append(run)
    return {"runs": runs, "fitted": fitted, "stats": stats, "calibrated": calibrated,
            "progress": json.loads(progress.read_text()),
            "root": demo_root}


def test_one_tree_for_every_family_with_candidates(finished):
    runs = finished["runs"]
    # per clip length: a search with 2 candidates x 2 folds and a final refit
    assert {k: len(v) for k, v in runs.items()} == {"study": 1, "search": 2, "candidate": 4, "fold": 8, "final": 2}
    (study,) = runs["study"]
    searches = {r.info.run_id: r for r in runs["search"]}
    assert all(r.data.tags["mlflow.parentRunId"] == study.info.run_id for r in searches.values())
    assert sorted(r.data.tags["genrelab.clip_seconds"] for r in searches.values()) == ["1", "3"]
    assert {r.data.tags["genrelab.family"] for r in runs["fold"]} == {"keras_cnn"}
    assert {r.data.params["dropout"] for r in runs["candidate"]} == {"0.2", "0.4"}
    selection = select(finished["root"], genres=GENRES)
    test_artists = len(set(artist_ids(selection)[selection.splits == "test"].tolist()))
    for search in searches.values():
        m = search.data.metrics
        for name in ("cv_accuracy_mean", "cv_accuracy_std", "test_clip_accuracy", "test_track_accuracy",
                     "test_accuracy", "test_accuracy_ci_low", "test_accuracy_ci_high", "test_f1_macro",
                     "test_f1/Electronic", "test_recall/Rock"):
            assert 0.0 <= m[name] <= 1.0, name
        assert m["test_accuracy"] == m["test_track_accuracy"] and m["n_test"] == int(search.data.params["n_test"])
        assert m["n_test_artists"] == test_artists  # the interval counts the test tracks' artists
    fold = runs["fold"][0]
    assert fold.data.metrics["fold_accuracy"] == fold.data.metrics["track_accuracy"]
    history = mlflow.tracking.MlflowClient().get_metric_history(fold.info.run_id, "val_loss")
    assert [p.step for p in history] == list(range(int(fold.data.metrics["epochs_run"])))
    final = runs["final"][0]
    matrix = mlflow.artifacts.load_dict(f"runs:/{final.info.run_id}/confusion_matrix.json")
    n_test = final.data.metrics["n_test"]
    assert matrix["labels"] == GENRES and sum(map(sum, matrix["matrix"])) == n_test >= 6  # test tracks
    assert finished["progress"]["fits_done"] == finished["progress"]["fits_total"] == 10
    comparisons = mlflow.artifacts.load_dict(f"runs:/{study.info.run_id}/comparisons.json")
    assert ("3s", "1s") in {(c["a"], c["b"]) for c in comparisons}  # the same folds for both clip lengths


def test_test_split_stays_out_of_cross_validation(finished):

    selection = select(finished["root"], genres=GENRES)
    test_ids = set(selection.track_ids[selection.splits == "test"].tolist())
    dev_ids = set(selection.track_ids[selection.splits != "test"].tolist())
    assert len(finished["fitted"]) == len(finished["stats"]) == 10  # per clip length: 4 fold fits + final
    calibrated = iter(finished["calibrated"])
    finals = 0
    for (train, stop), stat_ids in zip(finished["fitted"], finished["stats"]):
        held = stop or next(calibrated)  # a final refit stops at its epochs and calibrates on its slice
        finals += not stop
        assert not (train | held | stat_ids) & test_ids
        assert train | held == stat_ids  # statistics come from the dev tracks of the fit only
        assert not train & held           # the early-stopping or calibration slice is held out of fitting
        if not stop:
            assert train | held == dev_ids
    assert finals == 2 and next(calibrated, None) is None


def test_registered_model_predicts_an_audio_file(finished, tmp_path):
    client = mlflow.tracking.MlflowClient()
    version = client.get_model_version_by_alias("genre-cnn", "clip-1s")
    assert version.tags["family"] == "keras_cnn" and version.tags["clip_seconds"] == "1"
    assert version.tags["synthetic"] == "true" and 0 <= float(version.tags["test_accuracy"]) <= 1
    calibration = json.loads(version.tags["calibration"])  # measured per test track, as the accuracy
    assert calibration["scored_on"] == "test split" and calibration["n"] == int(version.tags["n_test"])
    model = mlflow.pyfunc.load_model("models:/genre-cnn@clip-1s")
    rng = np.random.default_rng(0)
    wav = tmp_path / "song.wav"
    sf.write(wav, 0.3 * rng.standard_normal(2 * 22050).astype(np.float32), 22050)  # 2 s: two 1 s segments
    (answer,) = model.predict(pd.DataFrame({"audio": [wav.read_bytes()]})).to_dict("records")
    assert [s["start"] for s in answer["segments"]] == [0.0, 1.0] and answer["top"] in GENRES
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_bad_cnn_setting_is_one_line_error(demo_root, mlflow_store, capsys):
    assert main(["run", SPEC, "--data", str(demo_root), "--set", "cnn.kernel=5"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "cnn.kernel" in err and "\n" not in err
    assert main(["run", SPEC, "--data", str(demo_root), "--set", "search.group_by='album'"]) == 1
    assert "search.group_by" in capsys.readouterr().err


def test_fold_fits_are_plain_functions_a_worker_can_run(demo_root):
    assert cnn_family.fit_clip_fold.__module__ == "core.study.families.cnn"  # picklable by reference
