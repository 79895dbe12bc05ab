"""The only room that sets up MLflow, a module per job: :mod:`~core.tracking.store` (where the store is,
its schema and experiments), :mod:`~core.tracking.runs` (what every run records and how it ends),
:mod:`~core.tracking.locks` (one study at a time) and :mod:`~core.tracking.reader` (runs as a DataFrame,
fast). Callers use the names below: ``from core import tracking; tracking.start_run(...)``.
"""
from core.tracking.locks import CLAIM_KIND, study_lock
from core.tracking.reader import runs_frame
from core.tracking.runs import (
    HOST_TAG,
    KEY_TAG,
    KIND_TAG,
    PID_TAG,
    STARTED_TAG,
    context_tags,
    end_orphaned_runs,
    find_finished_run,
    git_state,
    install_signal_handlers,
    log_dataset,
    package_versions,
    param_text,
    start_run,
)
from core.tracking.store import EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT, configure, experiment_id, sqlite_path

__all__ = [
    "CLAIM_KIND", "EXPERIMENT_KIND_TAG", "HOST_TAG", "KEY_TAG", "KIND_TAG", "MODEL_DEVELOPMENT", "PID_TAG",
    "STARTED_TAG", "configure", "context_tags", "end_orphaned_runs", "experiment_id", "find_finished_run",
    "git_state", "install_signal_handlers", "log_dataset", "package_versions", "param_text", "runs_frame",
    "sqlite_path", "start_run", "study_lock",
]
