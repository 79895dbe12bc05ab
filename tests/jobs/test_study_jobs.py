"""core.study.jobs: the study runner's command line as a job, and its dry run."""
from __future__ import annotations

import sys

import pytest

from core import jobs
from core.study import jobs as study_jobs
from core.errors import GenreLabError


def test_run_argv_passes_values_as_data(tmp_path):
    hostile = "x; rm -rf / $(whoami)"
    argv = study_jobs.run_argv(tmp_path / "spec.toml", {"selection.genres": ["Rock", "Hip-Hop"], "name": hostile,
                                                  "search.epochs": 3, "cv.shuffle": True},
                         tmp_path / "data", tmp_path / "progress.json")
    assert argv[:5] == [sys.executable, "-m", "core", "run", str(tmp_path / "spec.toml")]
    assert argv[5:7] == ["--data", str(tmp_path / "data")]
    assert f"name={hostile}" in argv
    assert 'selection.genres=["Rock", "Hip-Hop"]' in argv
    assert "search.epochs=3" in argv and "cv.shuffle=true" in argv
    assert argv[-2:] == ["--progress", str(tmp_path / "progress.json")]


def test_submit_queues_the_run_with_the_jobs_progress_path(jobs_root, tmp_path, monkeypatch):
    monkeypatch.setenv("GENRELAB_MAX_JOBS", "1")
    blocker = jobs.submit_command(lambda p: [sys.executable, "-c", "import time; time.sleep(120)"], label="blocker")
    spec = tmp_path / "spec.toml"
    spec.write_text("")
    job_id = study_jobs.submit(spec, {"search.epochs": 3}, tmp_path / "data")
    job = jobs.get_job(job_id)
    assert job["status"] == "queued" and job["label"] == "spec search.epochs=3"
    assert job["argv"] == study_jobs.run_argv(spec, {"search.epochs": 3}, tmp_path / "data", jobs_root / job_id / "progress.json")
    assert study_jobs.submit(spec, {"search.epochs": 3}, tmp_path / "data", once=True) == job_id
    jobs.cancel(blocker)


def test_submit_of_a_missing_spec_is_one_line_error(jobs_root, tmp_path):
    with pytest.raises(GenreLabError, match="spec not found"):
        study_jobs.submit(tmp_path / "missing.toml")
    assert jobs.list_jobs() == []


def test_dry_run_error_is_the_runners_one_line(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[model]\nfamily = "keras_mlp"\n[search]\nfolds = 1\n')
    with pytest.raises(GenreLabError) as caught:
        study_jobs.dry_run(spec)
    assert str(caught.value) == f"{spec}: search.folds: must be >= 2"
