"""An MLP trained on musicnn embeddings, as a model that takes audio: the track's embedding, then the MLP.

A study with input ``embeddings`` trains its MLP on track vectors (``core.features.embeddings``: one layer
of a pretrained musicnn network, mean and std over the 3 s patches of a window of the track). Feeding
such a model a vector would make every user rebuild that vector exactly; instead the registered model
(``genre-mlp-embeddings``) carries the musicnn checkpoint it was trained on and computes the vector
itself, with the same function the cache was filled with (:func:`core.features.embeddings.file_embedding`,
same model, layer and window; a joined model ``MSD_musicnn+MTT_musicnn`` carries both networks), so
training and serving cannot drift apart.

:class:`EmbeddingGenreModel` is an audio model (``core.serving.pyfunc.AudioGenreModel``): a DataFrame
with an ``audio`` column in, one row per file out with ``top``, ``probabilities`` and ``segments`` (empty:
one vector per track, as the feature-row MLPs). Short clips follow every audio model's rule: a file (or
window) of 1 to 3 s is answered on its repeat-padded patch (musicnn's rule, as the taggers answer it);
under 1 s, silent or undecodable, it is refused in one line. (The embeddings batch is stricter for a
training table: it leaves out tracks under 3 s, so no padded vector is learnt from.)
"""
from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

from core.audio import MIN_SECONDS
from core.features.embeddings import file_embedding, networks, warm_up_tagger
from core.models.musicnn import SR, MusicnnTagger
from core.serving.pyfunc import AudioGenreModel, Classifier, _log, audio_signature, probabilities

_MODULES = ["sklearn", "joblib", "keras", "tensorflow", "librosa", "soundfile", "soxr"]


class EmbeddingGenreModel(AudioGenreModel):
    """musicnn embedding of the file (the training table's model, layer and window), then scaler + MLP."""

    def load_context(self, context) -> None:
        art = context.artifacts
        meta = json.loads(Path(art["meta"]).read_text(encoding="utf-8"))
        self.genres, self.family = list(meta["genres"]), meta["family"]
        self.embedding_model, self.layer, self.window = meta["embedding_model"], meta["layer"], meta["window"]
        self.sample_rate, self.segment_seconds = SR, None  # one vector per track: no segments
        # Weights from the model's own artifacts: the musicnn wheel is never looked for.
        self.taggers = [MusicnnTagger(m, weights_dir=art["weights"]) for m in networks(self.embedding_model)]
        self.classifier = Classifier.load(art, self.family)
        self.lock = threading.Lock()  # Keras models are not safe to call from several threads at once
        # Pay the first call's cost (numba compilation, graph tracing) while loading, not on the first file.

        with self.lock:
            for tagger in self.taggers:
                warm_up_tagger(tagger)

    def classify_file(self, path) -> dict:
        """``{"top", "probabilities", "segments": []}`` of a file; GenreLabError naming it for bad audio."""

        with self.lock:
            vector = file_embedding(path, self.taggers, self.layer, self.window, min_seconds=MIN_SECONDS)
            proba = self.classifier.predict_proba(vector[None])[0]
        clip = probabilities(proba, self.genres)
        return {"top": max(clip, key=clip.get), "probabilities": clip, "segments": []}


def log_embedding_model(estimator, scaler, family: str, embedding_model: str, layer: str, window: str):
    """Log an MLP fitted on ``embedding_model``'s ``layer`` vectors of ``window`` as artifact ``model``
    of the active run (no registration): the MLP, its scaler, and the musicnn checkpoint (with its
    ISC licence) copied from the installed wheel. Returns mlflow's ModelInfo."""
    from core.serving.zeroshot import copy_weights

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        meta = {"genres": [str(g) for g in estimator.classes_], "family": family, "embedding_model": embedding_model,
                "layer": layer, "window": str(window)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        artifacts = {"meta": str(tmp / "meta.json"), "weights": str(copy_weights(networks(embedding_model), tmp / "musicnn")),
                     **Classifier.save(tmp, estimator, scaler, family)}
        return _log(EmbeddingGenreModel(), artifacts, audio_signature(), _MODULES)
