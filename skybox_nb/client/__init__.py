"""The Scenario client: `SkyboxClient` (blocking) and `AsyncSkyboxClient` over one core.

Invariant: every decision lives in `_Core`, whose operations are generators that *yield*
I/O effects (`Send` an API call, `Fetch` a CDN download into a file, `Call` blocking
local work, `Sleep`) and get the outcome sent back; the two client classes only perform
those effects, one with ``httpx.Client`` and ``time``, the other with
``httpx.AsyncClient`` and ``asyncio``. So both behave identically by construction. The
paid generate POST is sent only after its intent is committed to the ledger, and resent
only when it provably never reached Scenario. The ``Authorization`` header is set only
on the API client, never on the download client (asset URLs are presigned CDN links on
another host).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

import httpx

from ..config import resolve_settings
from ..ledger import DEFAULT_LIBRARY, Ledger
from ..models import Asset, Job, RunResult
from ..retry import PollSchedule, RetryPolicy
from .core import Core
from .effects import Call, Fetch, Fetched, Op, Send, Sleep, advance
from .reconcile import ReconcileOutcome
from .transfer import UPLOAD_MAX_BYTES, UPLOAD_MAX_SIDE

__all__ = ["SkyboxClient", "AsyncSkyboxClient", "RunResult", "Job", "Asset",
           "ReconcileOutcome", "UPLOAD_MAX_SIDE", "UPLOAD_MAX_BYTES"]

log = logging.getLogger("skybox_nb.client")
T = TypeVar("T")
ProgressFn = Callable[[Job], Any]

# -- the blocking client ----------------------------------------------------------------

def _from_core(name: str, doc: str) -> Any:
    """A read-only property of the clients that reads the same attribute of their core."""
    return property(lambda self: getattr(self._core, name), doc=doc)


class _Base:
    """Construction and the plain properties both clients share."""

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        base_url: str | None = None,
        library: str | Path = DEFAULT_LIBRARY,
        timeout: float = 30.0,
        emulator: Any = None,
        retry: RetryPolicy | None = None,
        poll: Callable[[], PollSchedule] | None = None,
        transport: Any = None,
    ) -> None:
        """``retry`` and ``poll`` tune the backoff and the polling; ``transport`` (an
        httpx transport, e.g. ``MockTransport``) replaces the network, for tests."""
        # With an emulator given, the environment's (real) credentials are not sent to it.
        settings = resolve_settings(api_key, api_secret, base_url,
                                    environ={} if emulator is not None else None)
        self._transport = transport
        self._core = Core(settings, library, emulator, retry, poll)
        self._timeout = httpx.Timeout(timeout, connect=min(10.0, timeout))
        self._limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)

    def _http_settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Settings of the two httpx clients: the API one carries the credentials; the
        download one never does (asset URLs are presigned links on a CDN host)."""
        common = {"timeout": self._timeout, "limits": self._limits,
                  "transport": self._transport}
        return ({**common, "base_url": self._core.base_url,
                 "headers": self._core.auth_headers()},
                {**common, "follow_redirects": True})

    is_emulator: bool = _from_core("is_emulator", "True when talking to the offline "
                                   "emulator (procedural images).")
    backend: str = _from_core("backend", "One line saying where requests go, for people "
                              "and badges.")
    base_url: str = _from_core("base_url", "The API base URL (``.../v1``).")
    ledger: Ledger = _from_core("ledger", "The durable record of every generation.")
    emulator: Any = _from_core("emulator", "The emulator in use, or None against the "
                               "real API.")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(backend={self.backend!r}, "
                f"library={str(self.ledger.library)!r})")


