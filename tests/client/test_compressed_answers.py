"""An API that compresses its answers (gzip, as CDNs and gateways do for httpx's default
``Accept-Encoding``) is read like any other by a client with real credentials, and an
Authorization header it echoes inside the compressed body is still scrubbed: the
scrubbing transport works on the decoded body, not the compressed bytes."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from skybox_nb.client import AsyncSkyboxClient, SkyboxClient

KEY, SECRET = "gzipKey4Jd8Qw2Lm7Zx", "gzipSecret9Pt3Vn6Rb1Kc"
TOKEN = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()


class _Gzipping(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        job_id = self.path.rstrip("/").rsplit("/", 1)[-1]
        body = {"job": {"jobId": job_id, "status": "in-progress", "progress": 0.5,
                        "metadata": {"echo": self.headers.get("Authorization", "")}}}
        raw = gzip.compress(json.dumps(body).encode())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Gzipping)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/v1"
    finally:
        srv.shutdown()
        srv.server_close()


def _check(job) -> None:
    assert job.id == "job_abc" and job.status == "in-progress"
    echoed = json.dumps(job.raw)
    assert "Basic" in echoed and TOKEN not in echoed and KEY not in echoed


def test_the_blocking_client_reads_a_gzipped_answer_and_scrubs_it(server, tmp_path):
    with SkyboxClient(api_key=KEY, api_secret=SECRET, base_url=server,
                      library=tmp_path) as c:
        _check(c.job("job_abc"))


def test_the_async_client_reads_a_gzipped_answer_and_scrubs_it(server, tmp_path):
    async def go():
        async with AsyncSkyboxClient(api_key=KEY, api_secret=SECRET, base_url=server,
                                     library=tmp_path) as c:
            return await c.job("job_abc")

    _check(asyncio.run(go()))
