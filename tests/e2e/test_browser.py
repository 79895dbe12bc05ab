"""The dashboard in headless Chromium: every page opens, the demo spec runs to the end from the
Launch page, and Compare draws its charts. Screenshots: test-output/e2e/*.png."""
from __future__ import annotations

import re

from core.config import PROJECT_ROOT
from tests.e2e.window import plotly_overflows, snap

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


def look(page, path) -> None:
    """No Plotly title or legend leaves its chart at 1280 px; then a screenshot of the whole page."""
    assert not plotly_overflows(page), plotly_overflows(page)
    snap(page, path)


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
    look(page, screenshots / "overview.png")

    go_to(page, "Data")
    page.locator("audio").wait_for(state="attached")
    wait_for_charts(page, "waveform", "log_mel", "distribution")
    assert_no_exception(page)
    look(page, screenshots / "data.png")

    go_to(page, "Launch")
    page.get_by_role("button", name="Start run").wait_for()
    page.get_by_text("experiment demo_mlp").wait_for()  # the demo spec, preselected on the synthetic root
    # Planned unasked, beside Start: on this tiny root the demo's 3 folds do not fit, said in one line.
    page.get_by_test_id("stAlert").filter(has_text="too few tracks for 3 folds").wait_for()
    assert_no_exception(page)
    look(page, screenshots / "launch.png")

    go_to(page, "Compare")
    page.get_by_test_id("stAlert").first.wait_for()
    assert_no_exception(page)

    nav = page.get_by_test_id("stSidebarNav")
    if nav.get_by_role("link", name="Predict").count():
        go_to(page, "Predict")
        assert_no_exception(page)
        look(page, screenshots / "predict-no-model.png")


def test_launch_the_demo_spec_and_compare(page, screenshots):
    start_demo(page, DEMO_OVERRIDES)
    page.get_by_text(re.compile(r"^Plan: \d+ fits; about .+ on inline on the CPU")).wait_for()  # the settings' plan
    page.get_by_test_id("stProgress").wait_for()
    look(page, screenshots / "launch-running.png")

    done = page.locator("[data-testid='stTable'] td", has_text="finished").or_(
        page.locator("[data-testid='stTable'] td", has_text="failed"))
    done.first.wait_for(timeout=300_000)
    look(page, screenshots / "launch-finished.png")
    assert page.locator("[data-testid='stTable'] td", has_text="failed").count() == 0, page.inner_text("body")

    go_to(page, "Compare")
    wait_for_charts(page, "size_study")
    assert_no_exception(page)
    page.get_by_text("Synthetic demo data").first.wait_for()
    # Every score with its uncertainty: the test accuracy with its 95% interval and n, CV with its folds.
    page.get_by_text(re.compile(r"test \d+\.\d % \(95% CI")).first.wait_for()  # the headlines, under the chart
    text = page.inner_text("body")
    assert re.search(r"test \d+\.\d % \(95% CI \d+\.\d-\d+\.\d, n=\d+ test tracks by \d+ artists\)", text), text
    assert "CV mean ± std over 2 folds" in text, text
    assert page.locator(".st-key-size_study .legendtext", has_text="best baseline (95% CI band)").count() == 1
    assert page.locator(".st-key-size_study .legendtext").count() <= 8
    look(page, screenshots / "compare-size.png")

    page.get_by_role("radio", name="Chosen runs").click()
    page.get_by_role("button", name="Download table (CSV)").wait_for()
    wait_for_charts(page, "fold_spread", "curves", "genre_f1")
    page.locator("[class*='st-key-confusion_'] .js-plotly-plot").first.wait_for()
    assert_no_exception(page)
    look(page, screenshots / "compare-chosen.png")


