"""The embeddings input end to end: musicnn vectors of real audio files → a tiny study beside FMA's
features, comparing two embeddings (MSD's penultimate layer, and both networks' joined) → baselines on
each table → the registered ``genre-mlp-embeddings`` versions, which take audio and compute the vector
themselves exactly as the caches hold it.

The root has 3 genres x 6 tracks of 3.5 s synthetic audio; the study runs once per module.
"""
from __future__ import annotations

import mlflow
import numpy as np
import pytest

from core.features.embeddings import EmbeddingStore, fill_embeddings
from core.study.engine import run_study
from core.study.spec import load_spec
from tests.builders import audio_path, build_fma_root, genre_rows, write_audio
from tests.study.conftest import write_spec

SPEC = """
[dataset]
sizes = ["small"]
[input]
kinds = ["features", "embeddings"]
[embeddings]
model = ["MSD_musicnn", "MSD_musicnn+MTT_musicnn"]
layer = "penultimate"
[model]
family = "keras_mlp"
[search]
n_candidates = 1
folds = 2
[search.space]
hidden_units = [[16]]
epochs = [3]
batch_size = [16]
[evaluation]
register = true
[compute]
parallel = "none"
"""


@pytest.fixture(scope="module")
def study(module_store, tmp_path_factory):
    rows = genre_rows(6)
    root = build_fma_root(tmp_path_factory.mktemp("emb") / "fma", rows,
                          audio={r.track_id: 3.5 for r in rows}, echonest=False)
    report, store = fill_embeddings(root, "MSD_musicnn", workers=1)
    fill_embeddings(root, "MTT_musicnn", workers=1)
    spec_path = write_spec(tmp_path_factory.mktemp("spec"), "embeddings_test", SPEC)
    results = run_study(load_spec(spec_path), data=str(root))
    return {"root": root, "store": store, "report": report, "results": results, "rows": rows,
            "runs": mlflow.search_runs(search_all_experiments=True)}


def test_the_embeddings_search_runs_beside_the_features_one(study):
    assert study["report"].failures.empty and study["report"].computed == 18
    by_input = {(r["input"], r.get("variant")): r for r in study["results"] if r["model"] == "keras_mlp"}
    assert set(by_input) == {("features", None), ("embeddings", "MSD_musicnn penultimate"),
                             ("embeddings", "MSD_musicnn+MTT_musicnn penultimate")}
    for row in by_input.values():
        assert 0 <= row["cv_mean"] <= 1 and len(row["cv_folds"]) == 2
        assert row["test_ci_low"] <= row["test_accuracy"] <= row["test_ci_high"] and row["n_test"] > 0
    runs = study["runs"]
    searches = runs[runs["tags.genrelab.kind"] == "search"]
    emb = searches[searches["tags.genrelab.input"] == "embeddings"].set_index("tags.genrelab.variant")
    assert emb.loc["MSD_musicnn penultimate", "params.n_features"] == "400"
    assert emb.loc["MSD_musicnn+MTT_musicnn penultimate", "params.n_features"] == "800"
    assert emb.loc["MSD_musicnn+MTT_musicnn penultimate", "params.embeddings.model"] == "MSD_musicnn+MTT_musicnn"
    baselines = runs[runs["tags.genrelab.kind"] == "baseline"]
    assert len(baselines) == 9  # logistic regression, SVM, kNN on the features and on each embedding
    assert set(baselines["tags.genrelab.variant"].dropna()) == set(emb.index)


def test_the_registered_model_takes_audio_and_computes_the_cached_vector(study):
    from core.serving import predictor

    version = mlflow.tracking.MlflowClient().get_model_version("genre-mlp-embeddings", "1")
    assert version.tags["input_kind"] == "embeddings" and version.tags["window"] == "full"
    assert version.tags["embedding_model"] == "MSD_musicnn" and version.tags["embedding_layer"] == "penultimate"
    test_track = next(r.track_id for r in study["rows"] if r.split == "test" and r.subset == "small")
    path = audio_path(study["root"], test_track)
    answer = predictor.predict_file(path, "genre-mlp-embeddings/1")
    assert "error" not in answer, answer
    assert list(answer["probabilities"]) == ["Hip-Hop", "Pop", "Rock"] and answer["segments"] == []
    model = predictor.load(predictor.resolve("genre-mlp-embeddings/1")).pyfunc.unwrap_python_model()
    cached = EmbeddingStore.for_root(study["root"], "MSD_musicnn").load(test_track)
    expected = model.classifier.predict_proba(cached[None])[0]
    np.testing.assert_allclose(list(answer["probabilities"].values()), expected / expected.sum(), atol=1e-5)


def test_the_joined_model_carries_both_networks_and_answers_with_both_caches(study):
    from core.serving import predictor

    version = mlflow.tracking.MlflowClient().get_model_version("genre-mlp-embeddings", "2")
    assert version.tags["embedding_model"] == "MSD_musicnn+MTT_musicnn"
    test_track = next(r.track_id for r in study["rows"] if r.split == "test" and r.subset == "small")
    answer = predictor.predict_file(audio_path(study["root"], test_track), "genre-mlp-embeddings/2")
    model = predictor.load(predictor.resolve("genre-mlp-embeddings/2")).pyfunc.unwrap_python_model()
    assert [t.model for t in model.taggers] == ["MSD_musicnn", "MTT_musicnn"]
    cached = np.concatenate([EmbeddingStore.for_root(study["root"], m).load(test_track)
                             for m in ("MSD_musicnn", "MTT_musicnn")])
    expected = model.classifier.predict_proba(cached[None])[0]
    np.testing.assert_allclose(list(answer["probabilities"].values()), expected / expected.sum(), atol=1e-5)


def test_short_clips_follow_every_audio_models_rule(study, tmp_path):
    """1 to 3 s: answered on the repeat-padded patch, as the taggers (and the CNN, padded) answer it;
    under 1 s: refused in one line, as every audio model refuses it."""
    from core.audio import load_audio
    from core.features.embeddings import SR, waveform_embedding
    from core.serving import predictor

    short = write_audio(tmp_path / "short.wav", seconds=2.0)
    answer = predictor.predict_file(short, "genre-mlp-embeddings/1")
    assert "error" not in answer, answer
    model = predictor.load(predictor.resolve("genre-mlp-embeddings/1")).pyfunc.unwrap_python_model()
    y, _ = load_audio(short, sr=SR)
    vector = waveform_embedding(y, SR, model.taggers[0], model.layer, min_seconds=1.0)
    expected = model.classifier.predict_proba(vector[None])[0]
    np.testing.assert_allclose(list(answer["probabilities"].values()), expected / expected.sum(), atol=1e-5)
    tiny = write_audio(tmp_path / "tiny.wav", seconds=0.5)
    refused = predictor.predict_file(tiny, "genre-mlp-embeddings/1")
    assert refused["error"].startswith(str(tiny)) and "\n" not in refused["error"]
    assert "too short (0.50 s of audio, at least 1 s needed)" in refused["error"]
