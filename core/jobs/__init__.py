"""Background jobs: long commands in their own process group, queued N at a time.

:mod:`core.jobs.queue` runs any argv as a job (submit, list, cancel, supervise, progress, logs);
:mod:`core.study.jobs` queues study runs on top of it; ``python -m core jobs``
is :mod:`core.jobs.commands`. The dashboard and ``make demo`` use the names re-exported here.
"""
from core.config import max_jobs  # the dashboard shows the limit beside the queue
from core.jobs.queue import (
    ACTIVE,
    KILL_AFTER_SECONDS,
    cancel,
    get_job,
    list_jobs,
    read_progress,
    refresh,
    remaining_seconds,
    submit_command,
    supervise,
    tail_log,
)

__all__ = [
    "ACTIVE", "KILL_AFTER_SECONDS", "cancel", "get_job", "list_jobs", "max_jobs", "read_progress", "refresh",
    "remaining_seconds", "submit_command", "supervise", "tail_log",
]
