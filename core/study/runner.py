"""The MLP study: for each dataset size and input (raw features or autoencoder codes), a randomized
k-fold CV search over an MLP family, the best candidate refit and scored once on the test split.

Plan: the test split is set aside; the other rows are cut into stratified folds (the same folds for
every candidate and input). Every fold fit standardizes with statistics of its training rows only;
with autoencoder input, the autoencoder of a fold is also fitted on that fold's training rows only
(and the final one on training+validation), so no test row ever reaches a fit.

Runs: study → search (per size × input) → candidate → fold, plus autoencoder runs (per fold and
final), a final run holding the registered model, and baseline runs (per size). Finished runs with the
same content key are reused (see :mod:`core.study.lineage`), so an interrupted study resumes.

Compute: fold fits run in a pool of worker processes (``compute.parallel``), each with
``cores // n_jobs`` threads; the matrix reaches workers as a memory-mapped ``.npy`` file, tasks carry
row indices. Optional early stopping (inner validation slice) and successive halving over candidates
(each rung trains the survivors with a growing fraction of their epochs and keeps the best 1/eta).
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core.errors import GenreLabError
from core.study.data import FeatureTable
from core.study.fits import FitPool, fit_autoencoder_fold, fit_fold
from core.study.lineage import KEY_TAG, adopt, content_key, find_reusable, indices_fingerprint, log_history
from core.study.plan import Plan, make_plan, measured_cost
from core.study.spec import Spec

INPUTS = ("features", "autoencoder")
REGISTERED = {"features": "genre-mlp", "autoencoder": "genre-mlp-ae"}
AUTOENCODER_DEFAULTS = {"bottleneck": 259, "epochs": 50, "batch_size": 256, "learning_rate": 0.001,
                        "early_stopping": True, "patience": 5, "validation_fraction": 0.1}


# ------------------------------------------------------------------------------------------ settings

@dataclass
class MLPStudySettings:
    family: str
    inputs: list[str]
    space: dict[str, list]
    n_candidates: int
    folds: int
    seed: int
    early_stopping: bool
    patience: int
    validation_fraction: float
    halving: bool
    halving_eta: int
    halving_min_fraction: float
    autoencoder: dict
    baselines: bool
    refit_and_test: bool
    register: bool
    n_jobs: int
    parallel: str

    @classmethod
    def from_spec(cls, spec: Spec) -> "MLPStudySettings":
        from core.models.mlp import param_names

        inputs = spec.get("input.kinds")
        bad = [k for k in inputs if k not in INPUTS]
        if bad:
            raise spec.error("input.kinds", f"the MLP study takes {' or '.join(INPUTS)}, not {bad[0]!r}")
        space = spec.get("search.space")
        allowed = param_names(spec.family) - {"seed", "early_stopping", "patience", "validation_fraction"}
        for name in space:
            if name not in allowed:
                raise spec.error(f"search.space.{name}", f"not a {spec.family} parameter "
                                                         f"(known: {', '.join(sorted(allowed))})")
        if spec.get("search.halving") and "epochs" not in space:
            raise spec.error("search.halving", "needs search.space.epochs (the budget each rung scales)")
        ae = spec.section("autoencoder", AUTOENCODER_DEFAULTS)
        n_jobs = spec.get("compute.n_jobs") or (os.cpu_count() or 1)
        return cls(family=spec.family, inputs=inputs, space=space, n_candidates=spec.get("search.n_candidates"),
                   folds=spec.get("search.folds"), seed=spec.get("search.seed"),
                   early_stopping=spec.get("search.early_stopping"), patience=spec.get("search.patience"),
                   validation_fraction=spec.get("search.validation_fraction"),
                   halving=spec.get("search.halving"), halving_eta=spec.get("search.halving_eta"),
                   halving_min_fraction=spec.get("search.halving_min_fraction"), autoencoder=ae,
                   baselines=spec.get("evaluation.baselines"), refit_and_test=spec.get("evaluation.refit_and_test"),
                   register=spec.get("evaluation.register"), n_jobs=max(1, n_jobs),
                   parallel=spec.get("compute.parallel"))

    def candidates(self) -> list[dict]:
        """``n_candidates`` distinct combinations of the space, drawn with ``seed`` (all if fewer exist)."""
        names = sorted(self.space)
        sizes = [len(self.space[n]) for n in names]
        total = math.prod(sizes)
        rng = np.random.default_rng(self.seed)
        picks = rng.choice(total, size=min(self.n_candidates, total), replace=False)
        out = []
        for pick in picks.tolist():
            combo = {}
            for name, size in zip(reversed(names), reversed(sizes)):
                pick, digit = divmod(pick, size)
                combo[name] = self.space[name][digit]
            out.append(dict(sorted(combo.items())))
        return out

    def rung_fractions(self) -> list[float]:
        """Fractions of each candidate's epochs per successive-halving rung ([1.0] without halving)."""
        if not self.halving:
            return [1.0]
        fractions, f = [], self.halving_min_fraction
        while f < 1.0 - 1e-9:
            fractions.append(f)
            f *= self.halving_eta
        return fractions + [1.0]

    def survivors_per_rung(self, n: int) -> list[int]:
        return [max(1, math.ceil(n / self.halving_eta ** r)) for r in range(len(self.rung_fractions()))]

    def model_params(self, candidate: dict, fraction: float) -> dict:
        """The estimator params of a candidate at a rung: its epochs scaled, the search's stopping rule."""
        params = dict(candidate, seed=self.seed, early_stopping=self.early_stopping, patience=self.patience,
                      validation_fraction=self.validation_fraction)
        if fraction < 1.0:
            params["epochs"] = max(1, round(params["epochs"] * fraction))
        return params

    def autoencoder_params(self) -> dict:
        return dict(self.autoencoder, seed=self.seed)


