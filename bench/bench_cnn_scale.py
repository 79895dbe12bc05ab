"""The CNN clip-length study at fma_small's size: the plan's estimate against a measured run.

Builds (or takes) a demo root of fma_small's Pop/Rock/Electronic size: 3 genres x 1,000 synthetic
30 s MP3 clips (``python -m core data demo --tracks-per-genre 1000 --genres Pop Rock Electronic``,
about 9 min on 2 cores), whose large tier holds all 3,000 tracks, hence ``dataset.subset="large"``.
Fills the log-mel cache (timed on its own: the plan does not include it), prints the dry-run plan of
``experiments/cnn_clip_length.toml`` as written (30 epochs) and the plan of the run measured here, then
runs that study (``--set cnn.epochs=3`` by default: the whole 30-epoch study takes hours; every fit
runs to its cap either way, so the measured run checks the plan's cost per epoch, scoring and refits
included) into a fresh store. Results: bench/results/cnn_scale.json and cnn_scale.md.

    python bench/bench_cnn_scale.py [--root DIR] [--set KEY=VALUE ...]
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
SPEC = ROOT / "experiments" / "cnn_clip_length.toml"
AT_SIZE = ['dataset.subset="large"', "evaluation.register=false"]
MEASURED = ["cnn.epochs=3"]


def plan(spec, root: Path) -> tuple[list[str], float]:
    """The dry-run plan's lines and its total estimate in seconds."""
    from core.study.engine import run_study

    printed: list[str] = []
    run_study(spec, data=str(root), dry_run=True, out=printed.append)
    lines = "\n".join(printed).splitlines()
    total = next(re.search(r"about ([\d.]+) (s|min|h) on", line) for line in lines if line.startswith("total:"))
    return lines, float(total[1]) * {"s": 1, "min": 60, "h": 3600}[total[2]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="a demo root built at that size earlier (else built here)")
    parser.add_argument("--set", action="append", default=None, metavar="KEY=VALUE",
                        help=f"overrides of the measured run (default: {' '.join(MEASURED)})")
    args = parser.parse_args()
    from bench.common import machine, timed_study, write_results
    from core import tracking
    from core.demo.build import build_demo
    from core.features.mels import fill_mels
    from core.study.families.cnn import MelSection
    from core.study.spec import load_spec

    measured = MEASURED if args.set is None else args.set
    work = Path(tempfile.mkdtemp(prefix="bench_cnn_scale_"))
    root = args.root or work / "demo"
    started = time.perf_counter()
    build_demo(root, 1000, genres=["Pop", "Rock", "Electronic"])
    build_seconds = time.perf_counter() - started
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    tracking.configure()
    full_lines, full_estimate = plan(load_spec(SPEC, AT_SIZE), root)
    print("\n".join(full_lines), flush=True)
    started = time.perf_counter()
    fill_mels(root, **MelSection().cache_params())
    mel_seconds = time.perf_counter() - started
    spec = load_spec(SPEC, [*AT_SIZE, *measured])
    lines, estimate = plan(spec, root)
    print("\n".join(lines), flush=True)
    measured_run = timed_study(spec, root)
    wall = measured_run.pop("wall")
    result = {
        "machine": machine(), "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        "root": str(root), "build_seconds": round(build_seconds), "mel_cache_seconds": round(mel_seconds),
        "plan_as_written": full_lines, "estimate_as_written_seconds": round(full_estimate),
        "overrides": measured, "plan": lines, "estimate_seconds": round(estimate),
        "measured_over_estimate": round(wall / estimate, 2), **measured_run,
    }
    md = ["# The CNN clip-length study at fma_small's size: plan against measurement", "",
          f"`experiments/cnn_clip_length.toml` on a synthetic demo root of 3,000 30 s clips (Pop, Rock, "
          f"Electronic; 2,700 training+validation, 300 test), {os.cpu_count()} cores, load average "
          f"{result['load_average_1min_at_end']} at the end, {result['machine']['measured_at']}.", "",
          f"- as written (30 epochs, early stopping costed at the caps): planned **{full_estimate / 3600:.1f} h**",
          f"- log-mel cache of the 3,000 clips (not in the plan): {mel_seconds / 60:.1f} min",
          f"- measured run with {' '.join(measured)}: planned {estimate / 60:.0f} min, measured {wall / 60:.0f} min "
          f"(measured / planned = {result['measured_over_estimate']})",
          f"- peak memory: study process {result['peak_rss_mib_study_process']} MiB, largest fit worker "
          f"{result['peak_rss_mib_largest_worker']} MiB", "",
          "| search | CV track accuracy (mean ± std over folds) | test track accuracy (95% CI, n) |", "|---|---|---|"]
    md += [f"| {r['search']} | {r['cv_mean']:.3f} ± {r['cv_std']:.3f} | {r['test_accuracy']:.3f} "
           f"({r['test_ci_low']:.3f}-{r['test_ci_high']:.3f}, n={int(r['n_test'])}) |"
           for r in result["results"] if r["cv_mean"] is not None]
    write_results("cnn_scale", result, [*md, "", "Plan as written:", "", "```", *full_lines, "```", "",
                                        "Plan of the measured run:", "", "```", *lines, "```"])


if __name__ == "__main__":
    main()
