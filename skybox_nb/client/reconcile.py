"""Settling "unknown" intents: list Scenario's jobs, and match an intent to a job.

Invariant: an intent whose paid POST may or may not have started a job is adopted only
by a job that matches it exactly (its model, its inputs, created within a few minutes
after it) and is no other intent's job; with several matches a person picks, with none
nothing changes. `could_be` is a pure function of one intent and one job; the ledger is
read and written only through `Call` effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..isotime import iso, parse_iso
from ..ledger import IntentRecord, Ledger
from ..models import Job, parse_job_list
from ..retry import RetryPolicy
from .calls import call
from .effects import Call, Op

__all__ = ["ReconcileOutcome", "RECONCILE_WINDOW", "RECONCILE_SKEW", "could_be",
           "list_jobs", "reconcile", "adopt"]

# How long after an intent a job found in GET /jobs may have been created by it.
RECONCILE_WINDOW = 300.0
# Server clocks may run a little behind ours.
RECONCILE_SKEW = 30.0


@dataclass(frozen=True)
class ReconcileOutcome:
    """What ``reconcile()`` concluded for one "unknown" intent."""

    intent_id: str
    job_id: str | None
    candidates: int
    note: str


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) < 1e-9
    return a == b


def could_be(rec: IntentRecord, job: Job) -> bool:
    """True when ``job`` may have been started by the intent ``rec``: created within the
    window after it, same model, a custom job, every input the job reports equal to the
    request's. (Whether another intent owns the job is the caller's question.)"""
    created = parse_iso(job.created_at)
    if created is None or not (rec.created_at - RECONCILE_SKEW <= created
                               <= rec.created_at + RECONCILE_WINDOW):
        return False
    if job.model_id is not None and job.model_id != rec.model_id:
        return False
    jtype = job.raw.get("jobType")
    if jtype is not None and jtype != "custom":
        return False
    inputs = job.inputs
    return all(_same_value(v, inputs[k]) for k, v in rec.request.items() if k in inputs)


def list_jobs(retry: RetryPolicy, created_after: float) -> Op[list[Job]]:
    """Every job created after ``created_after`` (Unix time), all pages."""
    jobs: list[Job] = []
    token: str | None = None
    for _ in range(50):
        params = {"pageSize": "100", "createdAfter": iso(created_after)}
        if token:
            params["paginationToken"] = token
        data = yield from call(retry, "GET", "/jobs", "list jobs", params=params)
        page, token = parse_job_list(data)
        jobs += page
        if token is None:
            break
    return jobs


def _unowned(ledger: Ledger, jobs: list[Job]) -> list[Job]:
    return [j for j in jobs if ledger.by_job(j.id) is None]


def reconcile(retry: RetryPolicy, ledger: Ledger) -> Op[list[ReconcileOutcome]]:
    """Match each "unknown" intent to the one job of its model and inputs created
    within a few minutes after it; adopt it when there is exactly one."""
    unknown = yield Call(ledger.unresolved)
    if not unknown:
        return []
    jobs = yield from list_jobs(retry, min(r.created_at for r in unknown) - RECONCILE_SKEW)
    out = []
    for rec in unknown:
        cands = [j for j in jobs if could_be(rec, j)]
        # Last, as it is a ledger query: not already the job of another intent.
        cands = (yield Call(_unowned, (ledger, cands))) if cands else cands
        if len(cands) == 1:
            yield Call(ledger.attach_job, (rec.intent_id, cands[0]))
            out.append(ReconcileOutcome(rec.intent_id, cands[0].id, 1,
                                        "adopted: client.resume() fetches its outputs"))
        elif cands:
            ids = ", ".join(j.id for j in cands)
            out.append(ReconcileOutcome(rec.intent_id, None, len(cands),
                                        f"several jobs match ({ids}): pick one with "
                                        "client.adopt(intent_id, job_id), or dismiss"))
        else:
            out.append(ReconcileOutcome(rec.intent_id, None, 0,
                                        "no matching job; if none appears, dismiss it"))
    return out


def _check_adoptable(ledger: Ledger, intent_id: str) -> None:
    rec = ledger.get(intent_id)
    if rec.status != "unknown":
        raise ValueError(f"intent {intent_id} is {rec.status!r}; only an 'unknown' "
                         "intent can adopt a job")


def _attach_unowned(ledger: Ledger, intent_id: str, found: Job) -> None:
    owner = ledger.by_job(found.id)
    if owner is not None:
        raise ValueError(f"job {found.id} already belongs to intent {owner.intent_id}")
    ledger.attach_job(intent_id, found)


def adopt(ledger: Ledger, intent_id: str, job: Op[Job]) -> Op[Job]:
    """Settle an "unknown" intent by hand: it did start the job that the operation
    ``job`` reads. Returns the job; ``ValueError`` unless the intent is unknown and the
    job is no other intent's."""
    yield Call(_check_adoptable, (ledger, intent_id))
    found = yield from job
    yield Call(_attach_unowned, (ledger, intent_id, found))
    return found
