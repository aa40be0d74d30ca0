"""The durable record of every generation: one SQLite row per intent.

Invariant: an intent row is committed (WAL, fsynced) before its paid POST is sent, so no
job can start that the ledger does not know about. An intent whose answer was lost is
"unknown" and blocks an identical request until it is reconciled to a job or dismissed.
Rows hold the request body, ids, statuses, file paths and costs: never a credential,
never an asset URL (those are temporary presigned links).

Intent statuses: ``submitting`` (POST in flight), ``unknown`` (the POST may or may not
have started a job), ``refused`` (the server provably refused it; nothing billed),
``running`` (a job exists; not all files on disk yet), ``done`` (every output on disk),
``failed``, ``canceled``, ``dismissed``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from .errors import DuplicateIntentError
from .files import pid_alive as _pid_alive
from .models import Job

__all__ = ["Ledger", "IntentRecord", "DEFAULT_LIBRARY", "INTENT_STATUSES"]

DEFAULT_LIBRARY = "skybox-library"
INTENT_STATUSES = ("submitting", "unknown", "refused", "running", "done", "failed",
                   "canceled", "dismissed")
# A POST cannot stay in flight longer than this; an older "submitting" row is stale
# even if the process that wrote it still runs.
STALE_SUBMITTING_AFTER = 300.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    intent_id   TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    model_id    TEXT NOT NULL,
    body        TEXT NOT NULL,
    status      TEXT NOT NULL,
    job_id      TEXT,
    job_status  TEXT,
    progress    REAL NOT NULL DEFAULT 0,
    asset_ids   TEXT NOT NULL DEFAULT '[]',
    files       TEXT NOT NULL DEFAULT '[]',
    cu_cost     REAL,
    error       TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    pid         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS intents_fp ON intents (fingerprint, status);
CREATE INDEX IF NOT EXISTS intents_job ON intents (job_id);
"""


@dataclass(frozen=True)
class IntentRecord:
    """One ledger row. ``request`` is the JSON body sent; times are Unix seconds."""

    intent_id: str
    fingerprint: str
    model_id: str
    request: Mapping[str, Any]
    status: str
    job_id: str | None
    job_status: str | None
    progress: float
    asset_ids: tuple[str, ...]
    files: tuple[Path, ...]
    cu_cost: float | None
    error: str | None
    created_at: float
    updated_at: float

    @property
    def active(self) -> bool:
        """True when a job exists and its outputs are not all on disk yet."""
        return self.status == "running"


