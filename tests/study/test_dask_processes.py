"""The README's multi-machine recipe as separate programs: ``dask scheduler`` and two ``dask worker``
processes started outside the checkout (they import ``core`` because ``make setup`` installs the project
into the venv), and ``python -m core run ... --scheduler`` sending a study's fits to them. A
``LocalCluster`` shares the test's ``sys.path`` and could not show a missing install."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import mlflow
from distributed import Client

from core.config import PROJECT_ROOT
from core.study.executor import make_executor
from tests import fixed_cost
from tests.registry.test_serving import free_port
from tests.study.conftest import write_spec
from tests.study.test_concurrency import SPEC, fold_results


def test_a_study_runs_on_a_scheduler_and_workers_started_elsewhere(study_root, tmp_path):
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        def start(name: str, *args: str) -> subprocess.Popen:
            log = stack.enter_context(open(tmp_path / f"{name}.log", "w"))
            proc = subprocess.Popen([str(bin_dir / "dask"), *args], cwd=elsewhere, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            stack.callback(lambda: (proc.terminate(), proc.wait(timeout=30)))
            return proc

        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        for k in (1, 2):
            start(f"worker{k}", "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard")
        with Client(address, timeout="60s", set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        with contextlib.closing(make_executor("none", 1, address)) as cluster:
            # The plan's cost, keyed by the workers' machines (not the scheduler's port): fixed, as every
            # test's (timing a network on the workers is the cost model's business: tests/test_cost.py).
            assert cluster.cost_identity() == "Dask workers on 127.0.0.1 (2 threads)"
            env["GENRELAB_CACHE"] = str(fixed_cost.write_cost_file(tmp_path / "cache", cluster))
        uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
        spec = write_spec(tmp_path, "two_workers", SPEC.format(epochs=3))
        done = subprocess.run([sys.executable, "-m", "core", "run", str(spec), "--data", str(study_root),
                               "--scheduler", address], cwd=PROJECT_ROOT, env={**env, "MLFLOW_TRACKING_URI": uri},
                              capture_output=True, text=True, timeout=600)
        logs = {p.stem: p.read_text() for p in tmp_path.glob("*.log")}
    assert done.returncode == 0, (done.stderr[-3000:], {k: v[-1500:] for k, v in logs.items()})
    assert "measured on Dask workers on 127.0.0.1 (2 threads)" in done.stdout  # the cost written above
    for name, text in logs.items():
        assert "ModuleNotFoundError" not in text and "deserialization" not in text, (name, text[-2000:])
    mlflow.set_tracking_uri(uri)
    assert len(fold_results("two_workers")) == 2 * 3
    assert sum("Starting worker compute stream" in logs[f"worker{k}"] or "Registered to" in logs[f"worker{k}"]
               for k in (1, 2)) == 2
