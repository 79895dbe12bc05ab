"""The seed's dataset-size study at FMA scale: the default plan's estimate against a measured run.

Builds an FMA-size root (``bench/fma_size_root.py``: 106,574 tracks, 518 genre-dependent features),
prints the dry-run plan of ``experiments/mlp_dataset_size.toml`` on it, then runs the searches of the
sizes given (default: all of 8k, i.e. raw features and autoencoder codes) with the spec as written,
into a fresh store, on this machine's cores. Records the plan's estimate for those searches, the
measured wall time, the best CV and test accuracy, and the peak memory of the study's process and of
its fit workers. Results: bench/results/mlp_scale.json and mlp_scale.md.

    python bench/bench_mlp_scale.py [--root DIR] [--sizes 8k] [--set KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SPEC = ROOT / "experiments" / "mlp_dataset_size.toml"


def plan_lines(spec, root: Path) -> list[str]:
    from core.study.engine import run_study

    printed: list[str] = []
    run_study(spec, data=str(root), dry_run=True, out=printed.append)
    return "\n".join(printed).splitlines()


def estimate_seconds(lines: list[str], labels: list[str]) -> float:
    """Sum of the plan's per-search estimates (fit seconds) of ``labels``, divided as the plan divides."""
    units = {"s": 1, "min": 60, "h": 3600}
    total = 0.0
    for line in lines:
        match = re.match(r"\s*(.+?)\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+([\d.]+) (s|min|h)$", line)
        if match and match[1].split(" (")[0] in labels:
            total += float(match[2]) * units[match[3]]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="an FMA-size root made earlier (else built in a temp folder)")
    parser.add_argument("--sizes", nargs="+", default=["8k"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    from bench.common import machine, timed_study, write_results
    from bench.fma_size_root import build
    from core import tracking
    from core.study.spec import load_spec

    work = Path(tempfile.mkdtemp(prefix="bench_mlp_scale_"))
    root = args.root or work / "fma"
    made = None if args.root else build(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    tracking.configure()
    full = plan_lines(load_spec(SPEC, args.set), root)
    print("\n".join(full), flush=True)
    sizes = "[" + ", ".join(f'"{s}"' for s in args.sizes) + "]"
    spec = load_spec(SPEC, [*args.set, f"dataset.sizes={sizes}", "evaluation.register=false"])
    kinds = spec.input.kinds
    labels = [f"{s} {k}" for s in args.sizes for k in kinds]
    workers = max(1, os.cpu_count() or 1)
    estimate = estimate_seconds(full, labels) / workers
    measured_run = timed_study(spec, root)
    wall = measured_run.pop("wall")
    result = {
        "machine": machine(), "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        "root": made or str(root), "overrides": args.set, "searches": labels,
        "plan": full, "estimate_seconds": round(estimate),
        "measured_over_estimate": round(wall / estimate, 2) if estimate else None, **measured_run,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    lines = ["# The dataset-size study at FMA scale: plan against measurement", "",
             f"Searches {', '.join(labels)} of `experiments/mlp_dataset_size.toml`"
             + (f" with {' '.join(args.set)}" if args.set else "") + f" on an FMA-size synthetic root, "
             f"{result['machine']['cpu']} x {os.cpu_count()} cores, load average "
             f"{result['load_average_1min_at_end']} at the end, "
             f"{result['measured_at']}.", "",
             f"- estimate (dry-run plan): {estimate / 60:.0f} min; measured: {wall / 60:.0f} min "
             f"(measured / estimate = {result['measured_over_estimate']})",
             f"- peak memory: study process {result['peak_rss_mib_study_process']} MiB, largest fit worker "
             f"{result['peak_rss_mib_largest_worker']} MiB", "",
             "| search | CV accuracy (mean ± std over folds) | test accuracy (95% CI, n) | fits | fit seconds |",
             "|---|---|---|---|---|"]
    for r in result["results"]:
        if r["cv_mean"] is not None:
            lines.append(f"| {r['search']} | {r['cv_mean']:.3f} ± {r['cv_std']:.3f} | {r['test_accuracy']:.3f} "
                         f"({r['test_ci_low']:.3f}-{r['test_ci_high']:.3f}, n={int(r['n_test'])}) | "
                         f"{r['fits']:.0f} | {r['seconds']:.0f} |")
    write_results("mlp_scale", result, [*lines, "", "Plan:", "", "```", *full, "```"])


if __name__ == "__main__":
    main()
