"""Every shell command in README.md runs here, so a documented command cannot break unnoticed.

Commands are read from the README's ``bash`` blocks; each must have a runner below (a new command
without one fails ``test_every_readme_command_has_a_runner``). Quick commands run as written, with
paths and ports pointed at test data (``data/fma`` → a small FMA root with audio, ``song.mp3`` → a
clip, ``5001`` → a free port). Slow ones run with ``--dry-run`` (studies, ``make -n`` for make
targets that would start a long-lived server or the whole suite). Downloads go to a local mirror of
FMA's archive, which the published checksum then rejects: the command runs to its last step.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT
from tests import fixed_cost
from tests.builders import Track, build_fma_root, write_audio
from tests.registry.conftest import flavours  # noqa: F401  (the registered models the servers serve)
from tests.registry.test_serving import free_port, healthy, stop

README = PROJECT_ROOT / "README.md"


def readme_commands() -> list[str]:
    """Each command of the README's bash blocks (a heredoc stays with its command), comments removed."""
    commands, block, heredoc = [], None, None
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            block = [] if block is None and line.strip() == "```bash" else None
            continue
        if block is None:
            continue
        if heredoc is not None:
            commands[-1] += "\n" + line
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        line = re.sub(r"\s{2,}#.*$", "", line).strip()
        if not line or line.startswith("#"):
            continue
        commands.append(line)
        marker = re.search(r"<<'?(\w+)'?", line)
        heredoc = marker.group(1) if marker else None
    return commands


# ------------------------------------------------------------------------------------------- data
GENRES = {"Electronic": 15, "Pop": 10, "Rock": 12}


@pytest.fixture(scope="module")
def place(tmp_path_factory, flavours):  # noqa: F811
    """A working folder with a small FMA root (``data/fma``: 30 tracks with 4 s of audio), a folder
    collection (``Music/by-genre``), a clip (``song.mp3``), a fresh store, a cache of its own
    (``GENRELAB_CACHE``), and the environment."""
    base = tmp_path_factory.mktemp("readme")
    rows = [Track(1000 * (g + 1) + i, "small", "test" if i % 5 == 0 else "training", genre, [genre_id])
            for g, (genre, genre_id) in enumerate(GENRES.items()) for i in range(10)]
    build_fma_root(base / "data" / "fma", rows, audio={r.track_id: 4.0 for r in rows}, echonest=False)
    for genre, f0 in (("rock", 110.0), ("jazz", 330.0)):
        for i in range(6):
            write_audio(base / "Music" / "by-genre" / genre / f"{i}.wav", seconds=3.0, seed=i, f0=f0 * (1 + 0.05 * i))
    write_audio(base / "song.mp3", seconds=7, sr=44100, channels=2)
    env = {k: v for k, v in os.environ.items() if k not in ("GENRELAB_DATA",)}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{base / 'mlruns' / 'mlflow.db'}", GENRELAB_CACHE=str(base / "cache"),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    return {"dir": base, "env": env, "cache": base / "cache", "served": flavours["uri"], "ports": {}}


#: The README's placeholders: paths under the checkout root (where its commands run) or the home folder.
PATHS = ("data/fma", "data/mine", "~/Music/by-genre", "song.mp3", "row.csv", "row.json", "audio.json")


def localized(place, command: str) -> str:
    """``command`` with the README's paths pointed into the working folder, ``python`` this venv's."""
    for path in PATHS:
        command = re.sub(rf"(?<![\w/.-]){re.escape(path)}(?![\w/])",
                         str(place["dir"] / path.removeprefix("~/")), command)
    return re.sub(r"^python ", f"{shlex.quote(sys.executable)} ", command, flags=re.M)


