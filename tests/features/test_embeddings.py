"""Pretrained musicnn embeddings: the batch command (cache key, resume, failures), the tables it feeds."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from core.errors import GenreLabError
from core.features import embeddings as emb
from core.features.embeddings import EmbeddingStore, fill_embeddings
from tests.builders import audio_path, build_fma_root, genre_rows, simple_rows, write_audio


@pytest.fixture(scope="module")
def tagger():
    from core.models.musicnn import MusicnnTagger

    return MusicnnTagger("MSD_musicnn")


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A root with two usable tracks and one of each failure, filled once (in this process)."""
    root = tmp_path_factory.mktemp("embeddings") / "root"
    build_fma_root(root, simple_rows([2, 3, 4, 5, 6, 7]),
                   audio={2: 4.0, 3: 7.0, 4: 2.0, 5: b"not audio at all " * 64, 6: b""}, features=False)
    write_audio(audio_path(root, 7), seconds=4.0, silent=True)
    report, store = fill_embeddings(root, "MSD_musicnn", workers=1)
    return root, report, store


def test_keys_names_and_widths():
    assert emb.embedding_key("MSD_musicnn", "penultimate") == "MSD_musicnn-penultimate-v1-full"
    assert emb.embedding_key("MTT_musicnn", "taggram", "center:30") == "MTT_musicnn-taggram-v1-center-30"
    assert {layer: emb.embedding_width(layer) for layer in emb.LAYERS} == {
        "taggram": 100, "penultimate": 400, "mean_pool": 1506, "max_pool": 1506}
    names = emb.embedding_names("MSD_musicnn", "taggram")
    assert names[0] == "taggram_mean_rock" and names[50] == "taggram_std_rock" and len(names) == 100
    assert emb.embedding_names("MTT_musicnn", "penultimate")[-1] == "penultimate_std_199"
    for model, layer in (("vgg", "penultimate"), ("MSD_musicnn", "pooled")):
        with pytest.raises(GenreLabError, match="unknown (model|layer)"):
            emb.embedding_key(model, layer)


def test_fill_caches_a_vector_per_track_and_records_failures_one_line_each(filled, tagger):
    root, report, store = filled
    assert store.dir == root / "cache" / "embeddings" / "MSD_musicnn-penultimate-v1-full"
    assert report.computed == 2 and report.skipped == 0 and store.track_ids() == [2, 3]
    failures = pd.read_csv(store.dir / "failures.csv")
    assert list(failures.columns) == ["track_id", "path", "reason"]
    reasons = dict(zip(failures.track_id, failures.reason))
    assert set(reasons) == {4, 5, 6, 7}
    assert "too short (2.00 s of audio, at least 3 s needed)" in reasons[4]
    assert "not a readable audio file" in reasons[5]
    assert "empty file" in reasons[6]
    assert "silent" in reasons[7]
    assert all("\n" not in r and r.startswith(str(root)) for r in reasons.values())
    params = json.loads((store.dir / "params.json").read_text())
    assert params["model"] == "MSD_musicnn" and params["layer"] == "penultimate" and params["window"] == "full"
    assert params["names"] == emb.embedding_names("MSD_musicnn", "penultimate")
    # The cached vector is the track's mean/std of the layer over its patches.
    from core.audio import load_audio
    from core.models.musicnn import patches, track_embedding

    y, sr = load_audio(audio_path(root, 3), sr=16000)
    outputs = tagger.predict(patches(y, sr))
    assert len(outputs["penultimate"]) == 2  # 7 s: two whole patches, the rest dropped
    np.testing.assert_allclose(store.load(3), track_embedding(outputs, "penultimate"), atol=1e-5)


def test_a_rerun_computes_only_what_is_missing(filled):
    root, _, store = filled
    again, _ = fill_embeddings(root, "MSD_musicnn", workers=1)
    assert again.skipped == 2 and again.computed == 0 and len(again.failures) == 4  # failures are retried
    before = store.load(2).copy()
    store.path(2).unlink()
    third, _ = fill_embeddings(root, "MSD_musicnn", workers=1)
    assert third.skipped == 1 and third.computed == 1
    np.testing.assert_allclose(store.load(2), before, atol=1e-6)


