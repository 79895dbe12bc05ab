"""``python -m core run SPEC``: run (or plan with ``--dry-run``) the study an experiment spec declares."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add ``run`` to ``python -m core``."""
    p = subparsers.add_parser("run", help="run an experiment spec (experiments/*.toml)",
                              description="Run the study declared by an experiment spec into MLflow. "
                                          "Finished fits are reused, so rerunning resumes an interrupted study.")
    p.add_argument("spec", help="experiment spec, e.g. experiments/demo_mlp.toml")
    p.add_argument("--data", help="dataset root (overrides the spec's dataset.root)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec key, value parsed as TOML (e.g. --set search.folds=3); repeatable")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the estimated time, fit nothing")
    p.add_argument("--progress", metavar="PATH", help="keep a JSON progress file at PATH (for the dashboard)")
    p.add_argument("--features", metavar="FILE", help="study a CSV feature table instead of FMA features")
    p.add_argument("--label-column", metavar="NAME", help="label column of the --features table")
    p.add_argument("--scheduler", metavar="ADDR", help="run the fits on a Dask cluster (e.g. tcp://host:8786)")
    p.add_argument("--wait", action="store_true",
                   help="if the same study is already running, wait for it instead of refusing")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from core.study.engine import run_study
    from core.study.spec import load_spec

    spec = load_spec(args.spec, args.overrides)
    run_study(spec, data=args.data, features=args.features, label_column=args.label_column, dry_run=args.dry_run,
              progress_path=args.progress, scheduler=args.scheduler, wait=args.wait)
    return 0
