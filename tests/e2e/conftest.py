"""A real browser against ``streamlit run dashboard/app.py`` on 127.0.0.1, with temp data and store.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``; .ci/run installs it);
the tests are skipped without it. Screenshots go to test-output/e2e/ (git-ignored).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT
from tests.e2e.window import VIEWPORT

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = PROJECT_ROOT / "test-output" / "e2e"
START_TIMEOUT_S = 90
#: The store lives in memory when it can: SQLite commits on a busy disk are slow.
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@dataclass
class Dashboard:
    url: str
    store_uri: str
    data: Path


@pytest.fixture(scope="session")
def dashboard(tmp_path_factory) -> Dashboard:
    """Start the dashboard on a free port (tiny synthetic data, empty store)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):  # .ci/run installs it: a missing browser there is a failure, not a skip
            pytest.fail(f"{CHROMIUM} is missing in CI")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from tests.dashboard.builders import tiny_root

    base = tmp_path_factory.mktemp("e2e")
    data = tiny_root(base / "data")
    store = Path(tempfile.mkdtemp(prefix="genrelab-e2e-store-", dir=FAST_TMP)) / "mlflow.db"
    env = {**os.environ, "GENRELAB_DATA": str(data), "GENRELAB_JOBS": str(base / "jobs"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{store}", "GENRELAB_MLFLOW_UI": "http://127.0.0.1:9",
           "PYTHONPATH": str(PROJECT_ROOT)}
    port = free_port()
    log = open(base / "streamlit.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise RuntimeError(f"streamlit did not start:\n{(base / 'streamlit.log').read_text()[-3000:]}")
        time.sleep(0.3)
    yield Dashboard(url, env["MLFLOW_TRACKING_URI"], data)
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
    log.close()
    shutil.rmtree(store.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module (Playwright's sync API allows one instance at a time: another
    module may start its own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, dashboard):
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.set_default_timeout(90_000)
    tab.goto(dashboard.url)
    yield tab
    context.close()
