"""features.csv of a dataset root and of files: resume, failures, the window and its sidecar, --force."""
import json

import numpy as np
import pandas as pd
import pytest

from core.__main__ import main
from core.audio import load_audio
from core.data import fma
from core.errors import GenreLabError
from core.features import table
from core.features.fma_features import FEATURE_COLUMNS, extract_fma_features
from core.features.table import features_store, files_features, fill_features
from core.features.window import FULL, parse_window
from tests.builders import build_fma_root, simple_rows, write_audio


def audio_root(path, audio: dict, track_ids=None):
    """A root whose tracks.csv lists ``track_ids`` (default: those of ``audio``), without features.csv."""
    return build_fma_root(path, simple_rows(track_ids or audio), audio=audio, features=False)


def test_fill_features_resumes_and_records_failures(tmp_path, monkeypatch):
    root = audio_root(tmp_path / "root", {2: 1.5, 5: 1.5, 7: b"", 9: b"not audio at all" * 20}, [2, 5, 7, 9, 11])
    first = fill_features(root, workers=1)
    assert first.computed == 2 and first.skipped == 0
    failures = pd.read_csv(features_store(root).dir / "failures.csv")
    reasons = dict(zip(failures.track_id, failures.reason))
    assert set(reasons) == {7, 9} and "empty file" in reasons[7] and "not a readable audio" in reasons[9]
    features = fma.load_features(root)
    assert features.index.tolist() == [2, 5] and list(features.columns) == list(FEATURE_COLUMNS)
    assert np.isfinite(features.to_numpy()).all()

    # A rerun computes only what is missing: the two failures (still failing), nothing else.
    calls = []
    real = table._store_vector
    monkeypatch.setattr(table, "_store_vector", lambda job, **kw: calls.append(job.key) or real(job, **kw))
    second = fill_features(root, workers=1)
    assert sorted(calls) == [7, 9] and second.skipped == 2
    np.testing.assert_array_equal(fma.load_features(root).to_numpy(), features.to_numpy())


def test_interrupted_batch_keeps_finished_tracks(tmp_path, monkeypatch):
    root = audio_root(tmp_path / "root", {2: 1.2, 3: 1.2, 4: 1.2})
    real = table._store_vector

    def stop_on_third(job, **kwargs):
        if job.key == 4:
            raise KeyboardInterrupt
        real(job, **kwargs)

    monkeypatch.setattr(table, "_store_vector", stop_on_third)
    with pytest.raises(KeyboardInterrupt):
        fill_features(root, workers=1)
    store = features_store(root)
    assert store.has(2) and store.has(3) and not store.has(4)
    monkeypatch.setattr(table, "_store_vector", real)
    assert fill_features(root, workers=1).computed == 1
    assert fma.load_features(root).index.tolist() == [2, 3, 4]


def test_the_window_is_applied_and_recorded_beside_the_table(tmp_path):
    root = audio_root(tmp_path / "root", {2: 3.0, 3: 1.5})
    assert fma.features_window(root) == "full"  # no table yet: nothing computed here, FMA's convention
    window = parse_window("start:0.5:1.2")
    fill_features(root, window, workers=1)
    info = json.loads(fma.features_info_path(fma.metadata_path(root, "features")).read_text())
    assert info == {"window": "start:0.5:1.2", "source": "computed by genrelab", "features_version": "fma518-1"}
    assert fma.features_window(root) == "start:0.5:1.2" and fma.features_info(root) == info
    assert features_store(root, window).dir.name == "fma518-1-start-0.5-1.2"

    y, sr = load_audio(fma.audio_path(root, 2))
    expected = extract_fma_features(y[int(0.5 * sr):int(0.5 * sr) + int(1.2 * sr)], sr)
    np.testing.assert_allclose(fma.load_features(root).loc[2].to_numpy(), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(fma.load_features(root).loc[2].to_numpy(), extract_fma_features(y, sr))


def test_a_rerun_on_another_window_is_refused_unless_forced(tmp_path):
    root = audio_root(tmp_path / "root", {2: 2.5, 3: 2.5})
    fill_features(root, FULL, workers=1)
    full = fma.load_features(root)
    with pytest.raises(GenreLabError) as err:
        fill_features(root, parse_window("center:1.5"), workers=1)
    assert str(err.value) == (f"{fma.metadata_path(root, 'features')}: computed on window full, not center:1.5; "
                              f"rerun with --window full to fill it in, or add --force to replace it with a table "
                              f"on center:1.5")
    pd.testing.assert_frame_equal(fma.load_features(root), full)  # untouched

    fill_features(root, parse_window("center:1.5"), workers=1, force=True)
    centre = fma.load_features(root)
    assert fma.features_window(root) == "center:1.5" and centre.index.tolist() == [2, 3]
    assert not np.allclose(centre.to_numpy(), full.to_numpy())


def test_a_published_table_reads_as_full_and_keeps_its_rows(tmp_path):
    """FMA's own features.csv has no sidecar: window full; filling in a track keeps the published rows."""
    root = build_fma_root(tmp_path / "root", simple_rows([2, 3]), audio={3: 1.5},
                          features=pd.DataFrame(np.ones((1, 518), np.float32), index=pd.Index([2], name="track_id"),
                                                columns=FEATURE_COLUMNS))
    assert fma.features_info(root) == {"window": "full", "source": "fma published"}
    fill_features(root, workers=1)
    assert fma.load_features(root).index.tolist() == [2, 3] and (fma.load_features(root).loc[2] == 1).all()
    assert fma.features_info(root)["source"] == "fma published + computed by genrelab"


def test_force_recomputes_a_table_with_a_missing_value(tmp_path, capsys):
    """Issue 14 #3: the reader reports a NaN cell; --force repairs the table instead of failing on it."""
    root = audio_root(tmp_path / "root", {2: 1.5, 3: 1.5})
    assert main(["features", "--data", str(root), "--workers", "1"]) == 0
    good = fma.load_features(root)
    damaged = good.copy()
    damaged.iloc[0, 5] = np.nan
    path = fma.metadata_path(root, "features")
    damaged.to_csv(path, float_format=fma.FLOAT_FORMAT)
    capsys.readouterr()
    assert main(["features", "--data", str(root), "--workers", "1"]) == 1
    assert capsys.readouterr().err == f"error: {path}: truncated or ragged CSV, missing values for track_id 2\n"

    assert main(["features", "--data", str(root), "--workers", "1", "--force"]) == 0
    np.testing.assert_allclose(fma.load_features(root).to_numpy(), good.to_numpy(), rtol=1e-5)


def test_files_features_index_by_stem_and_take_a_window(tmp_path):
    paths = [write_audio(tmp_path / "song one.wav", 2.5), write_audio(tmp_path / "b.ogg", 1.2)]
    frame, report = files_features(paths, workers=1)
    assert frame.index.tolist() == ["song one", "b"] and frame.shape == (2, 518)
    assert frame.index.name == "file"
    clipped, report = files_features(paths, parse_window("start:1.3:1"), workers=1)
    assert clipped.index.tolist() == ["song one"]  # b.ogg ends before 1.3 s
    assert report.failures.reason.tolist() == [
        f"{paths[1]}: window start:1.3:1 starts after the end of the audio (1.2 s)"]
