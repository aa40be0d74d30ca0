"""A request's life: record the intent, send the paid POST, follow the job to its files.

Invariant: the paid POST is sent only after its intent is committed to the ledger, and
the intent's row always says what we know of it (refused, unknown, running, done,
failed); an intent is driven by one caller of this client at a time (`Claims`), so a
concurrent ``run()`` or ``resume()`` of the same request never polls or downloads it
twice; every ledger read and write is a `Call` effect (off the event loop in the async
client), except the last record made while an operation is being closed.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from .. import sidecar
from ..contract import SKYBOX_FLUX_MODEL_ID
from ..errors import DeadlineError, JobFailedError, ModeratedError, SkyboxError, is_moderation_text
from ..files import slug
from ..ledger import IntentRecord, Ledger
from ..models import Asset, Job, RunResult
from ..retry import PollSchedule, RetryPolicy
from .calls import SlotGate, post_paid
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

    def job(self, job: Job | str) -> Op[Job]: ...

    def download(self, asset: Asset | str, dest: Path) -> Op[tuple[Path, Asset]]: ...


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


def _settle_failed_post(ledger: Ledger, intent_id: str, e: BaseException) -> None:
    """Record why the paid POST failed: refused (provably no job) or unknown."""
    if isinstance(e, SkyboxError) and not e.ambiguous:
        ledger.mark_refused(intent_id, str(e))
    elif isinstance(e, SkyboxError):
        ledger.mark_unknown(intent_id, str(e))
    else:  # cancelled or interrupted mid-POST: we cannot know
        ledger.mark_unknown(intent_id, f"interrupted while sending ({type(e).__name__})")


def submit(core: Core, request: Any, claim: bool) -> Op[tuple[Job, str]]:
    """Record the intent, send the paid POST, record the job; returns (job, intent id).
    ``claim`` marks the intent as driven by this caller from the moment it exists, so
    no concurrent run() resumes it too."""
    body, model_id = request.to_body(), request.model_id
    # An fsynced commit: off the event loop for the async client.
    intent_id = yield Call(core.ledger.record_intent, (model_id, body, request.fingerprint))
    if claim:
        core.claims.claim(intent_id)
    try:
        job, cost = yield from post_paid(core.retry, core.gate, model_id, body)
    except Exception as e:
        try:
            yield Call(_settle_failed_post, (core.ledger, intent_id, e))
        except BaseException as inner:
            if not isinstance(inner, Exception):  # closed while recording: record now
                _settle_failed_post(core.ledger, intent_id, e)
            raise
        finally:
            core.claims.release(intent_id)
        raise
    except BaseException as e:  # the operation is being closed: no more effects
        _settle_failed_post(core.ledger, intent_id, e)
        core.claims.release(intent_id)
        raise
    yield Call(core.ledger.attach_job, (intent_id, job, cost))
    return job, intent_id


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
    current = job if isinstance(job, Job) else (yield from core.job(job))
    schedule = core.poll()
    start = core.clock.monotonic()
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
                    hint="it keeps running and stays in the ledger: call wait() again "
                         "or client.resume() later", ambiguous=False)
            delay = min(delay, left)
        yield Sleep(delay)
        current = yield from core.job(current.id)


def run(core: Core, request: Any, on_progress: ProgressFn | None) -> Op[RunResult]:
    """Resume an active identical intent, else generate; wait; download; record."""
    active = yield Call(core.ledger.active, (request.fingerprint,))
    rec = next((r for r in active if core.claims.claim(r.intent_id)), None)
    if rec is not None:
        log.info("resuming job %s of an identical request (no new POST)", rec.job_id)
        job: Job | str = rec.job_id or ""
        intent_id = rec.intent_id
    else:
        job, intent_id = yield from submit(core, request, claim=True)
    return (yield from follow(core, intent_id, job, request, on_progress))


def resumable(core: Core) -> Op[list[IntentRecord]]:
    """Active ledger intents no caller of this client is driving now, oldest first."""
    active = yield Call(core.ledger.active)
    return core.claims.unclaimed(active)


def resume_one(core: Core, rec: IntentRecord,
               on_progress: ProgressFn | None) -> Op[RunResult | None]:
    """Finish an active ledger intent: poll its job and fetch its outputs. Returns
    None when another caller of this client is already doing so."""
    if not core.claims.claim(rec.intent_id):
        return None
    return (yield from follow(core, rec.intent_id, rec.job_id or "", request_of(rec),
                              on_progress))


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


def follow(core: Core, intent_id: str, job: Job | str, request: Any,
           on_progress: ProgressFn | None) -> Op[RunResult]:
    """Wait for a claimed intent's job, fetch its outputs, record; then release it."""
    try:
        job = yield from wait(core, job, on_progress, None)
        if not job.succeeded:
            text = f"job {job.id}: " + (job.error or f"the job ended in {job.status}")
            if is_moderation_text(job.error) or is_moderation_text(job.hint):
                raise ModeratedError(text, hint=job.hint)
            raise JobFailedError(text, job_id=job.id, hint=job.hint)
        body = request.to_body() if hasattr(request, "to_body") else dict(request)
        files, assets = [], []
        stem = slug(_prompt_of(body))
        rec = yield Call(core.ledger.get, (intent_id,))
        for i, aid in enumerate(job.asset_ids):
            dest = core.ledger.library / f"{job.id}-{i}-{stem}.png"
            path, asset = yield from core.download(aid, dest)
            yield from _sidecar(core, path, rec, body, job, asset, i)
            files.append(path)
            assets.append(asset)
        yield Call(core.ledger.mark_done, (intent_id, files))
        return RunResult(job=job, request=request, files=files, assets=assets,
                         cu_cost=job.cu_cost, intent_id=intent_id)
    except SkyboxError as e:
        yield Call(core.ledger.set_error, (intent_id, str(e)))
        raise
    finally:
        core.claims.release(intent_id)


def _sidecar(core: Core, path: Path, rec: IntentRecord, body: Mapping[str, Any], job: Job,
             asset: Asset, index: int) -> Op[None]:
    data = sidecar.generation(path, body=body, model_id=rec.model_id, intent_id=rec.intent_id,
                              intent_created=rec.created_at, job=job, asset=asset, index=index,
                              saved=core.clock.wall(), backend=core.backend)
    yield Call(sidecar.write, (path, data))
