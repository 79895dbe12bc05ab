"""MLPs on feature tables (``keras_mlp``: the study's network; ``sklearn_mlp``), plus the FMA paper's
baselines. Inputs: every kind of :mod:`core.inputs` with a table of per-track vectors (``features``:
FMA's 518 statistics, or any CSV table; ``embeddings``: pretrained musicnn vectors, ``[embeddings]``),
and ``autoencoder``, codes of the features table from an autoencoder fitted on each fold's training rows
only (and the final one on training+validation), so no test row ever reaches a fit.

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
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core import inputs
from core.data.tables import FeatureTable, load_csv_table
from core.devices import precision_param, this_device
from core.errors import GenreLabError
from core.inputs import InputKind
from core.models import mlp as mlp_models
from core.models.autoencoder import Autoencoder
from core.models.baselines import BASELINES, baseline_label, knn_neighbors, make_baseline
from core.study import runtree
from core.study.contract import Arm, Baseline, Family, FinalFit
from core.study.cost import network_weights
from core.study.evaluate import log_test_evaluation
from core.study.executor import shared
from core.study.folds import grouped_folds
from core.study.lineage import content_key, indices_fingerprint

if TYPE_CHECKING:  # annotations only: the step imports MLflow, which worker processes need not load
    from core.study.steps import Done, RunLog, Steps


@dataclass
class TableInput:
    """One search's data: a table, its input kind, and what the executor shares with the workers."""

    table: FeatureTable
    kind: InputKind
    section: object = None                                # the kind's spec table ([embeddings]...)
    autoencoder: dict | None = None                       # the autoencoder's params (autoencoder input)
    matrix: object = None                                 # executor handle of the table's matrix
    codes: dict[int, object] = field(default_factory=dict)  # fold → executor handle of its codes


def registered_name(kind: InputKind) -> str | None:
    """What a study registers its MLP on ``kind`` as: genre-mlp, genre-mlp-ae, genre-mlp-<kind> (None for
    an audio kind that does not say how its model answers)."""
    if kind.takes_audio and kind.log_model is None:
        return None
    return "genre-mlp" + {"features": "", "autoencoder": "-ae"}.get(kind.name, f"-{kind.name}")


