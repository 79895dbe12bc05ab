"""``python -m core mlflow-ui``: MLflow's UI on the project's store, with links that open on the training runs.

MLflow 3.17's UI has two modes, GenAI and Model training (the switch at its top left, remembered by the
browser). A fresh browser is in GenAI mode, and there an experiment's link opens the GenAI overview even
when the experiment is tagged ``mlflow.experimentKind = custom_model_development`` (checked in Chromium
against 3.17.2). A link to ``#/experiments/<id>/runs?workflowType=machine_learning`` opens the training
runs table in Model training mode in any browser, so this command prints one per study experiment
before it starts ``mlflow ui`` (one worker: it answers in seconds instead of about 30 s with four).

The store is prepared first (:func:`core.tracking.configure` creates a fresh SQLite store under its
lock), and experiments holding the project's runs get the experiment-kind tag if they lack it.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
from dataclasses import dataclass

from core.errors import GenreLabError, first_line

DEFAULT_PORT = 5000
DEFAULT_HOST = "127.0.0.1"
#: Query that puts MLflow's UI in its Model training mode (``workflowType``, a route parameter of 3.17's UI).
MODEL_TRAINING = "workflowType=machine_learning"


@dataclass(frozen=True)
class ExperimentLink:
    name: str
    experiment_id: str
    url: str


def experiments_url(base: str) -> str:
    """The UI's experiment list."""
    return f"{base.rstrip('/')}/#/experiments"


def runs_url(base: str, experiment_id: str) -> str:
    """The training runs table of one experiment, in Model training mode."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{MODEL_TRAINING}"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One run's page (overview with its description, parameters, metrics, datasets)."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{MODEL_TRAINING}"


def study_experiments(base: str) -> list[ExperimentLink]:
    """The store's experiments that hold runs of this project (``genrelab.kind`` tag), newest first,
    each with the link to its training runs. Tags those without ``mlflow.experimentKind`` so MLflow's UI
    treats them as model development (what :func:`core.tracking.experiment_id` does for new ones)."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    from core import tracking

    client = MlflowClient()
    links = []
    experiments = client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                                            order_by=["last_update_time DESC"])
    for exp in experiments:
        runs = client.search_runs([exp.experiment_id], f"tags.`{tracking.KIND_TAG}` != ''", max_results=1)
        if not runs:
            continue
        if tracking.EXPERIMENT_KIND_TAG not in exp.tags:
            client.set_experiment_tag(exp.experiment_id, tracking.EXPERIMENT_KIND_TAG, tracking.MODEL_DEVELOPMENT)
        links.append(ExperimentLink(exp.name, exp.experiment_id, runs_url(base, exp.experiment_id)))
    return links


def ui_command(uri: str, host: str, port: int) -> list[str]:
    """``mlflow ui`` on ``uri`` with one worker, as this interpreter runs it."""
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port),
            "--workers", "1"]


def ui_environment() -> dict[str, str]:
    """This environment, without MLflow's server job runner unless asked for: it starts eight more
    processes (for GenAI judges and trace rollups, unused here) and slows the start on small machines."""
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION",
                                                                                 "false")}


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: closing sockets don't count
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def register(subparsers) -> None:
    """Add ``mlflow-ui`` to ``python -m core``."""
    p = subparsers.add_parser(
        "mlflow-ui", help="serve MLflow's UI on the project's store; prints links to each study's runs",
        description="Prints the experiment list's URL and, per study experiment, a URL that opens its training "
                    "runs (study > search > candidate > fold), then runs `mlflow ui` with one worker on the "
                    "project's store (MLFLOW_TRACKING_URI, else mlruns/mlflow.db). Ctrl-C stops it.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST} (this machine only)")
    p.add_argument("--urls-only", action="store_true",
                   help="print the URLs and exit (e.g. when the UI already runs)")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from core import tracking

    uri = tracking.configure()
    server = uri.startswith(("http://", "https://"))  # a tracking server serves its own UI
    base = uri.rstrip("/") if server else f"http://{args.host}:{args.port}"
    if server:  # one quick try: MLflow's default retries a server that is down for minutes
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        links = study_experiments(base)
    except Exception as err:
        raise GenreLabError(f"{uri}: cannot list the experiments ({first_line(err)})") from None
    print(f"MLflow store: {uri}")
    print(f"experiments:  {experiments_url(base)}")
    for link in links:
        print(f"{link.name} (training runs): {link.url}")
    if not links:
        print("no studies in this store yet (python -m core run experiments/demo_mlp.toml)")
    if args.urls_only or server:
        return 0
    if not port_free(args.host, args.port):
        raise GenreLabError(f"{args.host}:{args.port}: port in use (an MLflow UI already running? "
                            f"open the URLs above, or pick another --port)")
    print(f"MLflow UI on http://{args.host}:{args.port} (one worker), ready in about 15 s; Ctrl-C stops it",
          flush=True)
    command = ui_command(uri, args.host, args.port)
    os.execve(command[0], command, ui_environment())
    return 0  # not reached
