"""The emulator itself: loopback only unless asked, no answer without auth, a cap on
upload size, and never a byte from outside its own store (path traversal in asset ids
and CDN paths included).

Requests that must not be normalised on the way (``..``, ``%2e%2e``, absolute paths)
are written on a raw socket, so the server sees exactly what an attacker would send.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reliability_support import make_client
from skybox_nb import errors
from skybox_nb.emulator import Emulator
from skybox_nb.request import SkyboxRequest

AREA = "emulator safety"
AUTH = "Basic " + base64.b64encode(b"test-key:test-secret").decode()
PLANTED = b"PLANTED-SECRET-4e1f9c"  # a file beside and above the store that must never leak


def raw(emu: Emulator, method: str, path: str, headers: dict[str, str] | None = None,
        body: bytes = b"") -> tuple[int, bytes]:
    """Send one request exactly as written; returns (status, body)."""
    head = {"Host": f"127.0.0.1:{emu.port}", "Connection": "close",
            "Content-Length": str(len(body)), **(headers or {})}
    text = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items())
    with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as s:
        s.sendall(text.encode("latin-1") + b"\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


# -- binding ---------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(ip=st.one_of(st.ip_addresses(v=4), st.sampled_from(
    ["0.0.0.0", "::", "10.0.0.1", "192.168.1.20", "example.com", "localhost.evil.com"])))
def test_refuses_to_bind_beyond_loopback_unless_asked(ip, tally):
    host = str(ip)
    loopback = host == "localhost" or (
        host.replace(".", "").isdigit() and ipaddress.ip_address(host).is_loopback) or host == "::1"
    try:
        emu = Emulator(host=host)
    except ValueError as e:
        assert not loopback and "host" in str(e) and "allow_remote" in str(e)
    else:
        assert loopback
        emu.stop()
    tally.add(AREA, "bind address (random IPv4 and named hosts)", 1,
              "loopback accepted; anything else refused unless allow_remote=True")


def test_allow_remote_binds_all_interfaces_only_when_asked(tally):
    with pytest.raises(ValueError):
        Emulator(host="0.0.0.0")
    with Emulator(host="0.0.0.0", allow_remote=True, render_size=(64, 32)) as emu:
        assert emu._server.server_address[0] == "0.0.0.0"
        assert httpx.get(f"{emu.admin_url}/stats", auth=("k", "s")).status_code == 200
    with Emulator() as emu:
        assert emu._server.server_address[0] == "127.0.0.1"
    tally.add(AREA, "allow_remote=True", 1, "binds 0.0.0.0 only when asked; default 127.0.0.1")


# -- auth ------------------------------------------------------------------------------------

ROUTES = [("POST", "/v1/generate/custom/model_scenario-skybox-flux",
           json.dumps({"prompt": "x", "numOutputs": 1}).encode()),
          ("GET", "/v1/jobs", b""), ("GET", "/v1/jobs/job_abc", b""),
          ("POST", "/v1/jobs/job_abc/action", b'{"action": "cancel"}'),
          ("GET", "/v1/assets/asset_abc", b""), ("POST", "/v1/assets", b"{}"),
          ("GET", "/v1/models/model_scenario-skybox-flux", b"")]
BAD_AUTH = st.one_of(
    st.none(), st.text(max_size=30).map(lambda t: t.replace("\r", "").replace("\n", "")),
    st.sampled_from(["Bearer abc", "Basic", "Basic ", "Basic !!!notbase64",
                     "Basic " + base64.b64encode(b"no-colon").decode(),
                     "Basic " + base64.b64encode(b":secret").decode(),
                     "Basic " + base64.b64encode(b"key:").decode(),
                     "basic " + base64.b64encode(b"k:s").decode()]))


@pytest.fixture(scope="module")
def locked():
    with Emulator(render_size=(64, 32), api_key="the-key", api_secret="the-secret") as emu:
        yield emu


@settings(max_examples=80, deadline=None)
@given(auth=st.one_of(BAD_AUTH, st.sampled_from([
    "Basic " + base64.b64encode(b"test-key:test-secret").decode(),
    "Basic " + base64.b64encode(b"the-key:wrong").decode()])), route=st.sampled_from(ROUTES))
def test_refuses_requests_without_valid_auth(locked, auth, route, tally):
    method, path, body = route
    before = locked.stats()
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth.encode("latin-1", "replace").decode("latin-1")
    status, answer = raw(locked, method, path, headers, body)
    assert status == 401, (auth, path, status)
    assert b"the-secret" not in answer and b"the-key" not in answer
    after = locked.stats()
    assert (after["jobs_created"], after["assets"]) == (before["jobs_created"], before["assets"])
    tally.add(AREA, "requests without valid Basic auth (every /v1 route)", 1,
              "401, nothing created, configured credentials never echoed")


# -- upload cap ------------------------------------------------------------------------------

def test_caps_upload_size(tmp_path, tally):
    with Emulator(render_size=(64, 32), upload_limit=64 * 1024) as emu:
        big = json.dumps({"name": "big.png", "image": "data:image/png;base64," + "A" * 70000})
        status, answer = raw(emu, "POST", "/v1/assets",
                             {"Authorization": AUTH, "Content-Type": "application/json"},
                             big.encode())
        assert status == 413 and b"65536" in answer
        status, _ = raw(emu, "POST", "/v1/assets", {"Authorization": AUTH},
                        b"{" + b" " * (3 << 20) + b"}")  # 3 MiB sent in full
        assert status == 413
        status, _ = raw(emu, "POST", "/v1/assets", {"Authorization": AUTH,
                                                    "Transfer-Encoding": "chunked"})
        assert status == 411
        status, _ = raw(emu, "POST", "/v1/generate/custom/model_scenario-skybox-flux",
                        {"Authorization": AUTH}, b"{" + b" " * (2 << 20) + b"}")
        assert status == 413
        assert emu.stats()["assets"] == 0 and emu.stats()["jobs_created"] == 0
        # Through the client: a gateway's 413 sends the file again in presigned parts
        # (POST /v1/uploads), which takes it; the refused data URL stored nothing.
        noise = np.random.default_rng(0).integers(0, 255, (200, 400, 3), np.uint8)
        with make_client(emu, tmp_path) as c:
            asset_id = c.upload(noise)
        stats = emu.stats()
        assert stats["assets"] == 1 and stats["uploads"] == 1
        assert emu.store.get_asset(asset_id).size > 64 * 1024
    tally.add(AREA, "oversized uploads and bodies (413), chunked (411)", 5,
              "refused before storing; the client sends the file in parts instead")


# -- path traversal --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """An emulator with one real asset, and secret files beside and above its store."""
    with Emulator(render_size=(64, 32)) as emu:
        store = Path(emu.store._dir.name)
        files = [store.parent / "planted-secret.txt", store / "planted-secret.txt",
                 tmp_path_factory.mktemp("outside") / "planted-secret.txt"]
        for f in files:
            f.write_bytes(PLANTED)
        client = make_client(emu, tmp_path_factory.mktemp("lib"))
        r = client.run(SkyboxRequest("a planted sky", num_outputs=1))
        client.close()
        try:
            yield emu, r.assets[0], files, store
        finally:
            files[0].unlink()
            files[2].unlink()


def _traversals(asset: Any, files: list[Path], store: Path) -> list[str]:
    aid = asset.id
    url = httpx.URL(asset.url)
    query = url.query.decode()
    abs_ = [str(f) for f in files]
    store_file = next(p.name for p in store.iterdir() if p.suffix == ".png")
    return [
        "/_cdn/../../../../etc/passwd", "/_cdn/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/_cdn/..%2f..%2f..%2fetc%2fpasswd", "/_cdn/%2E%2E%2F%2E%2E%2Fplanted-secret.txt",
        "/_cdn/../planted-secret.txt", "/_cdn/planted-secret.txt", f"/_cdn/{store_file}",
        f"/_cdn/{store_file}?{query}", f"/_cdn/{aid}.png/../../planted-secret.txt?{query}",
        f"/_cdn/{aid}.png%2f..%2f..%2fplanted-secret.txt?{query}",
        f"/_cdn/{aid}.txt?{query}", f"/_cdn/{aid}%00.png?{query}",
        "/v1/assets/../../etc/passwd", "/v1/assets/..%2F..%2Fetc%2Fpasswd", "/v1/assets/..",
        "/v1/assets/%2e%2e", f"/v1/assets/{aid}/../../../planted-secret.txt",
        "/etc/passwd", "//etc/passwd", "http://127.0.0.1/etc/passwd",
        *(f"/_cdn/{p}" for p in abs_), *(f"/_cdn//{p.lstrip('/')}" for p in abs_),
        *(f"/v1/assets/{p}" for p in abs_), *(p for p in abs_),
        "/_cdn/..\\..\\planted-secret.txt", "/_emulator/../../planted-secret.txt",
    ]


def _no_leak(emu: Emulator, path: str, strict: bool = True) -> int:
    """GET ``path``: never a planted byte; a refusal (or, unless ``strict``, a genuine
    API answer: random segments can spell a real route such as ``/v1/jobs/``)."""
    status, body = raw(emu, "GET", path, {"Authorization": AUTH})
    assert PLANTED not in body and b"root:x:0:0" not in body, path
    if strict or status != 200:
        assert status in (400, 401, 403, 404), (path, status)
    else:
        json.loads(body)  # an API answer, not a file
    return status


def test_never_serves_outside_its_store(planted, tally):
    emu, asset, files, store = planted
    paths = _traversals(asset, files, store)
    statuses = [_no_leak(emu, p) for p in paths]
    # The control: the genuine presigned URL does serve the asset.
    assert httpx.get(asset.url).status_code == 200
    tally.add(AREA, "path traversal (../, %2e%2e, %2f, absolute paths, store names, NUL)",
              len(paths), f"never a planted byte; statuses {sorted(set(statuses))}")


SEGMENTS = ["..", "%2e%2e", "%2E%2E", ".%2e", "%2f", "%5c", "\\", "etc", "passwd",
            "planted-secret.txt", "_cdn", "v1", "assets", "jobs", "%00", ".", "", "asset_x"]


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=8),
       prefix=st.sampled_from(["/_cdn/", "/v1/assets/", "/v1/jobs/", "/", "/_emulator/"]))
def test_random_traversal_paths(planted, parts, prefix, tally):
    emu = planted[0]
    _no_leak(emu, prefix + "/".join(parts), strict=False)
    tally.add(AREA, "random traversal paths (hypothesis)", 1, "never a planted byte")
