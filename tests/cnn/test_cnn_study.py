"""The clip-length study end to end on tiny cached mels: lineage, test isolation, resume, the logged model."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from core.errors import GenreLabError
from core.features.mels import MelCache
from core.study import clips as clips_module
from core.study.cnn_study import ClipStudy, ClipStudyConfig
from core.study.progress import ProgressFile

GENRES = ["Electronic", "Pop", "Rock"]
#: The cache's parameters: 8 mel bands, 4 frames per second, so 6 s of mels are 24 frames.
MEL_PARAMS = dict(sr=8000, n_fft=512, hop_length=2000, n_mels=8)
TINY = dict(clip_seconds=(6.0, 3.0), folds=2, filters=(4, 8), epochs=2, patience=1, batch_size=8,
            inner_validation=0.25, seed=1)


def tiny_dataset(cache_dir):
    """18 tracks (6 per genre): 12 training/validation, 6 test; 6 s of mels each in a real MelCache."""
    cache = MelCache(cache_dir, **MEL_PARAMS)
    rng = np.random.default_rng(2)
    track_ids = np.arange(101, 119)
    genre_index = np.arange(18) % 3
    for track_id, genre in zip(track_ids, genre_index):
        mel = rng.normal(size=(8, 24)).astype(np.float32)
        mel[genre * 2:genre * 2 + 2] += 2.0
        cache.save(int(track_id), mel)
    splits = np.array(["training"] * 9 + ["validation"] * 3 + ["test"] * 6)
    selection = SimpleNamespace(root="tiny", track_ids=track_ids, labels=np.array(GENRES)[genre_index],
                                splits=splits, genres=GENRES, fingerprint="f1", dataset_name="tiny",
                                synthetic=True)
    return selection, cache


def runs_by_kind(experiment):
    import mlflow

    kinds = {}
    for run in mlflow.search_runs(experiment_names=[experiment], output_format="list"):
        kinds.setdefault(run.data.tags["genrelab.kind"], []).append(run)
    return kinds


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One registered study (6 s and 3 s, 2 folds), with every fit's tracks and statistics recorded."""
    from core import tracking
    from core.models.cnn import CNNClassifier

    tmp = tmp_path_factory.mktemp("cnn-study")
    uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    selection, cache = tiny_dataset(tmp / "mels")
    fitted, stats = [], []
    original_fit, original_stats = CNNClassifier.fit, clips_module.band_statistics

    def recording_fit(self, train, validation=None, callbacks=()):
        fitted.append((set(train.row_tracks.tolist()),
                       set() if validation is None else set(validation.row_tracks.tolist())))
        return original_fit(self, train, validation, callbacks)

    def recording_stats(source, track_ids, clip_seconds):
        stats.append(set(np.asarray(track_ids).tolist()))
        return original_stats(source, track_ids, clip_seconds)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setattr(CNNClassifier, "fit", recording_fit)
        patch.setattr(clips_module, "band_statistics", recording_stats)
        tracking.configure()
        progress = ProgressFile(tmp / "progress.json", 6)
        results = ClipStudy(selection, cache, ClipStudyConfig(**TINY), experiment="cnn-study",
                            mel_params=cache.params, progress=progress, out=lambda line: None).run()
        progress.finish("finished")
    return SimpleNamespace(uri=uri, selection=selection, results=results, fitted=fitted, stats=stats,
                           progress=json.loads((tmp / "progress.json").read_text()), tmp=tmp)


def test_lineage_study_clip_length_fold_final(finished):
    import mlflow
    from core import tracking

    tracking.configure(finished.uri)
    assert [r["clip_seconds"] for r in finished.results] == [6.0, 3.0]
    kinds = runs_by_kind("cnn-study")
    assert {k: len(v) for k, v in kinds.items()} == {"study": 1, "clip_length": 2, "fold": 4, "final": 2}
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
                     "test_accuracy", "test_f1_macro", "test_f1_Electronic", "test_recall_Rock"):
            assert 0.0 <= m[name] <= 1.0, name
        assert m["test_accuracy"] == m["test_track_accuracy"]
        folds = [r for r in kinds["fold"] if r.data.tags["mlflow.parentRunId"] == child.info.run_id]
        np.testing.assert_allclose(m["cv_track_accuracy_mean"], np.mean([r.data.metrics["track_accuracy"]
                                                                         for r in folds]))
    assert {"cv_track_accuracy_mean_3s", "test_accuracy_6s"} <= set(study_run.data.metrics)
    client = mlflow.tracking.MlflowClient()
    fold = kinds["fold"][0]
    history = client.get_metric_history(fold.info.run_id, "val_loss")
    assert [p.step for p in history] == list(range(int(fold.data.metrics["epochs_trained"])))
    final = kinds["final"][0]
    matrix = mlflow.artifacts.load_dict(f"runs:/{final.info.run_id}/confusion_matrix.json")
    assert matrix["labels"] == GENRES and sum(map(sum, matrix["matrix"])) == 6  # the 6 test tracks
    assert finished.progress["fits_done"] == finished.progress["fits_total"] == 6


