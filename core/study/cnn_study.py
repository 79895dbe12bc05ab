"""The CNN clip-length study: does a CNN on 3 s clips beat one on 30 s clips, judged on the same tracks?

Plan: the official test tracks are set aside; the training+validation tracks are cut into folds by
track (or artist) with StratifiedGroupKFold, the same folds for every clip length. For each clip
length, each fold trains the CNN on the clips of its training tracks (standardized with statistics of
those tracks only, early stopping on an inner slice of them) and scores its validation tracks at clip
level and at track level (clips vote by mean probability). The final model per clip length is refit on
all training+validation tracks for the median best epoch count of the folds, scored once on test,
logged as a pyfunc model that takes audio, and registered as ``genre-cnn`` with alias ``clip-<S>s``.

MLflow lineage: study run → clip_length run per clip length → fold runs (per-epoch curves) and a final
run. Parents log means and standard deviations. A rerun of an interrupted study reuses every finished
fold and final run with the same study key (settings + data fingerprint) instead of refitting it.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.errors import GenreLabError

REGISTERED_MODEL = "genre-cnn"
GROUP_BY = ("track", "artist")


@dataclass(frozen=True)
class ClipStudyConfig:
    """Everything that decides the study's numbers (and so its resume key), with the study's defaults."""

    clip_seconds: tuple[float, ...] = (30.0, 3.0)
    folds: int = 5
    group_by: str = "track"
    architecture: str = "study"
    filters: tuple[int, ...] = (8, 16, 32, 64, 128)
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 5e-4
    dropout: float = 0.3
    patience: int = 5
    inner_validation: float = 0.1
    time_shift: float = 0.0
    mix_within_genre: float = 0.0
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict, source: str = "spec") -> ClipStudyConfig:
        """Validate a spec's ``[model]``-style table; unknown keys and bad values are one-line errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GenreLabError(f"{source}: unknown CNN setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        values = dict(values)
        for key in ("clip_seconds", "filters"):
            if key in values:
                values[key] = tuple(values[key]) if isinstance(values[key], (list, tuple)) else (values[key],)
        try:
            config = cls(**values)
            config.check()
        except (TypeError, ValueError) as err:
            raise GenreLabError(f"{source}: bad CNN setting ({err})") from None
        except GenreLabError as err:
            raise GenreLabError(f"{source}: {err}") from None
        return config

    def check(self) -> None:
        if not self.clip_seconds or any(float(s) <= 0 for s in self.clip_seconds):
            raise GenreLabError(f"clip_seconds must be positive, got {list(self.clip_seconds)}")
        if self.folds < 2:
            raise GenreLabError(f"folds must be at least 2, got {self.folds}")
        if self.group_by not in GROUP_BY:
            raise GenreLabError(f"group_by must be one of {', '.join(GROUP_BY)}, got {self.group_by!r}")
        if self.architecture not in ("study", "compact"):
            raise GenreLabError(f"architecture must be study or compact, got {self.architecture!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise GenreLabError("epochs, batch_size and patience must be at least 1")
        if not 0.0 < self.inner_validation < 0.5:
            raise GenreLabError(f"inner_validation must be in (0, 0.5), got {self.inner_validation}")

    def key(self, fingerprint: str) -> str:
        """Resume key of one clip length's fits: every setting but the list of clip lengths, and the data.

        Adding a clip length to a finished study therefore reuses the fits of the others.
        """
        from core.study.lineage import content_key

        settings = {k: v for k, v in asdict(self).items() if k != "clip_seconds"}
        return content_key(**settings, fingerprint=fingerprint)


def clip_label(seconds: float) -> str:
    """``30.0`` → ``"30s"``, ``2.5`` → ``"2_5s"``: usable in metric names and model aliases."""
    return f"{float(seconds):g}s".replace(".", "_")


@dataclass
class Tracks:
    """The tracks a study works on, as parallel arrays (positions are shared by all of them)."""

    ids: np.ndarray      # int64 track ids
    labels: np.ndarray   # int class index into genres
    groups: np.ndarray   # track id or artist id: what must not straddle a fold

    def take(self, positions: np.ndarray) -> Tracks:
        return Tracks(self.ids[positions], self.labels[positions], self.groups[positions])


def study_tracks(selection: Any, group_by: str = "track", artist_ids: np.ndarray | None = None) -> tuple[Tracks, Tracks]:
    """(training+validation tracks, test tracks) of a Selection; the test tracks never enter CV."""
    labels = np.searchsorted(np.asarray(selection.genres), np.asarray(selection.labels))
    ids = np.asarray(selection.track_ids, dtype=np.int64)
    if group_by == "artist":
        if artist_ids is None:
            raise GenreLabError("cnn study: group_by = 'artist' needs the tracks' artist ids")
        groups = np.asarray(artist_ids, dtype=np.int64)
    else:
        groups = ids
    everything = Tracks(ids, labels, groups)
    splits = np.asarray(selection.splits)
    return everything.take(np.flatnonzero(splits != "test")), everything.take(np.flatnonzero(splits == "test"))


def clip_counts(source: Any, track_ids: np.ndarray, clip_seconds: float) -> np.ndarray:
    """Number of clips of ``clip_seconds`` in each track (memory-mapped: only headers are read)."""
    return np.array([len(source.clips(int(t), clip_seconds)) for t in track_ids], dtype=np.int64)


def inner_split(tracks: Tracks, fraction: float, seed: int) -> tuple[Tracks, Tracks]:
    """(fit, early-stopping) tracks: a grouped stratified slice of about ``fraction`` of ``tracks``."""
    from core.study.clips import grouped_folds

    # as many splits as 1/fraction asks, but no more than the rarest genre has groups
    rarest = min(len(np.unique(tracks.groups[tracks.labels == c])) for c in np.unique(tracks.labels))
    n_splits = max(2, min(round(1 / fraction), rarest))
    fit, stop = grouped_folds(tracks.labels, tracks.groups, n_splits=n_splits, seed=seed)[0]
    return tracks.take(fit), tracks.take(stop)


def score(probs: np.ndarray, row_tracks: np.ndarray, row_labels: np.ndarray) -> dict[str, Any]:
    """Clip and track accuracy of clip probabilities; track labels and votes for further metrics."""
    from core.study.clips import track_vote

    track_ids, track_probs = track_vote(probs, row_tracks)
    track_labels = row_labels[np.unique(row_tracks, return_index=True)[1]]
    return {
        "clip_accuracy": float(np.mean(probs.argmax(axis=1) == row_labels)),
        "track_accuracy": float(np.mean(track_probs.argmax(axis=1) == track_labels)),
        "track_ids": track_ids, "track_labels": track_labels, "track_probs": track_probs,
    }


class ClipStudy:
    """One clip-length study over a ClipSource (the mel cache) and a Selection.

    ``progress`` is a :class:`core.study.progress.ProgressFile` (or anything with ``set_current(text)``
    and ``advance(n, text)``). ``run()`` returns one dict per clip length with the CV and test figures
    and the registered model version.
    """

    def __init__(self, selection: Any, source: Any, config: ClipStudyConfig, *, experiment: str,
                 mel_params: dict, artist_ids: np.ndarray | None = None, register: bool = True,
                 progress: Any = None, workers: int | None = None, out: Callable[[str], None] = print,
                 spec_text: str | None = None):
        from core.study.lineage import content_key
        from core.study.progress import ProgressFile

        config.check()
        self.selection, self.source, self.config = selection, source, config
        self.experiment, self.register, self.out = experiment, register, out
        self.mel_params, self.workers, self.spec_text = dict(mel_params), workers, spec_text
        self.genres = list(selection.genres)
        self.dev, self.test = study_tracks(selection, config.group_by, artist_ids)
        if not len(self.test.ids):
            raise GenreLabError(f"{selection.root}: the selection has no test tracks to score the final models on")
        self.key = config.key(selection.fingerprint)
        self.study_key = content_key(fits=self.key, clip_seconds=[float(s) for s in config.clip_seconds])
        self.progress = progress or ProgressFile(None, self.fits_total)

    @property
    def fits_total(self) -> int:
        return len(self.config.clip_seconds) * (self.config.folds + 1)

    # ----------------------------------------------------------------- plumbing
    def _tags(self, key: str, **extra) -> dict[str, str]:
        from core.study.lineage import KEY_TAG

        return {KEY_TAG: key, "genrelab.family": "cnn", **{f"genrelab.{k}": str(v) for k, v in extra.items()}}

    def _start(self, name: str, kind: str, key: str, parent: str | None, params: dict, **tags):
        from core import tracking

        return tracking.start_run(name, experiment=self.experiment, kind=kind, parent=parent, params=params,
                                  tags=self._tags(key, **tags), seed=self.config.seed, selection=self.selection)

    def _reuse(self, kind: str, key: str, parent: str | None) -> Any | None:
        """A finished run with this content key (moved under ``parent`` if its old parent was killed)."""
        from core.study.lineage import adopt, find_reusable

        old = find_reusable(self.experiment, kind, key)
        if old is not None and parent is not None:
            adopt(old, parent)
        return old

    def _batches(self, tracks: Tracks, clip_seconds: float, mean, std, training: bool):
        """Streamed batches of the clips of ``tracks`` (rows in track-id order)."""
        from core.study.clips import MelBatches, expand_clips

        order = np.argsort(tracks.ids, kind="stable")
        ids, labels = tracks.ids[order], tracks.labels[order]
        counts = clip_counts(self.source, ids, clip_seconds)
        if not counts.sum():
            raise GenreLabError(f"{self.selection.root}: no track is long enough for {clip_seconds:g} s clips")
        row_tracks, row_clips = expand_clips(ids, counts)
        c = self.config
        return MelBatches(self.source, row_tracks, row_clips, np.repeat(labels, counts), clip_seconds=clip_seconds,
                          mean=mean, std=std, n_classes=len(self.genres), batch_size=c.batch_size,
                          shuffle=training, seed=c.seed, time_shift=c.time_shift if training else 0.0,
                          mix_within_genre=c.mix_within_genre if training else 0.0, workers=self.workers)

    def _fit(self, train: Tracks, clip_seconds: float, epochs: int, early_stopping: bool):
        """Fit on the clips of ``train`` (minus an early-stopping slice if asked); (model, band mean, std)."""
        import mlflow
        from core.models.cnn import CNNClassifier, EpochCallback
        from core.study import clips

        mean, std = clips.band_statistics(self.source, train.ids, clip_seconds)
        validation = None
        if early_stopping:
            train, stop = inner_split(train, self.config.inner_validation, self.config.seed)
            validation = self._batches(stop, clip_seconds, mean, std, training=False)
        c = self.config
        model = CNNClassifier(architecture=c.architecture, epochs=epochs, learning_rate=c.learning_rate,
                              dropout=c.dropout, patience=c.patience, filters=c.filters, seed=c.seed)
        log_epoch = EpochCallback(lambda metrics, epoch: mlflow.log_metrics(metrics, step=epoch))
        model.fit(self._batches(train, clip_seconds, mean, std, training=True), validation, callbacks=[log_epoch])
        return model, mean, std

    def fit_and_score(self, train: Tracks, scored: Tracks, clip_seconds: float, epochs: int,
                      early_stopping: bool) -> tuple[Any, dict[str, Any], np.ndarray, np.ndarray]:
        """Fit on ``train``'s clips, score ``scored``'s: (model, :func:`score` dict, band mean, band std)."""
        model, mean, std = self._fit(train, clip_seconds, epochs, early_stopping)
        batches = self._batches(scored, clip_seconds, mean, std, training=False)
        return model, score(model.predict_proba(batches), batches.row_tracks, batches.row_labels), mean, std

    # ----------------------------------------------------------------- the tree
    def run(self) -> list[dict[str, Any]]:
        import mlflow
        from core.study.clips import grouped_folds

        done = self._reuse("study", self.study_key, None)
        if done is not None:
            self.out(f"study already finished as run {done.info.run_id}: nothing to fit")
            self.progress.advance(self.fits_total, "done")
            return mlflow.artifacts.load_dict(f"runs:/{done.info.run_id}/results.json")["results"]
        c = self.config
        folds = grouped_folds(self.dev.labels, self.dev.groups, n_splits=c.folds, seed=c.seed)
        params = {**asdict(c), "genres": self.genres, "n_dev_tracks": len(self.dev.ids),
                  "n_test_tracks": len(self.test.ids), **{f"mel_{k}": v for k, v in self.mel_params.items()}}
        with self._start(self.experiment, "study", self.study_key, None, params) as study:
            if self.spec_text is not None:
                mlflow.log_text(self.spec_text, "spec.toml")
            results = []
            for seconds in c.clip_seconds:
                result = self._clip_length(float(seconds), folds, study.info.run_id)
                mlflow.log_metrics({f"{k}_{clip_label(seconds)}": v for k, v in result.items()
                                    if isinstance(v, float) and k != "clip_seconds"})
                results.append(result)
            mlflow.log_dict({"results": results}, "results.json")
        return results

    def _clip_length(self, seconds: float, folds, study_id: str) -> dict[str, Any]:
        import mlflow
        from core.study.lineage import content_key

        key = content_key(study=self.key, kind="clip_length", clip_seconds=seconds)
        with self._start(clip_label(seconds), "clip_length", key, study_id, {"clip_seconds": seconds},
                         clip_seconds=seconds) as child:
            cv = [self._fold(seconds, k, train, valid, child.info.run_id) for k, (train, valid) in enumerate(folds)]
            summary: dict[str, Any] = {"clip_seconds": seconds}
            for metric in ("clip_accuracy", "track_accuracy"):
                values = np.array([fold[metric] for fold in cv])
                summary[f"cv_{metric}_mean"], summary[f"cv_{metric}_std"] = float(values.mean()), float(values.std())
            summary["cv_accuracy_mean"] = summary["cv_track_accuracy_mean"]
            summary["cv_accuracy_std"] = summary["cv_track_accuracy_std"]
            # the final model trains without a held-out slice, for as long as the folds found best
            epochs = max(1, int(np.median([fold["best_epoch"] for fold in cv])))
            summary.update(self._final(seconds, epochs, child.info.run_id))
            mlflow.log_metrics({k: v for k, v in summary.items() if isinstance(v, float) and k != "clip_seconds"})
        self.out(f"{clip_label(seconds):>6}: cv track accuracy {summary['cv_track_accuracy_mean']:.1%} "
                 f"± {summary['cv_track_accuracy_std']:.1%}, test track accuracy {summary['test_track_accuracy']:.1%}"
                 f", test clip accuracy {summary['test_clip_accuracy']:.1%}")
        return summary

    def _fold(self, seconds: float, k: int, train_pos: np.ndarray, valid_pos: np.ndarray, parent: str) -> dict:
        import mlflow
        from core.study.lineage import content_key, indices_fingerprint

        name = f"{clip_label(seconds)} fold {k + 1}/{self.config.folds}"
        train, valid = self.dev.take(train_pos), self.dev.take(valid_pos)
        fingerprint = indices_fingerprint(train.ids, valid.ids)
        key = content_key(study=self.key, kind="fold", clip_seconds=seconds, fold=k, folds=fingerprint)
        old = self._reuse("fold", key, parent)
        if old is not None:
            self.progress.advance(1, f"{name} reused")
            return dict(old.data.metrics)
        self.progress.set_current(name)
        params = {"clip_seconds": seconds, "fold": k, "n_train_tracks": len(train.ids),
                  "n_valid_tracks": len(valid.ids), "fold_fingerprint": fingerprint}
        with self._start(name, "fold", key, parent, params, clip_seconds=seconds, fold=k):
            started = time.perf_counter()
            model, scores, _, _ = self.fit_and_score(train, valid, seconds, self.config.epochs, early_stopping=True)
            metrics = {"clip_accuracy": scores["clip_accuracy"], "track_accuracy": scores["track_accuracy"],
                       "best_epoch": float(np.argmin(model.history_["val_loss"]) + 1),
                       "epochs_trained": float(model.epochs_trained_), "fit_seconds": time.perf_counter() - started}
            mlflow.log_metrics(metrics)
        self.progress.advance(1)
        self.out(f"{name}: clip accuracy {metrics['clip_accuracy']:.1%}, track accuracy "
                 f"{metrics['track_accuracy']:.1%} ({int(metrics['epochs_trained'])} epochs, "
                 f"{metrics['fit_seconds']:.0f} s)")
        return metrics

    def _final(self, seconds: float, epochs: int, parent: str) -> dict[str, Any]:
        import mlflow
        from core.study.lineage import content_key

        name = f"{clip_label(seconds)} final"
        key = content_key(study=self.key, kind="final", clip_seconds=seconds, epochs=epochs, register=self.register)
        old = self._reuse("final", key, parent)
        if old is not None:
            self.progress.advance(1, f"{name} reused")
            metrics, version = dict(old.data.metrics), old.data.tags.get("genrelab.model_version")
        else:
            self.progress.set_current(f"{name}: refit on training+validation, score on test")
            with self._start(name, "final", key, parent, {"clip_seconds": seconds, "epochs": epochs},
                             clip_seconds=seconds) as run:
                model, scores, mean, std = self.fit_and_score(self.dev, self.test, seconds, epochs,
                                                              early_stopping=False)
                metrics = self._test_metrics(scores)
                version = self._log_model(model, seconds, mean, std, metrics, run.info.run_id)
                if version is not None:
                    mlflow.set_tag("genrelab.model_version", version)
            self.progress.advance(1)
        return {**{k: float(v) for k, v in metrics.items() if k.startswith("test_")}, "model_version": version}

    def _test_metrics(self, scores: dict[str, Any]) -> dict[str, float]:
        """Log the shared test metrics and confusion matrix at track level, plus clip accuracy; return them."""
        import mlflow
        from core.study.evaluate import log_test_evaluation

        names = np.asarray(self.genres)
        metrics = log_test_evaluation(names[scores["track_labels"]], names[scores["track_probs"].argmax(axis=1)],
                                      self.genres)
        extra = {"test_clip_accuracy": scores["clip_accuracy"], "test_track_accuracy": scores["track_accuracy"]}
        mlflow.log_metrics(extra)
        return {**metrics, **extra}

    def _log_model(self, model, seconds: float, mean, std, metrics: dict, run_id: str) -> str | None:
        """Log the pyfunc audio model; register it (alias ``clip-<S>s``) when asked. Returns the version."""
        import mlflow
        from core.study.export import log_audio_model

        frames = self.source.clips(int(self.test.ids[0]), seconds).shape[2]
        params = {**self.mel_params, "clip_seconds": seconds, "frames_per_clip": int(frames), "genres": self.genres,
                  "band_mean": np.asarray(mean).tolist(), "band_std": np.asarray(std).tolist()}
        with tempfile.TemporaryDirectory() as tmp:
            info = log_audio_model(model.model_, params, Path(tmp))
        if not self.register:
            return None
        client = mlflow.tracking.MlflowClient()
        version = str(mlflow.register_model(info.model_uri, REGISTERED_MODEL).version)
        tags = {"test_accuracy": f"{metrics['test_accuracy']:.4f}", "dataset": self.selection.dataset_name,
                "family": "cnn", "clip_seconds": f"{seconds:g}",
                "synthetic": str(bool(self.selection.synthetic)).lower(), "run_id": run_id}
        for tag, value in tags.items():
            client.set_model_version_tag(REGISTERED_MODEL, version, tag, value)
        client.set_registered_model_alias(REGISTERED_MODEL, f"clip-{clip_label(seconds)}", version)
        return version


# ----------------------------------------------------------------------------------------- entry point

#: ``[cnn]`` section of a spec: the network, its training and the clip lengths (folds, seed, patience
#: and the early-stopping fraction come from ``[search]``).
CNN_DEFAULTS = {"clip_seconds": [30.0, 3.0], "group_by": "track", "architecture": "study",
                "filters": [8, 16, 32, 64, 128], "epochs": 30, "batch_size": 32, "learning_rate": 5e-4,
                "dropout": 0.3, "time_shift": 0.0, "mix_within_genre": 0.0}
#: ``[mels]`` section: the log-mel parameters (core.features.mels.MelCache's).
MEL_DEFAULTS = {"sr": 22050, "n_fft": 2048, "hop_length": 512, "n_mels": 128}


def config_from_spec(spec: Any) -> ClipStudyConfig:
    """The study's settings from a validated :class:`core.study.spec.Spec`."""
    kinds = spec.data.get("input", {}).get("kinds", ["mels"])
    if kinds != ["mels"]:
        raise spec.error("input.kinds", f"the CNN study takes [\"mels\"], not {kinds}")
    values = {**spec.section("cnn", CNN_DEFAULTS), "folds": spec.get("search.folds"),
              "seed": spec.get("search.seed"), "patience": spec.get("search.patience"),
              "inner_validation": spec.get("search.validation_fraction")}
    return ClipStudyConfig.from_dict(values, f"{spec.path}: cnn")


def cached_selection(selection: Any, cache: Any) -> Any:
    """The selection without tracks whose log-mel is not cached (audio that failed to decode).

    Its fingerprint also covers the mel parameters, so resume never mixes different spectrograms.
    """
    import dataclasses

    from core.study.lineage import content_key

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


def selection_artists(selection: Any) -> np.ndarray:
    """Artist id of each selected track (tracks.csv's ``artist.id``), for folds grouped by artist."""
    from core.data.fma import load_tracks

    return load_tracks(selection.root).loc[selection.track_ids, ("artist", "id")].to_numpy(dtype=np.int64)


def describe_plan(selection: Any, config: ClipStudyConfig) -> str:
    dev = selection.splits != "test"
    per_genre = ", ".join(f"{g} {int(np.sum(selection.labels[dev] == g))}/{int(np.sum(selection.labels[~dev] == g))}"
                          for g in selection.genres)
    fits = len(config.clip_seconds) * (config.folds + 1)
    return (f"tracks (training+validation / test): {int(dev.sum())} / {int((~dev).sum())}  [{per_genre}]\n"
            f"clip lengths {', '.join(f'{s:g} s' for s in config.clip_seconds)} x {config.folds} folds grouped by "
            f"{config.group_by} + 1 final refit each = {fits} fits of the {config.architecture} CNN "
            f"(up to {config.epochs} epochs, early stopping patience {config.patience})")


def results_table(rows: list[dict]) -> str:
    """Clip length, CV clip/track accuracy (mean ± std), test clip/track accuracy and macro F1, in %."""
    def pct(mean, std=None):
        return f"{100 * mean:.1f}" + ("" if std is None else f" ± {100 * std:.1f}")

    lines = [f"{'clip':>6} {'cv clip acc %':>14} {'cv track acc %':>15} {'test clip %':>11} {'test track %':>12} "
             f"{'test F1 %':>9}"]
    for r in rows:
        lines.append(f"{clip_label(r['clip_seconds']):>6} {pct(r['cv_clip_accuracy_mean'], r['cv_clip_accuracy_std']):>14} "
                     f"{pct(r['cv_track_accuracy_mean'], r['cv_track_accuracy_std']):>15} "
                     f"{pct(r['test_clip_accuracy']):>11} {pct(r['test_track_accuracy']):>12} "
                     f"{pct(r['test_f1_macro']):>9}")
    return "\n".join(lines)


def run_cnn_study(spec: Any, *, data: str | None = None, features: str | None = None,
                  label_column: str | None = None, dry_run: bool = False, progress_path: str | None = None,
                  out: Callable[[str], None] = print) -> list[dict]:
    """Run (or with ``dry_run`` only plan) the clip-length study of ``spec``; returns one row per clip length.

    Fills the dataset's log-mel cache first (only what is missing), then runs :class:`ClipStudy`.
    """
    import logging
    import os

    from core import tracking
    from core.config import data_root
    from core.data.selection import select
    from core.features.batch import fill_mels
    from core.features.mels import MelCache
    from core.study.progress import ProgressFile

    if features or label_column:
        raise GenreLabError("the CNN study reads audio through the log-mel cache; --features does not apply")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    config = config_from_spec(spec)
    mel_params = spec.section("mels", MEL_DEFAULTS)
    root = data_root(data or spec.get("dataset.root"))
    if not root.is_dir():
        raise GenreLabError(f"{root}: dataset root not found (set dataset.root, --data or GENRELAB_DATA)")
    sizes = spec.get("dataset.sizes") or [None]
    if len(sizes) > 1:
        raise spec.error("dataset.sizes", "the CNN study uses one dataset size; give one or use dataset.subset")
    selection = select(root, subset=spec.get("dataset.subset"), size=sizes[0], genres=spec.get("dataset.genres"),
                       require_audio=True)
    out(f"study {spec.name}: {config.architecture} CNN on {selection.dataset_name}"
        + (" (synthetic)" if selection.synthetic else ""))
    if dry_run:
        out(describe_plan(selection, config))
        return []
    n_jobs = spec.get("compute.n_jobs") or None
    report, cache = fill_mels(root, workers=n_jobs, **mel_params)
    out(report.summary(f"log-mels in {cache.dir}"))
    selection = cached_selection(selection, cache)
    out(describe_plan(selection, config))
    artist_ids = selection_artists(selection) if config.group_by == "artist" else None
    progress = ProgressFile(progress_path, len(config.clip_seconds) * (config.folds + 1))
    tracking.configure()
    tracking.install_signal_handlers()
    tracking.end_orphaned_runs(spec.name)
    study = ClipStudy(selection, cache, config, experiment=spec.name, mel_params=cache.params,
                      artist_ids=artist_ids, register=spec.get("evaluation.register"), progress=progress, out=out,
                      spec_text=spec.path.read_text(encoding="utf-8"))
    with progress.reporting():
        rows = study.run()
    progress.finish("finished", f"{len(rows)} clip lengths")
    out(results_table(rows))
    return rows
