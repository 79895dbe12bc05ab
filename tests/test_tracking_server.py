"""The team setup for real: studies on an ``mlflow server`` backed by PostgreSQL (README: "Sharing a
store"). A study is killed and resumes there; two identical studies started on two hosts (two pid
namespaces with their own lock folders: nothing shared but the server) never both run, duplicate or
steal runs; the dashboard reads the server's runs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import mlflow
import pytest

from core.config import PROJECT_ROOT
from core.study.executor import make_executor
from core.study.spec import load_spec
from tests.dashboard.conftest import open_page  # noqa: F401  (a fixture)
from tests.fixed_cost import write_cost_file
from tests.study.conftest import study_root, write_spec  # noqa: F401  (a fixture and a helper)
from tests.study.test_concurrency import SPEC, fold_results
from tests.study.test_resume import kill_and_resume
from tests.tracking_server import mlflow_server, postgres, postgres_bin

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is missing (apt-get install postgresql)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The URL of an ``mlflow server`` on a fresh PostgreSQL database, for this module."""
    with postgres() as database, mlflow_server(database, tmp_path_factory.mktemp("server") / "artifacts") as url:
        yield url


@pytest.fixture
def on_server(server, monkeypatch, tmp_path):
    from core import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "cache"))
    return tracking.configure()


def test_a_study_killed_on_the_server_resumes_it(on_server, study_root, monkeypatch, tmp_path):  # noqa: F811
    kill_and_resume("sklearn_mlp", study_root, monkeypatch, tmp_path)


def other_host() -> list[str] | None:
    """A command prefix running a program as another host would: its own pid namespace (so its host id
    differs) with its own /proc; None where this process may not create namespaces."""
    prefix = ["unshare", "--pid", "--fork", "--mount-proc"]
    if shutil.which("unshare") is None or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        return None
    return prefix


@pytest.mark.parametrize("wait", [False, True])
def test_two_hosts_starting_the_same_study_never_both_run_it(on_server, study_root, tmp_path, wait):  # noqa: F811
    prefix = other_host()
    if prefix is None:
        pytest.skip("no permission to create a pid namespace (unshare) for a second host")
    spec = write_spec(tmp_path, f"hosts_{wait}", SPEC.format(epochs=40))
    command = [sys.executable, "-m", "core", "run", str(spec), "--data", str(study_root), *(["--wait"] * wait)]
    compute = load_spec(spec).compute
    with make_executor(compute.parallel, compute.n_jobs, None, compute.device, compute.precision) as executor:
        caches = {host: write_cost_file(tmp_path / f"host-{host}", executor, compute.precision) for host in "ab"}
    procs = []
    for host, launcher in (("a", []), ("b", prefix)):
        env = {**os.environ, "GENRELAB_CACHE": str(caches[host])}  # no lock folder in common
        procs.append(subprocess.Popen([*launcher, *command], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outcomes = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    for _, _, err in outcomes:
        assert "Traceback" not in err, err
    codes = sorted(code for code, _, _ in outcomes)
    if wait:
        assert codes == [0, 0] and any("nothing to fit" in out for _, out, _ in outcomes), outcomes
    else:
        assert codes == [0, 1], outcomes
        refused = next(err for code, _, err in outcomes if code == 1)
        assert "already running" in refused and "pidns:" in refused  # names the other host's process
    keys = [key for key, _ in fold_results(f"hosts_{wait}")]
    assert len(keys) == 2 * 3 and len(set(keys)) == len(keys)  # no fold fitted twice
    runs = mlflow.search_runs(experiment_names=[f"hosts_{wait}"])
    assert list(runs[runs["tags.genrelab.kind"] == "study"]["status"]) == ["FINISHED"]
    assert "study-claim" not in set(runs["tags.genrelab.kind"])  # the locks' claims are gone


def test_the_dashboard_reads_the_servers_runs(on_server, study_root, tmp_path, open_page, monkeypatch):  # noqa: F811
    from core.study.engine import run_study
    from core.study.spec import load_spec

    run_study(load_spec(write_spec(tmp_path, "on_server", SPEC.format(epochs=3))), data=str(study_root))
    monkeypatch.setenv("GENRELAB_DATA", str(study_root))
    at = open_page("views/compare.py")
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    choices = [option for widget in [*at.selectbox, *at.multiselect] for option in widget.options]
    assert any("on_server" in str(option) for option in choices), choices
