"""The dashboard in headless Chromium: every page opens, the demo spec runs to the end from the
Launch page, and Compare draws its charts. Screenshots: test-output/e2e/*.png."""
from __future__ import annotations

#: The demo MLP spec, shrunk through the Launch form's free-text settings to finish in about a minute.
DEMO_OVERRIDES = "\n".join([
    'dataset.sizes=["large"]', 'input.kinds=["features"]', "search.n_candidates=1", "search.folds=2",
    "search.space.epochs=[20]", "search.space.batch_size=[16]", 'search.space.hidden_units=[[32]]',
    "evaluation.register=false",
    'compute.parallel="none"',
])
PLOTS = ".js-plotly-plot"


def go_to(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    page.locator("h1", has_text=title).wait_for()


def assert_no_exception(page) -> None:
    exceptions = page.get_by_test_id("stException")
    assert exceptions.count() == 0, exceptions.first.inner_text()


def wait_for_plots(page, n: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('{PLOTS}').length >= {n}", timeout=90_000)


def test_every_page_opens(page, screenshots):
    page.locator("h1", has_text="Overview").wait_for()
    page.get_by_text("synthetic demo data").first.wait_for()
    wait_for_plots(page, 3)
    assert_no_exception(page)
    page.screenshot(path=screenshots / "overview.png", full_page=True)

    go_to(page, "Data")
    page.locator("audio").wait_for(state="attached")
    wait_for_plots(page, 3)  # waveform, log-mel, genre distribution
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
        page.screenshot(path=screenshots / "predict.png", full_page=True)


def test_launch_the_demo_spec_and_compare(page, screenshots):
    go_to(page, "Launch")
    page.get_by_test_id("stSelectbox").filter(has_text="Experiment spec").click()
    page.get_by_role("option", name="demo_mlp.toml").click()
    page.get_by_text("experiment demo_mlp").wait_for()
    page.get_by_test_id("stTextArea").locator("textarea").fill(DEMO_OVERRIDES)
    page.get_by_role("button", name="Start run").click()
    page.get_by_text("submitted").wait_for()
    page.get_by_test_id("stProgress").wait_for()
    page.screenshot(path=screenshots / "launch-running.png", full_page=True)

    done = page.locator("[data-testid='stTable'] td", has_text="finished").or_(
        page.locator("[data-testid='stTable'] td", has_text="failed"))
    done.first.wait_for(timeout=300_000)
    page.screenshot(path=screenshots / "launch-finished.png", full_page=True)
    assert page.locator("[data-testid='stTable'] td", has_text="failed").count() == 0, page.inner_text("body")

    go_to(page, "Compare")
    wait_for_plots(page, 1)
    assert_no_exception(page)
    page.get_by_text("Synthetic demo data").first.wait_for()
    page.get_by_text("Lines: test accuracy").wait_for()
    page.screenshot(path=screenshots / "compare-size.png", full_page=True)

    page.get_by_role("radio", name="Chosen runs").click()
    page.get_by_role("button", name="Download table (CSV)").wait_for()
    wait_for_plots(page, 4)  # per-fold spread, learning curves, confusion matrices, per-genre F1
    assert_no_exception(page)
    page.screenshot(path=screenshots / "compare-chosen.png", full_page=True)
