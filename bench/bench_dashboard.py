"""How fast the Compare page renders with 2,000 runs in the store (targets: warm 0.3 s, cold 0.6 s).

Fills a temporary SQLite store with real study trees written by the engine (``core.study.engine``)
on a small synthetic root (``tests.dashboard.builders.tiny_root``, 1.5 s tracks): one CNN clip-length
study (1.5, 1 and 0.5 s clips) and as many MLP dataset-size studies (3 sizes, 10 candidates x 5 folds,
the FMA paper's baselines; scikit-learn MLPs, so the fits take no time) as it takes to reach ``--runs``
runs. Then, in a new process (a dashboard server does not write the runs it reads), times AppTest reruns of the Compare page for each of its three views: cold (the runs cache
emptied, so the store is read) and warm (the store unchanged since the last read). Writes
bench/results/dashboard.json and .md.

    .venv/bin/python bench/bench_dashboard.py [--runs 2000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = PROJECT_ROOT / "bench" / "results"
ENTRY = PROJECT_ROOT / "dashboard" / "app.py"
COMPARE = "views/compare.py"
VIEWS = ["Dataset size", "Clip length", "Chosen runs"]
TARGETS = {"warm": 0.3, "cold": 0.6}  # seconds per view (issue 23)
TRACKS_PER_GENRE = 20
MLP_SPEC = """
[dataset]
sizes = ["small", "medium", "large"]
[model]
family = "sklearn_mlp"
[search]
n_candidates = 10
folds = 5
[search.space]
hidden_units = [[32], [16], [32, 16], [8]]
l2 = [0.0, 0.001]
learning_rate = [0.001, 0.003]
epochs = [10]
batch_size = [16]
[evaluation]
register = false
[compute]
parallel = "none"
"""
CNN_SPEC = """
experiment = "cnn_clip_length"
[input]
kinds = ["mels"]
[model]
family = "keras_cnn"
[cnn]
architecture = "compact"
epochs = 2
batch_size = 16
[mels]
n_mels = 16
clip_seconds = [1.5, 1.0, 0.5]
[search]
folds = 3
[evaluation]
register = false
[compute]
parallel = "none"
"""


def fill_store(n_runs: int, folder: Path) -> tuple[int, int]:
    """Run the CNN study, then MLP studies until at least ``n_runs`` runs exist; (runs, studies)."""
    from core import tracking
    from core.study import cost
    from core.study.engine import run_study
    from core.study.spec import load_spec
    from tests.dashboard.builders import tiny_root

    root = str(tiny_root(folder / "root", tracks_per_genre=TRACKS_PER_GENRE))
    # a fixed fit cost: the dry-run plan never times a network
    cost.measured_cost = lambda executor, precision="float32", probe=None: cost.Cost(per_unit=1e-9, per_epoch=0.01, source="fixed for the benchmark")
    specs = {}
    for name, text in (("cnn", CNN_SPEC), ("mlp", MLP_SPEC)):
        specs[name] = folder / f"{name}.toml"
        specs[name].write_text(text)
    def quiet(line: str) -> None:
        pass

    start = time.perf_counter()
    run_study(load_spec(specs["cnn"]), data=root, out=quiet)
    studies, written = 1, len(tracking.runs_frame())
    while written < n_runs:
        print(f"{written} runs after {time.perf_counter() - start:.0f} s", flush=True)
        overrides = [f'experiment="mlp_dataset_size_{studies}"', f"search.seed={studies}"]
        run_study(load_spec(specs["mlp"], overrides), data=root, out=quiet)
        studies, written = studies + 1, len(tracking.runs_frame())
    return written, studies


def time_view(view: str, repeats: int) -> dict:
    """Median and max seconds of AppTest reruns of the Compare page showing ``view``.

    One AppTest per view (a new one spends a second scanning installed packages for components);
    cold runs start with the runs cache emptied, warm runs find it filled.
    """
    from streamlit.testing.v1 import AppTest

    from dashboard import common

    at = AppTest.from_file(str(ENTRY), default_timeout=300)
    at.session_state["compare_view"] = view
    at.switch_page(COMPARE)
    run(at)  # the page's first run: imports and first-call costs stay out of the figures
    cold, warm = [], []
    for _ in range(repeats):
        common.forget_runs()
        cold.append(run(at))
        warm.append(run(at))
    return {"cold_median_s": statistics.median(cold), "cold_max_s": max(cold),
            "warm_median_s": statistics.median(warm), "warm_max_s": max(warm)}


def run(at) -> float:
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--store", help="time the views on this folder's mlflow.db (filled earlier) and print "
                                        "them as JSON; without it: fill a store, then time it in a new process")
    args = parser.parse_args()

    from core import tracking

    if args.store:  # the timing process: like a dashboard server, it did not write the runs it reads
        uri = tracking.configure(f"sqlite:///{args.store}/mlflow.db")
        os.environ.update(MLFLOW_TRACKING_URI=uri, GENRELAB_JOBS=f"{args.store}/jobs")
        start = time.perf_counter()
        frame = tracking.runs_frame()
        read_seconds = time.perf_counter() - start
        views = {view: time_view(view, args.repeats) for view in VIEWS}
        print(json.dumps({"read_seconds": read_seconds, "columns": int(frame.shape[1]), "views": views}))
        return 0

    base = tempfile.mkdtemp(prefix="genrelab-bench-dash-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    try:
        uri = tracking.configure(f"sqlite:///{base}/mlflow.db")
        os.environ["MLFLOW_TRACKING_URI"] = uri
        os.environ["GENRELAB_JOBS"] = f"{base}/jobs"
        start = time.perf_counter()
        n_runs, n_studies = fill_store(args.runs, Path(base))
        fill_seconds = time.perf_counter() - start
        print(f"wrote {n_runs} runs ({n_studies} studies) in {fill_seconds:.1f} s", flush=True)
        timing = subprocess.run([sys.executable, __file__, "--store", base, "--repeats", str(args.repeats)],
                                capture_output=True, text=True, check=True)
        measured = json.loads(timing.stdout.strip().splitlines()[-1])
        read_seconds, results = measured["read_seconds"], measured["views"]
        for view, r in results.items():
            print(f"{view:>13}: cold {r['cold_median_s']:.2f} s, warm {r['warm_median_s']:.2f} s "
                  f"(medians of {args.repeats})", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    import streamlit

    report = {
        "what": "AppTest render of dashboard/views/compare.py with the store holding n_runs runs",
        "n_runs": n_runs, "n_studies": n_studies, "runs_frame_columns": measured["columns"],
        "store_fill_seconds": round(fill_seconds, 1),
        "runs_frame_read_s": round(read_seconds, 3), "targets_s": TARGETS, "views": results,
        "repeats": args.repeats, "machine": {"cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0],
                                             "python": platform.python_version(), "streamlit": streamlit.__version__},
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dashboard.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Dashboard: Compare page render time",
        "",
        f"{n_runs} runs of {n_studies} studies written by the engine in a SQLite store "
        f"({report['runs_frame_columns']} columns in the runs frame); "
        f"AppTest render of the Compare page, median (max) of {args.repeats}. Cold: the runs cache is empty, so "
        f"the store is read (`runs_frame` alone: {read_seconds:.2f} s). Warm: the store unchanged since the last read. "
        f"Targets: warm {TARGETS['warm']:g} s, cold {TARGETS['cold']:g} s. Timed in a process of its own, "
        f"as a dashboard server reads a store others wrote. Measured {report['measured_at']} on {os.cpu_count()} CPUs, "
        f"1-minute load average {report['machine']['load_avg_1min']:.1f}.",
        "",
        "| view | cold (s) | warm (s) |",
        "|---|---|---|",
    ]
    lines += [f"| {view} | {r['cold_median_s']:.2f} ({r['cold_max_s']:.2f}) | {r['warm_median_s']:.2f} "
              f"({r['warm_max_s']:.2f}) |" for view, r in results.items()]
    (RESULTS / "dashboard.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'dashboard.json'} and dashboard.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