def test_the_window_is_part_of_the_key_and_too_short_windows_fail(filled):
    root, _, full = filled
    report, store = fill_embeddings(root, layer="taggram", window="start:1.5:4", workers=1)  # the default network
    assert store.dir.name == f"{emb.DEFAULT_MODEL}-taggram-v1-start-1.5-4" and store.track_ids() == [3]
    reasons = dict(zip(report.failures.track_id, report.failures.reason))
    assert "(window start:1.5:4): too short (2.5" in reasons[2]  # 4 s track: 2.5 s left after 1.5 s
    vector = store.load(3)
    assert vector.shape == (100,) and ((vector[:50] > 0) & (vector[:50] < 1)).all()  # tag probabilities
    assert full.track_ids() == [2, 3]  # the full-track cache is another folder, untouched


def test_waveform_embedding_is_pure_and_names_its_source(tagger):
    from core.audio import AudioError
    from tests.builders import tone

    y = tone(6.5, 22050, channels=2).T  # (channels, n): mixed to mono
    a = emb.waveform_embedding(y, 22050, tagger, "mean_pool")
    b = emb.waveform_embedding(y.mean(axis=0), 22050, tagger, "mean_pool")
    assert a.shape == (1506,) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(AudioError, match=r"^clip\.wav: too short \(2\.50 s"):
        emb.waveform_embedding(y[:, : int(2.5 * 22050)], 22050, tagger, source="clip.wav")
    with pytest.raises(AudioError, match="starts after the end"):
        emb.waveform_embedding(y, 22050, tagger, window="start:10:5", source="clip.wav")


def test_load_embeddings_table_reads_the_cache_in_track_order(tmp_path):
    root = build_fma_root(tmp_path / "root", simple_rows([5, 1000, 20]), features=False)
    with pytest.raises(GenreLabError, match="python -m core embeddings --data"):
        emb.load_embeddings_table(root)
    store = EmbeddingStore.for_root(root, "MTT_musicnn", "taggram")
    for tid in (1000, 5, 20):
        store.save(tid, np.full(100, tid, np.float32))
    ids, X, names = emb.load_embeddings_table(root, "MTT_musicnn", "taggram")
    assert ids.tolist() == [5, 20, 1000] and ids.dtype == np.int64
    assert X.dtype == np.float32 and X.shape == (3, 100) and X[:, 0].tolist() == [5, 20, 1000]
    assert names == emb.embedding_names("MTT_musicnn", "taggram")
    with pytest.raises(ValueError):
        store.save(7, np.zeros(99))
    np.save(store.path(20), np.zeros(3, np.float32))  # damaged by hand
    with pytest.raises(GenreLabError, match="000020.npy: embedding of shape"):
        emb.load_embeddings_table(root, "MTT_musicnn", "taggram")


def test_a_joined_model_reads_each_networks_cache_side_by_side(tmp_path):
    root = build_fma_root(tmp_path / "root", simple_rows([5, 20, 1000]), features=False)
    msd, mtt = (EmbeddingStore.for_root(root, m, "taggram") for m in ("MSD_musicnn", "MTT_musicnn"))
    for tid in (5, 20, 1000):
        msd.save(tid, np.full(100, tid, np.float32))
    for tid in (20, 1000):  # track 5 has no MTT vector: left out
        mtt.save(tid, np.full(100, -tid, np.float32))
    ids, X, names = emb.load_embeddings_table(root, "MSD_musicnn+MTT_musicnn", "taggram")
    assert ids.tolist() == [20, 1000] and X.shape == (2, 200)
    assert X[:, 0].tolist() == [20, 1000] and X[:, 100].tolist() == [-20, -1000]
    assert names[0] == "MSD_musicnn.taggram_mean_rock" and names[100].startswith("MTT_musicnn.taggram_mean_")
    assert len(set(names)) == 200  # the two taggers share tag names: prefixed, they stay distinct
    with pytest.raises(GenreLabError, match="each network has a cache of its own"):
        EmbeddingStore.for_root(root, "MSD_musicnn+MTT_musicnn", "taggram")


def test_feature_table_of_a_selection_leaves_out_tracks_without_embeddings(tmp_path):
    rows = genre_rows(10)
    root = build_fma_root(tmp_path / "root", rows, features=False)
    store = EmbeddingStore.for_root(root, "MSD_musicnn", "penultimate", "center:30")
    missing = {1003, 2007}
    for r in rows:
        if r.track_id not in missing:
            store.save(r.track_id, np.random.default_rng(r.track_id).normal(size=400).astype(np.float32))
    table = emb.load_embeddings_feature_table(root, "small", None, "MSD_musicnn", "penultimate", "center:30")
    small = {r.track_id for r in rows if r.subset == "small"}
    assert set(table.ids.tolist()) == small - missing and list(table.ids) == sorted(table.ids)
    assert table.X.shape == (len(small - missing), 400) and table.X.dtype == np.float32
    np.testing.assert_array_equal(table.X[0], store.load(int(table.ids[0])))
    assert table.feature_names[0] == "penultimate_mean_000" and table.window == "center:30"
    assert table.genres == ["Hip-Hop", "Pop", "Rock"] and table.size == "small"
    assert set(table.splits.tolist()) == {"training", "validation", "test"} and len(table.fingerprint) == 16
    assert "penultimate embeddings" in table.source and not table.synthetic
    rock = emb.load_embeddings_feature_table(root, None, ["Pop", "Rock"], model="MSD_musicnn", window="center:30")
    assert rock.genres == ["Pop", "Rock"] and rock.size == "all" and len(rock.ids) == 20 - 1
    with pytest.raises(GenreLabError, match="no MSD_musicnn penultimate embeddings"):
        emb.load_embeddings_feature_table(root, "small", model="MSD_musicnn")  # the full-track cache was never filled


