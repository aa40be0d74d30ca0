"""The emulator as an httpx transport: requests answered in this process, with no socket.

Invariant: a request goes through the same `Api.handle` as over HTTP and comes back with
the same status, headers and body, so a client or a scripted test sees exactly the
emulator's JSON shapes. The socket-level faults become what httpx raises for them: a
dropped connection is `httpx.RemoteProtocolError`; a cut download keeps its full
Content-Length over half the bytes, as the server sends it.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from .routes import EMULATOR_HEADER, Api, Response, error

__all__ = ["InProcessTransport"]


class InProcessTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Hands each request to an `Api` (``Emulator.transport()`` builds one)."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._answer(request, request.read())
        if answer.delay:
            time.sleep(answer.delay)
        return self._response(request, answer)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = self._answer(request, await request.aread())
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return self._response(request, answer)

    def _answer(self, request: httpx.Request, body: bytes) -> Response:
        url = request.url
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            return self.api.handle(request.method, url.path, url.query.decode("ascii"), headers, body)
        except Exception as exc:  # as the server answers a bug: a 500, not a crash
            self.api.log(f"{request.method} {url.path}: internal error {exc!r}")
            return error(500, f"Offline emulator internal error: {type(exc).__name__}.",
                         hint="This is a bug in the skybox_nb emulator, not in the request.")

    @staticmethod
    def _response(request: httpx.Request, answer: Response) -> httpx.Response:
        if answer.action == "drop":
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                            request=request)
        body = answer.body[: len(answer.body) // 2] if answer.action == "cut" else answer.body
        headers = {EMULATOR_HEADER[0]: EMULATOR_HEADER[1], "Content-Length": str(len(answer.body)),
                   **answer.headers}
        return httpx.Response(answer.status, headers=headers, content=body, request=request)
