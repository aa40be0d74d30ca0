"""`SkyboxClient`: the blocking client, which performs the core's effects with
``httpx.Client``, threads and ``time``.

Invariant: it decides nothing: each public method drives one core operation, performing
every effect it yields and sending back the outcome (or throwing in the failure); a
cancelled wait stops at the next sleep, and an interrupted operation is closed so the
core can record what it knows.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from pathlib import Path
from typing import Any, Iterable, TypeVar

import httpx

from ..account import Account
from ..contract import ModelSpec
from ..models import Asset, Job, RunResult
from . import wire
from .base import ClientBase, batch_deadline, check_in_flight, gather_results, time_left
from .effects import Call, Fetch, Fetched, Op, Put, Send, Sleep, advance
from .handle import Run
from .intents import ProgressFn
from .reads import within_limit
from .reconcile import ReconcileOutcome

__all__ = ["SkyboxClient"]

T = TypeVar("T")


class SkyboxClient(ClientBase):
    """Blocking client. Use ``submit()`` (a Future) to keep a notebook kernel free.

    Credentials come from the arguments or ``SCENARIO_SDK_API_KEY`` /
    ``SCENARIO_SDK_API_SECRET`` (``SCENARIO_BASE_URL`` overrides the URL); without any,
    an in-process offline emulator starts. Files and the ledger go to ``library``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            api, cdn = self._http_settings(wire.sync_transport)
            self._http, self._cdn = httpx.Client(**api), httpx.Client(**cdn)
        except BaseException:  # a failed client leaves no emulator or ledger open
            self._core.close()
            raise
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # The driver: perform each effect the core yields, send back the outcome. Once the
    # client is closing, effects that would start I/O are refused (see `closing`).
    def _drive(self, op: Op[T], cancel: threading.Event | None = None) -> T:
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
                refused, paying = life.step(item, paying)
                if refused is not None:
                    outcome = (None, refused)
                    continue
                try:
                    outcome = (self._perform(item, cancel), None)
                except Exception as e:  # the core decides what a failure means
                    outcome = (None, e)
                except BaseException:
                    op.close()
                    raise
        except Exception as e:
            mapped = life.after_close(e)
            if mapped is e:
                raise
            raise mapped from e
        finally:
            life.leave(paying)

    def _perform(self, effect: Any, cancel: threading.Event | None) -> Any:
        if isinstance(effect, Send):
            with wire.within(self.call_timeout):
                return self._http.request(effect.method, effect.path, json=effect.json,
                                          params=effect.params)
        if isinstance(effect, Fetch):
            with wire.within(self.download_timeout), self._cdn.stream("GET", effect.url) as r:
                if r.status_code >= 300:
                    return Fetched(r.status_code, r.headers, 0, r.read())
                n = 0
                with open(effect.into, "wb") as f:
                    for chunk in r.iter_bytes(1 << 16):
                        f.write(chunk)
                        n += len(chunk)
                return Fetched(r.status_code, r.headers, n)
        if isinstance(effect, Put):  # the download client: no credentials on it
            with wire.within(self.download_timeout):
                r = self._cdn.put(effect.url, content=effect.content,
                                  headers=dict(effect.headers or {}))
            return Fetched(r.status_code, r.headers, len(effect.content), r.content)
        if isinstance(effect, Call):
            return effect.fn(*effect.args)
        if isinstance(effect, Sleep):
            end = time.monotonic() + effect.seconds
            while True:
                left = end - time.monotonic()
                if cancel is not None and cancel.is_set():
                    raise concurrent.futures.CancelledError("wait cancelled")
                closed = self._life.refusal()  # a close wakes every sleeper at once
                if closed is not None:
                    raise closed
                if left <= 0 or (effect.wake is not None and effect.wake()):
                    return None
                step = left if effect.wake is None else min(left, 0.05)
                if cancel is not None:
                    cancel.wait(min(step, 0.1))
                else:
                    self._life.woken.wait(step)
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
        Raises ``DeadlineError`` after ``timeout`` seconds and
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

    def download_originals(self, job: RunResult | Job | str) -> list[Path | None]:
        """Fetch the original HDR files (``.exr``/``.hdr``) of a finished HDRi job's
        outputs beside its saved panoramas, and name them in their sidecars: what a run
        warned it could not fetch (`OriginalMissingWarning`). ``job`` is the run's
        result, its job or the job id. Free reads only; returns, per output, the file
        or None when the asset has no original."""
        return self._drive(self._core.download_originals(job))

    def upload(self, image: Any) -> str:
        """Upload a path, bytes, PIL image or array (checked first); returns the asset id,
        ready for ``SkyboxRequest(image=...)``."""
        return self._drive(self._core.upload(image))

    def run(self, request: Any, on_progress: ProgressFn | None = None,
            cancel: threading.Event | None = None, timeout: float | None = None) -> RunResult:
        """Generate (or resume an identical active job), wait, download every output.
        Returns the files, ready for ``Panorama.load``. A failed job raises
        ``JobFailedError`` (``ModeratedError`` for moderation); past ``timeout`` seconds,
        a ``DeadlineError`` naming the job, which keeps running (``resume()`` later)."""
        return self._drive(self._core.run(request, on_progress, timeout), cancel)

    def refine(self, panorama: Any, strength: float = 0.3, **kw: Any) -> Any:
        """Repair with the model: ``refine.refine(self, panorama, strength, **kw)`` (the
        panorama rolled half a turn as the init image at a low strength, quoted first;
        ``dry_run=True`` only quotes). Returns a ``refine.Refinement``."""
        from ..refine import refine

        return refine(self, panorama, strength, **kw)

    def submit(self, request: Any, on_progress: ProgressFn | None = None) -> Run:
        """``run()`` in a background thread (the kernel stays free). Returns its `Run`:
        a Future of the `RunResult` that also reports the job, its status and progress,
        and whose ``cancel()`` cancels the job, even before its id is known."""
        closed = self._life.refusal()
        if closed is not None:
            raise closed
        handle = Run(self, request, on_progress)
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="skybox")
            task = self._pool.submit(handle.run_to_end)
        # A task the closing pool drops never starts: its run ends cancelled, not pending.
        task.add_done_callback(lambda t: t.cancelled() and concurrent.futures.Future.cancel(handle))
        return handle

    def model_spec(self, model_id: str) -> ModelSpec:
        """The inputs ``model_id`` accepts, read from ``GET /models/{id}`` (once per
        client), ready for ``ModelRequest(spec, {...})`` and ``ModelForm``."""
        return self._drive(self._core.model_spec(model_id))

    def account(self, team_id: str | None = None, refresh: bool = False) -> Account | None:
        """The team's creative units left and parallel-jobs limit (``GET /teams/{id}/
        limits``; the team from ``GET /teams`` when not given), or None when the key may
        not read them. Kept once read (``refresh=True`` reads again); ``run_many``
        then stays within the parallel-jobs limit."""
        if refresh or self._core.account is None:
            self._drive(self._core.read_account(team_id))
        return self._core.account

    def upscale(self, source: Any, factor: int = 2, strength: float | None = None,
                **kwargs: Any) -> Any:
        """Upscale a result, panorama, file or asset id with the skybox upscaler: upload
        if needed, quote (a dry run) first, run, download, re-check the seam. See
        `skybox_nb.upscale.upscale` for the options; returns an ``Upscale``."""
        from ..upscale import FAITHFUL_STRENGTH, upscale

        return upscale(self, source, factor,
                       FAITHFUL_STRENGTH if strength is None else strength, **kwargs)

    def run_many(self, requests: Iterable[Any], max_in_flight: int = 4,
                 on_progress: ProgressFn | None = None,
                 return_exceptions: bool = False,
                 timeout: float | None = None) -> list[RunResult]:
        """Run several requests with at most ``max_in_flight`` at once (fewer when the
        account's parallel-jobs limit is known, see ``account``); results in order.
        Every run is seen to its end before the first error (if any) is raised, unless
        ``return_exceptions`` puts errors in the list instead. ``timeout`` bounds the
        whole batch: runs still waiting then raise ``DeadlineError`` (their jobs keep
        running; ``resume()`` fetches them) and requests not yet sent are not sent.
        Interrupted (Ctrl-C), it raises at once: requests not yet sent are never sent,
        and runs in flight stop waiting at their next pause (``resume()`` later)."""
        reqs = list(requests)
        check_in_flight(max_in_flight)
        max_in_flight = within_limit(max_in_flight, self._core.account)
        until = batch_deadline(timeout)
        stop = threading.Event()

        def one(r: Any) -> RunResult:
            return self.run(r, on_progress, stop, timeout=time_left(until))

        ex = concurrent.futures.ThreadPoolExecutor(min(max_in_flight, max(1, len(reqs))),
                                                   thread_name_prefix="skybox-batch")
        try:
            futs = [ex.submit(one, r) for r in reqs]
            concurrent.futures.wait(futs)
        except BaseException:
            stop.set()
            ex.shutdown(wait=False, cancel_futures=True)
            raise
        ex.shutdown(wait=True)
        return gather_results([f.exception() or f.result() for f in futs], return_exceptions)

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
        """Close connections, the ledger and an emulator this client started. Runs not
        started yet are cancelled (never sent); a paid POST being sent is waited for, so
        its job reaches the ledger; runs in flight stop at their next step with
        `ClientClosedError` (their jobs stay in the ledger: ``resume()`` later). Work
        asked afterwards raises `ClientClosedError`. Closing twice does nothing more."""
        if not self._life.begin():
            return
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
        self._life.settle(self.call_timeout)
        try:
            self._http.close()
            self._cdn.close()
            self._core.close()
        finally:
            self._life.finish()

    def __enter__(self) -> "SkyboxClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
