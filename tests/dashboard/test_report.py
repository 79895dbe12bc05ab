"""``python -m core report``: one study as one HTML file, on the store two tiny real studies wrote
(tests/dashboard/studies.py); the file is opened offline in Chromium."""
from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from core.__main__ import main
from core.stats import format_cv, format_test

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def in_store(studies, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", studies.uri)
    return studies


def report(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "nested" / "report.html"
    assert main(["report", *args, "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8")


def test_a_report_holds_the_question_plan_scores_comparisons_runs_and_versions(in_store, tmp_path, capsys):
    import mlflow

    from core import tracking

    page = report(tmp_path, "dash_mlp")
    assert "wrote " in capsys.readouterr().out
    text = html.unescape(page)
    runs = tracking.runs_frame(["dash_mlp"])
    study = runs[runs["tags.genrelab.kind"] == "study"].iloc[0]
    assert study["run_id"] in text and study["tags.mlflow.note.content"].split("\n\n")[0] in text
    plan = mlflow.artifacts.load_text(f"runs:/{study['run_id']}/plan.txt")
    assert "total: " in plan and plan in text  # what the study said before it started
    for row in in_store.rows["mlp"]:
        if row.get("cv_folds"):  # the searches: CV with its folds, test with its interval and n
            assert format_cv(row["cv_mean"], row["cv_std"], 2, "track", compact=True) in text
        assert format_test(row["test_accuracy"], row["test_ci_low"], row["test_ci_high"], int(row["n_test"]),
                           compact=True, n_artists=int(row["n_test_artists"])) in text
    comparisons = mlflow.artifacts.load_dict(f"runs:/{study['run_id']}/comparisons.json")
    assert comparisons and all(c["verdict"][1:] in text for c in comparisons)
    # a search against its runner-up names both sides ("the best of X (candidate 1)", "its runner-up (...)")
    runner_ups = [c for c in comparisons if c["b"].startswith("its runner-up (candidate ")]
    assert runner_ups and all(re.fullmatch(r"the best of .+ \(candidate \d+\)", c["a"]) for c in runner_ups)
    searches = runs[runs["tags.genrelab.kind"] == "search"]
    assert all(f"/runs/{run_id}" in text for run_id in searches["run_id"])  # links into the MLflow UI
    assert re.search(rf"<td>mlflow</td>\s*<td>{re.escape(mlflow.__version__)}</td>", page)
    assert "Calibration" in text and "Not measured" not in text
    finals = runs[runs["tags.genrelab.kind"] == "final"]
    for run_id in finals["run_id"]:  # every final's ECE on its test tracks, and its reliability diagram
        summary = mlflow.artifacts.load_dict(f"runs:/{run_id}/calibration.json")
        low, high = summary["ece_if_calibrated"]
        assert f"<td>{summary['ece']:.3f}</td>" in page and f"<td>{low:.3f}-{high:.3f}</td>" in page
        assert f"ECE {summary['ece']:.3f}, n={summary['n']}, " in text and f"perfectly calibrated: {low:.3f}-{high:.3f}" in text
    # one file: Plotly's code inline, no script or stylesheet fetched from anywhere
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page) and page.count("plotly-graph-div") >= 2


def test_a_clip_length_report_and_a_synthetic_root_say_so(in_store, tmp_path):
    text = html.unescape(report(tmp_path, "dash_cnn"))
    assert "Synthetic data" in text and "Accuracy against clip length" in text
    for row in in_store.rows["cnn"]:
        assert format_test(row["test_accuracy"], row["test_ci_low"], row["test_ci_high"], int(row["n_test"]),
                           compact=True, n_artists=int(row["n_test_artists"])) in text


def test_an_unknown_experiment_is_one_line_naming_the_known_ones(in_store, tmp_path, capsys):
    assert main(["report", "no_such_study", "--out", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'no_such_study'" in err and "dash_mlp" in err
    assert not (tmp_path / "r.html").exists()


def test_the_report_draws_its_charts_in_chromium_with_the_network_cut(in_store, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    report(tmp_path, "dash_mlp")
    asked = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route(re.compile(r"^(?!file:).*"), lambda route: (asked.append(route.request.url), route.abort()))
            page.goto((tmp_path / "nested" / "report.html").as_uri())
            page.wait_for_selector(".plotly-graph-div .main-svg", timeout=30_000)
            drawn = page.locator(".plotly-graph-div .main-svg").count()
            wide = page.evaluate("document.documentElement.scrollWidth")
        finally:
            browser.close()
    assert asked == [] and drawn >= 2 and wide <= 1280  # nothing fetched, charts drawn, nothing cut at 1280 px
