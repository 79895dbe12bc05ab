"""MLPs on feature tables (``keras_mlp``: the study's network; ``sklearn_mlp``), plus the FMA paper's
baselines. Inputs: ``features`` (FMA's 518 statistics, or any CSV table), ``autoencoder`` (codes of
an autoencoder fitted on each fold's training rows only, and the final one on training+validation,
so no test row ever reaches a fit) and ``embeddings`` (pretrained musicnn embeddings, ``[embeddings]``).

Every fit standardizes with statistics of its own training rows. Workers get the matrix (or the
codes) once through the executor; a task carries row indices.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import tarfile
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from core.data.tables import FeatureTable, load_csv_table, load_fma_table
from core.devices import precision_param, this_device
from core.errors import GenreLabError
from core.features.embeddings import check_choice, load_embeddings_feature_table
from core.features.window import parse_window
from core.models import mlp as mlp_models
from core.models.autoencoder import Autoencoder, AutoencoderParams
from core.models.baselines import BASELINES, baseline_label, knn_neighbors, make_baseline
from core.serving.embedding_model import log_embedding_model
from core.serving.pyfunc import log_feature_model
from core.study import runtree
from core.study.contract import Arm, Baseline, Done, Family, FinalFit, RunLog, Steps
from core.study.cost import network_weights
from core.study.evaluate import log_test_evaluation
from core.study.executor import shared
from core.study.folds import grouped_folds
from core.study.lineage import content_key, indices_fingerprint

REGISTERED = {"features": "genre-mlp", "autoencoder": "genre-mlp-ae", "embeddings": "genre-mlp-embeddings"}


@dataclass
class EmbeddingsSection:
    """The ``[embeddings]`` table: which pretrained network, layer and audio window make a track's vector."""

    model: str = "MSD_musicnn"       # or "MTT_musicnn"
    layer: str = "penultimate"       # or "taggram", "mean_pool", "max_pool"
    window: str = "full"             # the part of each file embedded (core.features.window)

    def __post_init__(self):
        try:
            check_choice(self.model, self.layer)
            parse_window(self.window)
        except GenreLabError as err:
            raise ValueError(str(err).removeprefix("embeddings: ")) from None


@dataclass
class TableInput:
    """One search's data: a table, its input kind, and what the executor shares with the workers."""

    table: FeatureTable
    kind: str
    autoencoder: dict | None = None                       # the autoencoder's params (autoencoder input)
    embeddings: EmbeddingsSection | None = None           # which vectors (embeddings input)
    matrix: object = None                                 # executor handle of the table's matrix
    codes: dict[int, object] = field(default_factory=dict)  # fold → executor handle of its codes


def table_folds(table: FeatureTable, folds: int, seed: int, group_by: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_rows, val_rows) per fold, as row indices of ``table``, over the non-test rows only:
    stratified by genre, and with ``group_by="artist"`` every artist on one side of each fold."""
    rows = table.cv_rows
    labels = table.labels[rows]
    counts = np.unique(labels, return_counts=True)[1]
    if counts.min() < 2 or len(rows) < folds:
        raise GenreLabError(f"{table.source} size {table.size}: too few tracks for {folds} folds "
                            f"(smallest genre has {counts.min()})")
    if group_by == "artist":
        if table.artists is None:
            raise GenreLabError(f"{table.source}: no artist ids to group folds by (set search.group_by = \"track\")")
        return [(rows[tr], rows[va]) for tr, va in grouped_folds(labels, table.artists[rows], folds, seed)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a genre with fewer tracks than folds: still stratified
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return [(rows[tr], rows[va]) for tr, va in splitter.split(np.zeros(len(rows)), labels)]


# ----------------------------------------------------------------------------------- worker tasks
def fit_table_fold(family: str, params: dict, matrix, labels: np.ndarray, train: np.ndarray,
                   val: np.ndarray) -> dict:
    """Fit one fold anywhere: scaler and network on ``train`` rows of ``matrix``, score ``val`` rows."""
    X = shared(matrix)
    start = time.perf_counter()
    scaler = StandardScaler().fit(X[train])
    estimator = mlp_models.make_estimator(family, params)
    history = estimator.fit(scaler.transform(X[train]), labels[train], scaler.transform(X[val]), labels[val])
    accuracy = float((estimator.predict(scaler.transform(X[val])) == labels[val]).mean())
    watched = history.get("val_loss") or history["loss"]
    return {"history": history, "accuracy": accuracy, "fit_seconds": time.perf_counter() - start,
            "device": this_device(),
            "epochs_run": len(history["loss"]), "best_epoch": int(np.argmin(watched)) + 1}


def fit_autoencoder_fold(params: dict, matrix, train: np.ndarray) -> dict:
    """Fit an autoencoder on ``train`` rows; codes of every row of ``matrix`` and the encoder as a tar."""
    X = shared(matrix)
    start = time.perf_counter()
    autoencoder = Autoencoder(**params)
    history = autoencoder.fit(X[train])
    seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        autoencoder.save(Path(tmp))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(tmp, arcname="encoder")
    return {"history": history, "fit_seconds": seconds, "codes": autoencoder.transform(np.asarray(X)),
            "encoder": buffer.getvalue()}


def fit_baseline(log: RunLog, *, name: str, table: FeatureTable, seed: int, knn_k: int | None) -> None:
    """Fit baseline ``name`` on the table's training+validation rows and score its test rows once."""
    cv, test = table.cv_rows, table.test_rows
    start = time.perf_counter()
    model = make_baseline(name, len(cv), seed, knn_k).fit(table.X[cv], table.labels[cv])
    log.metrics({"fit_seconds": time.perf_counter() - start})
    log_test_evaluation(log, table.labels[test], model.predict(table.X[test]), table.genres)


