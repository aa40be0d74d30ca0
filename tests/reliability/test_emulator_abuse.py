"""The emulator under abuse: its admin routes locked like the API, slow and half-open
connections dropped, malformed requests refused in JSON with a 4xx (never a 500, never an
HTML page), and an upload's decoded size capped.

Requests are written on a raw socket so the server sees exactly the bytes an attacker
would send; every loop here is bounded by a count or a deadline.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
import zlib

import httpx
import pytest

from skybox_nb.emulator import Emulator

AREA = "emulator abuse"
KEY, SECRET = "the-key", "the-secret"
AUTH = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
FLUX = "/v1/generate/custom/model_scenario-skybox-flux"


@pytest.fixture
def locked():
    with Emulator(render_size=(64, 32), api_key=KEY, api_secret=SECRET) as emu:
        yield emu


def send(emu: Emulator, raw: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Write ``raw`` on a fresh connection and read the whole answer; returns (status,
    lower-cased headers, body)."""
    with socket.create_connection(("127.0.0.1", emu.port), timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):  # until the answer is whole (the server may read on)
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            length = next((int(x.split(b":")[1]) for x in head.split(b"\r\n")
                           if x.lower().startswith(b"content-length:")), None)
            if sep and length is not None and len(body) >= length:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in (x.partition(":") for x in lines[1:]))
    return int(lines[0].split()[1]), headers, body


def request(method: str, path: str, headers: dict[str, str] | None = None,
            body: bytes = b"") -> bytes:
    head = {"Host": "127.0.0.1", "Connection": "close", "Content-Length": str(len(body)),
            **(headers or {})}
    return (f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items())
            ).encode("latin-1") + b"\r\n" + body


def assert_json_refusal(status: int, headers: dict[str, str], body: bytes, low: int = 400) -> str:
    """A 4xx in JSON from the emulator; returns its message."""
    assert low <= status < 500, (status, body[:200])
    assert headers.get("content-type") == "application/json", headers
    assert headers.get("x-scenario-emulator") == "offline"
    message = json.loads(body)["message"]
    assert isinstance(message, str) and message
    return message


# -- admin routes ------------------------------------------------------------------------------

def test_admin_routes_require_the_same_authentication(locked, tally):
    tries = 0
    for method, path, body in [("GET", "/_emulator/stats", None), ("GET", "/_emulator/faults", None),
                               ("POST", "/_emulator/faults", {"kind": "server_error", "count": None}),
                               ("DELETE", "/_emulator/faults", None)]:
        for auth in (None, ("the-key", "wrong"), ("other", SECRET)):
            r = httpx.request(method, locked.admin_url + path.removeprefix("/_emulator"),
                              json=body, auth=auth)
            assert r.status_code == 401, (method, path, auth, r.status_code)
            assert SECRET not in r.text
            tries += 1
    assert locked.faults.active() == []  # nothing was armed
    ok = httpx.get(locked.admin_url + "/stats", auth=(KEY, SECRET))
    assert ok.status_code == 200 and ok.json()["faults"] == []
    tally.add(AREA, "admin routes (/_emulator/...) without or with wrong Basic auth", tries,
              "401; no fault armed, no counter shown")


def test_an_announced_huge_admin_body_is_refused_before_reading(locked, tally):
    t0 = time.monotonic()
    head = request("POST", "/_emulator/faults", {"Authorization": AUTH}).replace(
        b"Content-Length: 0", b"Content-Length: 8589934592")
    status, headers, body = send(locked, head + b'{"kind": "slow"}', timeout=5)
    assert status == 413 and "8589934592" in assert_json_refusal(status, headers, body)
    assert time.monotonic() - t0 < 5 and locked.faults.active() == []
    tally.add(AREA, "admin POST announcing an 8 GiB body", 1,
              f"413 in {time.monotonic() - t0:.2f} s; nothing reserved or armed")


# -- slow and half-open connections -----------------------------------------------------------

def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes ``sock`` (EOF or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionError, OSError) as e:
        return not isinstance(e, socket.timeout)


