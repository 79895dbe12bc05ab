"""Launch page: the plan beside Start, redone as settings change; start a spec as a background job, follow it to the end; cancel and queue."""
from __future__ import annotations

import re
import sys
import time

from core import jobs
from tests.dashboard.test_pages import assert_clean, texts

TINY_SPEC = """
experiment = "tiny_mlp"
description = "A tiny MLP study for the dashboard tests."
[dataset]
sizes = ["45k"]
[model]
family = "sklearn_mlp"
[search]
n_candidates = 2
folds = 2
[search.space]
hidden_units = [[16], [8]]
epochs = [5]
[evaluation]
register = false
[compute]
parallel = "none"
"""


def pick_spec(at, path) -> None:
    at.selectbox(key="spec_choice").set_value("other spec file...").run()
    at.text_input(key="spec_path").set_value(str(path)).run()


def test_launch_plans_runs_and_shows_the_finished_run(env, open_page, fresh_store, tmp_path):
    env(store=fresh_store)
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SPEC)
    at = open_page("views/launch.py")
    pick_spec(at, spec)
    assert_clean(at)
    assert "study tiny_mlp" in texts(at.code), "the plan is shown beside Start without asking"

    def plan_line() -> str:
        return next(m.value for m in at.markdown if m.value.startswith("**Plan:** "))

    assert re.fullmatch(r"\*\*Plan:\*\* \d+ fits; about .+ on inline on the CPU", plan_line()), plan_line()
    two_candidates = plan_line()
    candidates = next(w for w in at.number_input if w.label == "Candidates per search")
    assert candidates.help == "spec key `search.n_candidates`"
    candidates.set_value(1).run()
    fits = [int(re.search(r"(\d+) fits", line).group(1)) for line in (two_candidates, plan_line())]
    assert fits[0] - fits[1] == 2, "one candidate fewer: its 2 folds fewer, in the plan as the setting changes"
    next(b for b in at.button if b.label == "Start run").click().run()
    assert_clean(at)
    assert "submitted" in texts(at.success)
    [job] = jobs.list_jobs()
    assert "--set" in job["argv"] and "search.n_candidates=1" in job["argv"]

    def watch(until_progress: bool) -> bool:
        """Rerun the page while the job is active (a timed fragment does not rerun by itself under
        AppTest); whether it showed the job's fits."""
        seen, deadline = False, time.monotonic() + 300
        while jobs.get_job(job["id"])["status"] in jobs.ACTIVE and time.monotonic() < deadline:
            at.run()
            assert_clean(at)
            seen |= any("fits" in str(p.proto.text) for p in at.get("progress"))
            if seen and until_progress:
                break
            time.sleep(1)
        return seen

    saw_progress = watch(until_progress=True)
    watch(until_progress=False)
    at.run()
    finished = jobs.get_job(job["id"])
    assert finished["status"] == "finished", jobs.tail_log(job["id"], 20)
    assert saw_progress, "the running job showed its fits while it ran"
    table = at.table[-1].value
    assert table.loc[job["id"], "status"] == "finished"

    at.switch_page("views/overview.py").run()
    runs = next(d.value for d in at.dataframe if "status" in d.value)  # the latest runs (results follow)
    assert "tiny_mlp" in set(runs["experiment"]) and "FINISHED" in set(runs["status"])


def test_the_spec_that_fits_the_data_is_preselected_with_human_labels(env, open_page, tmp_path):
    """A demo study on the synthetic root, FMA's dataset-size study on an FMA root; settings are named for
    people, with their spec key as help, and the section when two share a name."""
    from tests.builders import Track, build_fma_root

    at = open_page("views/launch.py")  # env's root: the tiny synthetic one
    assert_clean(at)
    assert at.selectbox(key="spec_choice").value == "demo_mlp.toml"
    labels = {w.label: w.help for w in [*at.number_input, *at.multiselect, *at.selectbox, *at.text_input]}
    assert labels["CV folds"] == "spec key `search.folds`" and "Dataset sizes" in labels
    assert not any(label.startswith(("search.", "dataset.", "cnn.")) for label in labels)
    assert {"Epochs (autoencoder)", "Epochs (values searched)"} <= set(labels)  # one name, two sections

    rows = [Track(100 + i, "small", "training", "Rock", [12]) for i in range(4)]
    env(data=str(build_fma_root(tmp_path / "fma", rows, echonest=False)))
    at = open_page("views/launch.py")
    assert_clean(at)
    assert at.selectbox(key="spec_choice").value == "mlp_dataset_size.toml"


def sleeper(progress):
    return [sys.executable, "-c", "import time; print('working', flush=True); time.sleep(120)"]


def test_cancel_frees_the_slot_for_the_queue(env, open_page):
    first = jobs.submit_command(sleeper, label="first sleeper")
    second = jobs.submit_command(sleeper, label="second sleeper")
    at = open_page("views/launch.py")
    assert_clean(at)
    assert "first sleeper" in texts(at.markdown)
    [queue] = at.table
    assert list(queue.value.index) == [second]

    at.button(key=f"cancel_{first}").click().run()
    deadline = time.monotonic() + 60
    while jobs.get_job(first)["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    at.run()  # the job's supervisor, not the page, recorded the end and started the next job
    assert jobs.get_job(first)["status"] == "killed"
    assert jobs.get_job(second)["status"] == "running"
    assert "second sleeper" in texts(at.markdown)