# ------------------------------------------------------------------------------------------ family
class MLPFamily(Family):
    inputs = ("features", "autoencoder", "embeddings")
    probe_stopping = True
    sections = {"autoencoder": AutoencoderParams, "embeddings": EmbeddingsSection}

    @property
    def params(self):
        return mlp_models.FAMILIES[self.name][1]

    def load(self, spec, root, *, features=None, label_column=None, dry_run=False, out=print) -> list[Arm]:
        kinds = spec.input.kinds
        if features:
            if not label_column:
                raise GenreLabError("--features needs --label-column NAME")
            if "embeddings" in kinds:
                raise spec.error("input.kinds", "a --features table has no audio to embed: use \"features\" "
                                 "and/or \"autoencoder\"")
            table = load_csv_table(Path(features), label_column, spec.dataset.test_fraction, spec.dataset.seed)
            tables = {(None, kind): table for kind in kinds}  # the table's columns, raw and as codes
        else:
            tables = {}
            for size in spec.dataset.sizes or [spec.dataset.subset]:
                if {"features", "autoencoder"} & set(kinds):
                    table = load_fma_table(root, size, spec.dataset.genres)
                    tables.update({(size, kind): table for kind in kinds if kind != "embeddings"})
                if "embeddings" in kinds:
                    e = spec.embeddings
                    tables[(size, "embeddings")] = load_embeddings_feature_table(root, size, spec.dataset.genres,
                                                                                 e.model, e.layer, e.window)
        s = spec.search
        arms = []
        for (_, kind), table in tables.items():
            folds = table_folds(table, s.folds, s.seed, s.group_by)
            fold_ids = [indices_fingerprint(table.ids[tr], table.ids[va]) for tr, va in folds]
            autoencoder = None
            if kind == "autoencoder":
                autoencoder = {k: v for k, v in asdict(spec.autoencoder).items() if k != "precision"}
                autoencoder.update(seed=s.seed, **precision_param(spec.compute.precision))
            details = {"n_features": table.X.shape[1], runtree.WINDOW: table.window, "group_by": s.group_by}
            if kind == "embeddings":
                details.update({f"embeddings.{k}": v for k, v in asdict(spec.embeddings).items()})
            details.update({f"autoencoder.{k}": v for k, v in (autoencoder or {}).items()})
            arms.append(Arm(
                label=f"{table.size} {kind}", settings={"size": table.size, "input": kind},
                data=TableInput(table, kind, autoencoder, spec.embeddings if kind == "embeddings" else None),
                dataset=table, genres=table.genres, folds=folds,
                fold_ids=fold_ids, fingerprint=content_key(table=table.fingerprint, autoencoder=autoencoder),
                n_dev=len(table.cv_rows), n_test=len(table.test_rows), window=table.window,
                source=str(features or root), details=details,
                registered_name=None if features else REGISTERED.get(kind)))
        return arms

    # -- folds ------------------------------------------------------------------------------------
    def fold_inputs(self, arm: Arm, folds: list[int], steps: Steps, executor) -> None:
        """Share the matrix; for autoencoder input, make each fold's codes (reuse or fit its autoencoder)."""
        data: TableInput = arm.data
        self._share(arm, executor)
        if data.kind != "autoencoder":
            return
        cv = data.table.cv_rows
        position = np.full(len(data.table.X), -1)
        position[cv] = np.arange(len(cv))
        pending = {}
        for k in (k for k in folds if k not in data.codes):
            key = content_key(kind="autoencoder", params=data.autoencoder, data=data.table.fingerprint,
                              fold=arm.fold_ids[k])
            done = steps.reuse("autoencoder", key, advance=1)
            if done is not None:
                data.codes[k] = executor.share(_encoder_of(done).transform(data.table.X[cv]))
            else:
                pending[k] = (key, executor.submit(fit_autoencoder_fold, data.autoencoder, data.matrix,
                                                   position[arm.folds[k][0]]))
        for k, (key, future) in pending.items():
            result = future.result()
            data.codes[k] = executor.share(result["codes"])
            with steps.run(f"{arm.label} · autoencoder fold {k + 1}", "autoencoder", key, arm,
                           params={**data.autoencoder, "fold": k + 1, "n_train": len(arm.folds[k][0])},
                           tags={runtree.FOLD: str(k + 1), runtree.FOLD_INDICES: arm.fold_ids[k]},
                           advance=1, where=f"{arm.label}: autoencoder fold {k + 1}") as log:
                _log_autoencoder(log, result["history"], result["fit_seconds"], result["encoder"])

    @staticmethod
    def _share(arm: Arm, executor) -> None:
        """Hand the matrix to the workers once (autoencoder input: its non-test rows, which codes cover)."""
        data: TableInput = arm.data
        if data.matrix is None:
            source = data.table.X[data.table.cv_rows] if data.kind == "autoencoder" else data.table.X
            data.matrix = executor.share(source)

    def probe_tasks(self, arm: Arm, executor) -> dict[str, tuple]:
        """The autoencoder of fold 1, for the plan to see when its early stopping ends it."""
        data: TableInput = arm.data
        if data.autoencoder is None or not data.autoencoder["early_stopping"]:
            return {}
        self._share(arm, executor)
        position = np.searchsorted(data.table.cv_rows, arm.folds[0][0])
        return {"autoencoder": (fit_autoencoder_fold, (data.autoencoder, data.matrix, position))}

    def fold_task(self, arm: Arm, params: dict, k: int):
        data: TableInput = arm.data
        train, val = arm.folds[k]
        if data.kind != "autoencoder":
            return fit_table_fold, (self.name, params, data.matrix, data.table.labels, train, val)
        cv = data.table.cv_rows  # codes are rows of the non-test part only
        position = np.full(len(data.table.X), -1)
        position[cv] = np.arange(len(cv))
        return fit_table_fold, (self.name, params, data.codes[k], data.table.labels[cv], position[train],
                                position[val])

    # -- final ------------------------------------------------------------------------------------
    def fit_final(self, arm: Arm, params: dict, fold_results: list[dict], steps: Steps, log: RunLog) -> FinalFit:
        """Refit on all non-test rows (autoencoder first, for codes), predict the test rows, log the model."""
        data: TableInput = arm.data
        table = data.table
        cv, test = table.cv_rows, table.test_rows
        X_cv, X_test, autoencoder = table.X[cv], table.X[test], None
        if data.autoencoder is not None:
            key = content_key(kind="autoencoder", params=data.autoencoder, data=table.fingerprint, fold="final")
            with steps.run(f"{arm.label} · autoencoder final", "autoencoder", key, arm,
                           params={**data.autoencoder, "fold": "final", "n_train": len(cv)},
                           tags={runtree.FOLD: "final"}, advance=1) as ae_log:
                autoencoder = Autoencoder(**data.autoencoder)
                history = autoencoder.fit(X_cv)
                ae_log.history(history)
                ae_log.metrics({"reconstruction_mse": history["val_loss"][-1]})
            X_cv, X_test = autoencoder.transform(X_cv), autoencoder.transform(X_test)
        scaler = StandardScaler().fit(X_cv)
        estimator = mlp_models.make_estimator(self.name, params)
        log.history(estimator.fit(scaler.transform(X_cv), table.labels[cv]))
        predicted = estimator.predict(scaler.transform(X_test))
        if data.embeddings is not None:  # audio in: the model computes the embedding itself
            e = data.embeddings
            info = log_embedding_model(estimator, scaler, self.name, e.model, e.layer, table.window)
            extra = {"embedding_model": e.model, "embedding_layer": e.layer}
        else:
            example = pd.DataFrame(table.X[cv[:5]], columns=table.feature_names)
            info = log_feature_model(estimator, scaler, autoencoder, table.feature_names, self.name, example)
            extra = {}
        return FinalFit(y_true=table.labels[test], y_pred=predicted, metrics={}, model_info=info, card_extra=extra)

    # -- cost -------------------------------------------------------------------------------------
    def fit_seconds(self, arm: Arm, params: dict, n_train: int, cost) -> float:
        data: TableInput = arm.data
        width = data.table.X.shape[1]
        if data.autoencoder is not None:
            width = data.autoencoder["bottleneck"] or width // 2
        weights = network_weights(width, list(params["hidden_units"]), len(arm.genres))
        return cost.fit_seconds(params["epochs"], n_train, weights, params["batch_size"])

    def extra_fits(self, arm: Arm, cost, stops: dict | None = None) -> tuple[int, float]:
        data: TableInput = arm.data
        if data.autoencoder is None:
            return 0, 0.0
        d, folds = data.table.X.shape[1], len(arm.folds)
        if cost is None:
            return folds + 1, 0.0
        width = data.autoencoder["bottleneck"] or d // 2
        weights = network_weights(d, [2 * d, d, width, d, 2 * d], d)
        epochs, batch = data.autoencoder["epochs"], data.autoencoder["batch_size"]
        epochs = min(epochs, (stops or {}).get("autoencoder", epochs))
        return folds + 1, (folds * cost.fit_seconds(epochs, arm.n_dev * (folds - 1) / folds, weights, batch)
                           + cost.fit_seconds(epochs, arm.n_dev, weights, batch))

    # -- baselines --------------------------------------------------------------------------------
    def run_baselines(self, arms: list[Arm], spec, steps: Steps) -> list[Baseline]:
        """The FMA paper's classifiers on each raw feature table, scored once on its test split."""
        results, knn_k, seed = [], spec.evaluation.knn_k, spec.search.seed
        for arm in self._raw_tables(arms):
            table, where = arm.data.table, f"{arm.settings['size']} {arm.settings['input']}"
            cv = table.cv_rows
            for name in BASELINES:
                params = {"model": name, "n_train": len(cv), "seed": seed,
                          **({"knn_k": knn_neighbors(len(cv), knn_k)} if name == "knn" else {})}
                label = baseline_label(name, len(cv), knn_k)
                key = content_key(kind="baseline", data=table.fingerprint, **params)
                fit = functools.partial(fit_baseline, name=name, table=table, seed=seed, knn_k=knn_k)
                steps.now(f"{where}: baseline {label}")
                done = steps.once(f"{where} · {label}", "baseline", key, arm, fit, params=params,
                                  tags={runtree.FAMILY: name, runtree.BASELINE: label})
                results.append(Baseline(arm, f"{where} {label}", label, done.metrics, params))
        return results

    def baseline_fits(self, arms: list[Arm]) -> int:
        return len(BASELINES) * len(self._raw_tables(arms))

    @staticmethod
    def _raw_tables(arms: list[Arm]) -> list[Arm]:
        """One arm per distinct table, named by the raw input the baselines see (features or embeddings)."""
        seen, out = set(), []
        for arm in arms:
            if arm.data.table.fingerprint not in seen:
                seen.add(arm.data.table.fingerprint)
                raw = "embeddings" if arm.data.kind == "embeddings" else "features"
                out.append(dataclasses.replace(arm, settings={**arm.settings, "input": raw}))
        return out


def _log_autoencoder(log: RunLog, history: dict, fit_seconds: float, encoder_tar: bytes) -> None:
    """Curves, reconstruction error and the encoder (artifact ``encoder/``) of a fitted autoencoder."""
    log.history(history)
    log.metrics({"reconstruction_mse": history["val_loss"][-1], "fit_seconds": fit_seconds})
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(encoder_tar)) as tar:
            tar.extractall(tmp, filter="data")
        log.folder(Path(tmp) / "encoder", "encoder")


def _encoder_of(done: Done) -> Autoencoder:
    """The fitted autoencoder a finished autoencoder run logged."""
    return Autoencoder.load(done.artifact("encoder"))