def test_half_open_and_trickling_connections_are_dropped(tally):
    with Emulator(render_size=(64, 32), socket_timeout=0.5) as emu:
        baseline = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", emu.port)) for _ in range(40)]
        partial = [socket.create_connection(("127.0.0.1", emu.port)) for _ in range(20)]
        for s in partial:  # a head that never ends, and a body announced but never sent
            s.sendall(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n")
        body = socket.create_connection(("127.0.0.1", emu.port))
        body.sendall(request("POST", FLUX, {"Authorization": AUTH}).replace(
            b"Content-Length: 0", b"Content-Length: 1000") + b"{")
        t0 = time.monotonic()
        assert all(_closed_within(s, 3.0) for s in idle + partial + [body])
        dropped = time.monotonic() - t0
        # One byte every 0.2 s never completes a head inside the 0.5 s deadline.
        trickle = socket.create_connection(("127.0.0.1", emu.port))
        sent = 0
        t1 = time.monotonic()
        try:
            for byte in request("GET", "/v1/jobs", {"Authorization": AUTH}):
                trickle.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.2)
                if time.monotonic() - t1 > 5:
                    break
        except (ConnectionError, OSError):
            pass
        assert _closed_within(trickle, 2.0) and time.monotonic() - t1 < 5, sent
        for s in idle + partial + [body, trickle]:
            s.close()
        deadline = time.monotonic() + 5
        while threading.active_count() > baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= baseline  # every handler thread ended
        assert httpx.get(emu.base_url + "/jobs", auth=("k", "s")).status_code == 200
    tally.add(AREA, "idle, half-sent and trickling connections (socket_timeout=0.5 s)", 62,
              f"all dropped within {dropped:.1f} s, their threads ended; trickle cut after "
              f"{sent} bytes; still serving")


# -- malformed requests -----------------------------------------------------------------------

MALFORMED = {
    "non-ASCII Authorization": request("GET", "/v1/jobs", {"Authorization": "Basic \xe9\xe8\xff=="}),
    "non-ASCII Authorization on admin": request("GET", "/_emulator/stats",
                                                {"Authorization": "Basic \xe9t\xe9"}),
    "deeply nested JSON body": request("POST", FLUX, {"Authorization": AUTH},
                                       b"[" * 100_000 + b"]" * 100_000),
    "deeply nested JSON value": request("POST", FLUX, {"Authorization": AUTH},
                                        b'{"prompt": ' + b"[" * 990 + b"]" * 990 + b"}"),
    "400-digit seed": request("POST", FLUX, {"Authorization": AUTH},
                              b'{"prompt": "x", "seed": 1' + b"0" * 400 + b"}"),
    "400-digit numOutputs": request("POST", FLUX, {"Authorization": AUTH},
                                    b'{"prompt": "x", "numOutputs": -9' + b"9" * 399 + b"}"),
    "400-digit fault delay": request("POST", "/_emulator/faults", {"Authorization": AUTH},
                                     b'{"kind": "slow", "delay": 1' + b"0" * 400 + b"}"),
    "bad request line": b"GARBAGE\r\n\r\n",
    "bad HTTP version": b"GET /v1/jobs HTTP/9.9\r\nHost: x\r\n\r\n",
    "request line too long (414)": b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    "101 headers (431)": b"GET /v1/jobs HTTP/1.1\r\n" + b"".join(
        b"X-H%d: v\r\n" % i for i in range(101)) + b"\r\n",
    "header line too long (431)": b"GET /v1/jobs HTTP/1.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n",
    "unsupported method (501)": request("PATCH", "/v1/jobs", {"Authorization": AUTH}),
    "bad Content-Length": request("POST", FLUX, {"Authorization": AUTH}).replace(
        b"Content-Length: 0", b"Content-Length: lots"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_requests_get_a_json_4xx_never_a_500(locked, name, tally):
    status, headers, body = send(locked, MALFORMED[name])
    message = assert_json_refusal(status, headers, body)
    assert "Traceback" not in message and SECRET not in message
    assert locked.stats()["jobs_created"] == 0 and locked.faults.active() == []
    tally.add(AREA, "malformed requests: non-ASCII auth, nesting, 400-digit numbers, bad "
              "request lines, 414, 431, 501", 1, "a 4xx with a JSON message; no 500, no HTML")


# -- upload size -------------------------------------------------------------------------------

def _png_header_bomb(side: int) -> bytes:
    """A real, complete greyscale PNG of side x side black pixels, compressed row by row
    (about 170 KB for 13000x13000) without ever holding its pixels in memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_an_upload_that_decodes_to_too_many_pixels_is_refused(locked, tally):
    data = _png_header_bomb(13000)
    assert len(data) < 1_000_000
    body = json.dumps({"name": "bomb.png",
                       "image": "data:image/png;base64," + base64.b64encode(data).decode()})
    t0 = time.monotonic()
    status, headers, answer = send(locked, request(
        "POST", "/v1/assets", {"Authorization": AUTH, "Content-Type": "application/json"},
        body.encode()))
    seconds = time.monotonic() - t0
    message = assert_json_refusal(status, headers, answer)
    assert status == 400 and "13000x13000" in message and json.loads(answer)["details"]["field"] == "image"
    assert locked.stats()["assets"] == 0 and seconds < 5
    tally.add(AREA, f"upload of a {len(data) // 1024} KB PNG of 13000x13000 pixels", 1,
              f"400 naming the pixel cap in {seconds:.2f} s, refused from the header, never decoded")