def run(place, command: str, *, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """``command`` in bash from the checkout root, as the README runs it."""
    return subprocess.run(["bash", "-c", localized(place, command)], cwd=PROJECT_ROOT, env=env or place["env"],
                          capture_output=True, text=True, timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stdout


# ---------------------------------------------------------------------------------------- runners
def as_written(place, command):
    return ok(run(place, command))


def dry_run(place, command):
    """A study as written, planned only (the real run takes hours on FMA). Its plan reads the tests' fixed
    fit cost from the working folder's cache (:mod:`tests.fixed_cost`), written by the same plan made
    here first: timing this machine is the cost model's tests' business, not the README's."""
    command = command if command.endswith(" --dry-run") else command + " --dry-run"
    spec, root = re.fullmatch(r"python -m core run (\S+) --data (\S+) --dry-run", command).groups()
    fixed_cost.write_plan_costs(place["cache"], PROJECT_ROOT / spec, localized(place, root))
    out = ok(run(place, command))
    assert "total:" in out and "fits" in out and "measured just now" not in out


def make_dry_run(place, command):
    """A make target that starts the whole suite or a long-lived server: what make would do."""
    out = ok(subprocess.run(["make", "-n", *shlex.split(command)[1:]], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=60))
    assert "-m core" in out or "pytest" in out


def fetch_from_mirror(place, command):
    """Against a local mirror of the archive (``GENRELAB_FMA_URL``): downloaded, then refused by FMA's
    published SHA-1, since the mirror's archive is ours."""
    from tests.data.test_fetch import Server

    archive = "fma_metadata.zip" if " metadata " in command else "fma_small.zip"
    server = Server(b"PK not FMA's archive", path=f"/{archive}")
    with contextlib.closing(server):
        done = run(place, command, env={**place["env"], "GENRELAB_FMA_URL": server.url})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "does not match the published" in done.stderr.strip().splitlines()[-1]


def serving(place, command):
    """A server on a free port (on the models the registry tests registered); it answers /health."""
    name = re.search(r"MODEL=([\w-]+)|models serve ([\w-]+)", command).group(1, 2)
    port = free_port()
    command = re.sub(r"--port \d+", f"--port {port}", command).replace("make serve", f"make -C {PROJECT_ROOT} serve")
    env = {**place["env"], "MLFLOW_TRACKING_URI": place["served"], "SERVE_PORT": str(port)}
    proc = subprocess.Popen(["bash", "-c", f"exec {localized(place, command)}"], cwd=PROJECT_ROOT, env=env,
                            start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    place["ports"][name[0] or name[1]] = (port, proc)
    deadline = time.monotonic() + 240
    while not healthy(port):
        assert proc.poll() is None and time.monotonic() < deadline, f"{command}: no answer on /health"
        time.sleep(0.5)


def request(place, command):
    """A curl to a served model: the feature row to ``genre-mlp-ae``, the audio to ``genre-cnn``."""
    name = "genre-cnn" if "audio.json" in command else "genre-mlp-ae"
    port, _ = place["ports"][name]
    out = as_written(place, command.replace("5001", str(port)))
    assert out.startswith('{"predictions": [{') and ("top" in out) == (name == "genre-cnn")


def in_a_fresh_store(place, command):
    """The zero-shot model: registered in the working folder's own store, then asked about the clip."""
    out = as_written(place, command)
    if "predict" in command:
        assert "[genre-zeroshot/1]" in out and "%" in out


def report_of_a_study(place, command):
    """On the store the dashboard tests' two tiny studies wrote (a real study; this test only reads it)."""
    from tests.dashboard.studies import study_store

    out = place["dir"] / "demo_mlp.html"
    command = command.replace("report demo_mlp", "report dash_mlp").replace("--out demo_mlp.html", f"--out {out}")
    printed = ok(run(place, command, env={**place["env"], "MLFLOW_TRACKING_URI": study_store().uri}))
    assert printed.startswith(f"wrote {out}") and "<h2>Results</h2>" in out.read_text(encoding="utf-8")


RUNNERS = {
    "make demo": make_dry_run,
    "make test": make_dry_run,
    "python -m core data fetch metadata --data data/fma": fetch_from_mirror,
    "python -m core data fetch small --data data/fma": fetch_from_mirror,
    "python -m core data summary --data data/fma": as_written,
    "python -m core report demo_mlp --out demo_mlp.html": report_of_a_study,
    "python -m core run experiments/mlp_dataset_size.toml --data data/fma --dry-run": dry_run,
    "python -m core run experiments/mlp_dataset_size.toml --data data/fma": dry_run,
    "python -m core run experiments/mlp_dataset_size_seed.toml --data data/fma --dry-run": dry_run,
    "python -m core mels --data data/fma --clip-seconds 30 3": as_written,
    "python -m core run experiments/cnn_clip_length.toml --data data/fma": dry_run,
    "python -m core data import-folder ~/Music/by-genre --dest data/mine": as_written,
    "python -m core features --data data/mine": as_written,
    "python -m core run experiments/demo_mlp.toml --data data/mine": dry_run,  # run for real: tests/study/test_folder_study.py
    "make serve MODEL=genre-cnn": serving,
    "make serve MODEL=genre-mlp/3": make_dry_run,
    "python -m core models serve genre-mlp-ae --port 5002": serving,
    "python -m core features song.mp3 --out row.csv": as_written,
    "curl -s http://127.0.0.1:5001/invocations -H 'Content-Type: application/json' -d @row.json": request,
    "curl -s http://127.0.0.1:5001/invocations -H 'Content-Type: application/json' -d @audio.json": request,
    "python -m core embeddings --data data/fma": as_written,
    "python -m core embeddings --data data/fma --model MSD_musicnn MTT_musicnn --layer taggram --window center:30":
        as_written,
    "python -m core models register-zeroshot": in_a_fresh_store,
    "python -m core predict song.mp3 --model genre-zeroshot": in_a_fresh_store,
    "make mlflow": make_dry_run,
}
#: Commands whose text is too long for a key: matched by their start.
RUNNERS_BY_START = {
    "python - > row.json <<'EOF'": as_written,
    "printf '{\"dataframe_split\"": as_written,
}


def runner_of(command: str):
    return RUNNERS.get(command) or next((r for start, r in RUNNERS_BY_START.items() if command.startswith(start)), None)


def test_every_readme_command_has_a_runner():
    commands = readme_commands()
    assert len(commands) >= 20
    assert [c for c in commands if runner_of(c) is None] == []
    assert set(RUNNERS) <= set(commands), set(RUNNERS) - set(commands)  # no runner for a command gone


def test_every_readme_command_runs(place):
    """In the README's order (a later command uses what an earlier one made); servers stopped at the end."""
    try:
        for command in readme_commands():
            runner_of(command)(place, command)
    finally:
        for _, proc in place["ports"].values():
            stop(proc)
