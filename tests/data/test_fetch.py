"""Downloading an archive from a local HTTP server: checksum, resume, restart, errors, unzip."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from core.config import PROJECT_ROOT
from core.data import fma
from core.data.fetch import FMA_SHA1, fetch
from core.errors import GenreLabError
from tests.builders import build_fma_root


@pytest.fixture(scope="module")
def metadata_zip(tmp_path_factory) -> bytes:
    """A small fma_metadata.zip laid out like FMA's, padded with incompressible bytes (~200 KB)."""
    root = build_fma_root(tmp_path_factory.mktemp("src") / "fma")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name in ("tracks", "genres", "features", "echonest"):
            zf.write(fma.metadata_path(root, name), f"fma_metadata/{name}.csv")
        zf.writestr("fma_metadata/README.txt", np.random.default_rng(0).bytes(200_000))
    return buffer.getvalue()


class Server:
    """Serves ``payload`` at ``path`` on 127.0.0.1, optionally honouring Range or cutting off."""

    def __init__(self, payload: bytes, honour_range: bool = True, cut_after: int | None = None,
                 path: str = "/fma_metadata.zip"):
        self.payload, self.honour_range, self.cut_after, self.path = payload, honour_range, cut_after, path
        self.ranges: list[str | None] = []
        self.sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.ranges.append(self.headers.get("Range"))
                if self.path != server.path:
                    self.send_error(404)
                    return
                start = 0
                if server.honour_range and self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    if start >= len(server.payload):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                else:
                    self.send_response(200)
                body = server.payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:
                    body = body[: server.cut_after]
                server.sent += len(body)  # before writing: the client may finish reading before this thread runs on
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(payload, **kwargs):
        servers.append(Server(payload, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def sha1(data: bytes) -> dict[str, str]:
    return {"fma_metadata.zip": hashlib.sha1(data).hexdigest()}


def test_fetch_verifies_and_unzips(tmp_path, serve, metadata_zip):
    server = serve(metadata_zip)
    result = fetch("metadata", tmp_path, base_url=server.url, checksums=sha1(metadata_zip), progress=False)
    assert result == tmp_path
    assert len(fma.load_tracks(tmp_path)) == 13 and len(fma.load_features(tmp_path)) == 13
    assert not any((tmp_path / ".downloads").iterdir())  # archive removed after unzipping
    assert server.ranges == [None]


def test_fetch_resumes_a_partial_download(tmp_path, serve, metadata_zip):
    half = len(metadata_zip) // 2
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "fma_metadata.zip.part").write_bytes(metadata_zip[:half])
    server = serve(metadata_zip)
    archive = fetch("metadata", tmp_path, base_url=server.url, checksums=sha1(metadata_zip),
                    keep_archive=True, progress=False)
    assert server.ranges == [f"bytes={half}-"] and server.sent == len(metadata_zip) - half
    assert archive.read_bytes() == metadata_zip
    assert fma.metadata_path(tmp_path, "tracks").exists()


def test_fetch_restarts_when_the_server_ignores_range(tmp_path, serve, metadata_zip):
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "fma_metadata.zip.part").write_bytes(b"stale bytes")
    server = serve(metadata_zip, honour_range=False)
    fetch("metadata", tmp_path, base_url=server.url, checksums=sha1(metadata_zip), progress=False)
    assert server.sent == len(metadata_zip)
    assert len(fma.load_tracks(tmp_path)) == 13


def test_interrupted_download_resumes_on_the_next_run(tmp_path, serve, metadata_zip):
    cut = serve(metadata_zip, cut_after=70_000)
    with pytest.raises(GenreLabError, match="interrupted .*run the command again to resume"):
        fetch("metadata", tmp_path, base_url=cut.url, checksums=sha1(metadata_zip), progress=False)
    part = tmp_path / ".downloads" / "fma_metadata.zip.part"
    assert part.stat().st_size == 70_000
    good = serve(metadata_zip)
    fetch("metadata", tmp_path, base_url=good.url, checksums=sha1(metadata_zip), progress=False)
    assert good.ranges == ["bytes=70000-"]
    assert len(fma.load_tracks(tmp_path)) == 13


def test_checksum_mismatch_removes_the_file(tmp_path, serve, metadata_zip):
    server = serve(metadata_zip)
    with pytest.raises(GenreLabError, match="SHA-1 .* does not match the published 0{40}; the file was removed"):
        fetch("metadata", tmp_path, base_url=server.url, checksums={"fma_metadata.zip": "0" * 40},
              progress=False)
    assert not any((tmp_path / ".downloads").iterdir())
    assert not (tmp_path / "fma_metadata").exists()


def test_http_error_and_unknown_archive(tmp_path, serve, metadata_zip):
    server = serve(metadata_zip)
    with pytest.raises(GenreLabError, match="fma_small.zip: download failed \\(HTTP 404"):
        fetch("small", tmp_path, base_url=server.url, checksums={"fma_small.zip": "0" * 40}, progress=False)
    with pytest.raises(GenreLabError, match="unknown archive 'huge'"):
        fetch("huge", tmp_path)


def test_published_checksums_are_fmas():
    assert FMA_SHA1["fma_metadata.zip"] == "f0df49ffe5f2a6008d7dc83c6915b31835dfe733"
    assert FMA_SHA1["fma_small.zip"] == "ade154f733639d52e35e32f5593efe5be76c6d70"
    assert FMA_SHA1["fma_full.zip"] == "0f0ace23fbe9ba30ecb7e95f763e435ea802b8ab"


def test_cli_fetch_uses_env_url_and_reports_mismatch(tmp_path, serve, metadata_zip):
    server = serve(metadata_zip)  # our zip is not FMA's, so the published SHA-1 must reject it
    env = {**os.environ, "GENRELAB_FMA_URL": server.url}
    done = subprocess.run([sys.executable, "-m", "core", "data", "fetch", "metadata", "--data", str(tmp_path)],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert f"does not match the published {FMA_SHA1['fma_metadata.zip']}" in done.stderr
    assert server.ranges == [None]
