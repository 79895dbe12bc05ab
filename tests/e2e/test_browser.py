"""The dashboard in headless Chromium: every page opens, the demo spec runs to the end from the
Launch page, and Compare draws its charts. Screenshots: test-output/e2e/*.png."""
from __future__ import annotations

import re

import pytest

#: The demo MLP spec, shrunk through the Launch form's free-text settings to finish in about a minute;
#: it registers its model, which the Predict page then uses.
DEMO_OVERRIDES = "\n".join([
    'dataset.sizes=["large"]', 'input.kinds=["features"]', "search.n_candidates=1", "search.folds=2",
    "search.space.epochs=[20]", "search.space.batch_size=[16]", 'search.space.hidden_units=[[32]]',
    'compute.parallel="none"',
])


def start_demo(page, overrides: str) -> None:
    go_to(page, "Launch")
    page.get_by_test_id("stSelectbox").filter(has_text="Experiment spec").click()
    page.get_by_role("option", name="demo_mlp.toml").click()
    page.get_by_text("experiment demo_mlp").wait_for()
    page.get_by_test_id("stTextArea").locator("textarea").fill(overrides)
    page.get_by_role("button", name="Start run").click()
    page.get_by_text("submitted").wait_for()


def go_to(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    page.locator("h1", has_text=title).wait_for()


def assert_no_exception(page) -> None:
    exceptions = page.get_by_test_id("stException")
    assert exceptions.count() == 0, exceptions.first.inner_text()


def wait_for_charts(page, *keys: str) -> None:
    """Wait until the Plotly charts with these Streamlit keys are drawn (the previous page's charts
    linger while the next page renders, so counting charts is not enough)."""
    for key in keys:
        page.locator(f".st-key-{key} .js-plotly-plot").first.wait_for()


def test_a_link_to_a_page_opens_it_inside_the_app(browser, dashboard):
    """First in this file, so it is the fresh server's first visit: Streamlit's old multipage mode
    (a ``pages/`` folder beside app.py) would run compare.py alone, without app.py's menu."""
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    try:
        tab = context.new_page()
        tab.set_default_timeout(90_000)
        tab.goto(f"{dashboard.url}/compare")
        tab.locator("h1", has_text="Compare").wait_for()
        nav = tab.get_by_test_id("stSidebarNav")
        assert [nav.get_by_role("link", name=title).count() for title in ("Overview", "Launch", "Data")] == [1, 1, 1]
        tab.get_by_text("Dataset root").first.wait_for()  # app.py's sidebar ran around the page
        assert_no_exception(tab)
    finally:
        context.close()


def test_every_page_opens(page, screenshots):
    page.locator("h1", has_text="Overview").wait_for()
    page.get_by_text("synthetic demo data").first.wait_for()
    wait_for_charts(page, "subsets", "splits", "genres")
    page.get_by_text("No runs yet").wait_for()
    assert_no_exception(page)
    page.screenshot(path=screenshots / "overview.png", full_page=True)

    go_to(page, "Data")
    page.locator("audio").wait_for(state="attached")
    wait_for_charts(page, "waveform", "log_mel", "distribution")
    assert_no_exception(page)
    page.screenshot(path=screenshots / "data.png", full_page=True)

    go_to(page, "Launch")
    page.get_by_role("button", name="Start run").wait_for()
    assert_no_exception(page)
    page.screenshot(path=screenshots / "launch.png", full_page=True)

    go_to(page, "Compare")
    page.get_by_test_id("stAlert").first.wait_for()
    assert_no_exception(page)

    nav = page.get_by_test_id("stSidebarNav")
    if nav.get_by_role("link", name="Predict").count():
        go_to(page, "Predict")
        assert_no_exception(page)
        page.screenshot(path=screenshots / "predict-no-model.png", full_page=True)


def test_launch_the_demo_spec_and_compare(page, screenshots):
    start_demo(page, DEMO_OVERRIDES)
    page.get_by_test_id("stProgress").wait_for()
    page.screenshot(path=screenshots / "launch-running.png", full_page=True)

    done = page.locator("[data-testid='stTable'] td", has_text="finished").or_(
        page.locator("[data-testid='stTable'] td", has_text="failed"))
    done.first.wait_for(timeout=300_000)
    page.screenshot(path=screenshots / "launch-finished.png", full_page=True)
    assert page.locator("[data-testid='stTable'] td", has_text="failed").count() == 0, page.inner_text("body")

    go_to(page, "Compare")
    wait_for_charts(page, "size_study")
    assert_no_exception(page)
    page.get_by_text("Synthetic demo data").first.wait_for()
    # Every score with its uncertainty: the test accuracy with its 95% interval and n, CV with its folds.
    page.get_by_text("95% CI").first.wait_for()
    text = page.inner_text("body")
    assert re.search(r"test \d+\.\d % \(95% CI \d+\.\d-\d+\.\d, n=\d+ test tracks\)", text), text
    assert "CV mean ± std over 2 folds" in text, text
    assert page.locator(".st-key-size_study .legendtext", has_text=re.compile(r"^knn \(k=\d+\)")).count() == 1
    page.screenshot(path=screenshots / "compare-size.png", full_page=True)

    page.get_by_role("radio", name="Chosen runs").click()
    page.get_by_role("button", name="Download table (CSV)").wait_for()
    wait_for_charts(page, "fold_spread", "curves", "genre_f1")
    page.locator("[class*='st-key-confusion_'] .js-plotly-plot").first.wait_for()
    assert_no_exception(page)
    page.screenshot(path=screenshots / "compare-chosen.png", full_page=True)


def test_cancel_ends_the_mlflow_runs_killed(page, dashboard, screenshots):
    from core import tracking

    # A different search seed: a new study rather than the finished one reused; long fits.
    long_run = DEMO_OVERRIDES.replace("search.space.epochs=[20]", "search.space.epochs=[400]") + "\nsearch.seed=7"
    start_demo(page, long_run)
    page.get_by_test_id("stProgress").filter(has_text=re.compile(r"[1-9][0-9]* of [0-9]+ fits")).wait_for(timeout=180_000)
    page.get_by_role("button", name="Cancel").click()
    page.locator("[data-testid='stTable'] td", has_text="killed").first.wait_for(timeout=120_000)
    page.screenshot(path=screenshots / "launch-cancelled.png", full_page=True)

    tracking.configure(dashboard.store_uri)
    runs = tracking.runs_frame(["demo_mlp"])
    cancelled = runs[runs["tags.genrelab.seed"] == "7"]
    assert set(cancelled.loc[cancelled["tags.genrelab.kind"] == "study", "status"]) == {"KILLED"}
    assert "RUNNING" not in set(runs["status"])


def test_predict_page_answers_an_uploaded_clip(page, dashboard, screenshots):
    """After the demo run registered its model (test above), an uploaded clip gets a top genre."""
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name="Overview").wait_for()
    if not nav.get_by_role("link", name="Predict").count():
        pytest.skip("dashboard/views/predict.py is not in this checkout")
    go_to(page, "Predict")
    clip = next((dashboard.data / "fma_large").rglob("*.mp3"))
    page.locator("input[type='file']").set_input_files(str(clip))
    page.get_by_text("Top genre").first.wait_for(timeout=120_000)
    assert_no_exception(page)
    page.screenshot(path=screenshots / "predict.png", full_page=True)
