"""Pretrained music embeddings (musicnn) as a track-level input: compute, cache one vector per track, load.

A track's embedding is one layer of a pretrained musicnn network (``core.models.musicnn``) pooled over
the track (or of both networks, side by side: model ``MSD_musicnn+MTT_musicnn``, read from each
network's own cache): the network runs on non-overlapping 3 s patches of ``window`` of the track (16 kHz mono,
96-band log-mel; frames after the last full patch are dropped), and :func:`track_embedding` keeps the
mean and the (population) standard deviation of the layer over the patches. Widths (2 x the layer):

=============  =====  ==================================================================
layer          width  what it is
=============  =====  ==================================================================
penultimate    400    the back end's last hidden layer (200), the usual embedding
taggram        100    the 50 tag probabilities
mean_pool      1506   front-end + mid-end features (753) averaged over each patch's frames
max_pool       1506   the same, max over frames
=============  =====  ==================================================================

Rules for a dataset's batch: a track (or its window) with less than :data:`MIN_SECONDS` of audio, a
silent, empty or undecodable file is recorded in the failures table with a one-line reason, never
repeat-padded (the model's own repeat padding of short clips is for prediction, not for a table).

``fill_embeddings`` fills ``ROOT/cache/embeddings/<key>/`` through the batch runner (``core.features.batch``),
one ``.npy`` per track, where ``<key>`` names everything that changes the vectors, e.g.
``MSD_musicnn-penultimate-v1-full``; finished tracks are skipped on a rerun. Each worker process
builds the network once and warms it up. ``load_embeddings_table`` reads a cache back as a matrix;
``load_embeddings_feature_table`` gives the study engine a :class:`core.data.tables.FeatureTable`, as
``core.data.tables.load_fma_table`` does for FMA's 518 features.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
from functools import partial
from pathlib import Path

import numpy as np

from core.audio import AudioError, check_waveform, load_audio
from core.data import fma
from core.data.selection import SIZES, artist_ids, select
from core.data.tables import FeatureTable, _check_test_split
from core.errors import GenreLabError
from core.features.batch import ArrayStore, BatchReport, TrackFile, fill_store
from core.features.window import FULL, Window, parse_window
from core.files import write_atomic
from core.models.musicnn import (
    MODELS,
    MSD_TAGS,
    MTT_TAGS,
    OUTPUTS,
    PATCH_FRAMES,
    SR,
    MusicnnTagger,
    patches,
    track_embedding,
)

#: Bump when the computation changes (it is part of the cache key).
EMBEDDINGS_VERSION = 1
#: The layers a track vector can be made of (``core.models.musicnn.OUTPUTS``).
LAYERS = tuple(OUTPUTS)
DEFAULT_MODEL = "MTT_musicnn"  # experiments/embedding_layers.toml: README "Which embedding"
DEFAULT_LAYER = "penultimate"
#: Joins networks whose vectors are concatenated (``MSD_musicnn+MTT_musicnn``): each is cached on its own.
JOIN = "+"
#: Shortest usable audio (of the window) in seconds: one full 3 s patch.
MIN_SECONDS = 3.0
_TAGS = {"MSD_musicnn": MSD_TAGS, "MTT_musicnn": MTT_TAGS}


def networks(model: str) -> list[str]:
    """The musicnn networks a model name stands for: ``"MSD_musicnn+MTT_musicnn"`` → both, in order."""
    return model.split(JOIN)


def check_choice(model: str, layer: str) -> None:
    """Raise a one-line GenreLabError unless ``model`` (a network, or distinct ones joined by ``+``) and
    ``layer`` are known."""
    parts = networks(model)
    if any(m not in MODELS for m in parts) or len(set(parts)) != len(parts):
        raise GenreLabError(f"embeddings: unknown model {model!r}; choose one of {', '.join(MODELS)}, or "
                            f"distinct ones joined by {JOIN} ({JOIN.join(MODELS)})")
    if layer not in LAYERS:
        raise GenreLabError(f"embeddings: unknown layer {layer!r}; choose one of {', '.join(LAYERS)}")


def as_window(window: Window | str) -> Window:
    """A :class:`Window` from a window or its text (``full``, ``center:30``...)."""
    return window if isinstance(window, Window) else parse_window(str(window))


def embedding_width(layer: str) -> int:
    """Values per track: the mean and the std of each of the layer's units."""
    return 2 * OUTPUTS[layer]


