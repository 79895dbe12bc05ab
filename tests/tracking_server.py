"""The team setup for tests: a PostgreSQL server and an ``mlflow server`` backed by it, on 127.0.0.1.

PostgreSQL comes from Debian's ``postgresql`` package (``.ci/run`` installs it); its binaries run as the
``postgres`` user when the tests run as root (PostgreSQL refuses root). The cluster lives in a folder of
its own under /tmp (the ``postgres`` user must reach it) and is removed when the server stops.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.registry.test_serving import free_port


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL binaries (the newest version installed), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free port; yields the URI of its (empty) database ``mlflow``."""
    bin_dir = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="genrelab-pg-"))
    folder.chmod(0o755)
    data, port = folder / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    try:
        subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                     "--no-sync"]), check=True, capture_output=True, timeout=120)
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
                                     "-o", f"-p {port} -k {folder} -h 127.0.0.1 -F", "start"]),
                       check=True, capture_output=True, timeout=120)
        try:
            subprocess.run(_as_postgres([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                                         "-U", "postgres", "mlflow"]), check=True, capture_output=True, timeout=60)
            yield f"postgresql://postgres@127.0.0.1:{port}/mlflow"
        finally:
            subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def mlflow_server(backend: str, artifacts: Path) -> Iterator[str]:
    """``mlflow server`` on ``backend`` (one worker), artifacts proxied from ``artifacts``; yields its URL."""
    port = free_port()
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(artifacts.parent / "mlflow-server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
                             "--artifacts-destination", artifacts.as_uri(), "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start:\n"
                                   + (artifacts.parent / "mlflow-server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # gunicorn may take longer to stop on a loaded machine
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()
