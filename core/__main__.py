"""Command line: ``python -m core COMMAND ...`` (``--help`` lists the commands).

Each area registers its own sub-commands (``register(subparsers)`` in its ``commands.py``) and keeps
heavy imports (TensorFlow, librosa, MLflow) inside the handlers so ``--help`` stays instant. A
``GenreLabError`` becomes one line on stderr and exit status 1, never a traceback.
"""
from __future__ import annotations

import argparse
import sys

from core import config, quiet
from core.errors import GenreLabError


def build_parser() -> argparse.ArgumentParser:
    from core import mlflow_ui
    from core.data import commands as data_commands
    from core.features import commands as feature_commands
    from core.jobs import commands as jobs_commands
    from core.registry import commands as registry_commands
    from core.report import commands as report_commands
    from core.serving import commands as predict_commands
    from core.study import commands as study_commands

    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="FMA Genre Lab: data, features, experiments and predictions for music genre classification.",
    )
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up and log lines (also GENRELAB_VERBOSE=1)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (data_commands, feature_commands, study_commands, predict_commands, registry_commands,
                   report_commands, jobs_commands, mlflow_ui):
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose or config.verbose():
        quiet.uninstall()  # a quiet parent's setting does not outlive an explicit --verbose
    else:
        quiet.install()
    try:
        return int(args.func(args) or 0)
    except GenreLabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; run the same command again to resume", file=sys.stderr)
        return 130


def run() -> None:
    """The ``genrelab`` console script: ``python -m core`` by another name."""
    sys.exit(main())


if __name__ == "__main__":
    run()