def embedding_names(model: str, layer: str) -> list[str]:
    """Column names of a track vector, as ``MusicnnTagger.embedding_names`` (no network built):
    ``penultimate_mean_000`` ... ``penultimate_std_199``; ``taggram_mean_rock`` ... for the taggram;
    joined networks' names are prefixed with the network (``MTT_musicnn.taggram_mean_rock``)."""
    check_choice(model, layer)
    if len(networks(model)) > 1:
        return [f"{m}.{name}" for m in networks(model) for name in embedding_names(m, layer)]
    keys = list(_TAGS[model]) if layer == "taggram" else [f"{i:03d}" for i in range(OUTPUTS[layer])]
    return [f"{layer}_{stat}_{key}" for stat in ("mean", "std") for key in keys]


def embedding_key(model: str, layer: str, window: Window | str = FULL) -> str:
    """The cache folder name of a (model, layer, version, window): ``MSD_musicnn-penultimate-v1-full``."""
    check_choice(model, layer)
    return f"{model}-{layer}-v{EMBEDDINGS_VERSION}-{as_window(window).slug}"


# ------------------------------------------------------------------------------ pure functions


def waveform_embedding(y: np.ndarray, sr: int, tagger, layer: str = DEFAULT_LAYER, window: Window | str = FULL,
                       *, source: str | os.PathLike = "waveform", min_seconds: float = MIN_SECONDS) -> np.ndarray:
    """The track vector of a waveform: ``track_embedding`` of ``tagger``'s ``layer`` over ``window``'s patches.

    ``y`` is mono or (channels, n) at ``sr`` Hz; ``tagger`` a ``core.models.musicnn.MusicnnTagger``.
    Returns float32 of shape (``embedding_width(layer)``,). Raises ``core.audio.AudioError`` (one line
    naming ``source``) when the window holds less than ``min_seconds`` of audio, or is silent or empty.
    """
    return track_embedding(waveform_outputs(y, sr, tagger, window, source=source, min_seconds=min_seconds), layer)


def waveform_outputs(y: np.ndarray, sr: int, tagger, window: Window | str = FULL, *,
                     source: str | os.PathLike = "waveform", min_seconds: float = MIN_SECONDS) -> dict[str, np.ndarray]:
    """Every layer of ``tagger`` on ``window``'s patches of a waveform (``MusicnnTagger.predict``: layer →
    (patches, units)), from which :func:`core.models.musicnn.track_embedding` pools any layer's vector.
    Arguments and errors as :func:`waveform_embedding`'s."""
    window = as_window(window)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0, dtype=np.float32)
    if not window.is_full:
        clip = window.apply(y, sr)
        if clip.size == 0:
            raise AudioError(f"{source}: window {window} starts after the end of the audio ({len(y) / sr:.1f} s)")
        source, y = f"{source} (window {window})", clip
    check_waveform(y, sr, source, min_seconds)
    return tagger.predict(patches(y, sr, source=source, min_seconds=min_seconds))


def file_embedding(path: str | os.PathLike, taggers, layer: str = DEFAULT_LAYER, window: Window | str = FULL,
                   *, min_seconds: float = MIN_SECONDS) -> np.ndarray:
    """Decode ``path`` (mono, 16 kHz) and return :func:`waveform_embedding` of it.

    ``taggers`` is one tagger, or a list whose vectors are concatenated (a joined model,
    ``MSD_musicnn+MTT_musicnn``: shape (``len(taggers) * embedding_width(layer)``,); the file is decoded
    once). Raises ``core.audio.AudioError`` (one line naming the file) for a missing, unreadable, corrupt,
    empty, silent or too short file (less than ``min_seconds`` in the file or its window).
    """

    y, sr = load_audio(path, sr=SR, min_seconds=min_seconds)
    taggers = taggers if isinstance(taggers, (list, tuple)) else [taggers]
    return np.concatenate([waveform_embedding(y, sr, tagger, layer, window, source=path, min_seconds=min_seconds)
                           for tagger in taggers])


# ------------------------------------------------------------------------------------- cache


