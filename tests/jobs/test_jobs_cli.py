"""``python -m core jobs submit|submit-command|list|cancel`` (core.jobs.commands)."""
from __future__ import annotations

import sys

from core import jobs
from core.__main__ import main
from tests.jobs.helpers import wait_on_disk


def test_cli_queues_commands_and_studies(jobs_root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths are made absolute: the job runs from the project root
    code = "import sys, time; time.sleep(1); print('progress at', sys.argv[1])"
    assert main(["jobs", "submit-command", "first", "--", sys.executable, "-c", code, "{progress}"]) == 0
    first = capsys.readouterr().out.strip()
    (tmp_path / "spec.toml").write_text("")
    assert main(["jobs", "submit", "spec.toml", "--data", "data", "--set", "search.epochs=3"]) == 0
    study = capsys.readouterr().out.strip()

    queued = jobs.get_job(study)
    assert queued["status"] == "queued" and queued["label"] == "spec search.epochs=3"
    assert queued["argv"][3:] == ["run", str(tmp_path / "spec.toml"), "--data", str(tmp_path / "data"),
                                  "--set", "search.epochs=3", "--progress", str(jobs_root / study / "progress.json")]
    assert main(["jobs", "cancel", study]) == 0
    assert capsys.readouterr().out == f"{study}\tcancelled\n"
    assert wait_on_disk(jobs_root, first)["status"] == "finished"
    assert jobs.tail_log(first) == f"progress at {jobs_root / first / 'progress.json'}"

    assert main(["jobs", "list"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [row[:3] for row in rows] == [[study, "cancelled", "spec search.epochs=3"], [first, "finished", "first"]]


def test_cli_once_queues_nothing_new(jobs_root, capsys):
    command = ["jobs", "submit-command", "--once", "sleeper", "--", sys.executable, "-c", "import time; time.sleep(120)"]
    assert main(command) == 0 and main(command) == 0
    first, second = capsys.readouterr().out.split()
    assert first == second and len(jobs.list_jobs()) == 1


def test_cli_bad_input_is_one_line_error(jobs_root, tmp_path, capsys):
    assert main(["jobs", "submit", str(tmp_path / "missing.toml")]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing.toml'}: experiment spec not found\n"
    (tmp_path / "spec.toml").write_text("")
    assert main(["jobs", "submit", str(tmp_path / "spec.toml"), "--set", "epochs"]) == 1
    assert capsys.readouterr().err == "error: --set epochs: expected key=value\n"
    assert main(["jobs", "submit-command", "nothing", "--"]) == 1
    assert "no command given" in capsys.readouterr().err
    assert main(["jobs", "cancel", "no-such-job"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert jobs.list_jobs() == []
