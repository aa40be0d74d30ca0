"""The ledger's intent statuses and every legal move between them, in one table.

Invariant: a row's status changes only along an edge of `TRANSITIONS`, looked up by
`next_status` inside the transaction that writes the row (`Ledger._move`), so two
processes can never take one intent down two paths (a "done" row is never made
"unknown" again, a "dismissed" one never "running"). A move not in the table raises
`LedgerStateError` naming the intent, where it stands and what may happen from there.

    submitting --job_attached--> running --job_progress--> running
        |  \\----refused-------> refused      |--job_failed----> failed
        |                                     |--job_canceled--> canceled
        |--answer_lost---------> unknown      |--files_saved---> done
        |                                     '--job_lost------> lost --dismissed--> dismissed
        '--dismissed-----------> dismissed
    unknown --job_attached--> running (a reconcile, or a late answer), --refused-->
        refused, --dismissed--> dismissed, --answer_lost--> unknown

"submitting": the paid POST is in flight; "unknown": its answer was lost, a job may
exist; "refused": the server provably refused it, nothing billed; "running": a job
exists, not all outputs on disk; "done": every output on disk; "failed", "canceled":
the job ended without outputs; "lost": the backend no longer knows its job (a 404: an
in-process emulator's jobs vanish with it, a switched key), so nobody follows it;
"dismissed": given up by the user.

A row is written in the status `START` gives for how its work came to be: a paid
request "submitting" (its POST not sent yet); free work done here (a repair, recorded
once its file is on disk) "done", from where the table above takes it like any other.
"""

from __future__ import annotations

__all__ = ["INTENT_STATUSES", "EVENTS", "TRANSITIONS", "FINAL", "START", "LedgerStateError",
           "next_status"]

INTENT_STATUSES = ("submitting", "unknown", "refused", "running", "done", "failed",
                   "canceled", "lost", "dismissed")

# How a row's work came to be -> the status its row is written in.
START: dict[str, str] = {"paid": "submitting", "free": "done"}

# (status now, event) -> status after. Nothing else is a legal move.
TRANSITIONS: dict[tuple[str, str], str] = {
    # the paid POST answered, or did not
    ("submitting", "job_attached"): "running",
    ("submitting", "refused"): "refused",
    ("submitting", "answer_lost"): "unknown",
    ("submitting", "dismissed"): "dismissed",
    # an unknown intent is settled by a reconcile, the user, or a late answer
    ("unknown", "answer_lost"): "unknown",
    # adopted by a reconcile, or its own POST answered after a sweep gave up on it
    ("unknown", "job_attached"): "running",
    ("unknown", "refused"): "refused",
    ("unknown", "dismissed"): "dismissed",
    # a job exists
    ("running", "job_progress"): "running",
    ("running", "job_failed"): "failed",
    ("running", "job_canceled"): "canceled",
    ("running", "files_saved"): "done",
    ("running", "job_lost"): "lost",
    # the backend does not know the job (any more): only the user can close it
    ("lost", "job_lost"): "lost",
    ("lost", "dismissed"): "dismissed",
    # a final job polled again (wait() on an old job id) changes nothing
    ("done", "job_progress"): "done",
    # two processes followed one job (two kernels, one library): the second to save
    # its files finds the row done already
    ("done", "files_saved"): "done",
    ("failed", "job_failed"): "failed",
    ("canceled", "job_canceled"): "canceled",
}

EVENTS = tuple(sorted({event for _, event in TRANSITIONS}))
# No event leads out of these: the intent's story is over.
FINAL = tuple(s for s in INTENT_STATUSES
              if all(state == s and after == s for (state, _), after in TRANSITIONS.items()
                     if state == s))


class LedgerStateError(ValueError):
    """A status change the ledger does not allow (see `TRANSITIONS`)."""

    def __init__(self, intent_id: str, status: str, event: str) -> None:
        legal = sorted(e for (s, e) in TRANSITIONS if s == status)
        super().__init__(
            f"intent {intent_id} is {status!r}: {event!r} is not a legal move from there "
            f"(allowed: {', '.join(legal) or 'nothing, it is final'})")
        self.intent_id, self.status, self.event = intent_id, status, event


def next_status(intent_id: str, status: str, event: str) -> str:
    """The status after ``event`` happens to an intent in ``status``; raises
    `LedgerStateError` when the table has no such move."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        if event not in EVENTS:
            raise ValueError(f"event: got {event!r}; allowed: {', '.join(EVENTS)}") from None
        raise LedgerStateError(intent_id, status, event) from None
