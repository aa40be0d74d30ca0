"""The client's HTTP transports: total deadlines on every call, and server text scrubbed
of the credentials.

Invariant: no read or write on a connection of this client waits past the deadline of
the call it serves (`within`): httpx's timeout bounds each read, so a server that trickles
one byte per read could otherwise hold a call for hours; and every API answer has the
API key, the secret and the Basic token replaced by `redaction.PLACEHOLDER` before any code of
ours reads it, so a server that echoes the ``Authorization`` header cannot put a
credential into an exception, a log line, the ledger or a sidecar.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Any, Iterable, Iterator

import httpcore
import httpx

from ..redaction import MIN_SECRET, PLACEHOLDER  # one owner of what is hidden, and how

__all__ = ["within", "deadline_left", "sync_transport", "async_transport", "proxy_mounts"]

# The monotonic time by which the current call must end (None: no deadline). A context
# variable: each thread, and each asyncio task, has its own.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "skybox_call_deadline", default=None)


@contextlib.contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """Every read and write of the calls made inside ends ``seconds`` from now at the
    latest (an enclosing, earlier deadline still holds). None adds no deadline."""
    outer = _DEADLINE.get()
    mine = None if seconds is None else time.monotonic() + max(0.0, seconds)
    token = _DEADLINE.set(mine if outer is None else outer if mine is None else min(outer, mine))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def deadline_left() -> float | None:
    """Seconds left before the current call's deadline (None when there is none)."""
    until = _DEADLINE.get()
    return None if until is None else until - time.monotonic()


def _clamp(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to the time the call has left; raises ``error`` when none."""
    left = deadline_left()
    if left is None:
        return timeout
    if left <= 0:
        raise error("the call's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A connection whose every read and write honours the current call's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname,
                                             _clamp(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """The standard socket backend, with `_Stream` connections."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port,
                                               _clamp(timeout, httpcore.ConnectTimeout),
                                               local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:  # pragma: no cover - not used
        return _Stream(self._inner.connect_unix_socket(
            path, _clamp(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore retries only
        self._inner.sleep(seconds)


def _secrets(credentials: Any) -> list[bytes]:
    """The byte strings a server must not get to show us: the key, the secret, the
    Basic token, longest first (values under `redaction.MIN_SECRET` characters are left
    alone: a 2-letter test key would blank every word it is part of)."""
    if credentials is None:
        return []
    token = credentials.authorization().split(" ", 1)[1]
    words = {credentials.key, credentials.secret, token, token.replace("/", "\\/")}
    return sorted((w.encode() for w in words if len(w) >= MIN_SECRET), key=len, reverse=True)


def _scrub(content: bytes, secrets: list[bytes]) -> bytes:
    for s in secrets:
        if s in content:
            content = content.replace(s, PLACEHOLDER.encode())
    return content


def _scrubbed(response: httpx.Response, content: bytes, secrets: list[bytes]) -> httpx.Response:
    """The same answer with its (already decoded) body scrubbed."""
    headers = [(k, v) for k, v in response.headers.multi_items()
               if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")]
    return httpx.Response(response.status_code, headers=headers,
                          content=_scrub(content, secrets), extensions=response.extensions)


class _ScrubbingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, secrets: list[bytes]) -> None:
        self._inner, self._secrets = inner, secrets

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        try:
            # read() undoes the Content-Encoding (gzip, br...): the stream's own bytes
            # would be the compressed body, unreadable once its header is dropped
            content = response.read()
        finally:
            response.close()
        return _scrubbed(response, content, self._secrets)

    def close(self) -> None:
        self._inner.close()


class _AsyncScrubbingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, secrets: list[bytes]) -> None:
        self._inner, self._secrets = inner, secrets

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        try:
            content = await response.aread()  # decoded, as in `_ScrubbingTransport`
        finally:
            await response.aclose()
        return _scrubbed(response, content, self._secrets)

    async def aclose(self) -> None:
        await self._inner.aclose()


def sync_transport(limits: httpx.Limits, given: httpx.BaseTransport | None = None,
                   credentials: Any = None) -> httpx.BaseTransport:
    """The blocking client's transport: ``given`` (a test's) or httpx's own with every
    connection on the deadline-aware backend; with ``credentials``, answers scrubbed."""
    transport = given
    if transport is None:
        transport = httpx.HTTPTransport(limits=limits)
        # httpx builds its pool without a way to name the network backend: the same pool,
        # rebuilt on ours (tests/reliability/test_deadlines.py proves it takes effect).
        transport._pool = httpcore.ConnectionPool(  # type: ignore[attr-defined]
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend())
    secrets = _secrets(credentials)
    return _ScrubbingTransport(transport, secrets) if secrets else transport


def async_transport(limits: httpx.Limits, given: httpx.AsyncBaseTransport | None = None,
                    credentials: Any = None) -> httpx.AsyncBaseTransport:
    """The asyncio client's transport (its deadlines are ``asyncio.timeout`` around each
    call, which cancels the socket's wait); with ``credentials``, answers scrubbed."""
    transport = given if given is not None else httpx.AsyncHTTPTransport(limits=limits)
    secrets = _secrets(credentials)
    return _AsyncScrubbingTransport(transport, secrets) if secrets else transport


# Loopback is never proxied (a proxy's 127.0.0.1 is not ours): the offline emulator.
_LOOPBACK = ("all://127.0.0.1", "all://localhost", "all://[::1]")


def proxy_mounts(limits: httpx.Limits, credentials: Any = None,
                 asynchronous: bool = False) -> dict[str, Any]:
    """Transports for the proxies the environment names (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, ``NO_PROXY``), read as httpx reads them: httpx does so only for a
    client built without a transport, and ours always get one. Each scrubs answers like
    the direct transport; a proxied connection keeps httpx's per-read timeout (not the
    call's total deadline). Empty when no proxy is set."""
    try:
        from httpx._utils import get_environment_proxies
    except ImportError:  # pragma: no cover - a future httpx: no proxies then
        return {}
    found = get_environment_proxies()
    if not any(found.values()):
        return {}
    secrets = _secrets(credentials)
    mounts: dict[str, Any] = {}
    for pattern, url in found.items():
        if url is None:  # NO_PROXY: the direct transport
            mounts[pattern] = None
        elif asynchronous:
            inner = httpx.AsyncHTTPTransport(limits=limits, proxy=url)
            mounts[pattern] = _AsyncScrubbingTransport(inner, secrets) if secrets else inner
        else:
            outer = httpx.HTTPTransport(limits=limits, proxy=url)
            mounts[pattern] = _ScrubbingTransport(outer, secrets) if secrets else outer
    return {**mounts, **dict.fromkeys(_LOOPBACK)}