# --------------------------------------------------------------------------------------------- study

def stratified_folds(table: FeatureTable, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_rows, val_rows) per fold, as row indices of ``table``, over the non-test rows only."""
    from sklearn.model_selection import StratifiedKFold

    rows = table.cv_rows
    labels = table.labels[rows]
    counts = np.unique(labels, return_counts=True)[1]
    if counts.min() < 2 or len(rows) < folds:
        raise GenreLabError(f"{table.source} size {table.size}: too few tracks for {folds} folds "
                            f"(smallest genre has {counts.min()})")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a genre with fewer tracks than folds: still stratified
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return [(rows[tr], rows[va]) for tr, va in splitter.split(np.zeros(len(rows)), labels)]


class MLPStudy:
    """Runs one spec's MLP study into MLflow; ``run()`` returns the results rows."""

    def __init__(self, spec: Spec, settings: MLPStudySettings, tables: list[FeatureTable],
                 progress, out: Callable[[str], None], register_names: dict[str, str] | None):
        self.spec, self.settings, self.tables = spec, settings, tables
        self.experiment = spec.name
        self.progress, self.out = progress, out
        self.register_names = register_names
        self.pool = FitPool(settings.parallel, settings.n_jobs)
        self.compute = {"fits": 0, "epochs": 0, "seconds": 0.0}
        self.workdir = Path()  # matrices and codes shared with the workers, made when fitting starts

    # -- the tree -------------------------------------------------------------------------------
    def run(self) -> list[dict]:
        from core import tracking

        key = content_key(kind="study", spec={k: v for k, v in self.spec.data.items() if k != "description"},
                          data=[t.fingerprint for t in self.tables])
        done = find_reusable(self.experiment, "study", key)
        if done is not None:
            self.out(f"study already finished as run {done.info.run_id}: nothing to fit")
            rows = _download_json(done.info.run_id, "results.json")
            self.progress.advance(self.progress.fits_total - self.progress.fits_done, "done")
            return rows
        rows = []
        self.workdir = Path(tempfile.mkdtemp(prefix="genrelab-mlp-"))
        try:
            with tracking.start_run(self.experiment, experiment=self.experiment, kind="study",
                                    params=self._study_params(), tags={KEY_TAG: key, "genrelab.family":
                                                                       self.settings.family},
                                    seed=self.settings.seed, selection=self.tables[0]) as study:
                import mlflow

                mlflow.log_text(self.spec.path.read_text(encoding="utf-8"), "spec.toml")
                mlflow.log_dict(self.spec.to_toml_dict(), "spec_resolved.json")
                failures = []
                for table in self.tables:
                    if self.settings.baselines:
                        rows += self.run_baselines(table, study.info.run_id)
                    for input_kind in self.settings.inputs:
                        try:
                            rows.append(self.run_search(table, input_kind, study.info.run_id))
                        except Exception as err:  # noqa: BLE001 - recorded; the other searches go on
                            if not isinstance(err, GenreLabError):
                                traceback.print_exc()
                            failures.append(f"{table.size} {input_kind}: {_first_line(err)}")
                            self.out(f"failed: {failures[-1]}")
                mlflow.log_dict(rows, "results.json")
                mlflow.log_metrics({f"compute_{k}": float(v) for k, v in self.compute.items()})
                if failures:
                    mlflow.log_dict(failures, "failures.json")
                    raise GenreLabError(f"{len(failures)} search(es) failed, the others finished (rerun to retry "
                                        f"the failed ones): {failures[0]}")
        except BaseException:
            self.pool.close(cancel=True)
            raise
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.pool.close()
        return rows

    def _study_params(self) -> dict:
        s = self.settings
        return {"family": s.family, "inputs": s.inputs, "sizes": [t.size for t in self.tables],
                "n_candidates": s.n_candidates, "folds": s.folds, "early_stopping": s.early_stopping,
                "halving": s.halving, "spec": self.spec.path.name, "overrides": self.spec.overrides}

    def run_baselines(self, table: FeatureTable, parent: str) -> list[dict]:
        from core import tracking
        from core.models.baselines import BASELINES, make_baseline
        from core.study.evaluate import log_test_evaluation

        rows = []
        cv, test = table.cv_rows, table.test_rows
        for name in BASELINES:
            key = content_key(kind="baseline", name=name, data=table.fingerprint, seed=self.settings.seed)
            self.progress.set_current(f"{table.size}: baseline {name}")
            done = find_reusable(self.experiment, "baseline", key)
            if done is not None:
                adopt(done, parent)
                metrics = done.data.metrics
            else:
                with tracking.start_run(f"{table.size} {name}", experiment=self.experiment, kind="baseline",
                                        parent=parent, params={"model": name, "size": table.size,
                                                               "input": "features", "n_train": len(cv)},
                                        tags={KEY_TAG: key, "genrelab.size": table.size,
                                              "genrelab.family": name, "genrelab.input": "features"},
                                        seed=self.settings.seed, selection=table):
                    import mlflow

                    start = time.perf_counter()
                    model = make_baseline(name, len(cv), self.settings.seed).fit(table.X[cv], table.labels[cv])
                    mlflow.log_metric("fit_seconds", time.perf_counter() - start)
                    metrics = log_test_evaluation(table.labels[test], model.predict(table.X[test]), table.genres)
            self.progress.advance(1)
            rows.append({"size": table.size, "input": "features", "model": name, "cv_mean": None,
                         "cv_std": None, "test_accuracy": metrics.get("test_accuracy"),
                         "test_f1_macro": metrics.get("test_f1_macro")})
        return rows

    def run_search(self, table: FeatureTable, input_kind: str, parent: str) -> dict:
        from core import tracking

        s = self.settings
        folds = stratified_folds(table, s.folds, s.seed)
        fold_fps = [indices_fingerprint(table.ids[tr], table.ids[va]) for tr, va in folds]
        candidates = s.candidates()
        ae_params = s.autoencoder_params() if input_kind == "autoencoder" else None
        base = {"family": s.family, "input": input_kind, "data": table.fingerprint, "autoencoder": ae_params}
        key = content_key(kind="search", **base, folds=fold_fps, candidates=candidates,
                          rungs=s.rung_fractions(), eta=s.halving_eta, es=[s.early_stopping, s.patience,
                                                                           s.validation_fraction],
                          refit=s.refit_and_test, register=self.register_names is not None)
        label = f"{table.size} {input_kind}"
        done = find_reusable(self.experiment, "search", key)
        if done is not None:
            adopt(done, parent)
            self.progress.advance(self._search_fits(len(candidates), input_kind), f"{label}: reused")
            return self._row(table, input_kind, done.data.metrics, done.data.params.get("best_params", ""))
        tags = {KEY_TAG: key, "genrelab.size": table.size, "genrelab.input": input_kind,
                "genrelab.family": s.family}
        params = {"size": table.size, "input": input_kind, "family": s.family, "n_candidates": len(candidates),
                  "folds": s.folds, "halving": s.halving, "early_stopping": s.early_stopping,
                  "n_cv": len(table.cv_rows), "n_test": len(table.test_rows), "n_features": table.X.shape[1],
                  "genres": table.genres}
        if ae_params:
            params.update({f"autoencoder.{k}": v for k, v in ae_params.items()})
        with tracking.start_run(label, experiment=self.experiment, kind="search", parent=parent, params=params,
                                tags=tags, seed=s.seed, selection=table) as search:
            import mlflow

            search_id = search.info.run_id
            matrix = self.workdir / f"{table.fingerprint}.npy"
            if not matrix.exists():
                np.save(matrix, table.X)
            codes = _Codes(self, table, folds, fold_fps, ae_params, search_id) if ae_params else None
            before = dict(self.compute)
            alive = list(range(len(candidates)))
            results: dict[int, dict] = {}
            for rung, (fraction, keep) in enumerate(zip(s.rung_fractions(), s.survivors_per_rung(len(candidates)))):
                alive = sorted(alive, key=lambda c: (-results[c]["mean"], c))[:keep] if results else alive
                results = {}
                lookups = self._prepare_rung(candidates, alive, fraction, fold_fps, base, codes)
                for c in alive:
                    results[c] = self._run_candidate(table, candidates, c, rung, fraction, lookups[c], folds, codes,
                                                     str(matrix), search_id, label)
            best = min(results, key=lambda c: (-results[c]["mean"], c))
            best_params = s.model_params(candidates[best], 1.0)
            mlflow.log_params({"best_candidate": best + 1, "best_params": json.dumps(best_params, sort_keys=True)})
            mlflow.log_params({f"best.{k}": v for k, v in candidates[best].items()})
            metrics = {"cv_accuracy_mean": results[best]["mean"], "cv_accuracy_std": results[best]["std"]}
            metrics.update({f"compute_{k}": float(v - before[k]) for k, v in self.compute.items()})
            mlflow.set_tag("genrelab.best_candidate_run", results[best]["run_id"])
            if s.refit_and_test:
                metrics.update(self.run_final(table, input_kind, best_params, ae_params, search_id, key, label))
                self.out(f"{label}: best candidate {best + 1}, test accuracy {metrics['test_accuracy']:.3f}")
            mlflow.log_metrics(metrics)
        return self._row(table, input_kind, metrics, json.dumps(best_params, sort_keys=True))

    def _search_fits(self, n_candidates: int, input_kind: str) -> int:
        s = self.settings
        fits = sum(s.survivors_per_rung(n_candidates)) * s.folds + int(s.refit_and_test)
        return fits + (s.folds + 1 if input_kind == "autoencoder" else 0)

    def _row(self, table, input_kind, metrics, best_params) -> dict:
        return {"size": table.size, "input": input_kind, "model": self.settings.family,
                "cv_mean": metrics.get("cv_accuracy_mean"), "cv_std": metrics.get("cv_accuracy_std"),
                "test_accuracy": metrics.get("test_accuracy"), "test_f1_macro": metrics.get("test_f1_macro"),
                "fits": metrics.get("compute_fits"), "seconds": metrics.get("compute_seconds"),
                "best_params": best_params}

    def _prepare_rung(self, candidates, alive, fraction, fold_fps, base, codes) -> dict[int, list]:
        """Per alive candidate, per fold: (fold key, params, fold fingerprint, finished run or None).

        Autoencoder codes are made now for every fold that some candidate still has to fit.
        """
        lookups: dict[int, list] = {}
        needed_folds = set()
        for c in alive:
            params = self.settings.model_params(candidates[c], fraction)
            lookups[c] = []
            for k, fp in enumerate(fold_fps):
                fold_key = content_key(kind="fold", **base, params=params, fold=fp)
                run = find_reusable(self.experiment, "fold", fold_key)
                lookups[c].append((fold_key, params, fp, run))
                if run is None:
                    needed_folds.add(k)
        if codes is not None and needed_folds:
            codes.ensure(sorted(needed_folds))
        return lookups

    def _submit_fold(self, table, folds, k, params, codes, matrix):
        """Start fitting fold ``k``; with codes, rows are positions in the codes file (non-test rows)."""
        train, val = folds[k]
        if codes is None:
            return self.pool.submit(fit_fold, self.settings.family, params, matrix, table.labels, train, val)
        position = np.full(len(table.X), -1)
        position[table.cv_rows] = np.arange(len(table.cv_rows))
        return self.pool.submit(fit_fold, self.settings.family, params, codes.path(k),
                                table.labels[table.cv_rows], position[train], position[val])

    def _run_candidate(self, table, candidates, c, rung, fraction, folds_state, folds, codes, matrix,
                       search_id, label) -> dict:
        """The candidate run: reuse finished folds, fit the others (in parallel), log each fold run."""
        from core import tracking

        import mlflow

        s = self.settings
        params = folds_state[0][1]
        cand_key = content_key(kind="candidate", fold_keys=[f[0] for f in folds_state])
        name = f"candidate {c + 1}/{len(candidates)}" + (f" rung {rung + 1}" if s.halving else "")
        tags = {KEY_TAG: cand_key, "genrelab.candidate": str(c + 1), "genrelab.rung": str(rung + 1),
                "genrelab.size": table.size, "genrelab.family": s.family}
        with tracking.start_run(name, experiment=self.experiment, kind="candidate", parent=search_id,
                                params={**params, "candidate": c + 1, "rung": rung + 1, "epoch_fraction": fraction},
                                tags=tags, seed=s.seed, selection=table) as cand:
            pending = {k: self._submit_fold(table, folds, k, params, codes, matrix)
                       for k, state in enumerate(folds_state) if state[3] is None}
            accuracies, seconds, epochs, reused = [], 0.0, 0, 0
            for k, (fold_key, _, fold_fp, run) in enumerate(folds_state):
                where = f"{label}: candidate {c + 1}/{len(candidates)} fold {k + 1}/{len(folds)}"
                if run is None:
                    self.progress.set_current(where + (f" (rung {rung + 1})" if s.halving else ""))
                    result = pending[k].result()
                    with tracking.start_run(f"fold {k + 1}/{s.folds}", experiment=self.experiment, kind="fold",
                                            parent=cand.info.run_id, params={**params, "fold": k + 1},
                                            tags={KEY_TAG: fold_key, "genrelab.fold": str(k + 1),
                                                  "genrelab.fold_indices": fold_fp},
                                            seed=s.seed, selection=table):
                        log_history(result["history"])
                        mlflow.log_metrics({"fold_accuracy": result["accuracy"], "fit_seconds": result["fit_seconds"],
                                            "epochs_run": result["epochs_run"]})
                    acc, secs, ep = result["accuracy"], result["fit_seconds"], result["epochs_run"]
                    self.compute["fits"] += 1
                    self.compute["epochs"] += ep
                    self.compute["seconds"] += secs
                else:
                    adopt(run, cand.info.run_id)
                    m = run.data.metrics
                    acc, secs, ep = m["fold_accuracy"], m.get("fit_seconds", 0.0), int(m.get("epochs_run", 0))
                    reused += 1
                self.progress.advance(1, where)
                accuracies.append(acc)
                seconds += secs
                epochs += ep
            mean, std = float(np.mean(accuracies)), float(np.std(accuracies))
            mlflow.log_metrics({"cv_accuracy_mean": mean, "cv_accuracy_std": std, "fit_seconds": seconds,
                                "epochs_run": epochs, "folds_reused": reused})
        self.out(f"{label} {name}: cv accuracy {mean:.3f} ± {std:.3f} ({len(folds)} folds, {reused} reused, "
                 f"{epochs} epochs, {seconds:.0f} s)")
        return {"mean": mean, "std": std, "run_id": cand.info.run_id}

    def run_final(self, table, input_kind, params, ae_params, search_id, search_key, label) -> dict:
        """Refit the best candidate on all non-test rows, score the test split once, log the model."""
        from sklearn.preprocessing import StandardScaler

        import mlflow
        import pandas as pd

        from core import tracking
        from core.models.autoencoder import Autoencoder
        from core.models.mlp import make_estimator
        from core.study.evaluate import log_test_evaluation
        from core.study.export import log_feature_model

        s = self.settings
        key = content_key(kind="final", search=search_key)
        done = find_reusable(self.experiment, "final", key)
        if done is not None:
            adopt(done, search_id)
            self.progress.advance(1 + (ae_params is not None), f"{label}: final reused")
            return {k: v for k, v in done.data.metrics.items() if k.startswith("test_")}
        self.progress.set_current(f"{label}: final refit on training+validation")
        cv, test = table.cv_rows, table.test_rows
        with tracking.start_run(f"{label} final", experiment=self.experiment, kind="final", parent=search_id,
                                params=params, tags={KEY_TAG: key, "genrelab.size": table.size,
                                                     "genrelab.input": input_kind, "genrelab.family": s.family},
                                seed=s.seed, selection=table) as final:
            start = time.perf_counter()
            X_cv, X_test, autoencoder = table.X[cv], table.X[test], None
            if ae_params is not None:
                with tracking.start_run(f"{label} autoencoder final", experiment=self.experiment,
                                        kind="autoencoder", parent=final.info.run_id,
                                        params={**ae_params, "fold": "final", "n_train": len(cv)},
                                        tags={"genrelab.fold": "final"}, seed=s.seed, selection=table):
                    autoencoder = Autoencoder(**ae_params)
                    history = autoencoder.fit(X_cv)
                    log_history(history)
                    mlflow.log_metric("reconstruction_mse", history["val_loss"][-1])
                self.progress.advance(1)
                X_cv, X_test = autoencoder.transform(X_cv), autoencoder.transform(X_test)
            scaler = StandardScaler().fit(X_cv)
            estimator = make_estimator(s.family, params)
            history = estimator.fit(scaler.transform(X_cv), table.labels[cv])
            log_history(history)
            mlflow.log_metric("fit_seconds", time.perf_counter() - start)
            predicted = estimator.predict(scaler.transform(X_test))
            metrics = log_test_evaluation(table.labels[test], predicted, table.genres)
            example = pd.DataFrame(table.X[cv[:5]], columns=table.feature_names)
            name = self.register_names.get(input_kind) if self.register_names else None
            log_feature_model(estimator, scaler, autoencoder, table.feature_names, s.family, example, name,
                              {"test_accuracy": f"{metrics['test_accuracy']:.4f}", "dataset": table.dataset_name,
                               "family": s.family, "input": input_kind, "size": table.size})
            self.progress.advance(1)
        return metrics