class EmbeddingStore(ArrayStore):
    """Track vectors of one (model, layer, version, window): one ``.npy`` per track under ``<dir>/<key>/``.

    The parameters are written beside the arrays in ``params.json`` (with the column names);
    integer track ids are stored as ``NNN/NNNNNN.npy`` (FMA's layout), atomically.
    """

    def __init__(self, root_cache_dir: str | os.PathLike, model: str = DEFAULT_MODEL, layer: str = DEFAULT_LAYER,
                 window: Window | str = FULL):
        if len(networks(model)) > 1:
            raise GenreLabError(f"embeddings: {model}: each network has a cache of its own")
        self.model, self.layer, self.window = model, layer, as_window(window)
        self.key = embedding_key(model, layer, self.window)
        self.width = embedding_width(layer)
        self.params = {
            "model": model, "layer": layer, "window": str(self.window), "version": EMBEDDINGS_VERSION,
            "pooling": "mean then population std over patches", "width": self.width,
            "sr": SR, "patch_frames": PATCH_FRAMES, "patches": "non-overlapping from the start, leftover dropped",
            "min_seconds": MIN_SECONDS, "dtype": "float32",
        }
        super().__init__(Path(root_cache_dir) / self.key)

    @classmethod
    def for_root(cls, root: str | os.PathLike, model: str = DEFAULT_MODEL, layer: str = DEFAULT_LAYER,
                 window: Window | str = FULL) -> "EmbeddingStore":
        """The store of a dataset root: ``ROOT/cache/embeddings/<key>/``."""
        return cls(Path(root) / fma.CACHE_DIR / "embeddings", model, layer, window)

    @property
    def names(self) -> list[str]:
        return embedding_names(self.model, self.layer)

    def save(self, track_id, vector: np.ndarray) -> Path:
        """Store one track's vector atomically; writes params.json on first use."""
        vector = np.asarray(vector, dtype=np.float32)
        if vector.shape != (self.width,):
            raise ValueError(f"expected a vector of {self.width} values, got shape {vector.shape}")
        params_file = self.dir / "params.json"
        if not params_file.is_file():
            write_atomic(params_file, json.dumps({**self.params, "names": self.names}, indent=1))
        return super().save(track_id, vector)

    def track_ids(self) -> list[int]:
        """Ids of the tracks with a vector, ascending."""
        if not self.dir.is_dir():
            return []
        ids = [int(p.stem) for p in self.dir.glob("[0-9][0-9][0-9]/*.npy") if p.stem.isdigit()]
        return sorted(ids)


@functools.lru_cache(maxsize=2)
def _tagger(model: str):
    """The process's tagger of ``model`` (the network is built once per process)."""

    return MusicnnTagger(model)


def warm_up(model: str = DEFAULT_MODEL) -> None:
    """Build ``model``'s network and run it once (numba compilation, graph tracing): a batch's warm-up.

    In a process the batch runner asked for one thread per library (``OMP_NUM_THREADS=1``: a worker of a
    pool, where the parallelism is across tracks), TensorFlow is held to one thread too.
    """
    if os.environ.get("OMP_NUM_THREADS") == "1":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already started in this process: keep its threads
            pass
    warm_up_tagger(_tagger(model))


def warm_up_tagger(tagger) -> None:
    """Trace ``tagger``'s network and embed 3 s of a tone, so TensorFlow traces and numba compiles here,
    not on a real file."""
    tagger.warm_up()
    t = np.arange(int(MIN_SECONDS * SR), dtype=np.float32) / SR
    waveform_embedding(0.1 * np.sin(2 * np.pi * 440 * t), SR, tagger, DEFAULT_LAYER, source="warm-up")


def fill_embeddings(root: str | os.PathLike, model: str = DEFAULT_MODEL, layer: str = DEFAULT_LAYER,
                    workers: int | None = None, scheduler: str | None = None,
                    window: Window | str = FULL) -> tuple[BatchReport, EmbeddingStore]:
    """Fill ``ROOT/cache/embeddings/<key>/`` with the vector of every track whose audio exists.

    ``model`` is ``MSD_musicnn`` or ``MTT_musicnn``, ``layer`` one of :data:`LAYERS`, ``window`` the
    part of each track (``full``, ``center:30``...); ``workers`` and ``scheduler`` are ``run_batch``'.
    Tracks already cached are skipped. Failures (short, silent, corrupt files: one line each) go to
    ``<store dir>/failures.csv``, rewritten by every run. Returns the report and the store.
    """
    report, stores = fill_embedding_layers(root, model, [layer], workers, scheduler, window)
    return report, stores[0]


def fill_embedding_layers(root: str | os.PathLike, model: str, layers: list[str], workers: int | None = None,
                          scheduler: str | None = None,
                          window: Window | str = FULL) -> tuple[BatchReport, list[EmbeddingStore]]:
    """:func:`fill_embeddings` for several layers of one network in one pass: the network runs once per
    track (the cost of filling one layer) and each layer's cache gets its vector. A track counts as done
    when every cache has it; the failures are written to every cache's ``failures.csv``."""
    window = as_window(window)
    stores = [EmbeddingStore.for_root(root, model, layer, window) for layer in layers]
    report = fill_store(stores[0], fma.tracks_audio(root),
                        partial(_compute, store_dir=str(stores[0].dir.parent), model=model, layers=tuple(layers),
                                window=str(window)),
                        done=lambda tid: all(store.has(tid) for store in stores), workers=workers,
                        scheduler=scheduler, warmup=partial(warm_up, model),
                        desc=f"embeddings ({model} {', '.join(layers)})")
    failures = stores[0].dir / "failures.csv"
    for store in stores[1:]:
        store.dir.mkdir(parents=True, exist_ok=True)
        if failures.is_file():
            shutil.copyfile(failures, store.dir / "failures.csv")
        else:
            (store.dir / "failures.csv").unlink(missing_ok=True)
    return report, stores


