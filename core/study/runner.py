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
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from core.errors import GenreLabError
from core.study.data import FeatureTable
from core.study.lineage import KEY_TAG, adopt, content_key, find_reusable, indices_fingerprint, log_history
from core.study.spec import Spec

INPUTS = ("features", "autoencoder")
REGISTERED = {"features": "genre-mlp", "autoencoder": "genre-mlp-ae"}
AUTOENCODER_DEFAULTS = {"bottleneck": 259, "epochs": 50, "batch_size": 256, "learning_rate": 0.001,
                        "early_stopping": True, "patience": 5, "validation_fraction": 0.1}
CALIBRATION_FILE = Path(__file__).resolve().parents[2] / "bench" / "results" / "mlp.json"


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
        if "epochs" in params:
            params["epochs"] = max(1, round(params["epochs"] * fraction))
        elif fraction < 1.0:
            raise GenreLabError("search.halving needs search.space.epochs to scale")
        return params

    def autoencoder_params(self) -> dict:
        return dict(self.autoencoder, seed=self.seed)


# --------------------------------------------------------------------------------------------- tasks

def _init_worker(threads: int) -> None:
    from core.models.mlp import configure_threads

    configure_threads(threads)


def fit_fold(family: str, params: dict, matrix: str, labels: np.ndarray, train: np.ndarray,
             val: np.ndarray) -> dict:
    """Fit one fold in this process: scaler and network on ``train`` rows, score on ``val`` rows.

    ``matrix`` is an ``.npy`` file (memory-mapped). Returns history, accuracy, fit_seconds, epochs_run.
    """
    from sklearn.preprocessing import StandardScaler

    from core.models.mlp import make_estimator

    X = np.load(matrix, mmap_mode="r")
    start = time.perf_counter()
    scaler = StandardScaler().fit(X[train])
    estimator = make_estimator(family, params)
    history = estimator.fit(scaler.transform(X[train]), labels[train], scaler.transform(X[val]), labels[val])
    accuracy = float((estimator.predict(scaler.transform(X[val])) == labels[val]).mean())
    return {"history": history, "accuracy": accuracy, "fit_seconds": time.perf_counter() - start,
            "epochs_run": len(history["loss"])}


def fit_autoencoder_fold(params: dict, matrix: str, train: np.ndarray, encode: np.ndarray,
                         codes_path: str, save_dir: str) -> dict:
    """Fit an autoencoder on ``train`` rows, write codes of ``encode`` rows to ``codes_path``."""
    from core.models.autoencoder import Autoencoder

    X = np.load(matrix, mmap_mode="r")
    start = time.perf_counter()
    ae = Autoencoder(**params)
    history = ae.fit(X[train])
    seconds = time.perf_counter() - start
    np.save(codes_path, ae.transform(X[encode]))
    ae.save(Path(save_dir))
    return {"history": history, "fit_seconds": seconds}


