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
#: Called after every fit: (fits_done, fits_total, what is running now).
Progress = Callable[[int, int, str], None]


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
        """Resume key: the same settings on the same data give the same numbers."""
        from core.study.lineage import content_key

        return content_key(**asdict(self), fingerprint=fingerprint)


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

    ``run()`` returns one dict per clip length with the CV and test figures and the registered version.
    """

    def __init__(self, selection: Any, source: Any, config: ClipStudyConfig, *, experiment: str,
                 name: str = "cnn clip length", mel_params: dict | None = None,
                 artist_ids: np.ndarray | None = None, register: bool = True,
                 progress: Progress | None = None, workers: int | None = None):
        config.check()
        self.selection, self.source, self.config = selection, source, config
        self.experiment, self.name, self.register = experiment, name, register
        self.mel_params = dict(mel_params or {})
        self.progress, self.workers = progress, workers
        self.genres = list(selection.genres)
        self.dev, self.test = study_tracks(selection, config.group_by, artist_ids)
        if not len(self.test.ids):
            raise GenreLabError(f"{selection.root}: the selection has no test tracks to score the final models on")
        self.key = config.key(selection.fingerprint)
        self.fits_total = len(config.clip_seconds) * (config.folds + 1)
        self.fits_done = 0

    # ----------------------------------------------------------------- plumbing
    def _tags(self, key: str | None = None, **extra) -> dict[str, str]:
        from core.study.lineage import KEY_TAG

        tags = {"genrelab.family": "cnn", **{f"genrelab.{k}": str(v) for k, v in extra.items()}}
        return {**tags, KEY_TAG: key} if key else tags

    def _report(self, current: str) -> None:
        if self.progress is not None:
            self.progress(self.fits_done, self.fits_total, current)

    def _rows(self, tracks: Tracks, clip_seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Clip rows (track ids, clip index, label) of tracks, tracks too short for one clip left out."""
        from core.study.clips import expand_clips

        order = np.argsort(tracks.ids, kind="stable")
        ids, labels = tracks.ids[order], tracks.labels[order]
        counts = clip_counts(self.source, ids, clip_seconds)
        row_tracks, row_clips = expand_clips(ids, counts)
        return row_tracks, row_clips, np.repeat(labels, counts)

    def _batches(self, tracks: Tracks, clip_seconds: float, mean, std, training: bool):
        from core.study.clips import MelBatches

        row_tracks, row_clips, row_labels = self._rows(tracks, clip_seconds)
        if not len(row_tracks):
            raise GenreLabError(f"{self.selection.root}: no track is long enough for {clip_seconds:g} s clips")
        c = self.config
        return MelBatches(self.source, row_tracks, row_clips, row_labels, clip_seconds=clip_seconds,
                          mean=mean, std=std, n_classes=len(self.genres), batch_size=c.batch_size,
                          shuffle=training, seed=c.seed, time_shift=c.time_shift if training else 0.0,
                          mix_within_genre=c.mix_within_genre if training else 0.0, workers=self.workers)

    def _model(self, epochs: int | None = None):
        from core.models.cnn import CNNClassifier

        c = self.config
        return CNNClassifier(architecture=c.architecture, epochs=epochs or c.epochs, learning_rate=c.learning_rate,
                             dropout=c.dropout, patience=c.patience, filters=c.filters, seed=c.seed)

    def _fit(self, train: Tracks, clip_seconds: float, early_stopping: bool, epochs: int | None = None):
        """Fit on the clips of ``train``; returns (model, band mean, band std)."""
        import mlflow
        from core.models.cnn import EpochCallback
        from core.study.clips import band_statistics

        mean, std = band_statistics(self.source, train.ids, clip_seconds)
        validation = None
        if early_stopping:
            train, stop = inner_split(train, self.config.inner_validation, self.config.seed)
            validation = self._batches(stop, clip_seconds, mean, std, training=False)
        model = self._model(epochs).fit(self._batches(train, clip_seconds, mean, std, training=True),
                                        validation, callbacks=[EpochCallback(lambda metrics, epoch: mlflow.log_metrics(metrics, step=epoch))])
        return model, mean, std

    def _evaluate(self, model, tracks: Tracks, clip_seconds: float, mean, std) -> dict[str, Any]:
        batches = self._batches(tracks, clip_seconds, mean, std, training=False)
        return score(model.predict_proba(batches), batches.row_tracks, batches.row_labels)

    def _reuse(self, kind: str, key: str, parent: str) -> Any | None:
        """A finished run with this content key (moved under ``parent`` if its old parent was killed)."""
        from core.study.lineage import adopt, find_reusable

        old = find_reusable(self.experiment, kind, key)
        if old is not None:
            adopt(old, parent)
        return old

    # ----------------------------------------------------------------- the study
    def run(self) -> list[dict[str, Any]]:
        import mlflow
        from core import tracking
        from core.study.clips import grouped_folds

        tracking.configure()
        tracking.end_orphaned_runs(self.experiment)
        c = self.config
        folds = grouped_folds(self.dev.labels, self.dev.groups, n_splits=c.folds, seed=c.seed)
        params = {**asdict(c), "genres": self.genres, "n_dev_tracks": len(self.dev.ids),
                  "n_test_tracks": len(self.test.ids), **{f"mel_{k}": v for k, v in self.mel_params.items()}}
        results = []
        self._report("starting")
        with tracking.start_run(self.name, experiment=self.experiment, kind="study", params=params,
                                tags=self._tags(), seed=c.seed, selection=self.selection) as study:
            for seconds in c.clip_seconds:
                result = self._clip_length(float(seconds), folds, study.info.run_id)
                mlflow.log_metrics({f"{k}_{clip_label(seconds)}": v for k, v in result.items()
                                    if isinstance(v, float)}, run_id=study.info.run_id)
                results.append(result)
        self._report("finished")
        return results

    def _clip_length(self, seconds: float, folds, study_id: str) -> dict[str, Any]:
        import mlflow
        from core import tracking

        label = clip_label(seconds)
        with tracking.start_run(label, experiment=self.experiment, kind="clip_length", parent=study_id,
                                params={"clip_seconds": seconds}, tags=self._tags(clip_seconds=seconds),
                                seed=self.config.seed, selection=self.selection) as child:
            cv = [self._fold(seconds, k, train, valid, child.info.run_id) for k, (train, valid) in enumerate(folds)]
            summary = {"clip_seconds": seconds}
            for metric in ("clip_accuracy", "track_accuracy"):
                values = np.array([fold[metric] for fold in cv])
                summary[f"cv_{metric}_mean"], summary[f"cv_{metric}_std"] = float(values.mean()), float(values.std())
            summary["cv_accuracy_mean"] = summary["cv_track_accuracy_mean"]
            summary["cv_accuracy_std"] = summary["cv_track_accuracy_std"]
            best_epochs = [fold["best_epoch"] for fold in cv]
            final = self._final(seconds, max(1, int(np.median(best_epochs))), child.info.run_id)
            summary.update(final)
            mlflow.log_metrics({k: v for k, v in summary.items() if isinstance(v, float)}, run_id=child.info.run_id)
        return summary

    def _fold(self, seconds: float, k: int, train_pos: np.ndarray, valid_pos: np.ndarray, parent: str) -> dict:
        import mlflow
        from core import tracking

        from core.study.lineage import content_key, indices_fingerprint

        name = f"{clip_label(seconds)} fold {k + 1}/{self.config.folds}"
        self._report(name)
        train, valid = self.dev.take(train_pos), self.dev.take(valid_pos)
        fingerprint = indices_fingerprint(train.ids, valid.ids)
        key = content_key(study=self.key, kind="fold", clip_seconds=seconds, fold=k, folds=fingerprint)
        old = self._reuse("fold", key, parent)
        if old is None:
            params = {"clip_seconds": seconds, "fold": k, "n_train_tracks": len(train.ids),
                      "n_valid_tracks": len(valid.ids), "fold_fingerprint": fingerprint}
            with tracking.start_run(name, experiment=self.experiment, kind="fold", parent=parent, params=params,
                                    tags=self._tags(key, clip_seconds=seconds, fold=k), seed=self.config.seed,
                                    selection=self.selection):
                started = time.perf_counter()
                model, mean, std = self._fit(train, seconds, early_stopping=True)
                scores = self._evaluate(model, valid, seconds, mean, std)
                val_loss = model.history_.get("val_loss", model.history_["loss"])
                metrics = {"clip_accuracy": scores["clip_accuracy"], "track_accuracy": scores["track_accuracy"],
                           "best_epoch": float(np.argmin(val_loss) + 1), "epochs_trained": float(model.epochs_trained_),
                           "fit_seconds": time.perf_counter() - started}
                mlflow.log_metrics(metrics)
        else:
            metrics = old.data.metrics
        self.fits_done += 1
        return {"clip_accuracy": metrics["clip_accuracy"], "track_accuracy": metrics["track_accuracy"],
                "best_epoch": metrics["best_epoch"]}

    def _final(self, seconds: float, epochs: int, parent: str) -> dict[str, Any]:
        import mlflow
        from core import tracking

        from core.study.lineage import content_key

        label = clip_label(seconds)
        self._report(f"{label} final model")
        key = content_key(study=self.key, kind="final", clip_seconds=seconds, epochs=epochs, register=self.register)
        old = self._reuse("final", key, parent)
        if old is None:
            with tracking.start_run(f"{label} final", experiment=self.experiment, kind="final", parent=parent,
                                    params={"clip_seconds": seconds, "epochs": epochs},
                                    tags=self._tags(key, clip_seconds=seconds), seed=self.config.seed,
                                    selection=self.selection) as run:
                model, mean, std = self._fit(self.dev, seconds, early_stopping=False, epochs=epochs)
                scores = self._evaluate(model, self.test, seconds, mean, std)
                metrics = self._test_metrics(scores)
                version = self._log_model(model, seconds, mean, std, metrics, run.info.run_id)
                if version is not None:
                    mlflow.set_tag("genrelab.model_version", version)
        else:
            metrics, version = dict(old.data.metrics), old.data.tags.get("genrelab.model_version")
        self.fits_done += 1
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
        from core.models.cnn import log_audio_model

        frames = self.source.clips(int(self.test.ids[0]), seconds).shape[2]
        params = {**self.mel_params, "clip_seconds": seconds, "frames_per_clip": int(frames), "genres": self.genres,
                  "band_mean": np.asarray(mean).tolist(), "band_std": np.asarray(std).tolist()}
        with tempfile.TemporaryDirectory() as tmp:
            info = log_audio_model(model.model_, params, Path(tmp))
        if not self.register:
            return None
        client = mlflow.tracking.MlflowClient()
        version = mlflow.register_model(info.model_uri, REGISTERED_MODEL).version
        tags = {"test_accuracy": f"{metrics['test_accuracy']:.4f}", "dataset": self.selection.dataset_name,
                "family": "cnn", "clip_seconds": f"{seconds:g}", "synthetic": str(bool(self.selection.synthetic)).lower(),
                "run_id": run_id}
        for key, value in tags.items():
            client.set_model_version_tag(REGISTERED_MODEL, version, key, value)
        client.set_registered_model_alias(REGISTERED_MODEL, f"clip-{clip_label(seconds)}", version)
        return str(version)