def test_the_command_fills_and_resumes(tmp_path, capsys):
    from core.__main__ import main

    root = build_fma_root(tmp_path / "root", simple_rows([2, 3]), audio={2: 3.5, 3: 1.5}, features=False)
    args = ["embeddings", "--data", str(root), "--layer", "taggram", "--window", "center:30", "--workers", "1"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "1 computed, 0 already done, 1 failed" in out.out
    assert "1 tracks with a 100-value taggram vector (window center:30)" in out.out
    assert "failed: " in out.err and "too short" in out.err and "failures recorded in" in out.err
    assert main(args) == 0
    assert "0 computed, 1 already done, 1 failed" in capsys.readouterr().out


def test_several_layers_fill_in_one_pass_as_each_alone(tmp_path, capsys):
    from core.__main__ import main

    root = build_fma_root(tmp_path / "root", simple_rows([2, 3]), audio={2: 3.5, 3: 1.5}, features=False)
    args = ["embeddings", "--data", str(root), "--layer", "taggram", "penultimate", "--workers", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{emb.DEFAULT_MODEL} taggram, penultimate embeddings" in out and "1 computed, 0 already done, 1 failed" in out
    taggram, penultimate = (EmbeddingStore.for_root(root, emb.DEFAULT_MODEL, layer) for layer in ("taggram", "penultimate"))
    assert taggram.track_ids() == penultimate.track_ids() == [2]
    assert (penultimate.dir / "failures.csv").read_text() == (taggram.dir / "failures.csv").read_text()
    alone = tmp_path / "alone"
    shutil.copytree(root, alone, symlinks=True, ignore=shutil.ignore_patterns("cache"))
    _, store = fill_embeddings(alone, layer="penultimate", workers=1)
    np.testing.assert_allclose(store.load(2), penultimate.load(2), atol=1e-6)
    assert main(args) == 0
    assert "0 computed, 1 already done, 1 failed" in capsys.readouterr().out


@pytest.mark.parametrize("extra, problem", [
    (["--model", "MSD_vgg"], "unknown model 'MSD_vgg'"),
    (["--layer", "pooled"], "unknown layer 'pooled'"),
    (["--window", "middle"], "--window: expected"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, extra, problem):
    from core.__main__ import main

    root = build_fma_root(tmp_path / "root", simple_rows([2]), features=False)
    assert main(["embeddings", "--data", str(root), *extra]) == 1
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1


def test_not_a_dataset_root(tmp_path, capsys):
    from core.__main__ import main

    assert main(["embeddings", "--data", str(tmp_path)]) == 1
    assert "not a dataset root" in capsys.readouterr().err


def test_worker_processes_give_the_same_vectors(tmp_path):
    """A pool of 2 spawned workers, each building the network once (its warm-up), agrees with this process."""
    ids = list(range(2, 10))  # 8 jobs: a pool of 2
    root = build_fma_root(tmp_path / "root", simple_rows(ids), audio=dict.fromkeys(ids, 3.2), features=False)
    report, store = fill_embeddings(root, workers=2)
    assert report.computed == 8 and not len(report.failures)
    pooled = {tid: store.load(tid).copy() for tid in ids}
    for tid in ids[:3]:
        store.path(tid).unlink()
    here, _ = fill_embeddings(root, workers=1)
    assert here.computed == 3
    for tid in ids[:3]:
        np.testing.assert_allclose(store.load(tid), pooled[tid], atol=1e-4)  # thread counts differ


def test_the_commands_help_names_the_default_embedding(capsys):
    from core.__main__ import main

    with pytest.raises(SystemExit):
        main(["embeddings", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default {emb.DEFAULT_MODEL})" in text and f"(default {emb.DEFAULT_LAYER})" in text
