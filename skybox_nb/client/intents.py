"""A request's life: record the intent, send the paid POST, follow the job to its files.

Invariant: the paid POST is sent only after its intent is committed to the ledger, and
the intent's row always says what we know of it (refused, unknown, running, done,
failed); an intent is driven by one caller of this client at a time (`Claims`), so a
concurrent ``run()`` or ``resume()`` of the same request never polls or downloads it
twice; every ledger read and write is a `Call` effect (off the event loop in the async
client), except the last record made while an operation is being closed.
"""

from __future__ import annotations

import functools
import logging
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from .. import sidecar
from ..contract import SKYBOX_FLUX_MODEL_ID
from ..errors import (
    DeadlineError,
    JobFailedError,
    JobLostError,
    NotFoundError,
    ModeratedError,
    RateLimitError,
    SkyboxError,
    is_moderation_text,
)
from ..files import slug
from ..ledger import IntentInFlight, IntentRecord, Ledger, LedgerStateError, new_intent_id
from ..models import Asset, Job, RunResult
from ..retry import PollSchedule, RetryPolicy
from .originals import fetch_or_warn
from .calls import PaidPost, SlotGate, post_paid
from .effects import Call, Clock, Op, Sleep

__all__ = ["Claims", "generate", "submit", "run", "resume_one", "follow", "wait",
           "ProgressFn"]

log = logging.getLogger("skybox_nb.client")
ProgressFn = Callable[[Job], Any]


class Core(Protocol):
    """What an intent needs of the client's core (`core.Core` is the one there is)."""

    ledger: Ledger
    retry: RetryPolicy
    poll: Callable[[], PollSchedule]
    clock: Clock
    gate: SlotGate
    claims: "Claims"
    backend: str
    where: Any

    def job(self, job: Job | str) -> Op[Job]: ...

    def download(self, asset: Asset | str, dest: Path) -> Op[tuple[Path, Asset]]: ...

    def download_original(self, asset: Asset, dest: Path) -> Op[tuple[Path | None, Asset]]: ...

    def asset(self, asset_id: Asset | str) -> Op[Asset]: ...


