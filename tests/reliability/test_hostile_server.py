"""A server that echoes our credentials or trickles its answers, and base URLs that would
leak them: the credentials never come out, and no call outlives its deadline.

Each scenario runs against a real loopback socket (`hostile_server`), so the client's
own transport, not a mock, is what is proven.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from hostile_server import HostileServer, echo_body, respond
from reliability_support import fast_poll, fast_retry
from skybox_nb import errors
from skybox_nb.redaction import PLACEHOLDER
from skybox_nb.cli import main as cli_main
from skybox_nb.client import AsyncSkyboxClient, SkyboxClient
from skybox_nb.config import resolve_settings
from skybox_nb.request import SkyboxRequest
from test_secrets import KEY, SECRET, assert_clean, forms, library_bytes

AREA = "hostile-server"


def _client(url: str, lib: Path, **kw: object) -> SkyboxClient:
    return SkyboxClient(api_key=KEY, api_secret=SECRET, base_url=url, library=lib,
                        retry=fast_retry(2), poll=fast_poll, **kw)


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500])
def test_an_echoed_authorization_header_reaches_no_error_log_or_ledger(
        status: int, tmp_path: Path, caplog: pytest.LogCaptureFixture, tally) -> None:  # type: ignore[no-untyped-def]
    """The server quotes the Authorization header (raw and base64-decoded) in every
    field of its error body, on every route; the key, the secret and the token are in
    no exception text, repr, hint or details, no log line, no ledger byte."""
    caplog.set_level(logging.DEBUG)
    lib = tmp_path / "lib"
    with HostileServer(lambda c, h: respond(c, status, echo_body(h))) as srv:
        with _client(srv.url, lib) as client:
            seen = []
            for call in (lambda: client.run(SkyboxRequest("a canyon", seed=1)),
                         lambda: client.job("job_" + "a" * 24),
                         lambda: client.estimate(SkyboxRequest("a canyon")),
                         lambda: client.asset("asset_" + "b" * 24)):
                with pytest.raises(errors.SkyboxError) as info:
                    call()
                e = info.value
                seen.append(e)
                assert_clean("the exception", f"{e}\n{e!r}\n{e.message}\n{e.hint}\n{e.details}")
                assert PLACEHOLDER in str(e) + str(e.details)
        assert srv.requests, "the server was never called"
        # The server did receive the real header: the scrubbing is ours, not a mock's.
        assert any(forms()[2].encode() in h for h in srv.requests)
    assert_clean("the log", caplog.text)
    for path, data in library_bytes(lib).items():
        assert_clean(path, data)
    tally.add(AREA, "a server echoing the Authorization header (raw and decoded) in "
              "every field of 400/401/404/429/500 answers", len(seen),
              "key, secret and token in no exception, repr, hint, details, log line or "
              "ledger byte: '<redacted>' (was: in the exception and the ledger's error column)")


def test_the_async_client_scrubs_echoed_credentials_too(tmp_path: Path) -> None:
    async def go() -> errors.SkyboxError:
        async with AsyncSkyboxClient(api_key=KEY, api_secret=SECRET, base_url=srv.url,
                                     library=tmp_path / "lib", retry=fast_retry(1)) as c:
            try:
                await c.job("job_" + "a" * 24)
            except errors.SkyboxError as e:
                return e
        raise AssertionError("no error")

    with HostileServer(lambda c, h: respond(c, 400, echo_body(h))) as srv:
        e = asyncio.run(go())
    assert_clean("the async exception", f"{e}\n{e!r}\n{e.details}")


def _trickle_headers(srv: HostileServer):  # type: ignore[no-untyped-def]
    return lambda conn, head: srv.trickle(
        conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Pad: " +
        b"a" * 500 + b"\r\n\r\n{}", every=0.05)


def _trickle_body(srv: HostileServer):  # type: ignore[no-untyped-def]
    body = b'{"job": {"jobId": "job_' + b"a" * 24 + b'", "status": "queued", "pad": "' + \
        b"x" * 2000 + b'"}}'
    def handler(conn, head):  # type: ignore[no-untyped-def]
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        srv.trickle(conn, body, every=0.05)
    return handler


@pytest.mark.parametrize("shape", [_trickle_headers, _trickle_body])
def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(shape, tmp_path: Path, tally) -> None:  # type: ignore[no-untyped-def]
    """One byte every 50 ms keeps every read under httpx's per-read timeout; the call as
    a whole still ends at its 1 s deadline, as a timeout error (blocking client)."""
    srv = HostileServer(lambda c, h: None)
    srv.handler = shape(srv)
    with srv, _client(srv.url, tmp_path / "lib", timeout=1.0) as client:
        t0 = time.monotonic()
        with pytest.raises(errors.DeadlineError) as info:
            client.job("job_" + "a" * 24)
        took = time.monotonic() - t0
    # 1 s per attempt, 2 attempts (reads are retried) plus the backoff; never minutes.
    assert took < 3.5, f"the call took {took:.1f}s"
    assert "time" in str(info.value)
    tally.add(AREA, f"a server trickling one byte per 50 ms ({shape.__name__[1:]}), "
              "client timeout=1", 1, "DeadlineError after the call's 1 s deadline (2 "
              "attempts) instead of minutes", seconds=round(took, 2))


def test_the_async_client_ends_a_trickled_call_at_its_deadline(tmp_path: Path) -> None:
    async def go() -> float:
        async with AsyncSkyboxClient(api_key=KEY, api_secret=SECRET, base_url=srv.url,
                                     library=tmp_path / "lib", retry=fast_retry(1),
                                     timeout=1.0) as c:
            t0 = time.monotonic()
            with pytest.raises(errors.DeadlineError):
                await c.job("job_" + "a" * 24)
            return time.monotonic() - t0

    srv = HostileServer(lambda c, h: None)
    srv.handler = _trickle_body(srv)
    with srv:
        took = asyncio.run(go())
    assert took < 2.5, f"the call took {took:.1f}s"


def test_a_trickled_download_ends_at_the_download_deadline(tmp_path: Path) -> None:
    """The CDN trickles the image: the download fails at its own deadline, and leaves
    no partial file."""
    srv = HostileServer(lambda c, h: None)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 4000

    def handler(conn, head):  # type: ignore[no-untyped-def]
        if b"/assets/" in head.split(b"\r\n")[0]:
            body = ('{"asset": {"id": "asset_%s", "url": "http://127.0.0.1:%d/cdn/x", '
                    '"mimeType": "image/png"}}' % ("b" * 24, srv.port)).encode()
            respond(conn, 200, body)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(png))
            srv.trickle(conn, png, every=0.05)

    srv.handler = handler
    with srv, _client(srv.url, tmp_path / "lib", download_timeout=1.0) as client:
        t0 = time.monotonic()
        with pytest.raises(errors.SkyboxError):
            client.download("asset_" + "b" * 24, tmp_path / "out")
        assert time.monotonic() - t0 < 5
    out = tmp_path / "out"
    assert not out.exists() or not list(out.iterdir()), "a partial download was left"


def test_run_with_a_timeout_names_the_job_that_keeps_running(tmp_path: Path, tally) -> None:  # type: ignore[no-untyped-def]
    """run(timeout=...) on a job that takes longer: a DeadlineError naming the job and
    how to fetch it later; the ledger still holds the job as running (resume finds it)."""
    from fast import emulator

    with emulator(job_duration=30.0) as emu:
        with SkyboxClient(emulator=emu, library=tmp_path / "lib", retry=fast_retry(),
                          poll=fast_poll) as client:
            t0 = time.monotonic()
            with pytest.raises(errors.DeadlineError) as info:
                client.run(SkyboxRequest("slow", seed=3), timeout=0.5)
            assert time.monotonic() - t0 < 3
            text = str(info.value)
            assert "job_" in text and "resume" in text and "billed" in text
            assert [r.status for r in client.ledger.active()] == ["running"]
    tally.add(AREA, "run(timeout=0.5) on a 30 s job", 1, "DeadlineError naming the job, "
              "that it is billed, and resume; the ledger row stays 'running'")


def test_run_many_sends_nothing_once_its_time_is_up(tmp_path: Path) -> None:
    from fast import emulator

    with emulator(job_duration=30.0) as emu:
        with SkyboxClient(emulator=emu, library=tmp_path / "lib", retry=fast_retry(),
                          poll=fast_poll) as client:
            reqs = [SkyboxRequest("slow", seed=s) for s in range(3)]
            out = client.run_many(reqs, max_in_flight=1, timeout=0.5, return_exceptions=True)
            assert all(isinstance(o, errors.DeadlineError) for o in out)
            assert "not sent" in str(out[2])  # its turn came after the time was up
            assert emu.stats()["generate_posts"] == 1  # only the first was ever sent
            assert len(client.ledger.generations()) == 1


def test_the_cli_timeout_says_what_still_runs(tmp_path: Path, capsys: pytest.CaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET", "SCENARIO_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    t0 = time.monotonic()
    code = cli_main(["generate", "a slow sky", "--seed", "5", "--num-outputs", "1",
                     "--out", str(tmp_path / "lib"), "--timeout", "0.3"])
    assert code == 1 and time.monotonic() - t0 < 20
    err = capsys.readouterr().err
    assert "job_" in err and "ledger resume" in err
    with pytest.raises(SystemExit):
        cli_main(["generate", "x", "--timeout", "soon"])
    assert "expected a number of seconds" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["http://api.cloud.scenario.com/v1", "http://10.1.2.3:80/v1",
                                 "http://example.com"])
def test_plain_http_to_another_machine_is_refused_with_credentials(url: str, tally) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="clear text"):
        resolve_settings(KEY, SECRET, url, environ={})
    tally.add(AREA, "plain http:// to a non-loopback host with credentials", 1,
              "ValueError saying the credentials would travel in clear text")
    resolve_settings(None, None, url, environ={})  # no credentials: nothing to leak


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765/v1", "http://localhost:9/v1",
                                 "http://[::1]:8000/v1", "https://api.example.com/v1"])
def test_loopback_http_and_any_https_are_allowed(url: str) -> None:
    assert resolve_settings(KEY, SECRET, url, environ={}).base_url == url.rstrip("/")


@pytest.mark.parametrize("url", ["https://alice:pa55word-XYZ@api.example.com/v1",
                                 "https://pa55word-XYZ@api.example.com/v1",
                                 "http://u:pa55word-XYZ@127.0.0.1:9/v1"])
def test_a_base_url_with_userinfo_is_refused_and_never_shown(
        url: str, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch, tally) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as info:
        SkyboxClient(api_key=KEY, api_secret=SECRET, base_url=url, library=tmp_path / "l")
    assert "pa55word" not in str(info.value) and "user name or password" in str(info.value)
    monkeypatch.setenv("SCENARIO_SDK_API_KEY", KEY)
    monkeypatch.setenv("SCENARIO_SDK_API_SECRET", SECRET)
    monkeypatch.setenv("SCENARIO_BASE_URL", url)
    assert cli_main(["generate", "x", "--out", str(tmp_path / "l")]) == 1
    out = capsys.readouterr()
    assert "pa55word" not in out.out + out.err and "user name or password" in out.err
    assert not (tmp_path / "l").exists() or not list((tmp_path / "l").rglob("*.json"))
    tally.add(AREA, "base URLs with user:password@ (argument, environment, CLI)", 2,
              "ValueError that shows ***@host, never the password; nothing written")
