"""Where a study's fits run: :class:`core.workers.Workers` with each worker set up for fitting.

A fit worker runs ``cores // n_jobs`` threads, and with GPUs (names of the visible GPUs, from
:mod:`core.devices`) there is one worker process per GPU, each pinned to its own. A scheduler address
gives the workers of a Dask cluster instead.

The process that runs the study logs every run to MLflow as each fit returns; workers never talk to
the tracking store, so a Dask worker on another machine does not need the store.
"""
from __future__ import annotations

import os

from core.devices import fit_gpus, pin
from core.errors import GenreLabError
from core.models.mlp import configure_threads
from core.workers import SPAWN, DaskWorkers, Workers, shared

__all__ = ["Executor", "make_executor", "shared"]


def _init_worker(threads: int, gpu_slots=None) -> None:
    """A fit worker's start: its own GPU (one per worker) if the study has GPUs, then its threads."""
    if gpu_slots is not None:
        pin(gpu_slots.get())

    configure_threads(threads)


class Executor(Workers):
    """Local fits: ``parallel`` is "processes" (spawned workers that keep TensorFlow loaded), "threads",
    or "none" (inline); each fit gets ``cores // n_jobs`` threads. With ``gpus``, one process per GPU."""

    def __init__(self, parallel: str = "processes", n_jobs: int = 0, gpus: list[str] | tuple = ()):
        self.gpus = list(gpus)
        slots = None
        if self.gpus:
            parallel, n_jobs = "processes", len(self.gpus)
            slots = SPAWN.Queue()  # each worker takes one GPU index as it starts
            for index in range(len(self.gpus)):
                slots.put(index)
        n_jobs = n_jobs or os.cpu_count() or 1
        threads = max(1, (os.cpu_count() or 1) // n_jobs)
        super().__init__(parallel, n_jobs, _init_worker, (threads, slots))
        self.threads = threads
        if self.gpus:
            self.parallel, self.workers = "processes", n_jobs  # a single GPU still gets its own process

    def describe(self) -> str:
        if self.gpus:
            return f"{self.n_jobs} local process{'es' if self.n_jobs > 1 else ''}, one per GPU ({', '.join(self.gpus)})"
        return super().describe()  # the device in every plan and run, as for GPUs


def make_executor(parallel: str, n_jobs: int, scheduler: str | None, device: str = "cpu",
                  precision: str = "float32") -> Workers:
    """A Dask cluster's workers when a scheduler address is given, else local ones (on this machine's GPUs
    when ``device`` is "auto" or "gpu" and there are some: see :mod:`core.devices`)."""
    if scheduler:
        return DaskWorkers(scheduler)
    gpus = fit_gpus(device)
    if precision == "mixed_float16" and not gpus:
        # CPUs emulate float16: a fit (and the plan's timing) runs many times slower, never faster
        raise GenreLabError('compute.precision = "mixed_float16" needs a GPU and fits run on the CPU here '
                            '(use "float32", or "mixed_bfloat16" on a CPU with AMX/AVX-512)')
    return Executor(parallel, n_jobs, gpus)