class Ledger:
    """The SQLite ledger at ``<library_dir>/ledger.sqlite`` (created when missing).

    Thread-safe: one connection guarded by a lock. Opening it turns "submitting" rows
    left by a process that died into "unknown".
    """

    def __init__(self, library_dir: str | os.PathLike[str] = DEFAULT_LIBRARY) -> None:
        self.library = Path(library_dir)
        self.library.mkdir(parents=True, exist_ok=True)
        self.path = self.library / "ledger.sqlite"
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            with self._lock:
                self._conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL is crash-safe in WAL mode; `record_intent` alone asks for FULL, as
                # an intent must survive even a power cut before its paid POST goes out.
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(_SCHEMA)
        except sqlite3.OperationalError as e:
            raise _unwritable(self.path, e) from None
        self.sweep_stale()

    # -- plumbing -------------------------------------------------------------------

    def _tx(self, durable: bool = False) -> "_Tx":
        return _Tx(self, durable)

    def _update(self, intent_id: str, **cols: Any) -> None:
        cols["updated_at"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in cols)
        with self._tx() as c:
            c.execute(f"UPDATE intents SET {sets} WHERE intent_id = ?",
                      (*cols.values(), intent_id))

    @staticmethod
    def _from_row(row: sqlite3.Row) -> IntentRecord:
        return IntentRecord(
            intent_id=row["intent_id"],
            fingerprint=row["fingerprint"],
            model_id=row["model_id"],
            request=json.loads(row["body"]),
            status=row["status"],
            job_id=row["job_id"],
            job_status=row["job_status"],
            progress=row["progress"],
            asset_ids=tuple(json.loads(row["asset_ids"])),
            files=tuple(Path(p) for p in json.loads(row["files"])),
            cu_cost=row["cu_cost"],
            error=row["error"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def _select(self, where: str = "1", args: tuple = ()) -> list[IntentRecord]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT * FROM intents WHERE {where} ORDER BY created_at DESC, rowid DESC",
                args).fetchall()
        return [self._from_row(r) for r in rows]

    # -- writing an intent and its job ------------------------------------------------

    def record_intent(self, model_id: str, body: Mapping[str, Any], fingerprint: str) -> str:
        """Commit a "submitting" intent for a paid POST and return its id.

        Raises ``DuplicateIntentError`` when an identical intent is "unknown": sending it
        again might start (and bill) a second job.
        """
        self.sweep_stale()
        intent_id = "intent_" + uuid.uuid4().hex[:16]
        now = time.time()
        with self._tx(durable=True) as c:
            row = c.execute("SELECT intent_id, created_at FROM intents WHERE fingerprint = ? "
                            "AND status = 'unknown' ORDER BY created_at LIMIT 1",
                            (fingerprint,)).fetchone()
            if row is not None:
                raise _duplicate(row["intent_id"], row["created_at"])
            c.execute(
                "INSERT INTO intents (intent_id, fingerprint, model_id, body, status, "
                "created_at, updated_at, pid) VALUES (?, ?, ?, ?, 'submitting', ?, ?, ?)",
                (intent_id, fingerprint, model_id, json.dumps(dict(body), sort_keys=True),
                 now, now, os.getpid()),
            )
        return intent_id

    def mark_unknown(self, intent_id: str, error: str) -> None:
        """The paid POST failed ambiguously: a job may exist. Blocks identical requests."""
        self._update(intent_id, status="unknown", error=error)

    def mark_refused(self, intent_id: str, error: str) -> None:
        """The server provably refused the POST (a 4xx): nothing started, nothing billed."""
        self._update(intent_id, status="refused", error=error)

    def attach_job(self, intent_id: str, job: Job, cu_cost: float | None = None) -> None:
        """Record the job an intent started (after the POST answered, or a reconcile)."""
        self._update(intent_id, **self._job_columns(job, cu_cost), status="running",
                     job_id=job.id, error=None)
        if job.done:
            self.update_job(intent_id, job)

    def update_job(self, intent_id: str, job: Job) -> None:
        """Store the job's latest status, progress, asset ids and cost."""
        cols = self._job_columns(job)
        if job.status == "failure":
            cols["status"] = "failed"
            cols["error"] = "; ".join(x for x in (job.error, job.hint) if x) or "job failed"
        elif job.status == "canceled":
            cols["status"] = "canceled"
        self._update(intent_id, **cols)

    @staticmethod
    def _job_columns(job: Job, cu_cost: float | None = None) -> dict[str, Any]:
        cols: dict[str, Any] = {"job_status": job.status, "progress": job.progress,
                                "asset_ids": json.dumps(list(job.asset_ids))}
        cost = cu_cost if cu_cost is not None else job.cu_cost
        if cost is not None:
            cols["cu_cost"] = cost
        return cols

    def mark_done(self, intent_id: str, files: list[Path]) -> None:
        """Every output is on disk: the generation is complete."""
        self._update(intent_id, status="done", error=None,
                     files=json.dumps([str(p) for p in files]))

    def set_error(self, intent_id: str, error: str) -> None:
        """Note the last error of an intent without changing its status."""
        self._update(intent_id, error=error)

    def dismiss(self, intent_id: str) -> IntentRecord:
        """Give up on an "unknown" (or "submitting") intent, unblocking identical
        requests: use it when you know no job was started (e.g. none in Scenario's
        job list). Returns the updated record; raises ``KeyError`` for an unknown id and
        ``ValueError`` when the intent is not unresolved."""
        rec = self.get(intent_id)
        if rec.status not in ("unknown", "submitting"):
            raise ValueError(f"intent {intent_id} is {rec.status!r}; only 'unknown' or "
                             "'submitting' intents can be dismissed")
        self._update(intent_id, status="dismissed")
        return self.get(intent_id)

    def sweep_stale(self) -> int:
        """Turn "submitting" rows whose process died (or that are too old to still be in
        flight) into "unknown"; returns how many changed."""
        now = time.time()
        with self._lock:
            rows = self._conn.execute(
                "SELECT intent_id, pid, created_at FROM intents WHERE status = 'submitting'"
            ).fetchall()
        stale = [r["intent_id"] for r in rows
                 if not _pid_alive(r["pid"]) or now - r["created_at"] > STALE_SUBMITTING_AFTER]
        for intent_id in stale:
            self.mark_unknown(intent_id, "the process sending this request ended before "
                              "Scenario answered; a job may exist")
        return len(stale)

    # -- reading ----------------------------------------------------------------------

    def get(self, intent_id: str) -> IntentRecord:
        """The record of one intent; raises ``KeyError`` when there is none."""
        recs = self._select("intent_id = ?", (intent_id,))
        if not recs:
            raise KeyError(f"no intent {intent_id!r} in {self.path}")
        return recs[0]

    def by_job(self, job_id: str) -> IntentRecord | None:
        """The intent that started ``job_id``, if the ledger knows it."""
        recs = self._select("job_id = ?", (job_id,))
        return recs[0] if recs else None

    def generations(self, status: str | None = None, limit: int | None = None) -> list[IntentRecord]:
        """Every record, newest first (optionally only those with ``status``)."""
        if status is not None and status not in INTENT_STATUSES:
            raise ValueError(f"status: got {status!r}; expected one of "
                             f"{', '.join(INTENT_STATUSES)}")
        recs = self._select("status = ?", (status,)) if status else self._select()
        return recs if limit is None else recs[:limit]

    def active(self, fingerprint: str | None = None) -> list[IntentRecord]:
        """Running intents (a job exists, outputs not all on disk), oldest first."""
        if fingerprint is None:
            recs = self._select("status = 'running'")
        else:
            recs = self._select("status = 'running' AND fingerprint = ?", (fingerprint,))
        return recs[::-1]

    def unresolved(self) -> list[IntentRecord]:
        """Intents whose POST may or may not have started a job, oldest first."""
        return self._select("status = 'unknown'")[::-1]

    def __iter__(self) -> Iterator[IntentRecord]:
        return iter(self.generations())

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM intents").fetchone()[0])

    def __repr__(self) -> str:
        return f"Ledger({str(self.library)!r}, {len(self)} generations)"

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


class _Tx:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the ledger's lock (rollback on error)."""

    def __init__(self, ledger: Ledger, durable: bool) -> None:
        self.ledger = ledger
        self.durable = durable

    def __enter__(self) -> sqlite3.Connection:
        self.ledger._lock.acquire()
        try:
            if self.durable:  # fsync this commit (the pragma cannot change inside one)
                self.ledger._conn.execute("PRAGMA synchronous=FULL")
            self.ledger._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:  # never leave the lock held
            self.ledger._lock.release()
            raise _unwritable(self.ledger.path, e) from None
        return self.ledger._conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.ledger._conn.execute("ROLLBACK" if exc_type else "COMMIT")
            if self.durable:
                self.ledger._conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError as e:
            if exc_type is None:
                raise _unwritable(self.ledger.path, e) from None
        finally:
            self.ledger._lock.release()
        if isinstance(exc, sqlite3.OperationalError):
            raise _unwritable(self.ledger.path, exc) from None


def _unwritable(path: Path, e: sqlite3.Error) -> OSError:
    """A clear error for a ledger that cannot be opened or written (a read-only or
    missing folder, a full disk): names the file and what to do, not just SQLite's words."""
    return OSError(f"the ledger {path} cannot be opened or written ({e}): the library "
                   "folder must be writable and its disk must have free space; choose "
                   "another folder with library=...")


def _duplicate(intent_id: str, created_at: float) -> DuplicateIntentError:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created_at))
    return DuplicateIntentError(
        f"an identical request (intent {intent_id}, sent {when}) may already have started "
        "a billed job: its answer was lost, so sending it again could pay twice",
        intent_id=intent_id,
        hint=f"run client.reconcile() to match it against Scenario's job list, or "
             f"client.ledger.dismiss({intent_id!r}) if you know no job was created",
    )