class SkyboxClient(_Base):
    """Blocking client. Use ``submit()`` (a Future) to keep a notebook kernel free.

    Credentials come from the arguments or ``SCENARIO_SDK_API_KEY`` /
    ``SCENARIO_SDK_API_SECRET`` (``SCENARIO_BASE_URL`` overrides the URL); without any,
    an in-process offline emulator starts. Files and the ledger go to ``library``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        api, cdn = self._http_settings()
        self._http, self._cdn = httpx.Client(**api), httpx.Client(**cdn)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # The driver: perform each effect the core yields, send back the outcome.
    def _drive(self, op: Op[T], cancel: threading.Event | None = None) -> T:
        outcome: tuple[Any, Exception | None] = (None, None)
        while True:
            finished, item = advance(op, outcome)
            if finished:
                return item
            try:
                outcome = (self._perform(item, cancel), None)
            except Exception as e:  # the core decides what a failure means
                outcome = (None, e)
            except BaseException:
                op.close()
                raise

    def _perform(self, effect: Any, cancel: threading.Event | None) -> Any:
        if isinstance(effect, Send):
            return self._http.request(effect.method, effect.path, json=effect.json,
                                      params=effect.params)
        if isinstance(effect, Fetch):
            with self._cdn.stream("GET", effect.url) as r:
                if r.status_code >= 300:
                    return Fetched(r.status_code, r.headers, 0, r.read())
                n = 0
                with open(effect.into, "wb") as f:
                    for chunk in r.iter_bytes(1 << 16):
                        f.write(chunk)
                        n += len(chunk)
                return Fetched(r.status_code, r.headers, n)
        if isinstance(effect, Call):
            return effect.fn(*effect.args)
        if isinstance(effect, Sleep):
            end = time.monotonic() + effect.seconds
            while True:
                left = end - time.monotonic()
                if cancel is not None and cancel.is_set():
                    raise concurrent.futures.CancelledError("wait cancelled")
                if left <= 0 or (effect.wake is not None and effect.wake()):
                    return None
                step = left if effect.wake is None else min(left, 0.05)
                if cancel is not None:
                    cancel.wait(min(step, 0.1))
                else:
                    time.sleep(step)
        raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover

    # -- public API -----------------------------------------------------------------

    def generate(self, request: Any) -> Job:
        """Start a job (the paid call; its intent is in the ledger first). Returns the job.
        Raises ``DuplicateIntentError`` while an identical request is unresolved."""
        return self._drive(self._core.generate(request))

    def estimate(self, request: Any) -> float:
        """The request's cost in Creative Units (a dry run; nothing is started)."""
        return self._drive(self._core.estimate(request))

    def job(self, job_id: Job | str) -> Job:
        """The job as Scenario reports it now."""
        return self._drive(self._core.job(job_id))

    def wait(self, job: Job | str, on_progress: ProgressFn | None = None,
             timeout: float | None = None, cancel: threading.Event | None = None) -> Job:
        """Poll until the job ends and return it.

        Polls are adaptive: 0.5 s, then slower up to 2.5 s, aimed at the end the progress
        rate predicts. ``on_progress(job)`` is called on every status/progress change.
        Raises ``TimeoutError`` after ``timeout`` seconds and
        ``concurrent.futures.CancelledError`` once ``cancel`` is set; the job itself keeps
        running and stays in the ledger."""
        return self._drive(self._core.wait(job, on_progress, timeout), cancel)

    def cancel(self, job: Job | str) -> Job:
        """Ask Scenario to cancel the job; returns it as the server answered."""
        return self._drive(self._core.cancel(job))

    def asset(self, asset_id: str) -> Asset:
        """The asset, with a fresh temporary URL."""
        return self._drive(self._core.asset(asset_id))

    def download(self, asset: Asset | str, dest_dir: str | Path = ".",
                 name: str | None = None) -> Path:
        """Save an asset into ``dest_dir`` (as ``name`` or its id, extension from the
        image); atomic and verified. Returns the path."""
        dest = self._core.download_dest(asset, dest_dir, name)
        return self._drive(self._core.download(asset, dest))[0]

    def upload(self, image: Any) -> str:
        """Upload a path, bytes, PIL image or array (checked first); returns the asset id,
        ready for ``SkyboxRequest(image=...)``."""
        return self._drive(self._core.upload(image))

    def run(self, request: Any, on_progress: ProgressFn | None = None,
            cancel: threading.Event | None = None) -> RunResult:
        """Generate (or resume an identical active job), wait, download every output.
        Returns the files, ready for ``Panorama.load``. A failed job raises
        ``JobFailedError`` (``ModeratedError`` for moderation)."""
        return self._drive(self._core.run(request, on_progress), cancel)

    def submit(self, request: Any,
               on_progress: ProgressFn | None = None) -> "concurrent.futures.Future[RunResult]":
        """``run()`` in a background thread; returns a Future (the kernel stays free)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="skybox")
            return self._pool.submit(self.run, request, on_progress)

    def run_many(self, requests: Iterable[Any], max_in_flight: int = 4,
                 on_progress: ProgressFn | None = None,
                 return_exceptions: bool = False) -> list[RunResult]:
        """Run several requests with at most ``max_in_flight`` at once; results in order.
        Every run is seen to its end before the first error (if any) is raised, unless
        ``return_exceptions`` puts errors in the list instead."""
        reqs = list(requests)
        _check_in_flight(max_in_flight)
        with concurrent.futures.ThreadPoolExecutor(min(max_in_flight, max(1, len(reqs))),
                                                   thread_name_prefix="skybox-batch") as ex:
            futs = [ex.submit(self.run, r, on_progress) for r in reqs]
            concurrent.futures.wait(futs)
        return _gather_results([f.exception() or f.result() for f in futs], return_exceptions)

    def reconcile(self) -> list[ReconcileOutcome]:
        """Match "unknown" intents to jobs in ``GET /jobs``; adopt exact single matches."""
        return self._drive(self._core.reconcile())

    def adopt(self, intent_id: str, job: Job | str) -> Job:
        """Settle an "unknown" intent by hand: it did start ``job`` (then ``resume()``)."""
        return self._drive(self._core.adopt(intent_id, job))

    def resume(self, on_progress: ProgressFn | None = None) -> list[RunResult]:
        """Finish every active job in the ledger (no new POST): poll, download, record."""
        recs = self._drive(self._core.resumable())
        done = [self._drive(self._core.resume_one(r, on_progress)) for r in recs]
        return [r for r in done if r is not None]

    def close(self) -> None:
        """Close connections, the ledger and an emulator this client started."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()
        self._cdn.close()
        self._core.close()

    def __enter__(self) -> "SkyboxClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _check_in_flight(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"max_in_flight: got {n!r}; expected an integer >= 1")