def table_folds(table: FeatureTable, folds: int, seed: int, group_by: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_rows, val_rows) per fold, as row indices of ``table``, over the non-test rows only:
    stratified by genre, and with ``group_by="artist"`` every artist on one side of each fold."""
    from sklearn.model_selection import StratifiedKFold  # scikit-learn takes a second: specs load without it

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
    from sklearn.preprocessing import StandardScaler

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
    log_test_evaluation(log, table.labels[test], model.predict(table.X[test]), table.genres,
                        None if table.artists is None else table.artists[test])


# ------------------------------------------------------------------------------------------ family
class MLPFamily(Family):
    probe_stopping = True

    @property
    def params(self):
        return mlp_models.FAMILIES[self.name][1]

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every kind with a table of per-track vectors, or codes of one (:mod:`core.inputs`)."""
        return tuple(name for name, k in inputs.KINDS.items() if k.table is not None or k.encodes)

    @property
    def sections(self) -> dict[str, type]:
        return {name: inputs.KINDS[name].section for name in self.inputs if inputs.KINDS[name].section}

    def load(self, spec, root, *, features=None, label_column=None, dry_run=False, out=print) -> list[Arm]:
        kinds = [inputs.kind(name) for name in spec.input.kinds]
        if features:
            if not label_column:
                raise GenreLabError("--features needs --label-column NAME")
            audio = [k.name for k in kinds if k.takes_audio]
            if audio:
                raise spec.error("input.kinds", f"a --features table has no audio to compute {audio[0]!r} from: "
                                 "use \"features\" and/or \"autoencoder\"")
            table = load_csv_table(Path(features), label_column, spec.dataset.test_fraction, spec.dataset.seed)
            tables = {(None, k.name, ""): (table, None) for k in kinds}  # the table's columns, raw and as codes
        else:
            tables = {}
            for size in spec.dataset.sizes or [spec.dataset.subset]:
                read = {}
                for k in kinds:
                    source = inputs.kind(k.encodes) if k.encodes else k  # codes are learnt from its table
                    for variant, section in self._variants(spec, source):
                        if (source.name, variant) not in read:
                            read[source.name, variant] = source.table(root, size, spec.dataset.genres, section)
                        tables[size, k.name, variant] = (read[source.name, variant], None if k.encodes else section)
        s = spec.search
        arms = []
        for (_, name, variant), (table, section) in tables.items():
            kind = inputs.kind(name)
            folds = table_folds(table, s.folds, s.seed, s.group_by)
            fold_ids = [indices_fingerprint(table.ids[tr], table.ids[va]) for tr, va in folds]
            autoencoder = None
            if name == "autoencoder":
                autoencoder = {k: v for k, v in asdict(spec.autoencoder).items() if k != "precision"}
                autoencoder.update(seed=s.seed, **precision_param(spec.compute.precision))
            details = {"n_features": table.X.shape[1], runtree.WINDOW: table.window, "group_by": s.group_by}
            details.update({f"{name}.{k}": v for k, v in (asdict(section) if section else {}).items()})
            details.update({f"autoencoder.{k}": v for k, v in (autoencoder or {}).items()})
            settings = {"size": table.size, "input": name, **({"variant": variant} if variant else {})}
            arms.append(Arm(
                label=" ".join(filter(None, (table.size, name, variant))), settings=settings,
                data=TableInput(table, kind, section, autoencoder),
                dataset=table, genres=table.genres, folds=folds,
                fold_ids=fold_ids, fingerprint=content_key(table=table.fingerprint, autoencoder=autoencoder),
                n_dev=len(table.cv_rows), n_test=len(table.test_rows), window=table.window,
                source=str(features or root), details=details,
                registered_name=None if features else registered_name(kind)))
        return arms

    @staticmethod
    def _variants(spec, kind: InputKind) -> list[tuple[str, object]]:
        """``(label, section)`` per version of ``kind`` the spec's table asks for (``[embeddings]`` may list
        models and layers); ``("", section or None)`` for a kind without versions."""
        section = getattr(spec, kind.name) if kind.section else None
        return kind.variants(section) if kind.variants else [("", section)]

    # -- folds ------------------------------------------------------------------------------------
    def fold_inputs(self, arm: Arm, folds: list[int], steps: Steps, executor) -> None:
        """Share the matrix; for autoencoder input, make each fold's codes (reuse or fit its autoencoder)."""
        data: TableInput = arm.data
        self._share(arm, executor)
        if data.autoencoder is None:
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
            source = data.table.X[data.table.cv_rows] if data.autoencoder is not None else data.table.X
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
        if data.autoencoder is None:
            return fit_table_fold, (self.name, params, data.matrix, data.table.labels, train, val)
        cv = data.table.cv_rows  # codes are rows of the non-test part only
        position = np.full(len(data.table.X), -1)
        position[cv] = np.arange(len(cv))
        return fit_table_fold, (self.name, params, data.codes[k], data.table.labels[cv], position[train],
                                position[val])

    # -- final ------------------------------------------------------------------------------------
    def fit_final(self, arm: Arm, params: dict, fold_results: list[dict], steps: Steps, log: RunLog) -> FinalFit:
        """Refit on the non-test rows but a validation slice (autoencoder first, for codes), fit the
        temperature on that slice, predict the test rows, log the model."""
        from sklearn.preprocessing import StandardScaler

        from core.serving.pyfunc import log_feature_model  # MLflow: only the study's process logs models

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
        # The validation slice: early stopping (when on) watches it, the temperature is fitted on it, and
        # the network never trains on it (the estimator draws the same slice when it stops early).
        labels = table.labels[cv]
        fit_rows, held = mlp_models.inner_validation_split(np.unique(labels, return_inverse=True)[1],
                                                           params["validation_fraction"], params["seed"])
        if params["early_stopping"]:
            log.history(estimator.fit(scaler.transform(X_cv), labels))
        else:
            log.history(estimator.fit(scaler.transform(X_cv[fit_rows]), labels[fit_rows]))
        estimator.calibrate(scaler.transform(X_cv[held]), labels[held])
        proba = estimator.predict_proba(scaler.transform(X_test))
        predicted = estimator.classes_[proba.argmax(axis=1)]
        kind, info, extra = data.kind, None, {}
        if kind.takes_audio:  # audio in: the model computes the track's vector itself (if its kind says how)
            if kind.log_model is not None:
                info = kind.log_model(estimator, scaler, self.name, data.section, table.window)
                extra = kind.card(data.section) if kind.card else {}
        else:
            example = pd.DataFrame(table.X[cv[:5]], columns=table.feature_names)
            info = log_feature_model(estimator, scaler, autoencoder, table.feature_names, self.name, example)
        return FinalFit(y_true=table.labels[test], y_pred=predicted, metrics={}, model_info=info, card_extra=extra,
                        proba=proba, classes=[str(c) for c in estimator.classes_], temperature=estimator.temperature_,
                        artists=None if table.artists is None else table.artists[test])

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
            table = arm.data.table
            where = " ".join(filter(None, (arm.settings["size"], arm.settings["input"], arm.settings.get("variant"))))
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
                raw = arm.data.kind.encodes or arm.data.kind.name
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