class Claims:
    """The intents a caller of this client is driving now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[str] = set()

    def claim(self, intent_id: str) -> bool:
        """Mark an intent as driven by one caller; False if it already is."""
        with self._lock:
            if intent_id in self._held:
                return False
            self._held.add(intent_id)
            return True

    def release(self, intent_id: str) -> None:
        """The caller driving ``intent_id`` has stopped."""
        with self._lock:
            self._held.discard(intent_id)

    def unclaimed(self, recs: list[IntentRecord]) -> list[IntentRecord]:
        """The records of ``recs`` nobody drives now."""
        with self._lock:
            return [r for r in recs if r.intent_id not in self._held]


def _settle_failed_post(ledger: Ledger, intent_id: str, e: BaseException,
                        refused: bool = False) -> None:
    """Record why the paid POST failed: refused (provably no job) or unknown.
    ``refused``: it was stopped while waiting to resend a refused POST."""
    if refused and not isinstance(e, SkyboxError):
        ledger.mark_refused(intent_id, f"stopped ({type(e).__name__}) while waiting to "
                            "send it again after Scenario refused it: nothing was started")
    elif isinstance(e, SkyboxError) and not e.ambiguous:
        ledger.mark_refused(intent_id, str(e))
    elif isinstance(e, SkyboxError):
        ledger.mark_unknown(intent_id, str(e))
    else:  # cancelled or interrupted mid-POST: we cannot know
        ledger.mark_unknown(intent_id, f"interrupted while sending ({type(e).__name__})")


def submit(core: Core, request: Any, claim: bool, exclusive: bool = False,
           until: float | None = None) -> Op[tuple[Job, str]]:
    """Record the intent, send the paid POST, record the job; returns (job, intent id).
    ``claim`` marks the intent as driven by this caller from the moment it exists, so
    no concurrent run() resumes it too; ``exclusive`` raises `IntentInFlight` while an
    identical intent is being sent or followed (see `Ledger.record_intent`); after
    ``until`` (the core clock's time) the POST is not sent again (`calls.post_paid`)."""
    body, model_id = request.to_body(), request.model_id
    intent_id = new_intent_id()
    record = functools.partial(core.ledger.record_intent, intent_id=intent_id,
                               exclusive=exclusive, backend=core.where.key)
    try:
        # An fsynced commit: off the event loop for the async client.
        yield Call(record, (model_id, body, request.fingerprint))
    except BaseException as e:
        if not isinstance(e, Exception):
            # Cancelled or interrupted while the row was being written (maybe still is,
            # on a worker thread): nothing was sent, so no row may stay behind to haunt
            # (or, once stale, block) an identical request.
            core.ledger.forget_unsent(intent_id)
        raise
    if claim:
        core.claims.claim(intent_id)
    post = PaidPost()
    try:
        job, cost = yield from post_paid(core.retry, core.gate, model_id, body, until,
                                         core.clock.monotonic, post)
    except Exception as e:
        try:
            yield Call(_settle_failed_post, (core.ledger, intent_id, e, post.waiting))
        except BaseException as inner:
            if not isinstance(inner, Exception):  # closed while recording: record now
                _record_now(_settle_failed_post, core.ledger, intent_id, e, post.waiting)
            raise
        finally:
            core.claims.release(intent_id)
        raise
    except BaseException as e:  # the operation is being closed: no more effects
        _settle_failed_post(core.ledger, intent_id, e, post.waiting)
        core.claims.release(intent_id)
        raise
    try:
        yield Call(core.ledger.attach_job, (intent_id, job, cost))
    except BaseException as e:
        core.claims.release(intent_id)
        if not isinstance(e, Exception):  # closed while recording: the job exists, and
            _record_now(core.ledger.attach_job, intent_id, job, cost)  # is billed
        raise
    return job, intent_id


def _record_now(write: Callable[..., None], *args: Any) -> None:
    """A ledger write made inline while an operation is being closed (no more effects
    can be yielded). The async client's worker thread may have made it already, as it
    goes on when its task is cancelled: the row has then moved on, which is no error
    (raised here, it would replace the task's CancelledError)."""
    try:
        write(*args)
    except LedgerStateError:
        pass


def generate(core: Core, request: Any) -> Op[Job]:
    """`submit` without a claim; returns the job."""
    job, _ = yield from submit(core, request, claim=False)
    return job


def note_job(ledger: Ledger, job: Job) -> None:
    """Store a job's news in its intent's row (blocking: run it as a `Call`)."""
    rec = ledger.by_job(job.id)
    if rec is not None and rec.status in ("running", "unknown"):
        ledger.update_job(rec.intent_id, job)


def wait(core: Core, job: Job | str, on_progress: ProgressFn | None,
         timeout: float | None) -> Op[Job]:
    """Poll until the job is final; calls ``on_progress`` on every change. Polls follow
    the core's `PollSchedule`, timed by the core's clock."""
    schedule = core.poll()
    start = core.clock.monotonic()
    current = job if isinstance(job, Job) else (yield from _poll(core, job, start, timeout))
    seen: tuple[str, float] | None = None
    while True:
        if (current.status, current.progress) != seen:
            seen = (current.status, current.progress)
            yield Call(note_job, (core.ledger, current))
            if on_progress is not None:
                on_progress(current)
        if current.done:
            core.gate.job_ended()
            return current
        delay = schedule.next_delay(core.clock.monotonic(), current.progress)
        if timeout is not None:
            left = start + timeout - core.clock.monotonic()
            if left <= 0:
                raise DeadlineError(
                    f"job {current.id} is still {current.status} after {timeout:g}s",
                    hint="it may still finish (and is billed when it does); it stays in "
                         "the ledger: call wait() again, or client.resume() (or "
                         "`skybox-nb ledger resume`) fetches its outputs later",
                    ambiguous=False)
            delay = min(delay, left)
        yield Sleep(delay)
        current = yield from _poll(core, current.id, start, timeout)


def _poll(core: Core, job_id: str, start: float, timeout: float | None) -> Op[Job]:
    """``GET /jobs/{id}``; a 429 is waited out as the service says (or a growing pause)
    for as long as it lasts: the job may still be running and it is paid for, so being
    told to slow down is never a reason to stop following it (only ``timeout`` is)."""
    pauses = 0
    while True:
        try:
            return (yield from core.job(job_id))
        except RateLimitError as e:
            pause = e.retry_after if e.retry_after is not None else min(30.0, 2.0 * 1.5 ** pauses)
            pauses += 1
            if timeout is not None:
                left = start + timeout - core.clock.monotonic()
                if left <= pause:
                    raise
            log.info("polling job %s was rate limited; waiting %.1fs as told", job_id, pause)
            yield Sleep(max(pause, 0.5))


# How often a request waits to see how its identical twin, in flight, ends.
TWIN_POLL = 0.2


def seeded(request: Any) -> bool:
    """True when the request names its seed: an identical one makes the same image."""
    body = request.to_body() if hasattr(request, "to_body") else request
    return isinstance(body, Mapping) and body.get("seed") is not None


def run(core: Core, request: Any, on_progress: ProgressFn | None,
         timeout: float | None = None) -> Op[RunResult]:
    """Resume an active identical intent, else generate; wait; download; record.
    With ``timeout``, a `DeadlineError` once that many seconds have passed (each call
    and download has its own deadline too): it names the job, which keeps running (and
    is billed); ``resume()`` fetches its outputs later.

    A request with a seed makes the same image as an identical one in flight (another
    thread, task or kernel, or a twin in one batch): it waits for that one and reuses
    its outputs instead of paying again. Without a seed each request is a new image."""
    until = None if timeout is None else core.clock.monotonic() + timeout
    twin: str | None = None
    while True:
        active = yield Call(followable, (core.ledger, core.where.key, request.fingerprint))
        rec = next((r for r in active if core.claims.claim(r.intent_id)), None)
        if rec is not None:
            log.info("resuming job %s of an identical request (no new POST)", rec.job_id)
            try:
                return (yield from follow(core, rec.intent_id, rec.job_id or "", request,
                                          on_progress, until))
            except JobLostError as e:  # marked lost: this request goes on its own
                log.warning("%s", e.message)
                continue
        if twin is not None:
            rec = yield Call(core.ledger.get, (twin,))
            if rec.status == "done":
                return (yield from _reuse(core, rec, request))
            if rec.status not in ("submitting", "running"):
                twin = None  # it ended without outputs: this request goes on its own
        if twin is None:
            try:
                job, intent_id = yield from submit(core, request, claim=True,
                                                   exclusive=seeded(request), until=until)
            except IntentInFlight as e:
                twin = e.intent_id
                log.info("an identical seeded request is in flight (intent %s): waiting "
                         "for it rather than paying twice", twin)
            else:
                return (yield from follow(core, intent_id, job, request, on_progress, until))
        _past(core, until, "an identical request is still in flight")
        yield Sleep(TWIN_POLL)


def _reuse(core: Core, rec: IntentRecord, request: Any) -> Op[RunResult]:
    """The result of an identical intent that ended with its outputs on disk (free
    reads of its job and assets; nothing is paid or downloaded again)."""
    job = yield from core.job(rec.job_id or "")
    assets = []
    for aid in job.asset_ids:
        assets.append((yield from core.asset(aid)))
    from ..hdr import original_of

    files = list(rec.files)
    return RunResult(job=job, request=request, files=files, assets=assets,
                     cu_cost=rec.cu_cost, intent_id=rec.intent_id,
                     originals=[original_of(p) for p in files])


def resumable(core: Core) -> Op[list[IntentRecord]]:
    """Active ledger intents no caller of this client is driving now, oldest first."""
    active = yield Call(followable, (core.ledger, core.where.key))
    return core.claims.unclaimed(active)


def followable(ledger: Ledger, key: str, fingerprint: str | None = None) -> list[IntentRecord]:
    """The active intents this client may follow, oldest first: all but those of
    another in-process emulator (its jobs live and die with the process that ran it).
    Such an intent whose process has ended is marked lost; one of a live process (another
    kernel's emulator) is left to it. A URL's intent is tried: a 404 marks it lost."""
    out = []
    for rec in ledger.active(fingerprint):
        if rec.backend == key or not (rec.backend or "").startswith("emulator"):
            out.append(rec)
        elif not rec.writer_alive:
            try:
                ledger.mark_lost(rec.intent_id, "the offline emulator that ran this job "
                                 "ended with its process, and its jobs with it")
            except LedgerStateError:
                pass
    return out


def resume_one(core: Core, rec: IntentRecord,
               on_progress: ProgressFn | None) -> Op[RunResult | None]:
    """Finish an active ledger intent: poll its job and fetch its outputs. Returns
    None when another caller of this client is already doing so."""
    if not core.claims.claim(rec.intent_id):
        return None
    try:
        return (yield from follow(core, rec.intent_id, rec.job_id or "", request_of(rec),
                                  on_progress))
    except JobLostError as e:  # marked lost: resume() carries on with the others
        log.warning("%s", e.message)
        return None


def request_of(rec: IntentRecord) -> Any:
    """The request an intent was made from: a `SkyboxRequest` when it reads as one,
    else its body as a dict."""
    if rec.model_id == SKYBOX_FLUX_MODEL_ID:
        from ..request import SkyboxRequest

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return SkyboxRequest.from_body(rec.request)
        except ValueError:
            pass
    return dict(rec.request)


def _prompt_of(body: Mapping[str, Any]) -> str:
    p = body.get("prompt")
    return p if isinstance(p, str) else "skybox"


def _past(core: Core, until: float | None, what: str) -> None:
    """Raise the overall deadline's `DeadlineError` when ``until`` has passed."""
    if until is not None and core.clock.monotonic() >= until:
        raise DeadlineError(
            f"{what}; the run's time limit has passed", ambiguous=False,
            hint="the job keeps running on the service and is billed when it finishes: "
                 "client.resume() (or `skybox-nb ledger resume`) fetches its outputs "
                 "without a new request")


def follow(core: Core, intent_id: str, job: Job | str, request: Any,
           on_progress: ProgressFn | None, until: float | None = None) -> Op[RunResult]:
    """Wait for a claimed intent's job, fetch its outputs, record; then release it.
    ``until`` (the core clock's time) ends the waiting and the downloads with a
    `DeadlineError`."""
    try:
        left = None if until is None else max(0.0, until - core.clock.monotonic())
        try:
            job = yield from wait(core, job, on_progress, left)
        except NotFoundError as e:
            jid = job.id if isinstance(job, Job) else job
            yield Call(core.ledger.mark_lost, (intent_id, str(e)))
            raise JobLostError(
                f"job {jid} is unknown to the {core.backend} (HTTP 404): marked lost in "
                f"the ledger (intent {intent_id})", job_id=jid, intent_id=intent_id,
                status=404, hint=f"its backend no longer knows it (an offline emulator's "
                f"jobs end with it; another API key cannot see it). Check, then "
                f"'skybox-nb ledger dismiss {intent_id}'") from None
        if not job.succeeded:
            text = f"job {job.id}: " + (job.error or f"the job ended in {job.status}")
            if is_moderation_text(job.error) or is_moderation_text(job.hint):
                raise ModeratedError(text, hint=job.hint)
            raise JobFailedError(text, job_id=job.id, hint=job.hint)
        body = request.to_body() if hasattr(request, "to_body") else dict(request)
        files, assets, originals = [], [], []
        stem = slug(_prompt_of(body))
        rec = yield Call(core.ledger.get, (intent_id,))
        for i, aid in enumerate(job.asset_ids):
            _past(core, until, f"job {job.id} succeeded but only {i} of its "
                               f"{len(job.asset_ids)} outputs were downloaded")
            dest = core.ledger.library / f"{job.id}-{i}-{stem}.png"
            path, asset = yield from core.download(aid, dest)
            # an HDRi's .exr/.hdr at originalFileUrl (its url was only a JPEG preview);
            # one that cannot be fetched is warned about, never fails the paid run
            original, asset = yield from fetch_or_warn(core, job, asset, path)
            yield from _sidecar(core, path, rec, body, job, asset, i, original)
            files.append(path)
            assets.append(asset)
            originals.append(original)
        yield Call(core.ledger.mark_done, (intent_id, files))
        return RunResult(job=job, request=request, files=files, assets=assets,
                         cu_cost=job.cu_cost, intent_id=intent_id, originals=originals)
    except SkyboxError as e:
        yield Call(core.ledger.set_error, (intent_id, str(e)))
        raise
    finally:
        core.claims.release(intent_id)


def _sidecar(core: Core, path: Path, rec: IntentRecord, body: Mapping[str, Any], job: Job,
             asset: Asset, index: int, original: Path | None = None) -> Op[None]:
    data = sidecar.generation(path, body=body, model_id=rec.model_id, intent_id=rec.intent_id,
                              intent_created=rec.created_at, job=job, asset=asset, index=index,
                              saved=core.clock.wall(), backend=core.backend,
                              original=original)
    yield Call(sidecar.write, (path, data))
