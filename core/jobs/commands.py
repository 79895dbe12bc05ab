"""``python -m core jobs ...``: queue study runs and commands as background jobs (see :mod:`core.jobs.queue`).

The same queue as the dashboard's Launch page: at most ``$GENRELAB_MAX_JOBS`` run at once and each
job starts the next when it ends, so ``make demo`` can queue its studies and walk away.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from core import jobs
from core.errors import GenreLabError

#: An argument of ``submit-command`` that becomes the job's progress file path.
PROGRESS_PLACEHOLDER = "{progress}"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``jobs submit|submit-command|list|cancel`` to ``python -m core``."""
    parser = subparsers.add_parser("jobs", help="queue, list and cancel background jobs")
    commands = parser.add_subparsers(dest="jobs_command", metavar="JOBS_COMMAND", required=True)

    submit = commands.add_parser("submit", help="queue a study run: python -m core run SPEC ...")
    submit.add_argument("spec", type=Path, help="experiment spec (.toml)")
    submit.add_argument("--data", type=Path, default=None, help="dataset root (default: GENRELAB_DATA or data/demo)")
    submit.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a spec setting (repeatable), as for `python -m core run`")
    submit.add_argument("--once", action="store_true", help="do nothing if the same job is already queued or running")
    submit.set_defaults(func=_submit)

    command = commands.add_parser(
        "submit-command", help="queue any command: submit-command LABEL -- ARGV...",
        description=f"Queue ARGV (run from the project root, no shell). An argument {PROGRESS_PLACEHOLDER} "
                    "becomes the path of the job's progress file.")
    command.add_argument("label", help="name shown in the job list")
    command.add_argument("--once", action="store_true", help="do nothing if the same command is already queued or running")
    command.add_argument("argv", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    command.set_defaults(func=_submit_command)

    listing = commands.add_parser("list", help="update and list jobs, newest first")
    listing.set_defaults(func=_list)

    cancel = commands.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job_id")
    cancel.set_defaults(func=_cancel)


def _submit(args: argparse.Namespace) -> int:
    from core.study import jobs as study_jobs
    from core.study.spec import split_override

    overrides = dict(split_override(item, "--set") for item in args.overrides)
    # The job runs from the project root: make paths given relative to here absolute.
    data = args.data.resolve() if args.data is not None else None
    print(study_jobs.submit(args.spec.resolve(), overrides, data, once=args.once))
    return 0


def _submit_command(args: argparse.Namespace) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise GenreLabError("submit-command: no command given (submit-command LABEL -- ARGV...)")
    print(jobs.submit_command(lambda progress: [str(progress) if a == PROGRESS_PLACEHOLDER else a for a in argv],
                              label=args.label, once=args.once))
    return 0


def _list(args: argparse.Namespace) -> int:
    for job in jobs.refresh():
        print("\t".join([job["id"], job["status"], job["label"], job.get("message") or ""]))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    job = jobs.cancel(args.job_id)
    print(f"{job['id']}\t{job['status']}" + ("\tcancel requested" if job["status"] == "running" else ""))
    return 0