def _gather_results(outcomes: Sequence[Any], return_exceptions: bool) -> list[Any]:
    if not return_exceptions:
        for o in outcomes:
            if isinstance(o, BaseException):
                raise o
    return list(outcomes)


# -- the async client -------------------------------------------------------------------

class AsyncSkyboxClient(_Base):
    """The same client for ``asyncio``: every method is a coroutine. Cancelling the task
    stops waiting (the job keeps running and stays in the ledger)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        api, cdn = self._http_settings()
        self._http, self._cdn = httpx.AsyncClient(**api), httpx.AsyncClient(**cdn)
        # Disk work of many concurrent runs (decode, fsync): asyncio's default pool has
        # only cpu+4 threads, which made a 16-job batch queue its downloads behind it.
        self._disk = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="skybox-disk")

    async def _drive(self, op: Op[T]) -> T:
        outcome: tuple[Any, Exception | None] = (None, None)
        while True:
            finished, item = advance(op, outcome)
            if finished:
                return item
            try:
                outcome = (await self._perform(item), None)
            except Exception as e:  # the core decides what a failure means
                outcome = (None, e)
            except BaseException:  # cancelled: let the core clean up, then stop
                op.close()
                raise

    async def _perform(self, effect: Any) -> Any:
        if isinstance(effect, Send):
            return await self._http.request(effect.method, effect.path, json=effect.json,
                                            params=effect.params)
        if isinstance(effect, Fetch):
            async with self._cdn.stream("GET", effect.url) as r:
                if r.status_code >= 300:
                    return Fetched(r.status_code, r.headers, 0, await r.aread())
                n = 0
                with open(effect.into, "wb") as f:
                    async for chunk in r.aiter_bytes(1 << 16):
                        f.write(chunk)
                        n += len(chunk)
                return Fetched(r.status_code, r.headers, n)
        if isinstance(effect, Call):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._disk, lambda: effect.fn(*effect.args))
        if isinstance(effect, Sleep):
            if effect.wake is None:
                await asyncio.sleep(effect.seconds)
                return None
            end = time.monotonic() + effect.seconds
            while time.monotonic() < end and not effect.wake():
                await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))
            return None
        raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover

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

    async def upload(self, image: Any) -> str:
        """See ``SkyboxClient.upload``."""
        return await self._drive(self._core.upload(image))

    async def run(self, request: Any, on_progress: ProgressFn | None = None) -> RunResult:
        """See ``SkyboxClient.run``."""
        return await self._drive(self._core.run(request, on_progress))

    async def run_many(self, requests: Iterable[Any], max_in_flight: int = 4,
                       on_progress: ProgressFn | None = None,
                       return_exceptions: bool = False) -> list[RunResult]:
        """See ``SkyboxClient.run_many``."""
        _check_in_flight(max_in_flight)
        gate = asyncio.Semaphore(max_in_flight)

        async def one(r: Any) -> RunResult:
            async with gate:
                return await self.run(r, on_progress)

        outcomes = await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)
        return _gather_results(outcomes, return_exceptions)

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
        """Close connections, the ledger and an emulator this client started."""
        await self._http.aclose()
        await self._cdn.aclose()
        self._disk.shutdown(wait=True)
        self._core.close()

    close = aclose

    async def __aenter__(self) -> "AsyncSkyboxClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
