"""MLflow's UI in headless Chromium over a tiny real study: ``python -m core mlflow-ui`` starts it (one
worker) and prints a link that opens the training runs table, which reads as the run tree (study >
search > final / candidates > folds) with the data in its Dataset column; the study's run page shows its
description. Screenshots: test-output/e2e/mlflow_*.png.

Needs /usr/bin/chromium (skipped without it, except in CI) and about a minute: one study, one server.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT
from tests.test_mlflow_story import DATASET_NAME, DESCRIPTION, run_story_study

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = PROJECT_ROOT / "test-output" / "e2e"
START_TIMEOUT_S = 120
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # SQLite commits are slow on a busy disk
EXPERIMENT = "mlflow_ui_story"
#: Cells of MLflow's runs grid (ag-grid): a row's id is its run id; the name column holds the tree's
#: expand button.
NAME_CELL = '[col-id="attributes.`Run Name`"]'
DATASET_CELL = '[col-id="attributes.`Dataset`"]'


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):  # .ci/run installs it: a missing browser there is a failure, not a skip
            pytest.fail(f"{CHROMIUM} is missing in CI")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_ui(tmp_path_factory):
    """``python -m core mlflow-ui`` serving a temp store on a free port, with the tiny study in it.

    The server boots while the study runs (each takes 15-30 s here); the links are then printed with
    ``mlflow-ui --urls-only``, as a user would after a study finished."""
    require_chromium()
    from core import tracking
    from core.__main__ import main

    base = tmp_path_factory.mktemp("mlflow_ui")
    store = Path(tempfile.mkdtemp(prefix="genrelab-mlflow-ui-", dir=FAST_TMP)) / "mlflow.db"
    uri = tracking.configure(f"sqlite:///{store}")  # the schema first: the server and the study share it
    port = free_port()
    log_path = base / "mlflow_ui.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(PROJECT_ROOT)}
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "core", "mlflow-ui", "--port", str(port)], cwd=PROJECT_ROOT,
                                  env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        study = run_story_study(base, uri, experiment=EXPERIMENT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read() == b"OK":
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow-ui did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        printed = io.StringIO()
        with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
            mp.setenv("MLFLOW_TRACKING_URI", uri)
            assert main(["mlflow-ui", "--urls-only", "--port", str(port)]) == 0
        yield {**study, "printed": printed.getvalue(), "server_log": log_path.read_text(),
               "base": f"http://127.0.0.1:{port}"}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(store.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def chromium():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def ui_page(chromium):
    """A fresh browser profile each time: MLflow's UI remembers its mode in localStorage."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1600, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(60_000)  # the UI never goes network-idle: every wait is for a selector
    yield tab
    context.close()


def runs_link(ui) -> str:
    """The training-runs URL ``mlflow-ui`` printed for the study's experiment."""
    match = re.search(rf"^{EXPERIMENT} \(training runs\): (\S+)$", ui["printed"], re.MULTILINE)
    assert match, ui["printed"]
    return match.group(1)


def row(page, run) -> object:
    return page.locator(f'.ag-row[row-id="{run.info.run_id}"]')


def expand(page, run) -> None:
    row(page, run).locator(f"{NAME_CELL} button").first.click()


def test_the_printed_link_opens_the_training_runs_table(mlflow_ui, ui_page):
    exp_id = mlflow_ui["experiment"].experiment_id
    link = runs_link(mlflow_ui)
    assert link == f"{mlflow_ui['base']}/#/experiments/{exp_id}/runs?workflowType=machine_learning"
    assert f"MLflow UI on {mlflow_ui['base']} (one worker)" in mlflow_ui["server_log"]
    ui_page.goto(link)
    (study,) = mlflow_ui["runs"]["study"]
    row(ui_page, study).locator(NAME_CELL).get_by_role("link", name=EXPERIMENT, exact=True).wait_for()
    assert ui_page.get_by_role("heading", name="Runs", exact=True).is_visible()
    assert ui_page.get_by_role("heading", name="Overview", exact=True).count() == 0  # not the GenAI overview
    assert "/overview" not in ui_page.url and "workflowType=genai" not in ui_page.url
    assert ui_page.locator(".ag-header-cell", has_text="Dataset").count() == 1
    ui_page.screenshot(path=SCREENSHOTS / "mlflow_runs.png")


def test_the_table_reads_as_the_run_tree_with_the_data(mlflow_ui, ui_page):
    runs = mlflow_ui["runs"]
    ui_page.goto(runs_link(mlflow_ui))
    (study,), (search,), (final,) = runs["study"], runs["search"], runs["final"]
    row(ui_page, study).locator(NAME_CELL).wait_for()
    expand(ui_page, study)
    row(ui_page, search).locator(NAME_CELL, has_text="small features").wait_for()
    expand(ui_page, search)
    for candidate in runs["candidate"]:
        row(ui_page, candidate).locator(NAME_CELL, has_text=candidate.info.run_name).wait_for()
    candidate = min(runs["candidate"], key=lambda r: r.info.run_name)
    expand(ui_page, candidate)
    folds = [f for f in runs["fold"] if f.data.tags["mlflow.parentRunId"] == candidate.info.run_id]
    assert len(folds) == 2
    for fold in folds:
        row(ui_page, fold).locator(NAME_CELL, has_text=fold.info.run_name).wait_for()
        assert DATASET_NAME in row(ui_page, fold).locator(DATASET_CELL).inner_text()
    dataset = row(ui_page, final).locator(DATASET_CELL)
    dataset.wait_for()
    assert DATASET_NAME in dataset.inner_text()
    ui_page.screenshot(path=SCREENSHOTS / "mlflow_tree.png")


def test_the_study_run_page_shows_its_description(mlflow_ui, ui_page):
    from core import mlflow_ui as ui

    (study,) = mlflow_ui["runs"]["study"]
    ui_page.goto(ui.run_url(mlflow_ui["base"], mlflow_ui["experiment"].experiment_id, study.info.run_id))
    ui_page.get_by_text(DESCRIPTION).first.wait_for()
    ui_page.get_by_text("Compare in the dashboard").first.wait_for()
    ui_page.screenshot(path=SCREENSHOTS / "mlflow_study_run.png")
