"""What each lever of the default MLP plan saves against the seed's grid, and what it changes in the answer.

``experiments/mlp_dataset_size.toml`` on a root with features (the demo by default), raw features only,
no baselines, no refit: the searches alone, each mode into a fresh experiment of one store.

- On the largest size: the seed's grid (10 candidates x 5 folds, every fit to its epochs, folds by
  track), then early stopping, successive halving, and both.
- On all sizes, with early stopping and halving: every size drawing its own candidates, then the
  larger sizes carrying the smaller one's best 3 (``search.carry``), then folds grouped by artist
  (the default plan: an honest CV, not a saving).

Per mode: fits, epochs, fit seconds (summed over fits), wall seconds, and each search's best CV
(mean ± std over folds). Results: bench/results/mlp_levers.json and mlp_levers.md.

    python bench/bench_mlp_levers.py [ROOT] [--sizes small medium large]   (no ROOT: a fresh demo root)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SPEC = ROOT / "experiments" / "mlp_dataset_size.toml"
COMMON = ['input.kinds=["features"]', "evaluation.baselines=false", "evaluation.refit_and_test=false",
          "evaluation.register=false"]
SEED = ["search.early_stopping=false", "search.halving=false", "search.carry=0", 'search.group_by="track"']
STOP = ["search.early_stopping=true", "search.early_stopping_min_tracks=0"]  # on any slice, to measure the lever
ONE_SIZE = {  # on the largest size (on the demo, the default plan is the halving row: its slice is too small to stop)
    "seed's grid": SEED,
    "early stopping": [*SEED, *STOP],
    "successive halving": [*SEED, "search.halving=true"],
    "early stopping + halving": [*SEED, *STOP, "search.halving=true"],
}
ALL_SIZES = {  # every size, early stopping and halving on
    "each size its own candidates": ["search.carry=0", 'search.group_by="track"'],
    "carry the best 3 to larger sizes": ["search.carry=3", 'search.group_by="track"'],
    "default plan (+ folds by artist)": [],
}


def run_mode(root: Path, overrides: list[str], experiment: str) -> dict:
    """One study through the engine; per search its best CV, and the compute all searches used."""
    from core.study.engine import run_study
    from core.study.spec import load_spec

    spec = load_spec(SPEC, [*COMMON, *overrides, f'experiment="{experiment}"'])
    start = time.perf_counter()
    rows = run_study(spec, data=str(root), out=lambda line: None)
    wall = time.perf_counter() - start
    searches = [r for r in rows if r.get("cv_mean") is not None]
    import mlflow

    runs = mlflow.search_runs(experiment_names=[experiment], filter_string="tags.`genrelab.kind` = 'search'")
    return {"best_cv": {r["search"]: [round(r["cv_mean"], 4), round(r["cv_std"], 4)] for r in searches},
            "folds": {r["search"]: r["cv_folds"] for r in searches},
            "fits": int(runs["metrics.compute_fits"].sum()), "epochs": int(runs["metrics.compute_epochs"].sum()),
            "fit_seconds": round(float(runs["metrics.compute_seconds"].sum())), "wall_seconds": round(wall)}


def table(modes: dict, reference: str) -> list[str]:
    """One row per mode: its compute against the first row's, and each search's best CV against it,
    paired over the same folds where the folds are the same (Nadeau-Bengio interval, core.stats)."""
    from core.stats import paired_difference

    ref = modes[reference]
    lines = ["| mode | fits | epochs | fit seconds | compute vs first row | best CV per search (mean ± std over folds) "
             "| best-CV change vs first row (points, 95% CI paired over folds) |", "|---|---|---|---|---|---|---|"]

    def change(name: str, search: str) -> str:
        a, b = modes[name]["folds"][search], ref["folds"][search]
        d = paired_difference(a, b)
        return f"{search} {100 * d.mean_diff:+.1f} ({100 * d.ci_low:+.1f} to {100 * d.ci_high:+.1f})"

    for name, m in modes.items():
        cvs = ", ".join(f"{s} {100 * c:.1f} ± {100 * d:.1f}" for s, (c, d) in m["best_cv"].items())
        same_folds = "artist" not in name  # folds by artist are other folds
        change_text = ", ".join(change(name, s) for s in m["best_cv"] if s in ref["best_cv"]) if same_folds else \
            "other folds (by artist): not paired"
        lines.append(f"| {name} | {m['fits']} | {m['epochs']} | {m['fit_seconds']} | "
                     f"{m['fit_seconds'] / max(ref['fit_seconds'], 1):.2f}x | {cvs} | {change_text} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", help="a root with fma_metadata/features.csv (default: "
                        "the demo, built in a temp folder)")
    parser.add_argument("--sizes", nargs="+", default=["small", "medium", "large"])
    args = parser.parse_args()
    from bench.common import machine, write_results
    from core import tracking

    work = Path(tempfile.mkdtemp(prefix="bench_mlp_levers_"))
    if args.root is None:
        from core.demo.build import build_demo
        from core.features.table import fill_features

        args.root = work / "demo"
        build_demo(args.root)
        fill_features(args.root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    tracking.configure()
    largest = f'dataset.sizes=["{args.sizes[-1]}"]'
    every = "dataset.sizes=[" + ", ".join(f'"{s}"' for s in args.sizes) + "]"
    one, many = {}, {}
    for i, (name, overrides) in enumerate(ONE_SIZE.items()):
        one[name] = run_mode(args.root, [largest, *overrides], f"levers_one_{i}")
        print(name, one[name], flush=True)
    for i, (name, overrides) in enumerate(ALL_SIZES.items()):
        many[name] = run_mode(args.root, [every, *overrides], f"levers_all_{i}")
        print(name, many[name], flush=True)
    result = {"machine": machine(), "load_average_1min_at_end": round(os.getloadavg()[0], 1), "root": str(args.root),
              "sizes": args.sizes, "one_size": one, "all_sizes": many, "measured_at": time.strftime("%Y-%m-%d %H:%M")}
    write_results("mlp_levers", result, ["# The default MLP plan's levers against the seed's grid", "",
             f"`experiments/mlp_dataset_size.toml`, raw features, on `{args.root}`; {result['machine']['cpu']} x "
             f"{os.cpu_count()} cores, load "
             f"average {result['load_average_1min_at_end']} at the end, {result['measured_at']}.", "",
             f"## One size ({args.sizes[-1]})", "", *table(one, "seed's grid"), "",
             f"## Every size ({', '.join(args.sizes)}), early stopping and halving on", "",
             *table(many, "each size its own candidates")])


if __name__ == "__main__":
    main()