def _compute(job: TrackFile, store_dir: str, model: str, layers: tuple[str, ...], window: str) -> None:
    """One track of ``fill_embedding_layers`` (module level, so worker processes can unpickle it)."""
    stores = [EmbeddingStore(store_dir, model, layer, window) for layer in layers]
    y, sr = load_audio(job.path, sr=SR, min_seconds=MIN_SECONDS)
    outputs = waveform_outputs(y, sr, _tagger(model), stores[0].window, source=job.path)
    for store in stores:
        store.save(job.key, track_embedding(outputs, store.layer))


# ------------------------------------------------------------------------------------- tables


def load_embeddings_table(root: str | os.PathLike, model: str = DEFAULT_MODEL, layer: str = DEFAULT_LAYER,
                          window: Window | str = FULL) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every cached vector of a dataset root: ``(track_ids int64 (n,), X float32 (n, d), column names (d))``.

    Rows in ascending track id. Raises a one-line GenreLabError (with the command that fills it) when
    the cache is missing or empty, and naming the file when an array has the wrong shape. A joined model
    gives the tracks every network's cache has, their vectors side by side.
    """
    if len(networks(model)) > 1:
        tables = [load_embeddings_table(root, m, layer, window) for m in networks(model)]
        common = functools.reduce(np.intersect1d, [ids for ids, _, _ in tables])
        X = np.hstack([X[np.searchsorted(ids, common)] for ids, X, _ in tables])
        return common, X, embedding_names(model, layer)
    store = EmbeddingStore.for_root(root, model, layer, window)
    ids = store.track_ids()
    if not ids:
        raise GenreLabError(f"{store.dir}: no {model} {layer} embeddings; compute them with: python -m core "
                            f"embeddings --data {root} --model {model} --layer {layer} --window {store.window}")
    X = np.empty((len(ids), store.width), dtype=np.float32)
    for row, tid in enumerate(ids):
        try:
            vector = store.load(tid)
        except (OSError, ValueError) as err:
            raise GenreLabError(f"{store.path(tid)}: unreadable embedding ({err}); delete it and rerun "
                                "the embeddings command") from None
        if vector.shape != (store.width,):
            raise GenreLabError(f"{store.path(tid)}: embedding of shape {vector.shape}, expected "
                                f"({store.width},); delete it and rerun the embeddings command")
        X[row] = vector
    return np.asarray(ids, dtype=np.int64), X, store.names


def load_embeddings_feature_table(root: str | os.PathLike, size: str | None = None, genres: list[str] | None = None,
                                  model: str = DEFAULT_MODEL, layer: str = DEFAULT_LAYER,
                                  window: Window | str = FULL):
    """Embeddings of the tracks ``select`` picks, as a :class:`core.data.tables.FeatureTable`.

    ``size``: '8k'/'25k'/'45k', a subset name, or None (all); ``genres``: genre_top titles to keep.
    Selected tracks without an embedding (audio missing or failed) are left out, as
    ``load_fma_table`` leaves out tracks missing from features.csv.
    """

    root = Path(root)
    window = as_window(window)
    if size in SIZES:
        selection = select(root, size=size, genres=genres)
    else:
        selection = select(root, subset=size, genres=genres)
    ids, X, names = load_embeddings_table(root, model, layer, window)
    present = np.isin(selection.track_ids, ids)
    if not present.any():
        raise GenreLabError(f"{root / fma.CACHE_DIR / 'embeddings'}: none of the {len(present)} selected tracks "
                            f"has a {model} {layer} embedding (run: python -m core embeddings --data {root} "
                            f"--model {model} --layer {layer} --window {window})")
    chosen = selection.track_ids[present]
    rows = np.searchsorted(ids, chosen)
    labels = np.asarray(selection.labels, dtype=str)[present]
    splits = np.asarray(selection.splits, dtype=str)[present]
    _check_test_split(labels, splits, f"{root} (size {size or 'all'})")
    return FeatureTable(X=X[rows], labels=labels, splits=splits, ids=chosen, feature_names=names,
                        genres=sorted(set(labels.tolist())), dataset_name=selection.dataset_name,
                        synthetic=bool(selection.synthetic), from_fma=selection.from_fma, size=str(size or "all"),
                        source=f"{root} {model} {layer} embeddings", window=str(window),
                        artists=artist_ids(selection)[present])
