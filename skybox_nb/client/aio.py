"""`AsyncSkyboxClient`: the same client for ``asyncio``, which performs the core's
effects with ``httpx.AsyncClient``, a worker pool and ``asyncio.sleep``.

Invariant: nothing blocking runs on the event loop: every `Call` effect (ledger commits,
the upload's encode, decodes, fsyncs) runs in the client's worker pool; cancelling the
task stops waiting and closes the operation (the job keeps running and stays in the
ledger).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from pathlib import Path
from typing import Any, Awaitable, Iterable, TypeVar

import httpx

from ..models import Asset, Job, RunResult
from . import wire
from .base import ClientBase, batch_deadline, check_in_flight, gather_results, time_left
from .effects import Call, Fetch, Fetched, Op, Put, Send, Sleep, advance
from .intents import ProgressFn
from .reads import within_limit
from .reconcile import ReconcileOutcome

__all__ = ["AsyncSkyboxClient"]

T = TypeVar("T")


async def _within(seconds: float, call: Awaitable[T]) -> T:
    """``call``, ended after ``seconds`` (a trickling server included): the socket's wait
    is cancelled and the call fails as an httpx timeout would, so the core maps it.
    Cancelling the caller always cancels it: ``asyncio.wait_for`` of Python < 3.12
    returned an answer that had just arrived and dropped the caller's cancel."""
    inner = asyncio.ensure_future(call)
    try:
        await asyncio.wait({inner}, timeout=seconds)
    except asyncio.CancelledError:  # the caller's cancel wins, even over a done call
        inner.cancel()
        await asyncio.wait({inner})
        if not inner.cancelled():
            inner.exception()  # dropped on purpose: not logged as "never retrieved"
        raise
    if not inner.done():  # the deadline passed
        inner.cancel()
        await asyncio.wait({inner})
    if inner.cancelled():
        raise httpx.ReadTimeout(f"the call's total deadline of {seconds:g}s has passed")
    return inner.result()  # an answer that came as the deadline passed is kept


