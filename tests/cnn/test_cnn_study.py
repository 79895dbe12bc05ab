"""The clip-length study end to end on tiny in-memory mels: lineage, test isolation, resume."""
from types import SimpleNamespace

import numpy as np
import pytest

from core.errors import GenreLabError
from core.study import clips as clips_module
from core.study.cnn_study import ClipStudy, ClipStudyConfig

GENRES = ["Electronic", "Pop", "Rock"]
#: Mel parameters matching the tiny arrays: 8 bands, 4 frames per second.
MEL_PARAMS = dict(sample_rate=8000, n_fft=512, hop_length=2000, n_mels=8)
TINY = dict(clip_seconds=(6.0, 3.0), folds=3, filters=(4, 8), epochs=2, patience=1, batch_size=8,
            inner_validation=0.25, seed=1)


@pytest.fixture
def study_data(array_source):
    """18 tracks: 12 training/validation, 6 test; 6 s of mels each (1 clip of 6 s, 2 of 3 s)."""
    source, _ = array_source
    rng = np.random.default_rng(2)
    track_ids = np.arange(101, 119)
    genre_index = np.arange(18) % 3
    for track_id, genre in zip(track_ids, genre_index):
        mel = rng.normal(size=(8, 24)).astype(np.float32)
        mel[genre * 2:genre * 2 + 2] += 2.0
        source.mels[int(track_id)] = mel
    splits = np.array(["training"] * 9 + ["validation"] * 3 + ["test"] * 6)
    selection = SimpleNamespace(root="tiny", track_ids=track_ids, labels=np.array(GENRES)[genre_index],
                                splits=splits, genres=GENRES, fingerprint="f1", dataset_name="tiny",
                                synthetic=True)
    return selection, source


def runs_by_kind(experiment):
    import mlflow

    runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    kinds = {}
    for run in runs:
        kinds.setdefault(run.data.tags["genrelab.kind"], []).append(run)
    return kinds


def test_lineage_study_clip_length_fold_final(study_data, mlflow_store):
    selection, source = study_data
    study = ClipStudy(selection, source, ClipStudyConfig(**TINY), experiment="cnn-lineage", register=False,
                       mel_params=MEL_PARAMS)
    results = study.run()
    assert [r["clip_seconds"] for r in results] == [6.0, 3.0]
    kinds = runs_by_kind("cnn-lineage")
    assert {k: len(v) for k, v in kinds.items()} == {"study": 1, "clip_length": 2, "fold": 6, "final": 2}
    study_run = kinds["study"][0]
    assert study_run.info.status == "FINISHED"
    children = {r.info.run_id: r for r in kinds["clip_length"]}
    assert all(r.data.tags["mlflow.parentRunId"] == study_run.info.run_id for r in children.values())
    for run in kinds["fold"] + kinds["final"]:
        assert run.data.tags["mlflow.parentRunId"] in children
    for child in children.values():
        m = child.data.metrics
        for name in ("cv_clip_accuracy_mean", "cv_clip_accuracy_std", "cv_track_accuracy_mean",
                     "cv_track_accuracy_std", "cv_accuracy_mean", "test_clip_accuracy", "test_track_accuracy",
                     "test_accuracy", "test_f1_macro", "test_f1_Electronic"):
            assert 0.0 <= m[name] <= 1.0, name
        assert m["test_accuracy"] == m["test_track_accuracy"]
    assert "cv_track_accuracy_mean_3s" in study_run.data.metrics
    assert "test_accuracy_6s" in study_run.data.metrics
    # fold runs carry one point per epoch of their curves
    import mlflow

    client = mlflow.tracking.MlflowClient()
    fold = kinds["fold"][0]
    history = client.get_metric_history(fold.info.run_id, "val_loss")
    assert [p.step for p in history] == list(range(int(fold.data.metrics["epochs_trained"])))
    # the confusion matrix is an artifact of each final run, counted over the 6 test tracks
    final = kinds["final"][0]
    matrix = mlflow.artifacts.load_dict(f"runs:/{final.info.run_id}/confusion_matrix.json")
    assert matrix["labels"] == GENRES and sum(map(sum, matrix["matrix"])) == 6
    # the fold means on the clip_length run are the means of its folds
    child = kinds["clip_length"][0]
    folds = [r for r in kinds["fold"] if r.data.tags["mlflow.parentRunId"] == child.info.run_id]
    np.testing.assert_allclose(child.data.metrics["cv_track_accuracy_mean"],
                               np.mean([r.data.metrics["track_accuracy"] for r in folds]))


