"""What several benchmarks share: a test clip in FMA's format, the machine's facts, warm-worker throughput.

Import it after a benchmark has set its thread variables (it imports numpy).
"""
from __future__ import annotations

import json
import os
import platform
import re
import resource
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def music_mp3(path: Path, seconds: float = 30.0, sr: int = 44100, seed: int = 0) -> Path:
    """Stereo harmonics with a changing pitch, a tremolo, a kick and noise, encoded as MP3 (FMA's format)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = (220 + 20 * seed) * 2 ** (np.floor(t) % 5 / 12)
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    y = sum(0.2 / k * np.sin(k * phase) for k in range(1, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    beat = t % 0.5
    y = y + 0.4 * np.sin(2 * np.pi * 55 * beat) * np.exp(-12 * beat) + 0.02 * rng.standard_normal(t.size)
    sf.write(path, np.stack([y, 0.8 * y], axis=1).astype(np.float32) * 0.7, sr, format="MP3")
    return path


def machine() -> dict:
    """CPU, Python, the 1-minute load average now (other work slows every figure) and the time, UTC."""
    return {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def timed_study(spec, root: Path) -> dict:
    """Run ``spec`` on ``root`` (lines printed as they come): wall seconds, peak memory of this process and
    of the largest fit worker (MiB), and each search's scores (``run_study``'s rows, the fields a page reports)."""
    from core.study.engine import run_study

    start = time.perf_counter()
    rows = run_study(spec, data=str(root), out=lambda line: print(line, flush=True))
    wall = time.perf_counter() - start
    status = Path("/proc/self/status").read_text()
    fields = ("search", "cv_mean", "cv_std", "test_accuracy", "test_ci_low", "test_ci_high", "n_test", "fits",
              "seconds")
    return {"measured_seconds": round(wall), "wall": wall,
            "peak_rss_mib_study_process": round(int(re.search(r"VmHWM:\s+(\d+)", status)[1]) / 1024),
            "peak_rss_mib_largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
            "results": [{k: r.get(k) for k in fields} for r in rows]}


def steady_throughput(fn, jobs: list, workers: int, warmup) -> float:
    """Jobs per second over ``jobs`` with ``workers`` warm processes (the batch module's worker setup)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from core.features.batch import _init_worker

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(warmup,)) as pool:
        list(pool.map(fn, jobs[:workers]))  # start every worker and run its warm-up, untimed
        start = time.perf_counter()
        list(pool.map(fn, jobs))
        return len(jobs) / (time.perf_counter() - start)


def write_results(area: str, result: dict, lines: list[str]) -> None:
    """``bench/results/<area>.json`` (the figures) and ``<area>.md`` (``lines``, a page to read)."""
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{area}.json").write_text(json.dumps(result, indent=2) + "\n")
    (results / f"{area}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