class FitPool:
    """Runs fits inline, in threads, or in spawned worker processes that keep TensorFlow loaded."""

    def __init__(self, parallel: str, n_jobs: int):
        self.parallel, self.n_jobs = parallel, n_jobs
        self.threads = max(1, (os.cpu_count() or 1) // n_jobs)
        self._executor = None

    def submit(self, fn: Callable, *args) -> Future:
        if self.parallel == "none" or self.n_jobs == 1:
            future: Future = Future()
            try:
                future.set_result(fn(*args))
            except Exception as err:  # noqa: BLE001 - handed to the caller through the future
                future.set_exception(err)
            return future
        if self._executor is None:
            if self.parallel == "threads":
                self._executor = ThreadPoolExecutor(self.n_jobs)
            else:
                import multiprocessing

                self._executor = ProcessPoolExecutor(self.n_jobs, mp_context=multiprocessing.get_context("spawn"),
                                                     initializer=_init_worker, initargs=(self.threads,))
        return self._executor.submit(fn, *args)

    def close(self, cancel: bool = False) -> None:
        if self._executor is None:
            return
        processes = list(getattr(self._executor, "_processes", {}).values())
        self._executor.shutdown(wait=not cancel, cancel_futures=cancel)
        if cancel:
            for process in processes:  # a cancelled study must not leave fits burning the CPU
                process.terminate()
        self._executor = None


# ---------------------------------------------------------------------------------------- estimates

def seconds_per_unit() -> tuple[float, str]:
    """Seconds per (training sample × epoch × network weight) on this machine, and where it came from.

    Read from the benchmark's results (``make bench``) if present, else measured now on a small net.
    """
    if CALIBRATION_FILE.exists():
        try:
            value = json.loads(CALIBRATION_FILE.read_text())["seconds_per_sample_epoch_weight"]
            return float(value), f"measured by bench/bench_mlp.py ({CALIBRATION_FILE.name})"
        except (KeyError, ValueError, json.JSONDecodeError):
            pass
    return calibrate(), "measured just now on a 2,000 x 518 sample"


def calibrate(n: int = 2000, d: int = 518, hidden: int = 512, epochs: int = 2) -> float:
    """Time a small Keras MLP and return seconds per sample·epoch·weight."""
    from core.models.mlp import KerasMLP

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 8, n)
    model = KerasMLP(hidden_units=[hidden], epochs=1, batch_size=256)
    model.fit(X[:256], y[:256])  # graph tracing and first-call overhead stay out of the measure
    model = KerasMLP(hidden_units=[hidden], epochs=epochs, batch_size=256)
    start = time.perf_counter()
    model.fit(X, y)
    return (time.perf_counter() - start) / (n * epochs * network_weights(d, [hidden], 8))


def network_weights(d: int, hidden: list[int], n_classes: int) -> int:
    widths = [d, *hidden, n_classes]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


@dataclass
class Plan:
    rows: list[dict] = field(default_factory=list)  # one per (size, input)
    fits_total: int = 0
    cpu_seconds: float = 0.0

    def describe(self, settings: MLPStudySettings, source: str) -> str:
        lines = [f"{'size':>8} {'input':>11} {'rows':>7} {'feat':>5} {'cand':>4} {'folds':>5} "
                 f"{'fits':>5} {'est. time':>10}"]
        for r in self.rows:
            lines.append(f"{r['size']:>8} {r['input']:>11} {r['n_rows']:>7} {r['n_features']:>5} "
                         f"{r['candidates']:>4} {r['folds']:>5} {r['fits']:>5} {_duration(r['seconds']):>10}")
        parallel = min(settings.n_jobs, os.cpu_count() or 1) if settings.parallel != "none" else 1
        rungs = settings.rung_fractions()
        lines.append(f"total: {self.fits_total} fits (fold fits, autoencoders, final refits, baselines); "
                     f"about {_duration(self.cpu_seconds / parallel)} on {parallel} worker(s)"
                     + (" at most (early stopping ends fits sooner)" if settings.early_stopping else ""))
        if settings.halving:
            lines.append(f"successive halving: rungs at {', '.join(f'{f:.3g}' for f in rungs)} of each "
                         f"candidate's epochs, keeping 1/{settings.halving_eta} per rung")
        lines.append(f"time per fit = samples x epochs x weights x {self.unit:.3g} s ({source})")
        return "\n".join(lines)

    unit: float = 0.0


