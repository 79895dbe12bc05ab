"""``python -m core report EXPERIMENT``: one study as one self-contained HTML file."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from core.errors import GenreLabError


def register(subparsers) -> None:
    """Add ``report`` to ``python -m core``."""
    p = subparsers.add_parser("report", help="write a study's report as one HTML file that opens offline",
                              description="Write the newest study of an MLflow experiment (the spec's name) as "
                                          "one self-contained HTML file: question, data, plan, results with "
                                          "intervals, charts, paired comparisons, calibration, runs, environment.")
    p.add_argument("experiment", help="the experiment (spec name), e.g. demo_mlp")
    p.add_argument("--out", metavar="FILE", help="where to write it (default: EXPERIMENT.html here)")
    p.add_argument("--study", metavar="RUN_ID", help="this study run (or a prefix of its id) instead of the newest")
    p.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # two small artifacts: no bars
    from core.files import write_atomic
    from core.report.html import read_study, render

    page = render(read_study(args.experiment, args.study)).encode("utf-8")
    out = Path(args.out or f"{args.experiment}.html")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, page)
    except OSError as err:
        raise GenreLabError(f"{out}: cannot write the report ({err.strerror or err})") from None
    print(f"wrote {out} ({len(page) / 1e6:.1f} MB): open it in a browser, no network needed")
    return 0
