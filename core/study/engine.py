"""The study engine: spec → plan → data → candidates → folds → refit → test → register, for every family.

A study is a list of searches (:class:`~core.study.contract.Arm`: one dataset size × input kind × clip
length). Each search draws candidates from the spec's space (or takes the best of the smaller size's
search: ``search.carry``), cross-validates them on folds of the training+validation tracks (the same
folds for every candidate and input), optionally with early stopping and successive halving, refits the
best on the training+validation tracks but a validation slice (early stopping watches it, the model's
temperature is fitted on it), scores the official test split once (accuracy and calibration) and
registers the model.
The plan (:func:`make_plan`) says beforehand what that costs on this machine. Fits run through one
executor (local processes or Dask); this process logs every run through one keyed step
(:class:`~core.study.contract.Steps`: reuse a finished run or fit and log a new one), so rerunning a
spec resumes it. Families meet the engine only through :mod:`core.study.contract`. A lock per
(experiment, study key) keeps two identical studies from running at once.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core import inputs, tracking
from core.config import cache_dir, data_root
from core.devices import precision_param, this_device
from core.errors import GenreLabError, first_line
from core.files import write_atomic
from core.models.mlp import configure_threads
from core.registry import ModelCard, promote_if_better, register_version
from core.stats import format_cv, format_test, paired_difference
from core.study import runtree
from core.study.contract import Arm, Family, FinalFit
from core.study.cost import duration
from core.study.evaluate import log_calibration, log_test_evaluation
from core.study.executor import make_executor
from core.study.families import family
from core.study.lineage import content_key
from core.study.progress import ProgressFile
from core.study.search import draw_candidates, ranking, rungs
from core.study.steps import RunLog, Steps

#: How a final refit is made, part of its (and its search's) content key: 2 = it keeps a validation slice
#: out of training and fits its temperature there, so finals made before, without a calibration, are
#: refitted on a rerun, while their searches' candidates and folds are reused.
FINAL_REFIT = 2


def say(line: str) -> None:
    """Print a line now (the dashboard tails a job's log while it runs)."""
    print(line, flush=True)


class Study:
    """Runs the searches of one spec into MLflow; :meth:`run` returns one results row per search."""

    def __init__(self, spec, fam: Family, arms: list[Arm], executor, progress, out: Callable[[str], None] = say):
        self.spec, self.family, self.arms, self.executor, self.out = spec, fam, arms, executor, out
        self.steps = Steps(spec.name, fam.name, spec.search.seed, arms[0].dataset, progress)
        self.compute = {"fits": 0, "epochs": 0, "seconds": 0.0}
        self.fold_scores: dict[str, tuple[list[str], list[float]]] = {}  # search → (fold ids, accuracies)
        self.runner_ups: dict[str, tuple[str, str, list[float]]] = {}     # search → (best, runner-up, accuracies)
        self.rankings: dict[str, list[dict]] = {}                         # search → candidates, best first
        self.plan_text = ""                                               # what the plan said, for the report
        where = ("description", "compute")  # where fits run does not change results; their precision does
        self.key = content_key(kind="study", spec={k: v for k, v in spec.resolved().items() if k not in where},
                               data=[a.fingerprint for a in arms], **precision_param(spec.compute.precision))

    # -- the tree -----------------------------------------------------------------------------------
    def run(self) -> list[dict]:
        """The study run: baselines, then every search; its results rows (those of a finished run if
        there is one: nothing is fitted again)."""
        rows: list[dict] = []
        progress = self.steps.progress.fits_total if self.steps.progress else 0
        done = self.steps.once(self.spec.name, "study", self.key, None, lambda log: self._searches(log, rows),
                               params=self._study_params(), description=self._description(), progress=progress,
                               counts_itself=True)
        if not rows:  # a study that fits makes a row per search (or raises): this one was reused
            self.out(f"study already finished as run {done.id}: nothing to fit")
            return done.load_dict("results.json")
        return rows

    def _searches(self, log: RunLog, rows: list[dict]) -> None:
        log.text(self.spec.path.read_text(encoding="utf-8"), "spec.toml")
        log.dict(self.spec.resolved(), "spec_resolved.json")
        if self.plan_text:
            log.text(self.plan_text, "plan.txt")
        failures = []
        if self.spec.evaluation.baselines:
            for b in self.family.run_baselines(self.arms, self.spec, self.steps):
                rows.append(self._row(b.arm, b.metrics, b.params, []) | {"search": b.search, "model": b.model})
        for arm in self.arms:
            try:
                rows.append(self.search(arm))
            except Exception as err:
                if not isinstance(err, GenreLabError):
                    traceback.print_exc()
                failures.append(f"{arm.label}: {first_line(err)}")
                self.out(f"failed: {failures[-1]}")
        log.dict(rows, "results.json")
        comparisons = self.paired_comparisons()
        if comparisons:
            log.dict(comparisons, "comparisons.json")
            for c in comparisons:
                self.out(c["verdict"])
        log.metrics({f"compute_{k}": float(v) for k, v in self.compute.items()})
        if failures:
            log.dict(failures, "failures.json")
            raise GenreLabError(f"{len(failures)} search(es) failed, the others finished (rerun to retry "
                                f"the failed ones): {failures[0]}")

    def paired_comparisons(self) -> list[dict]:
        """Every pair of configurations scored on the same folds (best candidates of two searches, and
        each search's best against its runner-up), as paired differences with their interval."""
        pairs = []
        labels = list(self.fold_scores)
        for i, a in enumerate(labels):
            (ids_a, acc_a) = self.fold_scores[a]
            pairs += [(a, acc_a, b, self.fold_scores[b][1]) for b in labels[i + 1:] if self.fold_scores[b][0] == ids_a]
            if a in self.runner_ups:  # named apart, so the sentence never reads "between X and X · ..."
                best, runner_up, acc_b = self.runner_ups[a]
                pairs.append((best, acc_a, runner_up, acc_b))
        return [{"a": a, "b": b, **asdict(paired_difference(acc_a, acc_b, name_a=a, name_b=b))}
                for a, acc_a, b, acc_b in pairs if len(acc_a) == len(acc_b) >= 2]

    def _study_params(self) -> dict:
        s = self.spec.search
        return {"family": self.family.name, "inputs": self.spec.input.kinds, "searches": [a.label for a in self.arms],
                "n_candidates": s.n_candidates, "folds": s.folds, "early_stopping": s.early_stopping,
                "halving": s.halving, "spec": self.spec.path.name, "overrides": self.spec.overrides,
                "executor": self.executor.describe()}

    def _description(self) -> str:
        data = self.arms[0].dataset
        synthetic = " (synthetic data: the numbers show the method, not real-music accuracy)" if data.synthetic else ""
        return (f"{self.spec.description or self.spec.name}\n\nSpec: `{self.spec.path.name}`"
                + (f" with {' '.join(self.spec.overrides)}" if self.spec.overrides else "")
                + f"\n\nData: {data.dataset_name} (fingerprint {data.fingerprint}){synthetic}\n\n"
                + "Searches: " + ", ".join(a.label for a in self.arms)
                + "\n\nCompare in the dashboard: http://127.0.0.1:8501/compare")

    # -- one search ---------------------------------------------------------------------------------
    def search(self, arm: Arm) -> dict:
        """Candidates × folds (rung by rung), the best refit and scored once; the search's results row
        (read back from its run, so a reused search answers like a fitted one)."""
        s, fam = self.spec.search, self.family
        source = carry_source(self.spec, self.arms, arm)
        if source is None:
            candidates = draw_candidates(s.space, s.n_candidates, s.seed)
        elif source.label in self.rankings:
            candidates = self.rankings[source.label][:s.carry]
        else:
            raise GenreLabError(f"search.carry: no ranking of {source.label}'s candidates to carry (it failed, or "
                                "finished before rankings were kept: run the spec as a new experiment, "
                                "--set experiment=NAME)")
        plan = rungs(s.halving, s.halving_eta, s.halving_min_fraction, len(candidates))
        base = fam.base_params(self.spec.sections)
        key = content_key(kind="search", family=fam.name, data=arm.fingerprint, settings=arm.settings, base=base,
                          folds=arm.fold_ids, candidates=candidates, rungs=plan,
                          controls=[s.seed, self.stops_early(arm), s.patience, s.validation_fraction],
                          refit=FINAL_REFIT if self.spec.evaluation.refit_and_test else False,
                          register=self._registers(arm))
        params = {**arm.settings, "family": fam.name, "n_candidates": len(candidates),
                  "folds": s.folds, "halving": s.halving, "early_stopping": self.stops_early(arm),
                  "n_dev": arm.n_dev, "n_test": arm.n_test, "genres": arm.genres, **arm.details}
        carried = {runtree.CARRIED_FROM: source.label} if source else {}
        if source:
            params["carried_from"] = source.label
            self.out(f"{arm.label}: the best {len(candidates)} candidates of {source.label} (search.carry)")

        def fit(log: RunLog) -> None:
            self._fit_search(log, arm, candidates, plan, base, key, carried)

        done = self.steps.once(arm.label, "search", key, arm, fit, params=params,
                               tags={**carried, runtree.GROUPED_BY: s.group_by},
                               progress=self.search_fits(arm, len(candidates)), counts_itself=True,
                               where=f"{arm.label}: reused")
        cv_folds = json.loads(done.tags.get(runtree.CV_FOLDS, "[]"))
        self.fold_scores[arm.label] = (arm.fold_ids, cv_folds)
        with contextlib.suppress(Exception):  # a search finished before rankings were kept has none
            self.rankings[arm.label] = done.load_dict(runtree.RANKING)
        return self._row(arm, done.metrics, json.loads(done.params.get("best_params", "{}")), cv_folds)

    def _fit_search(self, log: RunLog, arm: Arm, candidates: list[dict], plan, base: dict, key: str,
                    carried: dict) -> None:
        before = dict(self.compute)
        results: dict[int, dict] = {}
        reached: dict[int, tuple[int, float]] = {}  # candidate → (last rung, its CV accuracy there)
        alive = list(range(len(candidates)))
        for rung, (fraction, keep) in enumerate(plan):
            alive = ranking(reached)[:keep] if reached else alive
            results = self._rung(arm, candidates, alive, rung, fraction, base, carried)
            reached.update({c: (rung, r["mean"]) for c, r in results.items()})
        ranked = ranking(reached)
        log.dict([candidates[c] for c in ranked], runtree.RANKING)
        best = ranked[0]
        finalists = [c for c in ranked if c in results]  # scored at full epochs on the same folds
        if len(finalists) > 1:
            self.runner_ups[arm.label] = (f"the best of {arm.label} (candidate {best + 1})",
                                          f"its runner-up (candidate {finalists[1] + 1})",
                                          [f["fold_accuracy"] for f in results[finalists[1]]["folds"]])
        best_params = self.fit_params(arm, base, candidates[best], 1.0)
        folds = results[best]["folds"]
        log.params({"best_candidate": best + 1, "best_params": json.dumps(best_params, sort_keys=True)})
        log.tags({runtree.BEST_CANDIDATE_RUN: results[best]["run_id"],
                  runtree.CV_FOLDS: json.dumps([f["fold_accuracy"] for f in folds])})
        metrics = {runtree.CV_MEAN: results[best]["mean"], runtree.CV_STD: results[best]["std"]}
        metrics.update({f"compute_{k}": float(v - before[k]) for k, v in self.compute.items()})
        if self.spec.evaluation.refit_and_test:
            metrics.update(self.final(arm, best_params, folds, key))
            self.out(f"{arm.label}: best candidate {best + 1}, test accuracy {metrics['test_accuracy']:.3f} "
                     f"(95% CI {metrics[runtree.TEST_CI_LOW]:.3f}-{metrics[runtree.TEST_CI_HIGH]:.3f}, "
                     f"n={arm.n_test})")
        log.metrics({k: v for k, v in metrics.items() if isinstance(v, float)})

    def stops_early(self, arm: Arm) -> bool:
        """Whether ``arm``'s fits stop early: ``search.early_stopping``, unless the inner slice they would
        watch holds fewer tracks than ``search.early_stopping_min_tracks`` (on a slice of 29 tracks the
        validation loss bottoms out long before accuracy stops rising: README, "Each lever")."""
        s = self.spec.search
        return s.early_stopping and stopping_slice(arm, s) >= s.early_stopping_min_tracks

    def fit_params(self, arm: Arm, base: dict, candidate: dict, fraction: float) -> dict:
        """A fit's full hyper-parameters: family defaults, the spec's table, the candidate, the controls."""
        s = self.spec.search
        params = asdict(self.family.params(**{**base, **candidate, "seed": s.seed,
                                              "early_stopping": self.stops_early(arm),
                                              "patience": s.patience, "validation_fraction": s.validation_fraction}))
        params.pop("precision", None)
        params.update(precision_param(self.spec.compute.precision))
        if fraction < 1.0:
            params["epochs"] = max(1, round(params["epochs"] * fraction))
        return params

    def _rung(self, arm, candidates, alive, rung, fraction, base, carried) -> dict[int, dict]:
        """Fit every missing fold of the ``alive`` candidates (all submitted before any is awaited)."""
        lookups, needed = {}, set()
        for c in alive:
            params = self.fit_params(arm, base, candidates[c], fraction)
            lookups[c] = []
            for k, fold_id in enumerate(arm.fold_ids):
                fold_key = content_key(kind="fold", family=self.family.name, data=arm.fingerprint,
                                       settings=arm.settings, params=params, fold=fold_id)
                done = self.steps.find("fold", fold_key)
                lookups[c].append((fold_key, params, done))
                if done is None:
                    needed.add(k)
        if needed:
            self.family.fold_inputs(arm, sorted(needed), self.steps, self.executor)
        pending = {}
        for c in alive:
            for k, (_, params, done) in enumerate(lookups[c]):
                if done is None:
                    fn, args = self.family.fold_task(arm, params, k)
                    pending[(c, k)] = self.executor.submit(fn, *args)
        return {c: self._candidate(arm, candidates, c, rung, fraction, lookups[c], pending, carried)
                for c in alive}

    def _candidate(self, arm, candidates, c, rung, fraction, lookup, pending, carried) -> dict:
        """The candidate run and its fold runs (reused or fitted); mean and std of the fold accuracies."""
        s = self.spec.search
        params = lookup[0][1]
        name = (f"{arm.label} · candidate {c + 1}/{len(candidates)}" + (f" · rung {rung + 1}" if s.halving else "")
                + (f" ({carried[runtree.CARRIED_FROM]}'s #{c + 1})" if carried else ""))
        tags = {runtree.CANDIDATE: str(c + 1), runtree.RUNG: str(rung + 1),
                runtree.HYPERPARAMETERS: json.dumps(self.family.hyperparameters()), **carried}
        with self.steps.run(name, "candidate", content_key(kind="candidate", folds=[f[0] for f in lookup]), arm,
                            params={**params, "candidate": c + 1, "rung": rung + 1, "epoch_fraction": fraction},
                            tags=tags) as log:
            folds, reused = [], 0
            for k, (fold_key, _, done) in enumerate(lookup):
                where = f"{arm.label}: candidate {c + 1}/{len(candidates)} fold {k + 1}/{s.folds}"
                if done is None:
                    self.steps.now(where + (f" (rung {rung + 1})" if s.halving else ""))
                    folds.append(self._log_fold(arm, k, fold_key, params, pending[(c, k)].result()))
                else:
                    folds.append(self.steps.adopt(done).metrics)
                    reused += 1
                self.steps.advance(1, where)
            accuracies = [f["fold_accuracy"] for f in folds]
            mean, std = float(np.mean(accuracies)), float(np.std(accuracies))
            log.metrics({runtree.CV_MEAN: mean, runtree.CV_STD: std, "folds_reused": reused,
                         "fit_seconds": sum(f.get("fit_seconds", 0.0) for f in folds),
                         "epochs_run": sum(f.get("epochs_run", 0) for f in folds)})
        self.out(f"{name}: cv accuracy {mean:.3f} ± {std:.3f} over {len(folds)} folds ({reused} reused)")
        return {"mean": mean, "std": std, "run_id": log.id, "folds": folds}

    def _log_fold(self, arm, k, fold_key, params, result) -> dict:
        metrics = {runtree.FOLD_ACCURACY: result["accuracy"], "fit_seconds": result["fit_seconds"],
                   "epochs_run": float(result["epochs_run"]), "best_epoch": float(result["best_epoch"]),
                   **result.get("metrics", {})}
        with self.steps.run(f"fold {k + 1}/{self.spec.search.folds}", "fold", fold_key, arm,
                            params={**params, "fold": k + 1},
                            tags={runtree.FOLD: str(k + 1), runtree.FOLD_INDICES: arm.fold_ids[k],
                                  runtree.DEVICE: result.get("device", "")}) as log:
            log.history(result["history"])
            log.metrics(metrics)
        self.compute["fits"] += 1
        self.compute["epochs"] += result["epochs_run"]
        self.compute["seconds"] += result["fit_seconds"]
        return metrics

    def final(self, arm: Arm, params: dict, folds: list[dict], search_key: str) -> dict:
        """Refit on training+validation, score the test split once, log and register the model."""
        def refit(log: RunLog) -> None:
            self.steps.now(f"{arm.label}: final refit on training+validation")
            started = time.perf_counter()
            fit = self.family.fit_final(arm, params, folds, self.steps, log)
            log.metrics({"fit_seconds": time.perf_counter() - started, **fit.metrics})
            metrics = {**log_test_evaluation(log, fit.y_true, fit.y_pred, arm.genres, fit.artists), **fit.metrics}
            calibration = (log_calibration(log, fit.y_true, fit.proba, fit.classes, fit.temperature)
                           if fit.proba is not None else None)
            if fit.model_info is not None and self._registers(arm):
                log.tags({runtree.MODEL_VERSION: self.register(arm, fit, metrics, log.id, calibration)})

        key = content_key(kind="final", search=search_key, refit=FINAL_REFIT)
        done = self.steps.once(f"{arm.label} · final", "final", key, arm,
                               refit, params=params, tags={runtree.DEVICE: this_device()},
                               where=f"{arm.label}: final")
        return {k: v for k, v in done.metrics.items()
                if k.startswith("test_") or k in (runtree.N_TEST, runtree.N_TEST_ARTISTS)}

    def _registers(self, arm: Arm) -> bool:
        return bool(self.spec.evaluation.register and arm.registered_name)

    def register(self, arm: Arm, fit: FinalFit, metrics: dict, run_id: str, calibration: dict | None) -> str:
        """Register the final model with the card the predictor and dashboard read."""
        kind = inputs.kind(str(arm.settings.get("input", "")))
        card = ModelCard(family=self.family.name, input_kind=kind.name, takes_audio=kind.takes_audio, window=arm.window,
                         dataset=arm.dataset.dataset_name, fingerprint=arm.dataset.fingerprint,
                         synthetic=bool(arm.dataset.synthetic), genres=list(arm.genres),
                         test_accuracy=metrics["test_accuracy"], n_test=int(metrics[runtree.N_TEST]),
                         test_accuracy_ci_low=metrics[runtree.TEST_CI_LOW],
                         test_accuracy_ci_high=metrics[runtree.TEST_CI_HIGH], run_id=run_id, calibration=calibration,
                         n_test_artists=int(metrics.get(runtree.N_TEST_ARTISTS, 0)),
                         extra={k: str(v) for k, v in {**arm.settings, **fit.card_extra,
                                                       "cv_folds": f"{len(arm.folds)}, grouped by "
                                                                   f"{self.spec.search.group_by}"}.items()
                                if k != "input" and v not in ("", None)})
        version = register_version(fit.model_info.model_uri, arm.registered_name, card, aliases=arm.aliases)
        if self.spec.evaluation.promote == "if_better" and promote_if_better(arm.registered_name, version):
            self.out(f"{arm.registered_name} version {version} is the new champion")
        return version

    # -- counting and results ---------------------------------------------------------------------
    def search_fits(self, arm: Arm, n_candidates: int) -> int:
        s = self.spec.search
        fits = sum(keep for _, keep in rungs(s.halving, s.halving_eta, s.halving_min_fraction, n_candidates)) * s.folds
        return fits + int(self.spec.evaluation.refit_and_test) + self.family.extra_fits(arm, None)[0]

    def _row(self, arm: Arm, metrics: dict, best_params: dict, cv_folds: list[float]) -> dict:
        return {"search": arm.label, **arm.settings, "model": self.family.name,
                "cv_mean": metrics.get(runtree.CV_MEAN), "cv_std": metrics.get(runtree.CV_STD), "cv_folds": cv_folds,
                "test_accuracy": metrics.get(runtree.TEST_ACCURACY), "test_ci_low": metrics.get(runtree.TEST_CI_LOW),
                "test_ci_high": metrics.get(runtree.TEST_CI_HIGH), "n_test": metrics.get(runtree.N_TEST),
                "n_test_artists": metrics.get(runtree.N_TEST_ARTISTS),
                "test_f1_macro": metrics.get(runtree.TEST_F1), "fits": metrics.get("compute_fits"),
                "seconds": metrics.get("compute_seconds"), "best_params": best_params}


def distinct_searches(arms: list[Arm], out: Callable[[str], None] = say) -> list[Arm]:
    """``arms`` without searches that would fit exactly the data of an earlier one.

    On a small root every dataset size selects the same tracks: their searches differ only in name, so
    they run once, and one line says which stand for which.
    """
    kept: dict[str, Arm] = {}
    same: dict[str, list[str]] = {}
    for arm in arms:
        settings = {k: v for k, v in arm.settings.items() if k != "size"}
        key = content_key(data=arm.fingerprint, folds=arm.fold_ids, settings=settings)
        if key in kept:
            same.setdefault(key, []).append(arm.label)
        else:
            kept[key] = arm
    for key, labels in same.items():
        first = kept[key]
        out(f"{', '.join(labels)}: the same {first.n_dev + first.n_test} tracks as {first.label}; searched once, "
            f"as {first.label}")
    return list(kept.values())


# ------------------------------------------------------------------------------------------- the plan
def carry_source(spec, arms: list[Arm], arm: Arm) -> Arm | None:
    """The search whose best candidates ``arm`` takes (``search.carry``): the latest earlier search with
    the same settings but the dataset size; None when carrying is off or there is none."""
    if spec.search.carry <= 0 or not arm.settings.get("size"):
        return None
    same = {k: v for k, v in arm.settings.items() if k != "size"}
    position = next(i for i, a in enumerate(arms) if a is arm)
    earlier = [a for a in arms[:position] if {k: v for k, v in a.settings.items() if k != "size"} == same]
    return earlier[-1] if earlier else None


#: A plan longer than this (wall seconds, every fit to its epoch cap) times early stopping on the data first
#: (:func:`stopping_epochs`, a minute or two); a shorter one is printed at its caps.
PROBE_ABOVE_SECONDS = 1800


def stopping_epochs(study: Study) -> dict[Any, int]:
    """With early stopping: after how many epochs fits stop, measured on this data (else ``{}``; also
    for families whose fits are too costly to probe, ``Family.probe_stopping``).

    One fit per batch size of the candidates, on the first fold of the first search that needs no
    preliminary fits, and one of each other kind the family names (``Family.probe_tasks``: an
    autoencoder), all at once on the study's workers; kept in the cache per data, fold and params, so a
    second plan of the same data is instant. Keyed by batch size (None: the family has none) and name.
    """
    s = study.spec.search
    arm = next((a for a in study.arms if study.family.extra_fits(a, None)[0] == 0 and study.stops_early(a)), None)
    if arm is None or not study.family.probe_stopping:
        return {}
    base = study.family.base_params(study.spec.sections)
    probes: dict[Any, dict] = {}
    for candidate in draw_candidates(s.space, s.n_candidates, s.seed):
        params = study.fit_params(arm, base, candidate, 1.0)
        probes.setdefault(params.get("batch_size"), params)
    path = cache_dir() / "stopping_epochs.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    tasks: dict[Any, tuple[str, Callable]] = {}  # stop name → (cache key, a way to make the probe's task)
    for b, params in probes.items():
        key = content_key(kind="stop", family=study.family.name, data=arm.fingerprint, fold=arm.fold_ids[0],
                          params=params)
        tasks[b] = (key, lambda params=params: study.family.fold_task(arm, params, 0))
    for other in study.arms:  # fits of other kinds (an autoencoder): the first search that has them
        for name in study.family.probe_tasks(other, study.executor):
            if name not in tasks:
                key = content_key(kind="stop", family=study.family.name, data=other.fingerprint,
                                  fold=other.fold_ids[0], name=name)
                tasks[name] = (key, lambda other=other, name=name: study.family.probe_tasks(other, study.executor)[name])
    missing = [name for name, (key, _) in tasks.items() if key not in known]
    if missing:
        study.out(f"timing early stopping on {arm.label}, fold 1: {len(missing)} fit(s), once for this data")
        study.family.fold_inputs(arm, [0], study.steps, study.executor)
        futures = {name: study.executor.submit(*_task(tasks[name][1]())) for name in missing}
        known.update({tasks[name][0]: len(f.result()["history"]["loss"]) for name, f in futures.items()})
        with contextlib.suppress(OSError):
            write_atomic(path, json.dumps(known, indent=1))
    return {name: known[key] for name, (key, _) in tasks.items()}


def stopping_slice(arm: Arm, search) -> int:
    """Tracks in the inner early-stopping slice of one of ``arm``'s training folds (about)."""
    return int(arm.n_dev * (search.folds - 1) / search.folds * search.validation_fraction)


def _task(fn_args: tuple) -> tuple:
    fn, args = fn_args
    return (fn, *args)


@dataclass
class Plan:
    """What a study will fit and how long it should take: ``text`` as printed, ``fits``, and the wall
    seconds of the estimate and of the bound with every fit running to its epoch cap."""

    text: str
    fits: int
    seconds: float
    bound_seconds: float


def make_plan(study: Study, cost, stops: dict[Any, int] | None = None) -> Plan:
    """The dry-run plan: fits and estimated time per search, and the total.

    Every candidate may survive a rung, so each rung is costed at its candidates' mean. With early
    stopping, fits are costed at the epochs ``stops`` measured (:func:`stopping_epochs`); the bound
    with every fit running to its epoch cap is printed too.
    """
    s, fam, stops = study.spec.search, study.family, stops or {}
    drawn = draw_candidates(s.space, s.n_candidates, s.seed)
    base = fam.base_params(study.spec.sections)
    labels = {a.label: a.label + (f" (best {min(s.carry, len(drawn))} of {source.label})" if source else "")
              for a in study.arms for source in [carry_source(study.spec, study.arms, a)]}
    width = max(22, *map(len, labels.values()))
    lines = [f"{'search':>{width}} {'dev':>6} {'test':>5} {'cand':>4} {'folds':>5} {'fits':>5} {'est. time':>10}"]
    total_fits, total, bound = 0, 0.0, 0.0
    if study.spec.evaluation.baselines:
        total_fits += fam.baseline_fits(study.arms)

    def seconds(arm: Arm, candidate: dict, fraction: float, n_train: float, capped: bool) -> float:
        params = study.fit_params(arm, base, candidate, fraction)
        stop = stops.get(params.get("batch_size"), stops.get(None))
        if capped and stop is not None and "epochs" in params and params.get("early_stopping"):
            params["epochs"] = min(params["epochs"], stop)
        return fam.fit_seconds(arm, params, n_train, cost)

    workers = study.executor.workers

    def search_seconds(arm: Arm, n: int, capped: bool) -> float:
        """Wall seconds of ``n`` candidates' folds, rung by rung, spread over the workers, and of the refit,
        which runs alone in this process (counted at one worker's speed)."""
        n_train = arm.n_dev * (s.folds - 1) / s.folds
        spent = sum(keep * s.folds * float(np.mean([seconds(arm, c, fraction, n_train, capped) for c in drawn]))
                    for fraction, keep in rungs(s.halving, s.halving_eta, s.halving_min_fraction, n)) / workers
        if study.spec.evaluation.refit_and_test:  # any candidate may win: their mean, or the worst for the bound
            refits = [seconds(arm, c, 1.0, arm.n_dev, capped) for c in drawn]
            spent += float(np.mean(refits)) if capped else max(refits)
        return spent

    for arm in study.arms:
        source = carry_source(study.spec, study.arms, arm)
        n = min(s.carry, len(drawn)) if source else len(drawn)
        fits, extra = fam.extra_fits(arm, cost, stops)
        estimate = extra / workers + search_seconds(arm, n, capped=True)
        most = fam.extra_fits(arm, cost)[1] / workers + search_seconds(arm, n, capped=False)
        fits += sum(keep for _, keep in rungs(s.halving, s.halving_eta, s.halving_min_fraction, n)) * s.folds
        fits += int(study.spec.evaluation.refit_and_test)
        lines.append(f"{labels[arm.label]:>{width}} {arm.n_dev:>6} {arm.n_test:>5} {n:>4} {s.folds:>5} {fits:>5} "
                     f"{duration(estimate):>10}")
        total_fits, total, bound = total_fits + fits, total + estimate, bound + most
    precision = study.spec.compute.precision
    lines.append(f"total: {total_fits} fits; about {duration(total)} on {study.executor.describe()}"
                 + (f", {precision}" if precision != "float32" else ""))
    unstopped = [a.label for a in study.arms if s.early_stopping and not study.stops_early(a)]
    if unstopped:
        lines.append(f"early stopping: off for {', '.join(unstopped)} (an inner slice of fewer than "
                     f"{s.early_stopping_min_tracks} tracks, search.early_stopping_min_tracks): trained to their epochs")
    if any(study.stops_early(a) for a in study.arms) and not stops:
        lines.append("early stopping: fits costed at their epoch caps (at most; " + (
            "a plan this short is not worth timing early stopping for)" if fam.probe_stopping else
            "this family's fits cost too much to time early stopping on beforehand)"))
    if stops:
        measured = ", ".join(f"{e} epochs" + (f" at batch size {b}" if isinstance(b, int) else
                                              f" ({b})" if b is not None else "")
                             for b, e in sorted(stops.items(), key=lambda item: str(item[0])))
        lines.append(f"early stopping: fits costed at the epochs they stopped after on this data ({measured}); "
                     f"at most {duration(bound)} if no fit stopped before its epoch cap")
    if s.halving:
        lines.append("successive halving: rungs at " + ", ".join(f"{f:.3g}" for f, _ in rungs(
            True, s.halving_eta, s.halving_min_fraction, len(drawn))) + f" of each candidate's epochs, "
            f"keeping 1/{s.halving_eta} per rung")
    lines.append(cost.describe())
    return Plan("\n".join(lines), total_fits, total, bound)


def results_table(rows: list[dict]) -> str:
    """One line per search (and baseline): CV mean ± std over folds, test accuracy with its 95% interval."""
    lines = []
    for r in rows:
        cv = "-" if r.get("cv_mean") is None else format_cv(r["cv_mean"], r["cv_std"], len(r.get("cv_folds") or []))
        test = "-" if r.get("test_accuracy") is None else format_test(
            r["test_accuracy"], r["test_ci_low"], r["test_ci_high"], int(r["n_test"]),
            n_artists=None if r.get("n_test_artists") is None else int(r["n_test_artists"]))
        lines.append(f"{r['search']:>22}  {r['model']:>16}  CV {cv}  |  test {test}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- entry point
def run_study(spec, *, data: str | None = None, features: str | None = None, label_column: str | None = None,
              dry_run: bool = False, progress_path: str | None = None, scheduler: str | None = None,
              wait: bool = False, out: Callable[[str], None] = say) -> list[dict]:
    """Run (or with ``dry_run`` only plan) the study of ``spec``; returns the results rows."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    fam = family(spec.family)
    root = None if features else data_root(data or spec.dataset.root)
    if root is not None and not root.is_dir():
        raise GenreLabError(f"{root}: dataset root not found (set dataset.root, --data or GENRELAB_DATA)")
    arms = distinct_searches(fam.load(spec, root, features=features, label_column=label_column, dry_run=dry_run,
                                      out=out), out)
    compute = spec.compute
    executor = make_executor(compute.parallel, compute.n_jobs, scheduler or compute.scheduler, compute.device,
                             compute.precision)
    try:
        study = Study(spec, fam, arms, executor, None, out)
        data0 = arms[0].dataset
        out(f"study {spec.name}: {fam.name} on {data0.dataset_name}" + (" (synthetic)" if data0.synthetic else ""))
        cost = fam.fit_cost(arms, fam.base_params(spec.sections), executor, compute.precision)
        plan = make_plan(study, cost)
        if spec.search.early_stopping and plan.bound_seconds > PROBE_ABOVE_SECONDS:
            plan = make_plan(study, cost, stopping_epochs(study))
        out(plan.text)
        study.plan_text = plan.text
        if dry_run:
            return []
        configure_threads(os.cpu_count() or 1)  # this process fits final models
        tracking.configure()
        logging.getLogger("mlflow").setLevel(logging.ERROR)  # after mlflow's import, which sets its own level
        tracking.install_signal_handlers()
        with tracking.study_lock(spec.name, study.key, wait=wait):
            tracking.end_orphaned_runs(spec.name)
            study.steps.progress = progress = ProgressFile(progress_path, plan.fits)
            try:
                with progress.reporting():
                    rows = study.run()
            except BaseException:
                executor.close(cancel=True)
                raise
        progress.finish("finished", f"{len(rows)} results")
    finally:
        executor.close()
    out(results_table(rows))
    return rows