def make_plan(settings: MLPStudySettings, tables: list[FeatureTable], unit: float) -> Plan:
    plan = Plan(unit=unit)
    candidates = settings.candidates()
    fractions, survivors = settings.rung_fractions(), settings.survivors_per_rung(len(candidates))
    for table in tables:
        n_cv, d, k = len(table.cv_rows), table.X.shape[1], len(table.genres)
        n_fold_train = n_cv * (settings.folds - 1) / settings.folds
        for input_kind in settings.inputs:
            width = d
            seconds, fits = 0.0, 0
            if input_kind == "autoencoder":
                code = settings.autoencoder["bottleneck"] or d // 2
                ae_w = network_weights(d, [2 * d, d, code, d, 2 * d], d)
                seconds += unit * ae_w * settings.autoencoder["epochs"] * (n_fold_train * settings.folds + n_cv)
                fits += settings.folds + 1
                width = code
            for fraction, n_alive in zip(fractions, survivors):
                alive = candidates[:n_alive]  # the estimate takes the first ones as survivors
                for cand in alive:
                    params = settings.model_params(cand, fraction)
                    w = network_weights(width, list(params.get("hidden_units", [100])), k)
                    seconds += unit * w * params.get("epochs", 100) * n_fold_train * settings.folds
                fits += n_alive * settings.folds
            if settings.refit_and_test:
                w = max(network_weights(width, list(c.get("hidden_units", [100])), k) * c.get("epochs", 100)
                        for c in candidates)
                seconds += unit * w * n_cv
                fits += 1
            plan.rows.append({"size": table.size, "input": input_kind, "n_rows": len(table.X), "n_features": d,
                              "candidates": len(candidates), "folds": settings.folds, "fits": fits,
                              "seconds": seconds})
            plan.fits_total += fits
            plan.cpu_seconds += seconds
        if settings.baselines:
            from core.models.baselines import BASELINES

            plan.fits_total += len(BASELINES)
    return plan


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
        self.workdir = Path(tempfile.mkdtemp(prefix="genrelab-mlp-"))

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
        try:
            with tracking.start_run(self.experiment, experiment=self.experiment, kind="study",
                                    params=self._study_params(), tags={KEY_TAG: key, "genrelab.family":
                                                                       self.settings.family},
                                    seed=self.settings.seed, selection=self.tables[0]) as study:
                import mlflow

                mlflow.log_text(self.spec.path.read_text(encoding="utf-8"), "spec.toml")
                mlflow.log_dict(self.spec.to_toml_dict(), "spec_resolved.json")
                for table in self.tables:
                    if self.settings.baselines:
                        rows += self.run_baselines(table, study.info.run_id)
                    for input_kind in self.settings.inputs:
                        rows.append(self.run_search(table, input_kind, study.info.run_id))
                mlflow.log_dict(rows, "results.json")
                mlflow.log_metrics({f"compute_{k}": float(v) for k, v in self.compute.items()})
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
            codes = _Codes(self, table, folds, fold_fps, ae_params, search_id, str(matrix)) if ae_params else None
            before = dict(self.compute)
            alive = list(range(len(candidates)))
            results: dict[int, dict] = {}
            for rung, (fraction, keep) in enumerate(zip(s.rung_fractions(), s.survivors_per_rung(len(candidates)))):
                alive = sorted(alive, key=lambda c: (-results[c]["mean"], c))[:keep] if results else alive
                results = {}
                pending = self._prepare_rung(table, input_kind, candidates, alive, fraction, folds, fold_fps, base,
                                             codes, str(matrix), label, rung)
                for c in alive:
                    results[c] = self._log_candidate(table, candidates, c, rung, fraction, pending[c], search_id,
                                                     label)
            best = min(results, key=lambda c: (-results[c]["mean"], c))
            best_params = s.model_params(candidates[best], 1.0)
            mlflow.log_params({"best_candidate": best + 1, "best_params": json.dumps(best_params, sort_keys=True)})
            mlflow.log_params({f"best.{k}": v for k, v in candidates[best].items()})
            metrics = {"cv_accuracy_mean": results[best]["mean"], "cv_accuracy_std": results[best]["std"]}
            metrics.update({f"compute_{k}": float(v - before[k]) for k, v in self.compute.items()})
            mlflow.set_tag("genrelab.best_candidate_run", results[best]["run_id"])
            if s.refit_and_test:
                metrics.update(self.run_final(table, input_kind, best_params, ae_params, search_id, key, label))
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

    def _prepare_rung(self, table, input_kind, candidates, alive, fraction, folds, fold_fps, base, codes,
                      matrix, label, rung) -> dict[int, list]:
        """Per alive candidate, per fold: a finished run to reuse or a Future of a new fit."""
        s = self.settings
        lookups: dict[int, list] = {}
        needed_folds = set()
        for c in alive:
            params = s.model_params(candidates[c], fraction)
            lookups[c] = []
            for k, fp in enumerate(fold_fps):
                fold_key = content_key(kind="fold", **base, params=params, fold=fp)
                run = find_reusable(self.experiment, "fold", fold_key)
                lookups[c].append((fold_key, params, fp, run))
                if run is None:
                    needed_folds.add(k)
        if codes is not None and needed_folds:
            codes.ensure(sorted(needed_folds))
        for c in alive:
            for k, (fold_key, params, fp, run) in enumerate(lookups[c]):
                if run is not None:
                    continue
                source = codes.path(k) if codes is not None else matrix
                train, val = folds[k]
                if codes is not None:  # codes files hold the non-test rows in cv_rows order
                    position = {row: i for i, row in enumerate(table.cv_rows.tolist())}
                    train = np.array([position[r] for r in train.tolist()])
                    val = np.array([position[r] for r in val.tolist()])
                    labels = table.labels[table.cv_rows]
                else:
                    labels = table.labels
                future = self.pool.submit(fit_fold, s.family, params, source, labels, train, val)
                what = f"{label}: rung {rung + 1} candidate {c + 1}/{len(candidates)} fold {k + 1}/{len(folds)}"
                future.add_done_callback(lambda f, what=what: self.progress.advance(1, what))
                lookups[c][k] = (fold_key, params, fp, future)
        return lookups

    def _log_candidate(self, table, candidates, c, rung, fraction, folds_state, search_id, label) -> dict:
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
            accuracies, seconds, epochs, reused = [], 0.0, 0, 0
            for k, (fold_key, _, fold_fp, state) in enumerate(folds_state):
                if isinstance(state, Future):
                    result = state.result()
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
                    adopt(state, cand.info.run_id)
                    m = state.data.metrics
                    acc, secs, ep = m["fold_accuracy"], m.get("fit_seconds", 0.0), int(m.get("epochs_run", 0))
                    reused += 1
                    self.progress.advance(1, f"{label}: candidate {c + 1} fold {k + 1} reused")
                accuracies.append(acc)
                seconds += secs
                epochs += ep
            mean, std = float(np.mean(accuracies)), float(np.std(accuracies))
            mlflow.log_metrics({"cv_accuracy_mean": mean, "cv_accuracy_std": std, "fit_seconds": seconds,
                                "epochs_run": epochs, "folds_reused": reused})
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

    def __init__(self, study: MLPStudy, table: FeatureTable, folds, fold_fps, ae_params, search_id, matrix):
        self.study, self.table, self.folds, self.fold_fps = study, table, folds, fold_fps
        self.ae_params, self.search_id, self.matrix = ae_params, search_id, matrix

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
                ae = Autoencoder.load(Path(folder), {k2: v for k2, v in self.ae_params.items()})
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


