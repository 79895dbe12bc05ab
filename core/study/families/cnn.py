"""The CNN on log-mel clips (``keras_cnn``): the clip-length study's family. Input: ``mels``.

One search per clip length (``[mels] clip_seconds``). Folds are made over tracks (or artists) with
StratifiedGroupKFold, the same for every clip length, so the clips of one song never sit on both
sides. A fold trains on the clips of its training tracks (standardized with those tracks' band
statistics; early stopping on an inner, grouped slice of them) and scores its validation tracks at
clip level and at track level (clips vote by mean probability); track accuracy is the fold's score.
The final model is refit on all training+validation tracks for the median best epoch count of the
best candidate's folds, scored once on test, and registered as ``genre-cnn`` (alias ``clip-<S>s``).
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.data.selection import artist_ids, select
from core.devices import this_device
from core.errors import GenreLabError, require
from core.features.mels import MelCache, fill_mels, frames_per_clip
from core.models.cnn import CNNClassifier, CNNParams, build_cnn
from core.study import cost as costing
from core.study import runtree
from core.study.contract import SEARCH_CONTROLS, Arm, Family, FinalFit
from core.study.cost import conv_macs
from core.study.folds import grouped_folds
from core.study.lineage import content_key, indices_fingerprint

if TYPE_CHECKING:  # annotations only: the step imports MLflow, which worker processes need not load
    from core.study.steps import RunLog, Steps

REGISTERED = "genre-cnn"
ASSUMED_CLIP_SECONDS = 30.0  # FMA's clips, for dry-run estimates made before the mel cache exists


@dataclass
class MelSection:
    """The ``[mels]`` table: log-mel parameters (the cache's) and the clip lengths compared."""

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    clip_seconds: list[float] = dataclasses.field(default_factory=lambda: [30.0, 3.0])

    def __post_init__(self):
        require(min(self.sr, self.n_fft, self.hop_length, self.n_mels) >= 1, "sr, n_fft, hop_length, n_mels: must be >= 1")
        require(bool(self.clip_seconds) and min(self.clip_seconds) > 0, f"clip_seconds: positive lengths, got {self.clip_seconds}")

    def cache_params(self) -> dict:
        return {"sr": self.sr, "n_fft": self.n_fft, "hop_length": self.hop_length, "n_mels": self.n_mels}


def clip_label(seconds: float) -> str:
    """``30.0`` → ``"30s"``, ``2.5`` → ``"2_5s"``: usable in metric names and model aliases."""
    return f"{float(seconds):g}s".replace(".", "_")


@dataclass
class Tracks:
    """Tracks as parallel arrays (positions are shared by all of them)."""

    ids: np.ndarray      # int64 track ids
    labels: np.ndarray   # int class index into genres
    groups: np.ndarray   # track id or artist id: what must not straddle a fold
    artists: np.ndarray | None = None   # artist ids where known: the test interval counts artists

    def take(self, positions: np.ndarray) -> Tracks:
        return Tracks(self.ids[positions], self.labels[positions], self.groups[positions],
                      None if self.artists is None else self.artists[positions])


@dataclass
class ClipInput:
    """One search's data: where the mel cache is, the tracks, the clip length."""

    cache_dir: str | None       # MelCache's root folder (None in a dry run before the cache exists)
    mel_params: dict
    dev: Tracks
    test: Tracks
    clip_seconds: float
    genres: list[str]

    def source(self):
        return MelCache(self.cache_dir, **self.mel_params)


# ------------------------------------------------------------------ folds, and the fits workers run
def inner_split(tracks: Tracks, fraction: float, seed: int) -> tuple[Tracks, Tracks]:
    """(fit, early-stopping) tracks: a grouped stratified slice of about ``fraction`` of ``tracks``."""
        # as many splits as 1/fraction asks, but no more than the rarest genre has groups
    rarest = min(len(np.unique(tracks.groups[tracks.labels == c])) for c in np.unique(tracks.labels))
    n_splits = max(2, min(round(1 / fraction), rarest))
    fit, stop = grouped_folds(tracks.labels, tracks.groups, n_splits=n_splits, seed=seed)[0]
    return tracks.take(fit), tracks.take(stop)


def batches(source, tracks: Tracks, clip_seconds: float, mean, std, n_classes: int, params: dict, training: bool):
    """Streamed batches of the clips of ``tracks`` (rows in track-id order)."""
    from core.models.clip_batches import MelBatches, expand_clips  # Keras: heavy, needed only to fit

    order = np.argsort(tracks.ids, kind="stable")
    ids, labels = tracks.ids[order], tracks.labels[order]
    counts = np.array([len(source.clips(int(t), clip_seconds)) for t in ids], dtype=np.int64)
    if not counts.sum():
        raise GenreLabError(f"no track is long enough for {clip_seconds:g} s clips")
    row_tracks, row_clips = expand_clips(ids, counts)
    return MelBatches(source, row_tracks, row_clips, np.repeat(labels, counts), clip_seconds=clip_seconds,
                      mean=mean, std=std, n_classes=n_classes, batch_size=params["batch_size"], shuffle=training,
                      seed=params["seed"], time_shift=params["time_shift"] if training else 0.0,
                      mix_within_genre=params["mix_within_genre"] if training else 0.0)


def fit_and_score(data: ClipInput, params: dict, train: Tracks, scored: Tracks, early_stopping: bool,
                  calibrate: bool = False):
    """Fit on ``train``'s clips, score ``scored``'s: (model, scores, band mean, band std).

    ``early_stopping`` or ``calibrate`` keep a slice of ``train`` out of the fit: early stopping watches
    it, and ``calibrate`` fits the model's temperature on it (its tracks' mean clip probabilities).
    """
    from core.models.clip_batches import band_statistics, track_vote  # Keras: heavy, needed only to fit

    source, seconds, n = data.source(), data.clip_seconds, len(data.genres)
    mean, std = band_statistics(source, train.ids, seconds)
    validation = None
    if early_stopping or calibrate:
        train, held = inner_split(train, params["validation_fraction"], params["seed"])
        validation = batches(source, held, seconds, mean, std, n, params, training=False)
    model = CNNClassifier(**params)
    model.fit(batches(source, train, seconds, mean, std, n, params, training=True),
              validation if early_stopping else None)
    if calibrate:
        model.calibrate(validation, validation.row_labels, validation.row_tracks)
    scoring = batches(source, scored, seconds, mean, std, n, params, training=False)
    probs = model.predict_proba(scoring)
    track_ids, track_probs = track_vote(probs, scoring.row_tracks)
    track_labels = scoring.row_labels[np.unique(scoring.row_tracks, return_index=True)[1]]
    scores = {"clip_accuracy": float(np.mean(probs.argmax(axis=1) == scoring.row_labels)),
              "track_accuracy": float(np.mean(track_probs.argmax(axis=1) == track_labels)),
              "track_ids": track_ids, "track_labels": track_labels, "track_predictions": track_probs.argmax(axis=1),
              "track_probabilities": track_probs}
    return model, scores, mean, std


def fit_clip_fold(data: ClipInput, params: dict, train: np.ndarray, val: np.ndarray) -> dict:
    """One fold anywhere (the worker needs the dataset root's mel cache at the same path)."""
    started = time.perf_counter()
    model, scores, _, _ = fit_and_score(data, params, data.dev.take(train), data.dev.take(val),
                                        params["early_stopping"])
    history = model.history_
    watched = history.get("val_loss") or history["loss"]
    return {"history": history, "accuracy": scores["track_accuracy"], "fit_seconds": time.perf_counter() - started,
            "device": this_device(),
            "epochs_run": model.epochs_trained_, "best_epoch": int(np.argmin(watched)) + 1,
            "metrics": {runtree.CLIP_ACCURACY: scores["clip_accuracy"], "track_accuracy": scores["track_accuracy"]}}


# ------------------------------------------------------------------------------------------ family
class CNNFamily(Family):
    params = CNNParams
    inputs = ("mels",)
    sections = {"cnn": CNNParams, "mels": MelSection}

    def check(self, sections: dict[str, Any], error) -> None:
        super().check(sections, error)
        defaults = CNNParams()
        for name in SEARCH_CONTROLS:  # one owner: the search sets these for every family
            if getattr(sections["cnn"], name) != getattr(defaults, name):
                raise error(f"cnn.{name}", f"is set for every family: set it in "
                                           f"[{'compute' if name == 'precision' else 'search'}]")

    def base_params(self, sections: dict[str, Any]) -> dict:
        """The ``[cnn]`` table as given (the search's controls come from ``[search]``)."""
        return {k: v for k, v in dataclasses.asdict(sections["cnn"]).items()
                if k not in SEARCH_CONTROLS}

    def load(self, spec, root, *, features=None, label_column=None, dry_run=False, out=print) -> list[Arm]:
        if features or label_column:
            raise GenreLabError("the CNN reads audio through the log-mel cache; --features does not apply")
        sizes = spec.dataset.sizes or [None]
        if len(sizes) > 1:
            raise spec.error("dataset.sizes", "the CNN study uses one dataset size; give one or use dataset.subset")
        selection = select(root, subset=spec.dataset.subset, size=sizes[0], genres=spec.dataset.genres,
                           require_audio=True)
        mels = spec.mels
        cache_dir, fingerprint = None, content_key(selection=selection.fingerprint, mels=mels.cache_params())
        if not dry_run:
            report, cache = fill_mels(root, workers=spec.compute.n_jobs or None, **mels.cache_params())
            out(report.summary(f"log-mels in {cache.dir}"))
            selection = cached_selection(selection, cache)
            cache_dir, fingerprint = str(cache.dir.parent), selection.fingerprint
        genres = list(selection.genres)
        dev, test = study_tracks(selection, spec.search.group_by)
        if not len(test.ids):
            raise GenreLabError(f"{selection.root}: the selection has no test tracks to score the final models on")
        folds = grouped_folds(dev.labels, dev.groups, n_splits=spec.search.folds, seed=spec.search.seed)
        fold_ids = [indices_fingerprint(dev.ids[tr], dev.ids[va]) for tr, va in folds]
        return [Arm(label=clip_label(seconds), settings={"input": "mels", "clip_seconds": float(seconds)},
                    data=ClipInput(cache_dir, mels.cache_params(), dev, test, float(seconds), genres),
                    dataset=selection, fingerprint=content_key(data=fingerprint, group_by=spec.search.group_by,
                                                               clip_seconds=float(seconds)),
                    genres=genres, folds=folds, fold_ids=fold_ids, n_dev=len(dev.ids), n_test=len(test.ids),
                    registered_name=REGISTERED, aliases=[f"clip-{clip_label(seconds)}"], window="full",
                    source=str(root),
                    details={f"mel_{k}": v for k, v in mels.cache_params().items()})
                for seconds in mels.clip_seconds]

    def fold_task(self, arm: Arm, params: dict, k: int):
        train, val = arm.folds[k]
        return fit_clip_fold, (arm.data, params, train, val)

    def fit_final(self, arm: Arm, params: dict, fold_results: list[dict], steps: Steps, log: RunLog) -> FinalFit:
        """Refit for as long as the folds found best, on the dev tracks but a validation slice that the
        temperature is fitted on; score test per track."""
        from core.serving.pyfunc import log_audio_model  # MLflow: only the study's process logs models

        data: ClipInput = arm.data
        epochs = params["epochs"]
        if params["early_stopping"]:
            epochs = max(1, int(np.median([f["best_epoch"] for f in fold_results])))
        model, scores, mean, std = fit_and_score(data, {**params, "epochs": epochs}, data.dev, data.test, False,
                                                 calibrate=True)
        log.history(model.history_)
        source = data.source()
        mel_params = {**data.mel_params, "clip_seconds": data.clip_seconds, "genres": data.genres,
                      "frames_per_clip": int(source.frames_per_clip(data.clip_seconds)),
                      "band_mean": np.asarray(mean).tolist(), "band_std": np.asarray(std).tolist(),
                      "temperature": model.temperature_}
        with tempfile.TemporaryDirectory() as tmp:
            info = log_audio_model(model.model_, mel_params, Path(tmp))
        log.params({"final_epochs": epochs})
        names = np.asarray(data.genres)
        artists = None
        if data.test.artists is not None:  # the scores are per track, in track-id order
            artist_of = dict(zip(data.test.ids.tolist(), data.test.artists.tolist()))
            artists = np.array([artist_of[t] for t in scores["track_ids"].tolist()])
        return FinalFit(y_true=names[scores["track_labels"]], y_pred=names[scores["track_predictions"]],
                        metrics={runtree.TEST_CLIP_ACCURACY: scores["clip_accuracy"],
                                 "test_track_accuracy": scores["track_accuracy"]},
                        model_info=info, card_extra={"clip_seconds": f"{data.clip_seconds:g}"},
                        proba=scores["track_probabilities"], classes=list(data.genres), temperature=model.temperature_,
                        artists=artists)

    def fit_cost(self, arms: list[Arm], base: dict, executor, precision: str) -> ClipCosts:
        """The CNN timed on random clips of each length the study compares, on every worker at once (a
        convolution runs at another speed than a dense layer, and a 30 s clip at another than a 3 s one)."""
        p = CNNParams(**base)
        costs = {}
        for shape in sorted({clip_shape(arm.data) for arm in arms}):
            name = f"CNN {p.architecture} {shape[0]}x{shape[1]} filters {p.filters} batch {p.batch_size}"
            costs[shape] = costing.measured_cost(executor, precision, (name, time_clips, (
                precision, shape, p.architecture, tuple(p.filters), p.batch_size)))
        return ClipCosts(costs, tuple(p.filters))

    def fit_seconds(self, arm: Arm, params: dict, n_train: int, cost: ClipCosts) -> float:
        """Epochs x the training clips of ``n_train`` tracks (with early stopping, the inner slice is
        only scored: a forward pass, about a third of a training step)."""
        data: ClipInput = arm.data
        clips = n_train * max(1, int(ASSUMED_CLIP_SECONDS // data.clip_seconds))
        if params["early_stopping"]:
            clips *= 1 - params["validation_fraction"] * 2 / 3
        shape = clip_shape(data)
        return cost.by_shape[shape].fit_seconds(params["epochs"], clips, conv_macs(shape, tuple(params["filters"])))


@dataclass
class ClipCosts:
    """The CNN's fit cost per clip shape (n_mels, frames)."""

    by_shape: dict[tuple[int, int], Any]
    filters: tuple[int, ...]

    def describe(self) -> str:
        speeds = ", ".join(f"{shape[0]}x{shape[1]} clips at {1 / (cost.per_unit * conv_macs(shape, self.filters)):.0f}"
                           for shape, cost in self.by_shape.items())
        source = next(iter(self.by_shape.values())).source
        return f"time per fit = epochs x training clips / clips per second ({speeds} per fit), {source}"


def clip_shape(data: ClipInput) -> tuple[int, int]:
    return (data.mel_params["n_mels"],
            int(frames_per_clip(data.clip_seconds, data.mel_params["sr"], data.mel_params["hop_length"])))


def time_clips(precision: str, shape: tuple[int, int], architecture: str, filters: tuple[int, ...],
               batch_size: int, n: int = 64, epochs: int = 3) -> dict[str, float]:
    """Seconds per clip x multiply-add of the CNN training on ``n`` random clips of ``shape``, as
    :class:`core.study.cost.Cost` constants: the median batch after the first epoch (which traces the
    graph), since a study's epoch has hundreds of batches and this one's per-epoch setup would dominate."""
    import keras

    class BatchTimes(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            seconds.append(time.perf_counter() - self.started)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, *shape, 1)).astype(np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 3, n), 3)
    seconds: list[float] = []
    build_cnn((*shape, 1), 3, architecture, filters, precision=precision).fit(
        x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[BatchTimes()])
    per_clip = float(np.median(seconds[-(epochs - 1) * -(-n // batch_size):])) / min(batch_size, n)
    return {"per_unit": per_clip / conv_macs(shape, filters), "per_epoch": 0.0, "per_update": 0.0, "per_fit": 0.0}


def study_tracks(selection: Any, group_by: str) -> tuple[Tracks, Tracks]:
    """(training+validation tracks, test tracks) of a Selection; the test tracks never enter CV."""
    labels = np.searchsorted(np.asarray(selection.genres), np.asarray(selection.labels))
    ids = np.asarray(selection.track_ids, dtype=np.int64)
    artists = artist_ids(selection)
    everything = Tracks(ids, labels, artists if group_by == "artist" else ids, artists)
    splits = np.asarray(selection.splits)
    return everything.take(np.flatnonzero(splits != "test")), everything.take(np.flatnonzero(splits == "test"))


def cached_selection(selection: Any, cache: Any) -> Any:
    """The selection without tracks whose log-mel is not cached (audio that failed to decode).

    Its fingerprint also covers the mel parameters, so resume never mixes different spectrograms.
    """
    has = np.array([cache.has(int(t)) for t in selection.track_ids], dtype=bool)
    if not has.any():
        raise GenreLabError(f"{cache.dir}: no log-mel cached for any selected track (see failures.csv there)")
    kept = np.flatnonzero(has)
    return dataclasses.replace(
        selection, track_ids=selection.track_ids[kept], labels=selection.labels[kept],
        splits=selection.splits[kept], paths=[selection.paths[i] for i in kept],
        genres=sorted(set(selection.labels[kept].tolist())),
        fingerprint=content_key(selection=selection.fingerprint, mels=cache.key,
                                missing=selection.track_ids[~has].tolist()))