class AsyncSkyboxClient(ClientBase):
    """The same client for ``asyncio``: every method is a coroutine. Cancelling the task
    stops waiting (the job keeps running and stays in the ledger)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            api, cdn = self._http_settings(wire.async_transport, asynchronous=True)
            self._http, self._cdn = httpx.AsyncClient(**api), httpx.AsyncClient(**cdn)
        except BaseException:  # a failed client leaves no emulator or ledger open
            self._core.close()
            raise
        # Disk work of many concurrent runs (decode, fsync): asyncio's default pool has
        # only cpu+4 threads, which made a 16-job batch queue its downloads behind it.
        self._disk = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="skybox-disk")

    async def _drive(self, op: Op[T]) -> T:
        life = self._life
        try:
            life.enter()
        except BaseException:
            op.close()
            raise
        outcome: tuple[Any, Exception | None] = (None, None)
        paying = False
        try:
            while True:
                finished, item = advance(op, outcome)
                if finished:
                    return item
                refused, paying = life.step(item, paying)  # closing: no new I/O
                if refused is not None:
                    outcome = (None, refused)
                    continue
                try:
                    outcome = (await self._perform(item), None)
                except Exception as e:  # the core decides what a failure means
                    outcome = (None, e)
                except BaseException:  # cancelled: let the core clean up, then stop
                    op.close()
                    raise
        except Exception as e:
            mapped = life.after_close(e)
            if mapped is e:
                raise
            raise mapped from e
        finally:
            life.leave(paying)

    async def _perform(self, effect: Any) -> Any:
        if isinstance(effect, Send):
            return await _within(self.call_timeout, self._http.request(
                effect.method, effect.path, json=effect.json, params=effect.params))
        if isinstance(effect, Fetch):
            return await _within(self.download_timeout, self._fetch(effect))
        if isinstance(effect, Put):  # the download client: no credentials on it
            r = await _within(self.download_timeout, self._cdn.put(
                effect.url, content=effect.content, headers=dict(effect.headers or {})))
            return Fetched(r.status_code, r.headers, len(effect.content), r.content)
        if isinstance(effect, Call):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._disk, lambda: effect.fn(*effect.args))
        if isinstance(effect, Sleep):
            # In steps, so a close (or a freed slot) ends the wait at once.
            end = time.monotonic() + effect.seconds
            step = 0.1 if effect.wake is None else 0.05
            while time.monotonic() < end:
                closed = self._life.refusal()
                if closed is not None:
                    raise closed
                if effect.wake is not None and effect.wake():
                    break
                await asyncio.sleep(min(step, max(0.0, end - time.monotonic())))
            return None
        raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover

    async def _fetch(self, effect: Fetch) -> Fetched:
        async with self._cdn.stream("GET", effect.url) as r:
            if r.status_code >= 300:
                return Fetched(r.status_code, r.headers, 0, await r.aread())
            # The file is opened, written and closed in the worker pool, a MiB at a
            # time: a slow disk never stalls the event loop.
            loop = asyncio.get_running_loop()
            f = await loop.run_in_executor(self._disk, open, effect.into, "wb")
            n, pending = 0, bytearray()
            try:
                async for chunk in r.aiter_bytes(1 << 16):
                    pending += chunk
                    n += len(chunk)
                    if len(pending) >= 1 << 20:
                        await loop.run_in_executor(self._disk, f.write, bytes(pending))
                        pending.clear()
                if pending:
                    await loop.run_in_executor(self._disk, f.write, bytes(pending))
            finally:
                await loop.run_in_executor(self._disk, f.close)
            return Fetched(r.status_code, r.headers, n)

    async def generate(self, request: Any) -> Job:
        """See ``SkyboxClient.generate``."""
        return await self._drive(self._core.generate(request))

    async def estimate(self, request: Any) -> float:
        """See ``SkyboxClient.estimate``."""
        return await self._drive(self._core.estimate(request))

    async def job(self, job_id: Job | str) -> Job:
        """See ``SkyboxClient.job``."""
        return await self._drive(self._core.job(job_id))

    async def wait(self, job: Job | str, on_progress: ProgressFn | None = None,
                   timeout: float | None = None) -> Job:
        """See ``SkyboxClient.wait``; cancel the task to stop waiting."""
        return await self._drive(self._core.wait(job, on_progress, timeout))

    async def cancel(self, job: Job | str) -> Job:
        """See ``SkyboxClient.cancel``."""
        return await self._drive(self._core.cancel(job))

    async def asset(self, asset_id: str) -> Asset:
        """See ``SkyboxClient.asset``."""
        return await self._drive(self._core.asset(asset_id))

    async def download(self, asset: Asset | str, dest_dir: str | Path = ".",
                       name: str | None = None) -> Path:
        """See ``SkyboxClient.download``."""
        dest = self._core.download_dest(asset, dest_dir, name)
        return (await self._drive(self._core.download(asset, dest)))[0]

    async def download_originals(self, job: RunResult | Job | str) -> list[Path | None]:
        """See ``SkyboxClient.download_originals``."""
        return await self._drive(self._core.download_originals(job))

    async def upload(self, image: Any) -> str:
        """See ``SkyboxClient.upload``."""
        return await self._drive(self._core.upload(image))

    async def run(self, request: Any, on_progress: ProgressFn | None = None,
                  timeout: float | None = None) -> RunResult:
        """See ``SkyboxClient.run``."""
        return await self._drive(self._core.run(request, on_progress, timeout))

    async def run_many(self, requests: Iterable[Any], max_in_flight: int = 4,
                       on_progress: ProgressFn | None = None,
                       return_exceptions: bool = False,
                       timeout: float | None = None) -> list[RunResult]:
        """See ``SkyboxClient.run_many``."""
        check_in_flight(max_in_flight)
        gate = asyncio.Semaphore(within_limit(max_in_flight, self._core.account))
        until = batch_deadline(timeout)

        async def one(r: Any) -> RunResult:
            async with gate:
                return await self.run(r, on_progress, timeout=time_left(until))

        outcomes = await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)
        return gather_results(outcomes, return_exceptions)

    async def model_spec(self, model_id: str) -> Any:
        """See ``SkyboxClient.model_spec``."""
        return await self._drive(self._core.model_spec(model_id))

    async def account(self, team_id: str | None = None, refresh: bool = False) -> Any:
        """See ``SkyboxClient.account``."""
        if refresh or self._core.account is None:
            await self._drive(self._core.read_account(team_id))
        return self._core.account

    async def reconcile(self) -> list[ReconcileOutcome]:
        """See ``SkyboxClient.reconcile``."""
        return await self._drive(self._core.reconcile())

    async def adopt(self, intent_id: str, job: Job | str) -> Job:
        """See ``SkyboxClient.adopt``."""
        return await self._drive(self._core.adopt(intent_id, job))

    async def resume(self, on_progress: ProgressFn | None = None) -> list[RunResult]:
        """See ``SkyboxClient.resume``."""
        recs = await self._drive(self._core.resumable())
        done = [await self._drive(self._core.resume_one(r, on_progress)) for r in recs]
        return [r for r in done if r is not None]

    async def aclose(self) -> None:
        """Close connections, the ledger and an emulator this client started. A paid
        POST being sent is waited for, so its job reaches the ledger; runs in flight
        stop at their next step with `ClientClosedError` (their jobs stay in the ledger:
        ``resume()`` later); work asked afterwards raises `ClientClosedError`. Closing
        twice does nothing more."""
        if not self._life.begin():
            return
        await self._life.asettle(self.call_timeout)
        try:
            await self._http.aclose()
            await self._cdn.aclose()
            self._disk.shutdown(wait=True)
            self._core.close()
        finally:
            self._life.finish()

    close = aclose

    async def __aenter__(self) -> "AsyncSkyboxClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
