"""The emulator's HTTP server: real HTTP/1.1 on loopback, one thread per connection.

Invariant: it binds to a loopback address unless ``allow_remote=True`` is given (it has no
real security: any key and secret are accepted unless configured); every answer carries
``X-Scenario-Emulator: offline``, and every log line says OFFLINE EMULATOR, so nobody
mistakes its procedural images for the model's. Configured credentials are kept private:
they appear in no repr, log line or answer.
"""

from __future__ import annotations

import io
import ipaddress
import math
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .faults import Faults
from .routes import DEFAULT_UPLOAD_LIMIT, EMULATOR_HEADER, Api, ApiSettings, Response, error
from .runner import Runner
from .store import Store

__all__ = ["Emulator", "DEFAULT_JOB_DURATION", "DEFAULT_UPLOAD_LIMIT", "DEFAULT_SOCKET_TIMEOUT"]

DEFAULT_JOB_DURATION = 3.0  # what `skybox-nb emulator` uses: long enough to watch progress
# Seconds a connection has to deliver each whole request (head and body), and that any one
# read or write may block: a half-open or trickling client is then dropped, not held.
DEFAULT_SOCKET_TIMEOUT = 10.0
_LOG_PREFIX = "[skybox_nb OFFLINE EMULATOR]"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets connections when a batch connects at once.
    request_queue_size = 128
    emulator: "Emulator"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (as the fault tests make them do) is not news."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError):
            self.emulator.log(f"error serving {client_address[0]}: {exc!r}")


