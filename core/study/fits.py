"""Fits that run in worker processes (or threads, or inline): one fold, one fold's autoencoder.

Workers get the matrix as a memory-mapped ``.npy`` file and row indices, so a task pickles a few
index arrays instead of the data. Spawned workers keep TensorFlow loaded between tasks and use
``cores // n_jobs`` threads each so parallel folds do not oversubscribe the CPU.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np


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

    def submit(self, fn: Callable, *args):
        """Start ``fn(*args)``; returns an object whose ``result()`` waits for (or, inline, runs) it."""
        if self.parallel == "none" or self.n_jobs == 1:
            return _Deferred(fn, args)
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


class _Deferred:
    """An inline fit that runs when its result is asked for, so each fold is logged as soon as it ends."""

    def __init__(self, fn: Callable, args: tuple):
        self.fn, self.args = fn, args

    def result(self):
        return self.fn(*self.args)