def run_mlp_study(spec: Spec, *, data: str | None = None, features: str | None = None,
                  label_column: str | None = None, dry_run: bool = False, progress_path: str | None = None,
                  out: Callable[[str], None] = print) -> list[dict]:
    """Run (or with ``dry_run`` only plan) the MLP study of ``spec``; returns the results rows."""
    from core import tracking
    from core.study.progress import ProgressFile

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # keep the plan, progress and table readable
    settings = MLPStudySettings.from_spec(spec)
    tables = load_tables(spec, data, features, label_column)
    unit, source = seconds_per_unit()
    plan = make_plan(settings, tables, unit)
    out(f"study {spec.name}: {settings.family} on {tables[0].dataset_name}"
        + (" (synthetic)" if tables[0].synthetic else ""))
    out(plan.describe(settings, source))
    if dry_run:
        return []
    progress = ProgressFile(progress_path, plan.fits_total)
    tracking.configure()
    tracking.install_signal_handlers()
    tracking.end_orphaned_runs(spec.name)
    register = REGISTERED if settings.register and not features else None
    study = MLPStudy(spec, settings, tables, progress, out, register)
    try:
        rows = study.run()
    except KeyboardInterrupt:
        progress.finish("killed", "interrupted; rerun the same command to resume")
        raise
    except BaseException as err:
        progress.finish("failed", str(err).splitlines()[0] if str(err) else type(err).__name__)
        raise
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
