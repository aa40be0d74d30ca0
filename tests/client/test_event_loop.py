"""The async client never blocks its event loop: ledger reads and commits, an upload's
check and PNG encode (the same `Call` effect as every other piece of blocking work), and
a download's file writes run in its worker pool."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np

import skybox_nb.client.aio as aio
import skybox_nb.client.transfer as transfer
from fake_scenario import API, FakeScenario
from fast import fast_poll, fast_retry
from skybox_nb.client import AsyncSkyboxClient
from skybox_nb.request import SkyboxRequest

LEDGER_METHODS = ("record_intent", "attach_job", "update_job", "mark_done", "set_error",
                  "mark_refused", "mark_unknown", "get", "by_job", "active", "unresolved")


def test_async_client_does_ledger_and_encode_work_off_the_event_loop(tmp_path, monkeypatch):
    threads: dict[str, set[int]] = {}

    def spy(name: str, fn: Any) -> Any:
        def wrapped(*a: Any, **kw: Any) -> Any:
            threads.setdefault(name, set()).add(threading.get_ident())
            return fn(*a, **kw)
        return wrapped

    monkeypatch.setattr(transfer, "encode_upload", spy("encode_upload", transfer.encode_upload))
    monkeypatch.setattr(transfer, "data_url_body", spy("data_url_body", transfer.data_url_body))

    class SpiedFile:  # a download's file: opened, written and closed where?
        def __init__(self, f: Any) -> None:
            self.f = f
            self.write = spy("download write", f.write)
            self.close = spy("download close", f.close)

    real_open = open
    monkeypatch.setattr(aio, "open", spy("download open", lambda *a: SpiedFile(real_open(*a))),
                        raising=False)
    fake = FakeScenario(polls=2)

    async def main() -> int:
        loop_thread = threading.get_ident()
        async with AsyncSkyboxClient("key-abcdefgh12345678", "secret", API,
                                     library=tmp_path / "lib", transport=fake.transport(),
                                     retry=fast_retry(), poll=fast_poll) as c:
            for name in LEDGER_METHODS:
                monkeypatch.setattr(c.ledger, name, spy(name, getattr(c.ledger, name)))
            await c.run(SkyboxRequest("a fjord under snow", num_outputs=1))
            await c.upload(np.zeros((32, 64, 3), np.uint8))
            await c.reconcile()
            await c.resume()
        return loop_thread

    loop_thread = asyncio.run(main())
    for name in ("record_intent", "attach_job", "update_job", "mark_done", "get",
                 "active", "unresolved", "encode_upload", "data_url_body", "download open", "download write",
                 "download close"):
        assert name in threads, f"{name} was not called"
    on_loop = sorted(name for name, ids in threads.items() if loop_thread in ids)
    assert on_loop == [], f"blocking work on the event loop: {on_loop}"