def test_test_split_stays_out_of_cross_validation(finished):
    selection = finished.selection
    test_ids = set(selection.track_ids[selection.splits == "test"].tolist())
    dev_ids = set(selection.track_ids[selection.splits != "test"].tolist())
    assert len(finished.fitted) == len(finished.stats) == 6  # per clip length: 2 folds + final
    for (train, stop), stat_ids in zip(finished.fitted, finished.stats):
        assert not (train | stop | stat_ids) & test_ids
        assert train | stop == stat_ids  # statistics come from the fitted tracks only
        assert not train & stop           # the early-stopping slice is held out of fitting
    finals = [finished.fitted[2], finished.fitted[5]]
    assert all(train == dev_ids and not stop for train, stop in finals)


def test_registered_model_predicts_an_audio_file(finished, tmp_path):
    import mlflow
    from core import tracking

    tracking.configure(finished.uri)
    client = mlflow.tracking.MlflowClient()
    version = client.get_model_version_by_alias("genre-cnn", "clip-3s")
    assert version.tags["family"] == "cnn" and version.tags["clip_seconds"] == "3"
    assert version.tags["dataset"] == "tiny" and 0 <= float(version.tags["test_accuracy"]) <= 1
    model = mlflow.pyfunc.load_model("models:/genre-cnn@clip-3s")
    rng = np.random.default_rng(0)
    wav = tmp_path / "song.wav"
    sf.write(wav, 0.3 * rng.standard_normal(7 * 8000).astype(np.float32), 8000)  # 7 s: two 3 s segments
    by_path = model.predict(str(wav))
    assert list(by_path.columns) == ["start", "end", *GENRES]
    assert by_path["start"].tolist() == [0.0, 3.0] and by_path["end"].tolist() == [3.0, 6.0]
    np.testing.assert_allclose(by_path[GENRES].sum(axis=1), 1.0, rtol=1e-5)
    y, _ = sf.read(wav, dtype="float32")
    by_waveform = model.predict({"waveform": y, "sample_rate": np.array([8000])})
    np.testing.assert_allclose(by_waveform[GENRES], by_path[GENRES], rtol=1e-5)
    # the 6 s model sees the same file as one segment
    assert len(mlflow.pyfunc.load_model("models:/genre-cnn@clip-6s").predict(str(wav))) == 1


def test_interrupted_study_resumes_without_refitting_finished_folds(tmp_path, mlflow_store, monkeypatch):
    from core.models.cnn import CNNClassifier

    selection, cache = tiny_dataset(tmp_path / "mels")
    config = ClipStudyConfig(**{**TINY, "clip_seconds": (3.0,), "folds": 3})
    original_fit = CNNClassifier.fit
    calls = []

    def interrupted_fit(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(CNNClassifier, "fit", interrupted_fit)
    study = dict(experiment="cnn-resume", mel_params=cache.params, register=False, out=lambda line: None)
    with pytest.raises(KeyboardInterrupt):
        ClipStudy(selection, cache, config, **study).run()
    kinds = runs_by_kind("cnn-resume")
    assert {r.info.status for r in kinds["study"]} == {"KILLED"}
    assert sorted(r.info.status for r in kinds["fold"]) == ["FINISHED", "FINISHED", "KILLED"]

    calls.clear()
    ClipStudy(selection, cache, config, **study).run()
    assert len(calls) == 2  # the third fold and the final model: the two finished folds are reused
    kinds = runs_by_kind("cnn-resume")
    new_study = next(r for r in kinds["study"] if r.info.status == "FINISHED")
    new_child = next(r for r in kinds["clip_length"] if r.data.tags["mlflow.parentRunId"] == new_study.info.run_id)
    finished_folds = [r for r in kinds["fold"] if r.info.status == "FINISHED"]
    assert len(finished_folds) == 3
    assert all(r.data.tags["mlflow.parentRunId"] == new_child.info.run_id for r in finished_folds)
    # a finished study reruns as a no-op
    calls.clear()
    assert ClipStudy(selection, cache, config, **study).run()[0]["clip_seconds"] == 3.0
    assert not calls


def test_config_validation_names_the_problem():
    with pytest.raises(GenreLabError, match="demo.toml: unknown CNN setting 'kernel'"):
        ClipStudyConfig.from_dict({"kernel": 5}, "demo.toml")
    with pytest.raises(GenreLabError, match="group_by must be one of track, artist"):
        ClipStudyConfig.from_dict({"group_by": "album"}, "demo.toml")
    assert ClipStudyConfig.from_dict({"clip_seconds": [10, 5]}).clip_seconds == (10, 5)
