"""The client's core: its state, and every public operation as a generator of effects.

Invariant: everything but I/O is decided here (which call, how an answer reads, when to
retry, what the ledger records), so the blocking and the asyncio clients, which only
perform the effects, behave identically by construction. One core per client, shared
by all of that client's threads or tasks; what they share (the slot gate, the claimed
intents) is behind locks. The core reads the time only from the `Clock` it was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..config import Settings
from ..errors import CancelRefusedError, ForbiddenError, InvalidError
from ..files import remove_stale_temps, safe_id
from ..ledger import IntentRecord, Ledger
from ..models import Asset, Job, RunResult, parse_estimate, parse_job
from ..retry import PollSchedule, RetryPolicy
from . import intents, originals, reads, reconcile, transfer
from .backend import Backend, report_leftovers
from .calls import SlotGate, call
from .effects import SYSTEM_CLOCK, Call, Clock, Op
from .intents import Claims, ProgressFn

__all__ = ["Core"]


def _job_id(job: Job | str) -> str:
    return safe_id(job.id if isinstance(job, Job) else job, "job")


class Core:
    """Builds calls, interprets answers, retries, keeps the ledger; performs nothing."""

    def __init__(
        self,
        settings: Settings,
        library: str | Path,
        emulator: Any = None,
        retry: RetryPolicy | None = None,
        poll: Callable[[], PollSchedule] | None = None,
        clock: Clock | None = None,
        owns_emulator: bool = False,
    ) -> None:
        self.where = Backend(settings, emulator, owns_emulator)
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollSchedule
        self.clock = clock or SYSTEM_CLOCK
        self.gate = SlotGate()
        self.claims = Claims()
        self.specs: dict[str, Any] = {}  # GET /models/{id}, read once per client
        self.account: Any = None  # what the account allows, once read (None: unknown)
        ledger = None
        try:  # a core that fails to start leaves no emulator or ledger open
            ledger = self.ledger = Ledger(library)
            remove_stale_temps(ledger.library)  # a killed process's half downloads
            self.where.announce()
            report_leftovers(ledger)
        except BaseException:
            if ledger is not None:
                ledger.close()
            self.where.close()
            raise

    # Where requests go (read by the clients' properties).
    @property
    def backend(self) -> str:
        return self.where.label

    @property
    def base_url(self) -> str:
        return self.where.base_url

    @property
    def is_emulator(self) -> bool:
        return self.where.is_emulator

    @property
    def emulator(self) -> Any:
        return self.where.emulator

    def auth_headers(self) -> dict[str, str]:
        """The API client's default headers (see `Backend.auth_headers`)."""
        return self.where.auth_headers()

    def close(self) -> None:
        """Close the ledger and stop an emulator this core started (its jobs end with it:
        their rows are marked lost, so a later identical request is sent anew)."""
        try:
            if self.where.owns_emulator and self.where.emulator is not None:
                self.ledger.lose_backend(self.where.key, "the offline emulator that ran "
                                         "this job was stopped, and its jobs with it")
        finally:
            self.ledger.close()
            self.where.close()

    # -- single calls ------------------------------------------------------------------

    def estimate(self, request: Any) -> Op[float]:
        """A dry run (HTTP 269): the CU cost, nothing started or billed."""
        data = yield from call(self.retry, "POST", f"/generate/custom/{request.model_id}",
                               "estimate", json=request.to_body(), params={"dryRun": "true"})
        return parse_estimate(data)

    def model_spec(self, model_id: str) -> Op[Any]:
        """``GET /models/{id}``: the model's inputs as a `ModelSpec` (kept per id)."""
        return reads.model_spec(self.retry, self.specs, model_id)

    def read_account(self, team_id: str | None = None) -> Op[Any]:
        """The team's limits (``GET /teams/{id}/limits``), kept; None when not readable."""
        self.account = yield from reads.account(self.retry, team_id)
        return self.account

    def job(self, job: Job | str) -> Op[Job]:
        """``GET /jobs/{id}``."""
        data = yield from call(self.retry, "GET", f"/jobs/{_job_id(job)}", "job")
        return parse_job(data)

    def cancel(self, job: Job | str) -> Op[Job]:
        """``POST /jobs/{id}/action {"action": "cancel"}``; records the outcome. A refusal
        (the service refuses it for custom-model generations) raises `CancelRefusedError`:
        the job keeps running and is billed, and its ledger row keeps following it."""
        jid = _job_id(job)
        try:
            data = yield from call(self.retry, "POST", f"/jobs/{jid}/action", "cancel",
                                   json={"action": "cancel"})
        except (InvalidError, ForbiddenError) as e:
            raise CancelRefusedError(
                f"job {jid}: the service refused to cancel it ({e.message})", job_id=jid,
                status=e.status, details=e.details,
                hint="the job keeps running and will be billed; its outputs are still "
                     "downloaded when it ends (client.resume(), or 'skybox-nb ledger "
                     "resume')") from None
        new = parse_job(data)
        yield Call(intents.note_job, (self.ledger, new))
        return new

    def asset(self, asset_id: Asset | str) -> Op[Asset]:
        """``GET /assets/{id}`` (also how a stale URL is renewed)."""
        return transfer.get_asset(self.retry, asset_id)

    def upload(self, image: Any) -> Op[str]:
        """Check and upload an image (see `transfer.upload`); returns its asset id."""
        return transfer.upload(self.retry, image)

    def download(self, asset: Asset | str, dest: Path) -> Op[tuple[Path, Asset]]:
        """Download ``asset`` to ``dest`` (see `transfer.download`)."""
        return transfer.download(self.retry, asset, dest)

    def download_original(self, asset: Asset, dest: Path) -> Op[tuple[Path | None, Asset]]:
        """An HDRi asset's original HDR file beside ``dest`` (see
        `transfer.download_original`); (None, asset) when it has none."""
        return transfer.download_original(self.retry, asset, dest)

    def download_originals(self, job: RunResult | Job | str) -> Op[list[Path | None]]:
        """The original HDR files of a finished job's outputs, fetched beside its saved
        images (see `originals.download_originals`); free reads only."""
        return originals.download_originals(self, job)

    download_dest = staticmethod(transfer.download_dest)

    # -- intents -------------------------------------------------------------------------

    def generate(self, request: Any) -> Op[Job]:
        """Record the intent, send the paid POST, record the job; returns the job."""
        return intents.generate(self, request)

    def wait(self, job: Job | str, on_progress: ProgressFn | None,
             timeout: float | None) -> Op[Job]:
        """Poll until the job is final (see `intents.wait`)."""
        return intents.wait(self, job, on_progress, timeout)

    def run(self, request: Any, on_progress: ProgressFn | None,
            timeout: float | None = None) -> Op[RunResult]:
        """Resume an active identical intent, else generate; wait; download; record;
        within ``timeout`` seconds of waiting when given (see `intents.run`)."""
        return intents.run(self, request, on_progress, timeout)

    def resumable(self) -> Op[list[IntentRecord]]:
        """Active ledger intents nobody of this client drives now, oldest first."""
        return intents.resumable(self)

    def resume_one(self, rec: IntentRecord,
                   on_progress: ProgressFn | None) -> Op[RunResult | None]:
        """Finish one active intent (None when another caller already does)."""
        return intents.resume_one(self, rec, on_progress)

    def reconcile(self) -> Op[list[reconcile.ReconcileOutcome]]:
        """Match "unknown" intents to Scenario's jobs (see `reconcile.reconcile`)."""
        return reconcile.reconcile(self.retry, self.ledger)

    def adopt(self, intent_id: str, job: Job | str) -> Op[Job]:
        """Settle an "unknown" intent by hand: it did start ``job``. Returns the job."""
        return reconcile.adopt(self.ledger, intent_id, self.job(job))
