"""A loopback HTTP server that misbehaves on purpose, for the reliability suite.

Invariant: it listens on 127.0.0.1 only, each connection's handler gives up after
``max_seconds``, and `stop()` closes every socket, so a test that forgets a client still
ends promptly and sends no traffic off this machine.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from typing import Callable

Handler = Callable[[socket.socket, bytes], None]


class HostileServer:
    """Answers every request with ``handler(sock, request_head)``."""

    def __init__(self, handler: Handler, max_seconds: float = 15.0) -> None:
        self.handler, self.max_seconds = handler, max_seconds
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "HostileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._conns.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(self.max_seconds)
        try:
            while not self._stop.is_set():
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                head, _, rest = head.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head)
                self.handler(conn, head)
        except OSError:
            pass
        finally:
            conn.close()

    def trickle(self, conn: socket.socket, data: bytes, every: float) -> None:
        """Send ``data`` one byte every ``every`` seconds, until stopped or timed out."""
        end = time.monotonic() + self.max_seconds
        for i in range(len(data)):
            if self._stop.is_set() or time.monotonic() > end:
                return
            conn.sendall(data[i:i + 1])
            time.sleep(every)


def authorization(head: bytes) -> str:
    """The request's Authorization header value ('' when absent)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            return value.strip().decode("latin-1")
    return ""


def echo_body(head: bytes) -> bytes:
    """An error body quoting the Authorization header raw, decoded, and in every field
    a client reads (reason, message, hint, details) — what a careless proxy might do."""
    auth = authorization(head)
    decoded = ""
    if auth.startswith("Basic "):
        decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
    return json.dumps({"reason": f"bad header {auth}", "message": f"you sent {auth}",
                       "error": decoded, "hint": f"check {decoded}",
                       "details": {"authorization": auth, "decoded": decoded}}).encode()


def respond(conn: socket.socket, status: int, body: bytes,
            content_type: str = "application/json") -> None:
    conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