class Emulator:
    """An offline stand-in for the Scenario API, serving in a background thread.

    ``job_duration``: seconds from queued to success (0 = as fast as rendering allows).
    ``api_key``/``api_secret``: when set, only these are accepted; otherwise any Basic
    credentials are. ``max_parallel_jobs``: a generate while that many jobs run answers
    429 ``parallel-custom-jobs``. ``url_ttl``: seconds an asset URL works (24 h, as the
    service's signed URLs at least; tests shorten it to see renewal). ``render_size``:
    (width, height) of generated images, e.g. (256, 128) for fast tests; None = the model's
    1536x768 as last reported (Skybox GPT draws the size asked for, the upscaler its input times the
    factor). ``creative_units``: the plan's allowance; a job costing more than is left
    answers 402, and ``GET /v1/teams/{teamId}/limits`` reports it. ``allow_cancel``: accept a
    cancel (the service refuses it for custom-model jobs, and so does the emulator by
    default). ``lean``: answer with only the fields the model's reference documents, plus
    unknown extra fields (a client must need no more, and ignore what it does not know). Raises ValueError naming any bad setting, including a non-loopback ``host``
    without ``allow_remote=True``.
    """

    def __init__(
        self,
        job_duration: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        api_secret: str | None = None,
        max_parallel_jobs: int | None = None,
        url_ttl: float = 86400.0,
        allow_remote: bool = False,
        quiet: bool = True,
        render_size: tuple[int, int] | None = None,
        upload_limit: int = DEFAULT_UPLOAD_LIMIT,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        creative_units: float = 10000.0,
        allow_cancel: bool = False,
        lean: bool = False,
    ) -> None:
        if isinstance(job_duration, bool) or not isinstance(job_duration, (int, float)) \
                or not math.isfinite(job_duration) or job_duration < 0:
            raise ValueError(f"job_duration: got {job_duration!r}; allowed: seconds >= 0")
        if not _is_loopback(host) and not allow_remote:
            raise ValueError(
                f"host: got {host!r}; allowed: a loopback address (127.0.0.1, ::1, localhost). "
                "The emulator has no real security; pass allow_remote=True (CLI: "
                "--allow-remote) to bind beyond loopback anyway.")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port: got {port!r}; allowed: an integer from 0 (any free port) to 65535")
        if max_parallel_jobs is not None and (
                isinstance(max_parallel_jobs, bool) or not isinstance(max_parallel_jobs, int)
                or max_parallel_jobs < 1):
            raise ValueError(f"max_parallel_jobs: got {max_parallel_jobs!r}; allowed: None or an integer >= 1")
        if isinstance(url_ttl, bool) or not isinstance(url_ttl, (int, float)) or not url_ttl > 0:
            raise ValueError(f"url_ttl: got {url_ttl!r}; allowed: seconds > 0")
        if render_size is not None:
            ok = (isinstance(render_size, (tuple, list)) and len(render_size) == 2
                  and all(isinstance(v, int) and not isinstance(v, bool) for v in render_size)
                  and render_size[0] >= 8 and render_size[1] >= 4)
            if not ok:
                raise ValueError(f"render_size: got {render_size!r}; allowed: None or "
                                 "(width, height) integers, at least (8, 4)")
        if isinstance(upload_limit, bool) or not isinstance(upload_limit, int) or upload_limit < 1024:
            raise ValueError(f"upload_limit: got {upload_limit!r}; allowed: bytes >= 1024")
        if isinstance(creative_units, bool) or not isinstance(creative_units, (int, float)) \
                or not math.isfinite(creative_units) or creative_units < 0:
            raise ValueError(f"creative_units: got {creative_units!r}; allowed: a number >= 0")
        if isinstance(socket_timeout, bool) or not isinstance(socket_timeout, (int, float)) \
                or not 0 < socket_timeout <= 3600:
            raise ValueError(f"socket_timeout: got {socket_timeout!r}; allowed: seconds from 0 to 3600")
        self.job_duration = float(job_duration)
        self.host = host
        self.port = port
        self.quiet = quiet
        self.render_size = tuple(render_size) if render_size else None
        self.socket_timeout = float(socket_timeout)
        self.settings = ApiSettings(
            origin=self.origin, api_key=api_key, api_secret=api_secret,
            max_parallel_jobs=max_parallel_jobs, url_ttl=float(url_ttl),
            upload_limit=upload_limit, job_duration=self.job_duration,
            creative_units=float(creative_units), allow_cancel=bool(allow_cancel),
            lean=bool(lean))
        self.started_at = self.settings.started_at
        self.store = Store()
        self.faults = Faults()
        self.runner = Runner(self.store, self.job_duration, self.render_size)
        self.api = Api(self.store, self.faults, self.runner, self.settings, self.log)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def bind(self) -> "Emulator":
        """Open the listening socket now (so ``base_url`` has the real port); returns self.
        Raises OSError when the port is taken."""
        if self._server is None:
            cls = type("_BoundServer", (_Server,), {
                "address_family": socket.AF_INET6 if ":" in self.host else socket.AF_INET})
            server = cls((self.host, self.port), _Handler)
            server.emulator = self
            self.port = server.server_address[1]
            self.settings.origin = self.origin  # CDN URLs point at the real port
            self._server = server
        return self

    def _bound(self) -> _Server:
        self.bind()
        assert self._server is not None
        return self._server

    def start(self) -> "Emulator":
        """Bind and serve in a background thread; returns self."""
        if self._thread is None:
            server = self._bound()
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                            daemon=True, name="skybox-emulator")
            self._thread.start()
            self.log(f"serving the Scenario API at {self.base_url}")
        return self

    def serve_forever(self) -> None:
        """Bind and serve in this thread until interrupted (the CLI's foreground mode)."""
        server = self._bound()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and delete the emulator's files."""
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:
                server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.runner.close()
        self.store.close()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def transport(self) -> Any:
        """An httpx transport (sync and async) that hands requests to this emulator in
        this process, with no socket: ``httpx.Client(transport=emu.transport())``."""
        from .transport import InProcessTransport

        return InProcessTransport(self.api)

    # ------------------------------------------------------------------ facts
    @property
    def origin(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Where the Scenario API routes are: ``http://127.0.0.1:PORT/v1``."""
        return self.origin + "/v1"

    @property
    def admin_url(self) -> str:
        """Where the emulator's own routes are (faults, stats): ``.../_emulator``."""
        return self.origin + "/_emulator"

    @property
    def api_key(self) -> str | None:
        """The only key accepted, when one was configured (None: any key passes)."""
        return self.settings.api_key

    @property
    def api_secret(self) -> str | None:
        """The only secret accepted, when one was configured (never shown in a repr)."""
        return self.settings.api_secret

    @property
    def max_parallel_jobs(self) -> int | None:
        """A generate while this many jobs run answers 429 (None: no limit)."""
        return self.settings.max_parallel_jobs

    @property
    def url_ttl(self) -> float:
        """Seconds an asset URL works."""
        return self.settings.url_ttl

    @property
    def upload_limit(self) -> int:
        """Bytes of JSON body accepted on POST /v1/assets."""
        return self.settings.upload_limit

    def __repr__(self) -> str:
        state = "serving" if self._server is not None else "stopped"
        return f"<skybox_nb offline Emulator {state} at {self.base_url}>"

    def log(self, message: str) -> None:
        """Print one line to stderr (unless quiet), always marked OFFLINE EMULATOR."""
        if not self.quiet:
            print(f"{_LOG_PREFIX} {message}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ faults & stats
    def inject(self, kind: str, **params: Any) -> dict[str, Any]:
        """Arm a fault (see `skybox_nb.emulator.faults`); returns it as a dict."""
        return self.api.inject(kind, **params)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self.faults.clear()

    def stats(self) -> dict[str, Any]:
        """Counters: generate_posts (paid POSTs received, dry runs excluded), jobs_created,
        max_running_jobs, running_jobs, requests per route, assets, and the armed faults."""
        return self.api.stats()


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes, refused once the request's deadline has passed: a per-read
    timeout alone lets a client that trickles one byte a second hold a thread for hours."""

    def __init__(self, sock: socket.socket, handler: "_Handler") -> None:
        self._sock = sock
        self._handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._handler.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("the request did not arrive in time")
        self._sock.settimeout(min(left, self._handler.timeout))
        return self._sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ScenarioEmulator/0.1 (skybox_nb offline emulator)"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK add ~40 ms to every keep-alive answer.
    disable_nagle_algorithm = True
    server: _Server
    deadline = 0.0

    def setup(self) -> None:
        self.timeout = self.server.emulator.socket_timeout  # every read and write
        super().setup()
        self.rfile.close()  # the plain socket file: replaced by one that keeps the deadline
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self), io.DEFAULT_BUFFER_SIZE)

    def handle_one_request(self) -> None:
        # Each request (head and body) must arrive within socket_timeout of the last answer.
        self.deadline = time.monotonic() + self.timeout
        try:
            super().handle_one_request()
        except (socket.timeout, TimeoutError):
            self.close_connection = True  # half-open or too slow: dropped

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve()

    def do_PUT(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        self.server.emulator.log(format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (400 bad request line, 414, 431 header too large,
        501...) as JSON like every other answer, never an HTML page."""
        if code in (501, 505):  # an unknown method or HTTP version is the request's fault
            code, explain = 405 if code == 501 else 400, None
        reason = self.responses.get(code, ("Error", ""))[0]
        text = f"{reason}: {message}" if message and message != reason else reason
        self.log_error("code %d, message %s", code, text)
        if self.request_version == "HTTP/0.9":  # a line too broken to tell: answer with a status line
            self.request_version = "HTTP/1.0"
        headers = {"Allow": "GET, POST, PUT, DELETE"} if code == 405 else None
        self._send(error(code, text, hint=explain or None, headers=headers), close=True)

    def _serve(self) -> None:
        emu = self.server.emulator
        url = urlsplit(self.path)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send(error(411, "Send a Content-Length; chunked bodies are not accepted."), close=True)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send(error(400, "Content-Length: not a valid length."), close=True)
            return
        refused = emu.api.too_large(self.command, url.path, length)
        if refused is not None:  # before reading: an announced 8 GiB is never reserved
            self._send(refused, close=True)
            self.wfile.flush()
            self._discard(length)  # so a client still sending sees the 413, not a reset
            return
        body = self.rfile.read(length) if length else b""
        try:
            resp = emu.api.handle(self.command, url.path, url.query,
                                  {k.lower(): v for k, v in self.headers.items()}, body)
        except Exception as exc:  # a bug here must answer, not look like a dropped connection
            emu.log(f"{self.command} {url.path}: internal error {exc!r}")
            resp = error(500, f"Offline emulator internal error: {type(exc).__name__}.",
                         hint="This is a bug in the skybox_nb emulator, not in the request.")
        if resp.delay:
            time.sleep(resp.delay)
        if resp.action == "drop":
            emu.log(f"{self.command} {url.path}: connection dropped (injected fault)")
            self.close_connection = True
            return
        self._send(resp)

    def _discard(self, length: int) -> None:
        """Read and drop an oversized body (up to 64 MiB, within the request's deadline)
        so the client sees the 413; a client that announced more than it sends is cut."""
        left = min(length, 64 * 1024 * 1024)
        try:
            while left > 0:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:  # the deadline passed, or the client hung up
            pass

    def _send(self, resp: Response, close: bool = False) -> None:
        reason = "Dry Run" if resp.status == 269 else None
        self.send_response(resp.status, reason)
        self.send_header(*EMULATOR_HEADER)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if close or resp.action == "cut":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if resp.action == "cut":
            self.wfile.write(resp.body[: len(resp.body) // 2])
            self.wfile.flush()
            self.server.emulator.log(f"download cut after {len(resp.body) // 2} bytes (injected fault)")
            return
        if self.command != "HEAD":
            self.wfile.write(resp.body)
