"""Test fixtures for the dashboard: a tiny dataset root in FMA's layout, and study run trees.

The run trees are written quickly (MlflowClient.log_batch) in the shape ``core/study/runner.py``
(MLP dataset-size study) and ``core/study/cnn_study.py`` (clip-length study) write: same kinds, tags,
params, metric names and ``confusion_matrix.json``. Their values are random; they serve the dashboard
tests and ``bench/bench_dashboard.py`` and are never shown as results.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

GENRES = ["Electronic", "Experimental", "Folk", "Hip-Hop", "Instrumental", "International", "Pop", "Rock"]


def tiny_root(dest: Path, tracks_per_genre: int = 6, clip_seconds: float = 1.5) -> Path:
    """A small synthetic root: the demo generator's tracks and short clips, every genre with 2 test
    and 1 validation track, and a features.csv whose 518 columns are random with a per-genre offset
    (so a classifier learns something in a few epochs)."""
    from core.data import fma
    from core.data.demo import build_demo
    from core.features.fma_features import features_frame

    root = build_demo(dest, tracks_per_genre=tracks_per_genre, seed=0, clip_seconds=clip_seconds, workers=1)
    tracks = fma.load_tracks(root)
    rank = tracks.groupby(("track", "genre_top"), observed=True).cumcount()
    split = np.where(rank < 2, "test", np.where(rank < 3, "validation", "training"))
    tracks[("set", "split")] = pd.Categorical(split, categories=list(fma.SPLITS))
    fma.write_tracks(tracks, fma.metadata_path(root, "tracks"))
    genres = sorted(tracks["track", "genre_top"].dropna().unique())
    rng = np.random.default_rng(0)
    rows = {}
    for track_id, genre in tracks["track", "genre_top"].items():
        vector = rng.normal(size=518).astype(np.float32)
        block = genres.index(genre) * 8  # 8 feature columns per genre carry its signal
        vector[block:block + 8] += 2.5
        rows[int(track_id)] = vector
    fma.write_features(features_frame(rows), fma.metadata_path(root, "features"))
    return root


class TreeWriter:
    """Creates runs in one experiment; each ``run(...)`` is create + one log_batch + terminate."""

    def __init__(self, experiment: str, *, dataset: str = "demo", synthetic: bool = True, seed: int = 0):
        from mlflow.tracking import MlflowClient

        from core import tracking

        self.client = MlflowClient()
        self.experiment_id = tracking.experiment_id(experiment)
        self.common = {"genrelab.dataset": dataset, "genrelab.synthetic": str(synthetic).lower(),
                       "genrelab.data_fingerprint": "0" * 16, "genrelab.seed": str(seed)}
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def run(self, name: str, kind: str, parent: str | None = None, *, params: dict | None = None,
            tags: dict | None = None, metrics: dict | None = None, curves: int = 0,
            confusion: bool = False) -> str:
        from mlflow.entities import Metric, Param, RunTag

        all_tags = {"genrelab.kind": kind, "mlflow.runName": name, **self.common, **(tags or {})}
        if parent:
            all_tags["mlflow.parentRunId"] = parent
        run_id = self.client.create_run(self.experiment_id, run_name=name).info.run_id
        now = int(time.time() * 1000)
        logged = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        for step in range(curves):
            decay = np.exp(-step / max(curves / 3, 1))
            logged += [Metric("loss", 2.0 * decay + 0.1, now, step), Metric("val_loss", 2.1 * decay + 0.3, now, step),
                       Metric("accuracy", 0.9 - 0.7 * decay, now, step), Metric("val_accuracy", 0.7 - 0.5 * decay, now, step)]
        self.client.log_batch(run_id, metrics=logged[:1000], params=[Param(k, str(v)) for k, v in (params or {}).items()],
                              tags=[RunTag(k, str(v)) for k, v in all_tags.items()])
        if confusion:
            matrix = self.rng.integers(0, 10, size=(len(GENRES), len(GENRES))) + np.eye(len(GENRES), dtype=int) * 20
            self.client.log_dict(run_id, {"labels": GENRES, "matrix": matrix.tolist()}, "confusion_matrix.json")
        self.client.set_terminated(run_id, "FINISHED")
        self.count += 1
        return run_id

    def test_metrics(self, accuracy: float) -> dict:
        f1 = {f"test_f1_{g.replace('-', '_')}": float(np.clip(accuracy + self.rng.normal(0, 0.08), 0, 1)) for g in GENRES}
        return {"test_accuracy": accuracy, "test_f1_macro": float(np.mean(list(f1.values()))), **f1}


def mlp_size_study(writer: TreeWriter, *, sizes=("8k", "25k"), inputs=("features", "autoencoder"),
                   n_candidates: int = 3, folds: int = 3, epochs: int = 5, baselines: bool = True) -> str:
    """A dataset-size study tree; returns the study run id."""
    rng = writer.rng
    study = writer.run("mlp study", "study", tags={"genrelab.family": "keras_mlp"},
                       params={"family": "keras_mlp", "sizes": list(sizes), "folds": folds})
    for s, size in enumerate(sizes):
        n = 800 * (s + 1)
        if baselines:
            for model in ("logistic_regression", "svm_rbf", "knn_200"):
                writer.run(f"{size} {model}", "baseline", study, params={"model": model, "size": size},
                           tags={"genrelab.size": size, "genrelab.family": model, "genrelab.input": "features"},
                           metrics=writer.test_metrics(float(rng.uniform(0.3, 0.5))), confusion=True)
        for input_kind in inputs:
            tags = {"genrelab.size": size, "genrelab.input": input_kind, "genrelab.family": "keras_mlp"}
            search = writer.run(f"{size} {input_kind}", "search", study, tags=tags,
                                params={"size": size, "input": input_kind, "n_cv": int(n * 0.9), "n_test": n // 10,
                                        "folds": folds, "n_candidates": n_candidates})
            best, best_mean = None, -1.0
            for c in range(n_candidates):
                hyper = {"hidden_units": str([256, 128][: 1 + c % 2]), "dropout": [0.1, 0.3, 0.5][c % 3],
                         "learning_rate": [1e-3, 3e-4][c % 2], "epochs": epochs}
                accs = rng.uniform(0.3, 0.7, size=folds)
                cand = writer.run(f"candidate {c + 1}/{n_candidates}", "candidate", search,
                                  params={**hyper, "candidate": c + 1, "rung": 1},
                                  tags={**tags, "genrelab.candidate": str(c + 1)},
                                  metrics={"cv_accuracy_mean": accs.mean(), "cv_accuracy_std": accs.std()})
                for k in range(folds):
                    writer.run(f"fold {k + 1}/{folds}", "fold", cand, params={**hyper, "fold": k + 1},
                               tags={"genrelab.fold": str(k + 1)}, metrics={"fold_accuracy": accs[k]}, curves=epochs)
                if accs.mean() > best_mean:
                    best, best_mean, best_std = cand, accs.mean(), accs.std()
            test = writer.test_metrics(float(np.clip(best_mean + rng.normal(0, 0.03), 0, 1)))
            writer.run(f"{size} {input_kind} final", "final", search, tags=tags, metrics=test, curves=epochs,
                       confusion=True)
            _update(writer, search, {"cv_accuracy_mean": best_mean, "cv_accuracy_std": best_std, **test},
                    {"genrelab.best_candidate_run": best})
    return study


def cnn_clip_study(writer: TreeWriter, *, clip_seconds=(3.0, 10.0, 30.0), folds: int = 3, epochs: int = 4) -> str:
    rng = writer.rng
    tags = {"genrelab.family": "cnn"}
    study = writer.run("cnn clip length", "study", tags=tags, params={"clip_seconds": str(list(clip_seconds))})
    for seconds in clip_seconds:
        clip_tags = {**tags, "genrelab.clip_seconds": str(seconds)}
        length = writer.run(f"{seconds:g}s", "clip_length", study, params={"clip_seconds": seconds}, tags=clip_tags)
        clip, track = rng.uniform(0.3, 0.6, size=folds), rng.uniform(0.35, 0.7, size=folds)
        for k in range(folds):
            writer.run(f"{seconds:g}s fold {k + 1}/{folds}", "fold", length, params={"clip_seconds": seconds, "fold": k},
                       tags={**clip_tags, "genrelab.fold": str(k)},
                       metrics={"clip_accuracy": clip[k], "track_accuracy": track[k]}, curves=epochs)
        test = {**writer.test_metrics(float(track.mean())), "test_clip_accuracy": float(clip.mean()),
                "test_track_accuracy": float(track.mean())}
        writer.run(f"{seconds:g}s final", "final", length, params={"clip_seconds": seconds}, tags=clip_tags,
                   metrics=test, confusion=True)
        _update(writer, length, {"cv_clip_accuracy_mean": clip.mean(), "cv_clip_accuracy_std": clip.std(),
                                 "cv_track_accuracy_mean": track.mean(), "cv_track_accuracy_std": track.std(),
                                 "cv_accuracy_mean": track.mean(), "cv_accuracy_std": track.std(), **test}, {})
    return study


def _update(writer: TreeWriter, run_id: str, metrics: dict, tags: dict) -> None:
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    writer.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                            tags=[RunTag(k, str(v)) for k, v in tags.items()])