def test_test_split_stays_out_of_cross_validation(study_data, mlflow_store, monkeypatch):
    selection, source = study_data
    test_ids = set(selection.track_ids[selection.splits == "test"].tolist())
    fitted, stats = [], []
    real_fit, real_stats = clips_module.MelBatches.__init__, clips_module.band_statistics
    from core.models.cnn import CNNClassifier

    original_fit = CNNClassifier.fit

    def recording_fit(self, train, validation=None, callbacks=()):
        fitted.append((set(train.row_tracks.tolist()),
                       set() if validation is None else set(validation.row_tracks.tolist())))
        return original_fit(self, train, validation, callbacks)

    def recording_stats(source_, track_ids, clip_seconds):
        stats.append(set(np.asarray(track_ids).tolist()))
        return real_stats(source_, track_ids, clip_seconds)

    monkeypatch.setattr(CNNClassifier, "fit", recording_fit)
    monkeypatch.setattr(clips_module, "band_statistics", recording_stats)
    config = ClipStudyConfig(**{**TINY, "clip_seconds": (3.0,)})
    ClipStudy(selection, source, config, experiment="cnn-isolation", register=False,
               mel_params=MEL_PARAMS).run()
    assert len(fitted) == 4 and len(stats) == 4  # 3 folds + final
    for (train, stop), stat_ids in zip(fitted, stats):
        assert not (train | stop | stat_ids) & test_ids
        assert train | stop == stat_ids  # statistics come from the fitted tracks only
        assert not train & stop           # the early-stopping slice is held out of fitting
    # the final model fits on every training+validation track
    assert fitted[-1][0] == set(selection.track_ids[selection.splits != "test"].tolist())


def test_interrupted_study_resumes_without_refitting_finished_folds(study_data, mlflow_store, monkeypatch):
    from core.models.cnn import CNNClassifier

    selection, source = study_data
    config = ClipStudyConfig(**{**TINY, "clip_seconds": (3.0,)})
    original_fit = CNNClassifier.fit
    calls = []

    def interrupted_fit(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(CNNClassifier, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        ClipStudy(selection, source, config, experiment="cnn-resume", register=False,
                   mel_params=MEL_PARAMS).run()
    kinds = runs_by_kind("cnn-resume")
    assert {r.info.status for r in kinds["study"]} == {"KILLED"}
    assert sorted(r.info.status for r in kinds["fold"]) == ["FINISHED", "FINISHED", "KILLED"]

    calls.clear()
    progress = []
    study = ClipStudy(selection, source, config, experiment="cnn-resume", register=False, mel_params=MEL_PARAMS,
                      progress=lambda done, total, current: progress.append((done, total, current)))
    study.run()
    assert len(calls) == 2  # the third fold and the final model; two finished folds reused
    assert progress[-1][:2] == (4, 4)
    kinds = runs_by_kind("cnn-resume")
    new_study = next(r for r in kinds["study"] if r.info.status == "FINISHED")
    new_child = next(r for r in kinds["clip_length"] if r.data.tags["mlflow.parentRunId"] == new_study.info.run_id)
    finished_folds = [r for r in kinds["fold"] if r.info.status == "FINISHED"]
    assert len(finished_folds) == 3
    assert all(r.data.tags["mlflow.parentRunId"] == new_child.info.run_id for r in finished_folds)


def test_config_validation_names_the_problem():
    with pytest.raises(GenreLabError, match="demo.toml: unknown CNN setting 'kernel'"):
        ClipStudyConfig.from_dict({"kernel": 5}, "demo.toml")
    with pytest.raises(GenreLabError, match="group_by must be one of track, artist"):
        ClipStudyConfig.from_dict({"group_by": "album"}, "demo.toml")
    assert ClipStudyConfig.from_dict({"clip_seconds": [10, 5]}).clip_seconds == (10, 5)
