"""`mlflow models serve` answers over HTTP: a feature model and the CNN, good and bad input.

Each server starts once for the module, from a temporary folder with the checkout off sys.path, and
answers from the model's own code.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

START_SECONDS = 240  # two servers importing TensorFlow at once on 2 cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)  # the server's own session: mlflow and the uvicorn it started
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def servers(flavours, tmp_path_factory):
    """{"genre-mlp": port, "genre-cnn": port}: both served until the module ends."""
    from core.registry.commands import serve_command

    folder = tmp_path_factory.mktemp("serving")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(MLFLOW_TRACKING_URI=flavours["uri"], PATH=os.pathsep.join([os.path.dirname(sys.executable),
                                                                           env.get("PATH", "")]))
    ports = {name: free_port() for name in ("genre-mlp", "genre-cnn")}
    with contextlib.ExitStack() as stack:
        procs = {}
        for name, port in ports.items():
            log = stack.enter_context(open(folder / f"{name}.log", "w"))
            procs[name] = subprocess.Popen(serve_command(f"models:/{name}/1", port), cwd=folder, env=env,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            stack.callback(stop, procs[name])
        deadline = time.monotonic() + START_SECONDS
        for name, proc in procs.items():
            while not healthy(ports[name]):
                assert proc.poll() is None, (folder / f"{name}.log").read_text()[-3000:]
                assert time.monotonic() < deadline, f"{name}: no answer on /health in {START_SECONDS} s"
                time.sleep(0.5)
        yield ports


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from tests.serving.conftest import write_audio

    return write_audio(tmp_path_factory.mktemp("clips") / "clip.mp3", seconds=7, sr=44100, channels=2)


def audio_payload(data: bytes) -> dict:
    return {"dataframe_split": {"columns": ["audio"], "data": [[base64.b64encode(data).decode("ascii")]]}}


def one_line_error(body: dict) -> str:
    """The message of an error answer, checked to be one line, without a traceback, as bad input."""
    assert body["error_code"] == "INVALID_PARAMETER_VALUE" and "stack_trace" not in body
    assert "\n" not in body["message"]
    return body["message"]


def cli_problem(path) -> str:
    """The CLI's one-line error for ``path``, without the file name it starts with."""
    from core.serving import predictor

    return predictor.predict_file(path, "genre-cnn/1")["error"].removeprefix(f"{path}: ")


def test_a_feature_row_gets_one_probability_per_genre(servers, store, clip):
    from core.serving import predictor

    row = predictor.file_features(clip)
    status, body = post(servers["genre-mlp"], {"dataframe_split": json.loads(row.to_json(orient="split"))})
    assert status == 200
    (answer,) = body["predictions"]
    expected = predictor.predict_file(clip, "genre-mlp/1")["probabilities"]
    assert list(answer) == list(expected)
    assert list(answer.values()) == pytest.approx(list(expected.values()), abs=1e-6)


def test_a_row_missing_a_column_is_a_400_in_one_line(servers, store, clip):
    from core.serving import predictor

    row = predictor.file_features(clip).drop(columns=["mfcc.mean.01"])
    status, body = post(servers["genre-mlp"], {"dataframe_split": json.loads(row.to_json(orient="split"))})
    assert status == 400
    assert one_line_error(body) == "input lacks 1 of the 518 feature columns, e.g. 'mfcc.mean.01'"


def test_audio_gets_clip_and_segment_probabilities(servers, store, clip):
    from core.serving import predictor

    status, body = post(servers["genre-cnn"], audio_payload(clip.read_bytes()))
    assert status == 200
    (answer,) = body["predictions"]
    expected = predictor.predict_file(clip, "genre-cnn/1")
    assert set(answer) == {"top", "probabilities", "segments"} and answer["top"] == expected["top"]
    assert list(answer["probabilities"].values()) == pytest.approx(list(expected["probabilities"].values()), abs=1e-6)
    assert [(s["start"], s["end"]) for s in answer["segments"]] == [(0, 3), (3, 6)]  # the 1 s tail is dropped
    for served, mine in zip(answer["segments"], expected["segments"]):
        assert list(served["probabilities"].values()) == pytest.approx(list(mine["probabilities"].values()), abs=1e-6)


@pytest.mark.parametrize("kind", ["corrupt", "silent", "empty"])
def test_bad_audio_is_a_400_with_the_clis_message(servers, store, tmp_path, kind):
    from tests.serving.conftest import write_audio

    path = tmp_path / "bad.wav"
    if kind == "silent":
        write_audio(path, silent=True)
    else:
        path.write_bytes(b"" if kind == "empty" else b"RIFF\x00\x00garbage" * 300)
    status, body = post(servers["genre-cnn"], audio_payload(path.read_bytes()))
    assert status == 400
    assert one_line_error(body) == f"audio[0]: {cli_problem(path)}"


def test_a_request_without_audio_is_a_400(servers, store):
    status, body = post(servers["genre-cnn"], {"dataframe_split": {"columns": ["sound"], "data": [["x"]]}})
    assert status == 400
    assert one_line_error(body) == "input needs a column 'audio' holding audio files (base64 over HTTP)"