class _Codes:
    """Autoencoder codes per fold (codes of all non-test rows from the fold's own autoencoder)."""

    def __init__(self, study: MLPStudy, table: FeatureTable, folds, fold_fps, ae_params, search_id):
        self.study, self.table, self.folds, self.fold_fps = study, table, folds, fold_fps
        self.ae_params, self.search_id = ae_params, search_id

    def path(self, k: int) -> str:
        return str(self.study.workdir / f"codes-{self.table.fingerprint}-{self.fold_fps[k]}.npy")

    def ensure(self, folds: list[int]) -> None:
        """Make the codes of ``folds``: load a finished autoencoder run's encoder, or fit in the pool."""
        import mlflow

        from core import tracking
        from core.models.autoencoder import Autoencoder

        study = self.study
        position = {row: i for i, row in enumerate(self.table.cv_rows.tolist())}
        futures = {}
        for k in folds:
            if Path(self.path(k)).exists():
                continue
            key = content_key(kind="autoencoder", params=self.ae_params, data=self.table.fingerprint,
                              fold=self.fold_fps[k])
            done = find_reusable(study.experiment, "autoencoder", key)
            if done is not None:
                adopt(done, self.search_id)
                folder = mlflow.artifacts.download_artifacts(run_id=done.info.run_id, artifact_path="encoder")
                ae = Autoencoder.load(Path(folder), self.ae_params)
                np.save(self.path(k), ae.transform(self.table.X[self.table.cv_rows]))
                study.progress.advance(1)
                continue
            train = np.array([position[r] for r in self.folds[k][0].tolist()])
            save_dir = study.workdir / f"encoder-{self.fold_fps[k]}"
            cv_matrix = study.workdir / f"cv-{self.table.fingerprint}.npy"
            if not cv_matrix.exists():
                np.save(cv_matrix, self.table.X[self.table.cv_rows])
            futures[k] = (key, save_dir, study.pool.submit(
                fit_autoencoder_fold, self.ae_params, str(cv_matrix), train,
                np.arange(len(self.table.cv_rows)), self.path(k), str(save_dir)))
        for k, (key, save_dir, future) in futures.items():
            result = future.result()
            with tracking.start_run(f"{self.table.size} autoencoder fold {k + 1}", experiment=study.experiment,
                                    kind="autoencoder", parent=self.search_id,
                                    params={**self.ae_params, "fold": k + 1, "n_train": len(self.folds[k][0])},
                                    tags={KEY_TAG: key, "genrelab.fold": str(k + 1),
                                          "genrelab.fold_indices": self.fold_fps[k]},
                                    seed=study.settings.seed, selection=self.table):
                log_history(result["history"])
                mlflow.log_metrics({"reconstruction_mse": result["history"]["val_loss"][-1],
                                    "fit_seconds": result["fit_seconds"]})
                mlflow.log_artifacts(str(save_dir), "encoder")
            study.progress.advance(1, f"{self.table.size}: autoencoder fold {k + 1}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _download_json(run_id: str, name: str):
    import mlflow

    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{name}")


# ----------------------------------------------------------------------------------------- entry point

def load_tables(spec: Spec, data: str | None, features: str | None, label_column: str | None) -> list[FeatureTable]:
    """The feature table per dataset size: from FMA (spec root or ``--data``) or one CSV table."""
    from core.config import data_root
    from core.study.data import load_csv_table, load_fma_table

    if features:
        if not label_column:
            raise GenreLabError("--features needs --label-column NAME")
        return [load_csv_table(Path(features), label_column, spec.get("dataset.test_fraction"),
                               spec.get("dataset.seed"))]
    root = data_root(data or spec.get("dataset.root"))
    if not root.is_dir():
        raise GenreLabError(f"{root}: dataset root not found (set dataset.root, --data or GENRELAB_DATA)")
    sizes = spec.get("dataset.sizes") or [spec.get("dataset.subset")]
    return [load_fma_table(root, size, spec.get("dataset.genres")) for size in sizes]


def plan_mlp_study(spec: Spec, *, data: str | None = None, features: str | None = None,
                   label_column: str | None = None) -> tuple[MLPStudySettings, list[FeatureTable], Plan, str]:
    """Validate the spec, load the tables and plan the fits: (settings, tables, plan, plan as text)."""
    settings = MLPStudySettings.from_spec(spec)
    tables = load_tables(spec, data, features, label_column)
    plan = make_plan(settings, tables, measured_cost())
    header = f"study {spec.name}: {settings.family} on {tables[0].dataset_name}" + (
        " (synthetic)" if tables[0].synthetic else "")
    return settings, tables, plan, header + "\n" + plan.describe(settings)


def say(line: str) -> None:
    """Print a line now (the dashboard tails a job's log while it runs)."""
    print(line, flush=True)


def run_mlp_study(spec: Spec, *, data: str | None = None, features: str | None = None,
                  label_column: str | None = None, dry_run: bool = False, progress_path: str | None = None,
                  out: Callable[[str], None] = say) -> list[dict]:
    """Run (or with ``dry_run`` only plan) the MLP study of ``spec``; returns the results rows."""
    from core import tracking
    from core.study.progress import ProgressFile

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    settings, tables, plan, text = plan_mlp_study(spec, data=data, features=features, label_column=label_column)
    out(text)
    if dry_run:
        return []
    from core.models.mlp import configure_threads

    configure_threads(os.cpu_count() or 1)  # the main process fits autoencoders and final models
    progress = ProgressFile(progress_path, plan.fits_total)
    tracking.configure()
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # after mlflow's import, which sets its own level
    tracking.install_signal_handlers()
    tracking.end_orphaned_runs(spec.name)
    register = REGISTERED if settings.register and not features else None
    study = MLPStudy(spec, settings, tables, progress, out, register)
    with progress.reporting():
        rows = study.run()
    progress.finish("finished", f"{len(rows)} results")
    out(results_table(rows))
    return rows


def results_table(rows: list[dict]) -> str:
    """A short fixed-width table: size, input, model, CV mean ± std, test accuracy and macro F1."""
    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}"

    lines = [f"{'size':>8} {'input':>11} {'model':>20} {'cv acc %':>12} {'test acc %':>10} {'test F1 %':>9}"]
    for r in rows:
        cv = "-" if r["cv_mean"] is None else f"{pct(r['cv_mean'])} ± {pct(r['cv_std'])}"
        lines.append(f"{r['size']:>8} {r['input']:>11} {r['model']:>20} {cv:>12} {pct(r['test_accuracy']):>10} "
                     f"{pct(r['test_f1_macro']):>9}")
    return "\n".join(lines)
