"""The background jobs (``core.jobs``) as a panel that refreshes itself: each running job's progress,
log tail and Cancel button, the queue, the finished jobs. Launch shows it whole; Overview shows the
active jobs only (after ``make demo``, the demo data and studies being built)."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core import jobs
from core.errors import GenreLabError
from dashboard import common

POLL_SECONDS = 2.0
LOG_LINES = 15


def show_running(job: dict) -> None:
    progress = jobs.read_progress(job["id"]) or {}
    done, total = progress.get("fits_done", 0), progress.get("fits_total", 0)
    elapsed = time.time() - (job["started_at"] or time.time())
    remaining = jobs.remaining_seconds(progress) if progress else None
    with st.container(border=True):
        st.markdown(f"`{job['label']}` · job `{job['id']}` · pid {job['pid']}")
        st.progress(done / total if total else 0.0,
                    text=f"{done} of {total} fits" if total else "running (its log below)")
        cols = st.columns(3)
        cols[1].metric("Elapsed", _duration(elapsed))
        if progress:  # a study: what it fits now and how long the rest should take (a command has its log)
            cols[0].metric("Now", progress.get("current") or "starting")
            cols[2].metric("Remaining (estimate)", _duration(remaining) if remaining is not None else "-")
        st.code(jobs.tail_log(job["id"], LOG_LINES) or "(no output yet)", language=None)
        if job.get("cancel_requested_at"):
            st.caption("Cancelling: the runner is ending its MLflow runs as KILLED.")
        else:
            # A callback runs before the rerun the click causes, so that rerun already shows the cancel.
            st.button("Cancel", key=f"cancel_{job['id']}", icon=":material/stop_circle:",
                      on_click=jobs.cancel, args=(job["id"],))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


@st.fragment(run_every=POLL_SECONDS)
def job_panel(active_only: bool = False) -> None:
    """Running and queued jobs, then (unless ``active_only``) the last ten finished ones with a log."""
    try:
        all_jobs = jobs.refresh()
    except GenreLabError as err:
        st.error(str(err), icon=":material/error:")
        return
    finished = {j["id"] for j in all_jobs if j["status"] not in jobs.ACTIVE}
    seen = st.session_state.get("seen_finished")
    st.session_state["seen_finished"] = finished
    if seen is not None and finished - seen:
        common.forget_runs()  # a job just ended: its runs (or the data it built) show now, on the whole page
        st.rerun()
    running = [j for j in all_jobs if j["status"] == "running"]
    queued = [j for j in all_jobs if j["status"] == "queued"]
    if not all_jobs and not active_only:
        st.caption("No jobs yet.")
    for job in running:
        show_running(job)
    if queued:
        st.markdown(f"**Queue** ({len(queued)} waiting, at most {jobs.max_jobs()} running at once)")
        st.table(pd.DataFrame([{"job": j["id"], "what": j["label"]} for j in reversed(queued)]).set_index("job"))
    ended = [j for j in all_jobs if j["status"] not in jobs.ACTIVE][:10]
    if ended and not active_only:
        st.markdown("**Finished jobs**")
        st.table(pd.DataFrame([{
            "job": j["id"], "what": j["label"], "status": j["status"], "message": j.get("message", ""),
            "minutes": f"{((j['finished_at'] or 0) - (j['started_at'] or j['finished_at'] or 0)) / 60:.1f}",
        } for j in ended]).set_index("job"))
        with st.expander(f"Log of {ended[0]['id']}"):
            st.code(jobs.tail_log(ended[0]["id"], 60) or "(empty)", language=None)
