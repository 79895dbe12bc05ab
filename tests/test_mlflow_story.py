"""What MLflow's UI shows of a study, read back through MLflow's API: the experiment kind (training runs,
not the GenAI overview), the data every training and scoring run used (its Dataset column), the study's
description, the run tree's names, and the URLs ``python -m core mlflow-ui`` prints.

One tiny real study (keras MLP on FMA features, 2 candidates x 2 folds, 2 epochs, FMA baselines) runs once
for the module. ``run_story_study`` is shared with tests/e2e/test_mlflow_ui.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.builders import build_fma_root, genre_rows

STUDY = "mlflow_story"
DESCRIPTION = "Can a tiny MLP tell Hip-Hop, Pop and Rock apart?"
#: The data each kind of run fits or scores on, as MLflow dataset contexts.
ROLES = {"fold": {"training", "validation"}, "final": {"training", "test"}, "baseline": {"training", "test"}}
DATASET_NAME = "fma · small"  # the dataset root's folder name · the selection


def story_spec(experiment: str, baselines: bool) -> str:
    return f"""
experiment = "{experiment}"
description = "{DESCRIPTION}"
[dataset]
sizes = ["small"]
[input]
kinds = ["features"]
[model]
family = "keras_mlp"
[search]
n_candidates = 2
folds = 2
[search.space]
hidden_units = [[16], [8]]
epochs = [2]
batch_size = [32]
[evaluation]
baselines = {str(baselines).lower()}
register = false
[compute]
parallel = "none"
"""


def run_story_study(base: Path, store_uri: str, *, experiment: str = STUDY, baselines: bool = False) -> dict:
    """Build a 60-track FMA root (``base/fma``) and run the tiny study into ``store_uri``.

    Returns the experiment id, the root, and the runs by kind (lists of ``mlflow.entities.Run``)."""
    from mlflow.tracking import MlflowClient

    from core.study.engine import run_study
    from core.study.spec import load_spec

    root = build_fma_root(base / "fma", genre_rows(20), echonest=False)
    spec = base / f"{experiment}.toml"
    spec.write_text(story_spec(experiment, baselines))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", store_uri)
        run_study(load_spec(spec), data=str(root), out=lambda line: None)
        client = MlflowClient(store_uri)
        exp = client.get_experiment_by_name(experiment)
        runs = client.search_runs([exp.experiment_id], max_results=1000)
    by_kind: dict[str, list] = {}
    for run in runs:
        by_kind.setdefault(run.data.tags.get("genrelab.kind"), []).append(run)
    return {"experiment": exp, "root": root, "runs": by_kind, "spec": spec}


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    base = tmp_path_factory.mktemp("story")
    uri = f"sqlite:///{base / 'mlruns' / 'mlflow.db'}"
    result = run_story_study(base, uri, baselines=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        from core import tracking

        tracking.configure()
        yield {**result, "uri": uri}


def dataset_inputs(run_id: str) -> list[tuple[str, str, str, str]]:
    """(name, digest, context, source uri) of each dataset input of a run, read back from the store."""
    from mlflow.tracking import MlflowClient

    found = []
    for item in MlflowClient().get_run(run_id).inputs.dataset_inputs:
        context = {t.key: t.value for t in item.tags}.get("mlflow.data.context")
        source = json.loads(item.dataset.source).get("uri")
        found.append((item.dataset.name, item.dataset.digest, context, source))
    return found


def test_the_experiment_is_tagged_as_model_development(story):
    assert story["experiment"].tags.get("mlflow.experimentKind") == "custom_model_development"


def test_the_tiny_study_has_every_kind_of_run(story):
    counts = {kind: len(runs) for kind, runs in story["runs"].items()}
    assert counts["study"] == 1 and counts["search"] == 1 and counts["final"] == 1
    assert counts["candidate"] == 2 and counts["fold"] == 4 and counts["baseline"] >= 1
    assert {r.info.status for runs in story["runs"].values() for r in runs} == {"FINISHED"}


@pytest.mark.parametrize("kind", sorted(ROLES))
def test_training_and_scoring_runs_record_their_data_per_role(story, kind):
    """Fold: training + validation; final refit and baselines: training + test. Each role is its own
    dataset input (MLflow keeps one input per dataset name + digest and run, so roles need their own)."""
    for run in story["runs"][kind]:
        inputs = dataset_inputs(run.info.run_id)
        assert {context for _, _, context, _ in inputs} == ROLES[kind], (kind, run.info.run_name, inputs)
        assert len(inputs) == len(ROLES[kind]), inputs
        for name, digest, _, source in inputs:
            assert name == DATASET_NAME
            assert digest and len(digest) <= 36  # MLflow's digest column holds 36 characters
            assert Path(source) == story["root"]


def test_the_study_run_carries_its_description(story):
    (study,) = story["runs"]["study"]
    note = study.data.tags["mlflow.note.content"]
    for part in (DESCRIPTION, story["spec"].name, "fma", study.data.tags["genrelab.data_fingerprint"],
                 "small features", "/compare"):
        assert part in note, part


def test_runs_are_named_as_the_tree_reads(story):
    runs = story["runs"]
    (study,), (search,) = runs["study"], runs["search"]
    assert study.info.run_name == STUDY and search.info.run_name == "small features"
    assert search.data.tags["mlflow.parentRunId"] == study.info.run_id
    assert sorted(r.info.run_name for r in runs["candidate"]) == [
        "small features · candidate 1/2", "small features · candidate 2/2"]
    assert {r.data.tags["mlflow.parentRunId"] for r in runs["candidate"]} == {search.info.run_id}
    assert sorted(r.info.run_name for r in runs["fold"]) == ["fold 1/2", "fold 1/2", "fold 2/2", "fold 2/2"]
    assert {r.data.tags["mlflow.parentRunId"] for r in runs["fold"]} == {r.info.run_id for r in runs["candidate"]}
    assert runs["final"][0].info.run_name == "small features · final"


# --- python -m core mlflow-ui ---------------------------------------------------------------------------

def test_mlflow_ui_prints_the_runs_url_of_each_study(story, capsys):
    from core.__main__ import main

    assert main(["mlflow-ui", "--urls-only", "--port", "5123"]) == 0
    out = capsys.readouterr().out
    exp_id = story["experiment"].experiment_id
    assert "http://127.0.0.1:5123/#/experiments\n" in out
    assert f"{STUDY} (training runs): http://127.0.0.1:5123/#/experiments/{exp_id}/runs?workflowType=machine_learning" \
        in out


def test_mlflow_ui_lists_project_experiments_only_and_tags_older_ones(story):
    from mlflow.tracking import MlflowClient

    from core import mlflow_ui, tracking

    client = MlflowClient()
    empty = client.create_experiment("not_a_study")
    older = client.create_experiment("older_study")  # created before experiments carried the kind tag
    run = client.create_run(older, tags={tracking.KIND_TAG: "study"})
    client.set_terminated(run.info.run_id)
    links = {link.name: link for link in mlflow_ui.study_experiments("http://h:1")}
    assert "not_a_study" not in links and "Default" not in links
    assert set(links) >= {STUDY, "older_study"}
    assert links["older_study"].url == f"http://h:1/#/experiments/{older}/runs?workflowType=machine_learning"
    assert client.get_experiment(older).tags[tracking.EXPERIMENT_KIND_TAG] == tracking.MODEL_DEVELOPMENT
    assert tracking.EXPERIMENT_KIND_TAG not in client.get_experiment(empty).tags


def test_mlflow_ui_runs_one_worker_on_the_store(monkeypatch):
    from core import mlflow_ui

    command = mlflow_ui.ui_command("sqlite:////x/mlflow.db", "127.0.0.1", 5001)
    assert command[1:4] == ["-m", "mlflow", "ui"]
    assert command[command.index("--backend-store-uri") + 1] == "sqlite:////x/mlflow.db"
    assert command[command.index("--workers") + 1] == "1"
    assert command[command.index("--port") + 1] == "5001"
    monkeypatch.delenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", raising=False)
    assert mlflow_ui.ui_environment()["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"  # no GenAI job runner
    monkeypatch.setenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "true")
    assert mlflow_ui.ui_environment()["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "true"


def test_mlflow_ui_refuses_a_port_in_use(story, capsys):
    import socket

    from core.__main__ import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["mlflow-ui", "--port", str(port)]) == 1
    assert "port in use" in capsys.readouterr().err