def test_cancel_ends_the_mlflow_runs_killed(page, dashboard, screenshots):
    from core import tracking

    # A different search seed: a new study rather than the finished one reused; long fits.
    long_run = DEMO_OVERRIDES.replace("search.space.epochs=[20]", "search.space.epochs=[400]") + "\nsearch.seed=7"
    start_demo(page, long_run)
    page.get_by_test_id("stProgress").filter(has_text=re.compile(r"[1-9][0-9]* of [0-9]+ fits")).wait_for(timeout=180_000)
    page.get_by_role("button", name="Cancel").click()
    page.locator("[data-testid='stTable'] td", has_text="killed").first.wait_for(timeout=120_000)
    look(page, screenshots / "launch-cancelled.png")

    tracking.configure(dashboard.store_uri)
    runs = tracking.runs_frame(["demo_mlp"])
    cancelled = runs[runs["tags.genrelab.seed"] == "7"]
    shown = runs[["tags.genrelab.kind", "tags.genrelab.seed", "status", "start_time"]].to_string()
    assert set(cancelled.loc[cancelled["tags.genrelab.kind"] == "study", "status"]) == {"KILLED"}, shown
    assert "RUNNING" not in set(runs["status"])


def register_four_more(store_uri: str) -> None:
    """Beside the demo run's genre-mlp (test above): the pretrained zero-shot model, a clip CNN, an MLP
    on musicnn embeddings and a scikit-learn MLP, each its name's champion (tiny networks: tests/registry)."""
    import contextlib
    import io

    from core import tracking
    from core.__main__ import main
    from core.registry import promote, register_version
    from tests.registry import builders

    tracking.configure(store_uri)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["models", "register-zeroshot"]) == 0
    for name, (model_uri, run_id), card in [
            ("genre-cnn", builders.log_clip(3.0), lambda r: builders.card("cnn", "mels", r, 0.45, clip_seconds=3)),
            ("genre-embeddings", builders.log_embedding(), lambda r: builders.card("sklearn_mlp", "embeddings", r)),
            ("genre-sklearn", builders.log_feature("sklearn_mlp"), lambda r: builders.card("sklearn_mlp", "features",
                                                                                         r, 0.35))]:
        promote(name, register_version(model_uri, name, card(run_id)))


def test_predict_leads_with_one_answer_and_tables_the_others(page, dashboard, screenshots):
    """Five registered models: the one that has heard real music answers first, large, with its genres
    along the clip and its tags; the four others in one table, each row's charts in an expander; no
    chart title or legend cut at 1280 px."""
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name="Overview").wait_for()
    register_four_more(dashboard.store_uri)
    go_to(page, "Predict")
    main = page.get_by_test_id("stMain")
    main.get_by_text("Upload a file").wait_for()
    assert main.get_by_text("No champion yet").count() == 0, "the demo spec promoted its model: no note on champions"
    clip = PROJECT_ROOT / "tests" / "data" / "music" / "muldjord_chaos_god.ogg"  # real metal, 10 s: 3 segments
    page.locator("input[type='file']").set_input_files(str(clip))
    page.get_by_text("Top genre").first.wait_for(timeout=180_000)
    page.get_by_role("heading", name="Other models").wait_for()
    page.get_by_text("The clip: waveform and log-mel").wait_for()  # drawn after every other model's row
    assert page.get_by_role("heading", name="genre-zeroshot/1").count() == 1, "real music leads"
    assert page.get_by_test_id("stMetric").count() == 1, "one answer, large"
    page.locator(".gtitle", has_text="Genres along the clip").first.wait_for()
    page.locator(".gtitle", has_text="Tag timeline (MSD_musicnn)").wait_for()
    rows = page.get_by_test_id("stExpander").filter(has_text=re.compile(r"genre-(cnn|embeddings|mlp|sklearn)/1: "))
    assert rows.count() == 4, page.inner_text("body")
    rows.filter(has_text="genre-cnn/1").locator("summary").click()  # the clip CNN: bars and a timeline
    rows.filter(has_text="genre-cnn/1").locator(".js-plotly-plot").nth(1).wait_for()
    assert_no_exception(page)
    assert not plotly_overflows(page), plotly_overflows(page)
    snap(page, screenshots / "predict.png")
