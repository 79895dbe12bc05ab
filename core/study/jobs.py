"""Study runs as background jobs: the ``python -m core run`` command line, its dry run, and queueing it.

The queue (:mod:`core.jobs`) runs any argv; this module, beside the ``run`` command
(:mod:`core.study.commands`), is the one place that knows that command's arguments.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.config import PROJECT_ROOT
from core.errors import GenreLabError
from core.jobs.queue import submit_command


def run_argv(spec_path: str | os.PathLike, overrides: Mapping[str, Any] | None, data_root: str | os.PathLike | None,
             progress_path: Path | None = None, dry_run: bool = False) -> list[str]:
    """The study runner's command line:
    ``python -m core run SPEC [--data DIR] [--set k=v ...] [--dry-run] [--progress PATH]``."""
    argv = [sys.executable, "-m", "core", "run", str(spec_path)]
    if data_root is not None:
        argv += ["--data", str(data_root)]
    for key, value in (overrides or {}).items():
        argv += ["--set", f"{key}={_setting(value)}"]
    if dry_run:
        argv.append("--dry-run")
    if progress_path is not None:
        argv += ["--progress", str(progress_path)]
    return argv


def _setting(value: Any) -> str:
    """A ``--set`` value in the spec's TOML spelling (lists and strings as JSON, which TOML reads)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    return str(value)


def submit(spec_path: str | os.PathLike, overrides: Mapping[str, Any] | None = None,
           data_root: str | os.PathLike | None = None, once: bool = False) -> str:
    """Queue a study run of ``spec_path`` with ``--set`` ``overrides``; it starts if a slot is free.

    Returns the job id (with ``once``, that of an identical job already queued or running, if any).
    """
    spec = Path(spec_path)
    if not spec.is_file():
        raise GenreLabError(f"{spec}: experiment spec not found")
    label = spec.stem + "".join(f" {k}={_setting(v)}" for k, v in (overrides or {}).items())
    return submit_command(lambda progress: run_argv(spec, overrides, data_root, progress), label=label, once=once)


def dry_run(spec_path: str | os.PathLike, overrides: Mapping[str, Any] | None = None,
            data_root: str | os.PathLike | None = None, timeout: float = 180.0) -> str:
    """The runner's plan for this spec and overrides (``--dry-run``), as the text it prints.

    Raises GenreLabError with the runner's one-line error, or when it takes longer than ``timeout`` s.
    """
    argv = run_argv(spec_path, overrides, data_root, dry_run=True)
    try:
        done = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise GenreLabError(f"{spec_path}: the dry run took longer than {timeout:.0f} s") from None
    if done.returncode != 0:
        # The CLI prints a GenreLabError as "error: ..."; anything else ends with a traceback's last line.
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        error = next((line for line in reversed(lines) if line.startswith("error:")), lines[-1] if lines else "")
        raise GenreLabError(error.removeprefix("error: ") or f"{spec_path}: dry run exited with status {done.returncode}")
    return done.stdout.strip()
