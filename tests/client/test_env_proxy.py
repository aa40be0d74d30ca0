"""The proxy the environment names (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) is
used, as httpx and the official SDK use it: our clients always hand httpx a transport of
their own (deadlines, scrubbing), and httpx then ignores the environment's proxies, so
behind a studio's proxy no call could reach Scenario. Loopback addresses (the offline
emulator) are never proxied."""

from __future__ import annotations

import asyncio
import socketserver
import threading

import pytest

from fast import fast_poll, fast_retry
from skybox_nb import errors
from skybox_nb.client import AsyncSkyboxClient, SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.request import SkyboxRequest

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class _Refusing(socketserver.BaseRequestHandler):
    """A proxy that notes each request line (``CONNECT host:443 ...``) and refuses it."""

    def handle(self) -> None:
        line = self.request.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
        self.server.seen.append(line)  # type: ignore[attr-defined]
        self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")


@pytest.fixture
def proxy(monkeypatch):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Refusing)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HTTPS_PROXY", url)
    monkeypatch.setenv("HTTP_PROXY", url)
    yield server.seen
    server.shutdown()
    server.server_close()


API = "https://api.scenario-proxied.test/v1"


def test_the_blocking_client_goes_through_the_environments_proxy(proxy, tmp_path):
    with SkyboxClient("key-0123456789", "secret-0123456789", API, library=tmp_path,
                      timeout=5, retry=fast_retry(1)) as c:
        with pytest.raises(errors.SkyboxError):
            c.job("job_000000000000000000000000")
    assert proxy and proxy[0].startswith("CONNECT api.scenario-proxied.test:443")


def test_the_async_client_goes_through_the_environments_proxy(proxy, tmp_path):
    async def main() -> None:
        async with AsyncSkyboxClient("key-0123456789", "secret-0123456789", API,
                                     library=tmp_path, timeout=5, retry=fast_retry(1)) as c:
            with pytest.raises(errors.SkyboxError):
                await c.job("job_000000000000000000000000")

    asyncio.run(main())
    assert proxy and proxy[0].startswith("CONNECT api.scenario-proxied.test:443")


def test_no_proxy_and_loopback_are_reached_directly(proxy, monkeypatch, tmp_path):
    monkeypatch.setenv("NO_PROXY", "api.scenario-proxied.test")
    with SkyboxClient("key-0123456789", "secret-0123456789", API, library=tmp_path / "a",
                      timeout=2, retry=fast_retry(1)) as c:
        with pytest.raises(errors.SkyboxError):
            c.job("job_000000000000000000000000")  # no such host, reached directly
    with Emulator(render_size=(64, 32)) as emu:  # the emulator on 127.0.0.1, by its URL
        with SkyboxClient("key-0123456789", "secret-0123456789", emu.base_url,
                          library=tmp_path / "b", poll=fast_poll) as c:
            assert c.run(SkyboxRequest("a dune", num_outputs=1, seed=1)).job.succeeded
    assert proxy == []
