"""MLP study benchmark (``make bench``): what early stopping and successive halving save on a CPU.

Same data (a synthetic 518-feature table, 8 overlapping classes), same candidates, same folds; four
search modes: full, early stopping, halving, both. Reports the best CV accuracy and the compute each
used (fits, epochs, fit seconds, wall seconds), then the wall time of one search with the folds fitted
inline, in threads and in worker processes (the engine's executor), and the fit cost constants
measured in this process with every core (core.study.cost; the engine times its own workers).

Writes bench/results/mlp.json and mlp.md. A few minutes on 2 idle cores; on a busy machine, shrink
the search with spec overrides applied to every mode, e.g. ``--set search.n_candidates=3``.
    python bench/bench_mlp.py [--rows 1500] [--set KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

SPEC = """
experiment = "bench_mlp"
[model]
family = "keras_mlp"
[search]
n_candidates = 6
folds = 3
seed = 0
patience = 3
[search.space]
hidden_units = [[256, 64], [128]]
dropout = [0.2, 0.5]
epochs = [20, 40]
batch_size = [64, 128]
[evaluation]
baselines = false
refit_and_test = false
register = false
[compute]
n_jobs = 0
parallel = "processes"
"""
MODES = {
    "full": [],
    "early_stopping": ["search.early_stopping=true"],
    "halving": ["search.halving=true"],
    "early_stopping+halving": ["search.early_stopping=true", "search.halving=true"],
}
PARALLEL = {"none": ["compute.parallel=\"none\""], "threads": ["compute.parallel=\"threads\""],
            "processes": ["compute.parallel=\"processes\""]}


def synthetic_table(path: Path, rows: int, seed: int = 0) -> None:
    """8 classes in 518 dimensions whose means overlap (CV accuracy well below 100 %)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(rows) % 8
    centres = rng.normal(scale=0.12, size=(8, 518))
    X = centres[labels] + rng.normal(size=(rows, 518))
    frame = pd.DataFrame(X.astype(np.float32), columns=[f"x{i:03d}" for i in range(518)])
    frame.insert(0, "id", np.arange(rows))
    frame["genre"] = np.array(["Electronic", "Experimental", "Folk", "Hip-Hop", "Instrumental",
                               "International", "Pop", "Rock"])[labels]
    frame.to_csv(path, index=False)


def run_mode(spec_path: Path, table: Path, overrides: list[str], experiment: str) -> dict:
    """One study through the engine; the best CV accuracy and the search run's compute metrics."""
    import mlflow

    from core.study.engine import run_study
    from core.study.spec import load_spec

    spec = load_spec(spec_path, [*overrides, f'experiment="{experiment}"'])
    start = time.perf_counter()
    rows = run_study(spec, features=str(table), label_column="genre", out=lambda line: None)
    wall = time.perf_counter() - start
    run = mlflow.search_runs(experiment_names=[experiment], filter_string="tags.`genrelab.kind` = 'search'").iloc[0]
    return {"best_cv_accuracy": rows[0]["cv_mean"], "best_cv_std": rows[0]["cv_std"],
            "fits": int(run["metrics.compute_fits"]), "epochs": int(run["metrics.compute_epochs"]),
            "fit_seconds": round(float(run["metrics.compute_seconds"]), 1), "wall_seconds": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="spec override for every search, e.g. 'search.space.epochs=[10, 20]'")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
        from core import tracking
        from core.models.mlp import configure_threads
        from core.study import cost

        tracking.configure()
        configure_threads(os.cpu_count() or 1)
        constants = cost.calibrate()  # in this process, with every core: the engine times its own workers
        table = tmp / "table.csv"
        synthetic_table(table, args.rows)
        spec_path = tmp / "bench_mlp.toml"
        spec_path.write_text(SPEC)
        modes = {}
        for name, overrides in MODES.items():
            modes[name] = run_mode(spec_path, table, [*args.set, *overrides], f"bench_{name}")
            print(name, modes[name], flush=True)
        parallel = {}
        small = ["search.n_candidates=2", "search.space.epochs=[15]"]
        for name, overrides in PARALLEL.items():
            parallel[name] = run_mode(spec_path, table, [*args.set, *small, *overrides], f"bench_parallel_{name}")
            print("parallel", name, parallel[name], flush=True)
    result = {"machine": {"cpus": os.cpu_count(), "load_average_1min_at_end": round(os.getloadavg()[0], 1)},
              "rows": args.rows, "features": 518, "classes": 8,
              "search": "6 candidates x 3 folds, keras_mlp, epochs 20/40, patience 3, halving eta 3 from 1/9",
              "overrides": args.set,
              "modes": modes, "parallel_2_candidates_3_folds_15_epochs": parallel,
              "fit_cost_constants_all_cores": constants,
              "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mlp.json").write_text(json.dumps(result, indent=2))
    lines = ["# MLP search: full vs early stopping vs successive halving", "",
             f"{args.rows} rows x 518 features, 8 classes (synthetic), {result['search']}"
             + (f" with overrides {' '.join(args.set)}" if args.set else "") + ", "
             f"{os.cpu_count()} CPUs (load average {result['machine']['load_average_1min_at_end']} at the end: "
             f"other work on the machine inflates seconds), measured {result['measured_at']}.", "",
             "| mode | best CV accuracy | fits | epochs | fit seconds | wall seconds |", "|---|---|---|---|---|---|"]
    for name, m in modes.items():
        lines.append(f"| {name} | {m['best_cv_accuracy']:.3f} ± {m['best_cv_std']:.3f} | {m['fits']} | "
                     f"{m['epochs']} | {m['fit_seconds']} | {m['wall_seconds']} |")
    lines += ["", "Fold parallelism (2 candidates x 3 folds, 15 epochs):", "",
              "| folds run | wall seconds | fit seconds |", "|---|---|---|"]
    for name, m in parallel.items():
        lines.append(f"| {name} | {m['wall_seconds']} | {m['fit_seconds']} |")
    lines += ["", f"Fit cost on all cores: epochs x ({constants['per_epoch']:.3g} s + samples x weights x "
              f"{constants['per_unit']:.3g} s + batches x weights x {constants['per_update']:.3g} s)."]
    (RESULTS / "mlp.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
