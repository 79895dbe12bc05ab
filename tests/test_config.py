"""Settings from the environment: their defaults, their checks, and that config.py alone reads them."""
import re

import pytest

from core import config
from core.errors import GenreLabError

#: The environment variables the project defines; core/config.py is the only module that reads them.
OWNED = ("GENRELAB_DATA", "GENRELAB_JOBS", "GENRELAB_MAX_JOBS", "GENRELAB_FMA_URL", "GENRELAB_MLFLOW_UI",
         "MLFLOW_TRACKING_URI")


def test_tracking_uri_defaults_to_the_project_store(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert config.tracking_uri() == f"sqlite:///{config.MLRUNS_DIR / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert config.tracking_uri() == "http://tracking.example:5000"


def test_fma_url_is_the_mirror_or_none(monkeypatch):
    monkeypatch.delenv("GENRELAB_FMA_URL", raising=False)
    assert config.fma_url() is None
    monkeypatch.setenv("GENRELAB_FMA_URL", "")
    assert config.fma_url() is None
    monkeypatch.setenv("GENRELAB_FMA_URL", "http://mirror.example/fma/")
    assert config.fma_url() == "http://mirror.example/fma/"


def test_max_jobs_defaults_to_one_and_takes_whole_numbers(monkeypatch):
    monkeypatch.delenv("GENRELAB_MAX_JOBS", raising=False)
    assert config.max_jobs() == 1
    monkeypatch.setenv("GENRELAB_MAX_JOBS", "3")
    assert config.max_jobs() == 3


@pytest.mark.parametrize("raw, problem", [("two", "expected a whole number, got 'two'"),
                                          ("1.5", "expected a whole number, got '1.5'"),
                                          ("0", "must be at least 1, got 0"),
                                          ("-2", "must be at least 1, got -2")])
def test_bad_max_jobs_is_one_line_naming_the_setting(monkeypatch, raw, problem):
    monkeypatch.setenv("GENRELAB_MAX_JOBS", raw)
    with pytest.raises(GenreLabError) as raised:
        config.max_jobs()
    assert str(raised.value) == f"GENRELAB_MAX_JOBS: {problem}"


def test_only_config_reads_the_project_environment():
    names = "|".join(OWNED)
    read = re.compile(rf"""(?:os\.environ\.get|os\.getenv)\(\s*["']({names})["']"""
                      rf"""|os\.environ\[\s*["']({names})["']\s*\](?!\s*=[^=])""")
    readers = sorted(
        f"{path.relative_to(config.PROJECT_ROOT)}: {match.group(0)}"
        for folder in ("core", "dashboard")
        for path in (config.PROJECT_ROOT / folder).rglob("*.py")
        if path != config.PROJECT_ROOT / "core" / "config.py"
        for match in read.finditer(path.read_text(encoding="utf-8")))
    assert readers == []
