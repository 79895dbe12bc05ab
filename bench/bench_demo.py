"""How long `make demo` takes here: until the dashboard answers, and until every demo job is done.

Runs `make demo` in this checkout with its venv already installed, or (``--fresh-clone``) in a fresh
clone of its HEAD after timing that clone's `make setup` (the venv and the install: no numba or
calibration cache yet, as a new user has it); the clock starts where the install ends. The demo data,
the MLflow store and the job folder live in a temporary directory, the dashboard on a free port. Records the seconds until the dashboard answers (Streamlit's health check, then the page
itself), each job's start and end as the job queue wrote them, and the total until no job is queued or
running. Targets (issue 23): dashboard within 30 s, every job done within 10 minutes, on 2 cores.
Writes bench/results/demo.json and .md.

    .venv/bin/python bench/bench_demo.py [--fresh-clone]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
RESULTS = PROJECT_ROOT / "bench" / "results"
DASHBOARD_TARGET_S, JOBS_TARGET_S, LIMIT_S = 30, 600, 3600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh-clone", action="store_true", help="clone HEAD, time its make setup, demo there")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="genrelab-bench-demo-"))
    checkout, install_s = PROJECT_ROOT, None
    if args.fresh_clone:
        checkout = base / "clone"
        subprocess.run(["git", "clone", "-q", str(PROJECT_ROOT), str(checkout)], check=True)
        start = time.monotonic()
        subprocess.run(["make", "setup"], cwd=checkout, check=True, stdout=subprocess.DEVNULL)
        install_s = time.monotonic() - start
        print(f"make setup in a fresh clone: {install_s / 60:.1f} min", flush=True)
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{base}/mlflow.db", "GENRELAB_JOBS": str(base / "jobs"),
           "GENRELAB_DATA": str(base / "demo")}
    os.environ.update(env)  # the job queue read below
    from core import jobs

    log = open(base / "make.log", "wb")  # noqa: SIM115 (outlives the block: make writes to it until killed)
    start = time.monotonic()
    make = subprocess.Popen(["make", "--no-print-directory", "demo", f"DATA={base / 'demo'}", f"PORT={port}"],
                            cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while not answers(f"{url}/_stcore/health"):
            if make.poll() is not None or time.monotonic() - start > 300:
                raise RuntimeError(f"the dashboard did not start: {(base / 'make.log').read_text()[-2000:]}")
            time.sleep(0.2)
        health_s = time.monotonic() - start
        answers(url)
        page_s = time.monotonic() - start
        print(f"dashboard answers after {health_s:.1f} s (page {page_s:.1f} s)", flush=True)
        while True:
            queue = jobs.refresh()
            if queue and not any(j["status"] in jobs.ACTIVE for j in queue):
                break
            if time.monotonic() - start > LIMIT_S:
                raise RuntimeError("demo jobs still active after an hour")
            time.sleep(2)
        done_s = time.monotonic() - start
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)
        log.close()
    rows = [{"job": j["label"], "status": j["status"],
             "seconds": round((j["finished_at"] or 0) - (j["started_at"] or 0), 1)}
            for j in sorted(queue, key=lambda j: j["created_at"])]
    report = {
        "what": "make demo after the install: dashboard answering, then every queued demo job done",
        "dashboard_health_s": round(health_s, 1), "dashboard_page_s": round(page_s, 1),
        "all_jobs_done_s": round(done_s, 1), "jobs": rows, "fresh_clone": args.fresh_clone,
        "fresh_clone_setup_s": None if install_s is None else round(install_s, 1),
        "targets_s": {"dashboard": DASHBOARD_TARGET_S, "jobs": JOBS_TARGET_S},
        "machine": {"cpus": os.cpu_count(), "load_avg_1min_at_end": os.getloadavg()[0],
                    "python": platform.python_version()},
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    shutil.rmtree(base, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "demo.json").write_text(json.dumps(report, indent=2) + "\n")
    where = (f"a fresh clone (its `make setup` took {install_s / 60:.1f} min)" if args.fresh_clone
             else "this checkout (venv installed, caches warm)")
    lines = ["# make demo, after the install", "",
             f"In {where}. Measured {report['measured_at']} on {os.cpu_count()} CPUs (1-minute load average at the end "
             f"{report['machine']['load_avg_1min_at_end']:.1f}). Dashboard answering after {health_s:.1f} s "
             f"(target {DASHBOARD_TARGET_S} s); every demo job done after {done_s / 60:.1f} min "
             f"(target {JOBS_TARGET_S / 60:.0f} min).", "", "| job | status | minutes |", "|---|---|---|"]
    lines += [f"| {r['job']} | {r['status']} | {r['seconds'] / 60:.1f} |" for r in rows]
    (RESULTS / "demo.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r["status"] == "finished" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
