"""The durable record of every generation: one SQLite row per intent.

Invariant: an intent row is committed (WAL, fsynced) before its paid POST is sent, so no
job can start that the ledger does not know about. An intent whose answer was lost is
"unknown" and blocks an identical request until it is reconciled to a job or dismissed.
Rows hold the request body, ids, statuses, file paths and costs: never a credential,
never an asset URL (those are temporary presigned links).

Intent statuses and the moves between them are the table in `ledger_states`; every
status change goes through `Ledger._move`, which checks it in the writing transaction.
File paths are stored relative to the library folder, so a moved library, or one opened
from another working directory, keeps its history. A ledger that cannot be read (not a
database, truncated, an unknown schema, a hand-edited row) raises `LedgerDamagedError`
(see `ledger_errors`) naming the file, the row when there is one, and what to do; an
empty or missing ledger beside the sidecars of past generations is not silently started
afresh (their running and unknown intents would be forgotten and paid again):
``skybox-nb ledger rebuild``.

Lineage: a row may name its ``parent_id``, the row it was made from, and its ``kind``
("repair": free work done here, a row with no job and no cost; "refine" and "upscale":
paid jobs, recorded like any request, their link written in the same INSERT as the
intent, before the POST). Rows without a parent are generations. A ledger written before these columns
existed gains them in place when opened, in one transaction (all or none), and keeps
every row; older versions of skybox_nb still read it (they ignore the new columns).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from . import ledger_errors
from .errors import DuplicateIntentError
from .ledger_errors import (
    LedgerDamagedError,
    damaged,
    refuse_if_history,
    sqlite_error,
    unwritable,
)
from .processes import writer_alive, writer_token
from .ledger_states import INTENT_STATUSES, START, LedgerStateError, next_status
from .models import Job

__all__ = ["Ledger", "IntentRecord", "IntentInFlight", "new_intent_id", "DEFAULT_LIBRARY", "INTENT_STATUSES", "LedgerDamagedError",
           "LedgerStateError", "LEDGER_NAME", "CHILD_KINDS"]

DEFAULT_LIBRARY = "skybox-library"
LEDGER_NAME = "ledger.sqlite"
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
    pid         INTEGER NOT NULL,
    writer      TEXT,
    backend     TEXT,
    parent_id   TEXT,
    kind        TEXT,
    detail      TEXT
);
CREATE INDEX IF NOT EXISTS intents_fp ON intents (fingerprint, status);
CREATE INDEX IF NOT EXISTS intents_job ON intents (job_id);
"""
# Indexes on added columns: made once an older table has gained them.
_ADDED_INDEXES = "CREATE INDEX IF NOT EXISTS intents_parent ON intents (parent_id);"
COLUMNS = ("intent_id", "fingerprint", "model_id", "body", "status", "job_id", "job_status",
           "progress", "asset_ids", "files", "cu_cost", "error", "created_at", "updated_at",
           "pid", "writer", "backend", "parent_id", "kind", "detail")
# Columns added since the first schema: an older ledger gains them when opened.
_ADDED_COLUMNS = {"writer": "TEXT", "backend": "TEXT", "parent_id": "TEXT", "kind": "TEXT",
                  "detail": "TEXT"}
# What a child row is: "repair" (free, made here: no job, no cost), "refine" (a paid
# job whose input is its parent's pixels) or "upscale" (a paid job of the upscaler whose
# input is its parent's file or asset). A row with no kind is a generation.
CHILD_KINDS = ("repair", "refine", "upscale")


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
    # Where its job lives (`client.backend.Backend.key`); None in rows older than that.
    backend: str | None = None
    pid: int = 0  # the process that wrote it, and what tells that process apart
    writer: str | None = None
    # Lineage: the row this one was made from, what it is ("generation", or a
    # CHILD_KINDS entry), and what the child records (its steps, verdicts, key).
    parent_id: str | None = None
    kind: str = "generation"
    detail: Mapping[str, Any] = field(default_factory=dict)
    # The file a person looks at when it is not the job's output (a refine's output
    # turned back half a turn); None for the others, whose ``files`` are it.
    output: Path | None = None

    @property
    def writer_alive(self) -> bool:
        """True while the process that wrote the intent still runs."""
        return writer_alive(self.pid, self.writer)

    @property
    def lost(self) -> bool:
        """True when the backend no longer knows its job (marked by `Ledger.mark_lost`)."""
        return self.status == "lost"

    @property
    def active(self) -> bool:
        """True when a job exists and its outputs are not all on disk yet."""
        return self.status == "running"


class Ledger:
    """The SQLite ledger at ``<library_dir>/ledger.sqlite`` (created when missing).

    Thread-safe: one connection guarded by a lock. Opening it turns "submitting" rows
    left by a process that died into "unknown". An empty or missing ledger beside
    sidecars of past generations raises `LedgerDamagedError` unless ``start_empty``
    (what ``skybox-nb ledger rebuild`` uses before restoring the rows).
    """

    def __init__(self, library_dir: str | os.PathLike[str] = DEFAULT_LIBRARY, *,
                 start_empty: bool = False) -> None:
        self.library = Path(library_dir)
        self.library.mkdir(parents=True, exist_ok=True)
        self.path = self.library / LEDGER_NAME
        self._lock = threading.RLock()
        self._forgotten: set[str] = set()  # intents given up before their row was written
        # fingerprint -> (parent_id, kind, detail JSON) of paid children about to be sent
        self._expected: dict[str, tuple[str | None, str, str]] = {}
        fresh = not self.path.is_file() or self.path.stat().st_size == 0
        try:
            self._conn = sqlite3.connect(self.path, timeout=ledger_errors.LOCK_TIMEOUT,
                                         isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as e:
            raise unwritable(self.path, e) from None
        try:
            self._conn.row_factory = sqlite3.Row
            with self._lock:
                if not start_empty and (fresh or not self._has_table()):
                    refuse_if_history(self.path)
                self._conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL is crash-safe in WAL mode; `record_intent` alone asks for FULL, as
                # an intent must survive even a power cut before its paid POST goes out.
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._check_file()
                self._conn.executescript(_SCHEMA)
                self._check_schema()
                self._conn.executescript(_ADDED_INDEXES)
            self.sweep_stale()
        except BaseException as e:
            self._conn.close()
            if isinstance(e, sqlite3.Error):
                raise sqlite_error(self.path, e) from None
            raise

    def _has_table(self) -> bool:
        return self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                  "AND name = 'intents'").fetchone() is not None

    def _check_file(self) -> None:
        """Read every page once (fast: the ledger is small), so a truncated or damaged
        file is reported now, naming the file, not at some later write."""
        problems = [r[0] for r in self._conn.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            raise damaged(self.path, "; ".join(p.replace("\n", " ") for p in problems))

    def _check_schema(self) -> None:
        have = {r["name"] for r in self._conn.execute("PRAGMA table_info(intents)")}
        add = [name for name in _ADDED_COLUMNS if name not in have]
        if have and add:
            self._migrate(add)
            have.update(add)
        missing = [c for c in COLUMNS if c not in have]
        if missing:
            raise damaged(self.path, f"its table 'intents' has no column {', '.join(missing)} "
                           "(written by another version of skybox_nb, or edited by hand)")

    def _migrate(self, add: list[str]) -> None:
        """Give an older ledger's table the columns ``add`` in place, in one transaction:
        every row is kept, and on failure nothing changed and `LedgerDamagedError` says
        why (another process holding the file is reported as the lock it is)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            # read again under the write lock: another process may have just added them
            have = {r["name"] for r in self._conn.execute("PRAGMA table_info(intents)")}
            for name in (n for n in add if n not in have):
                self._conn.execute(f"ALTER TABLE intents ADD COLUMN {name} "
                                   f"{_ADDED_COLUMNS[name]}")
            self._conn.execute("COMMIT")
        except sqlite3.Error as e:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if any(w in str(e).lower() for w in ("locked", "busy")):
                raise sqlite_error(self.path, e) from None
            raise damaged(self.path, f"it was written by an older skybox_nb and could not "
                          f"be brought up to date in place (adding column(s) "
                          f"{', '.join(add)}: SQLite says {e!r}); it is unchanged. If its "
                          "file or folder is read-only, make them writable and open it "
                          "again") from None

    # -- plumbing -------------------------------------------------------------------

    def _tx(self, durable: bool = False) -> "_Tx":
        return _Tx(self, durable)

    def _update(self, intent_id: str, **cols: Any) -> None:
        """Write columns that are not the status (errors, job progress)."""
        cols["updated_at"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in cols)
        with self._tx() as c:
            c.execute(f"UPDATE intents SET {sets} WHERE intent_id = ?",
                      (*cols.values(), intent_id))

    def _move(self, intent_id: str, event: str, **cols: Any) -> str:
        """Apply ``event`` to an intent: its new status is looked up in the transition
        table inside the same transaction as the write, so no other writer can move the
        row in between. Raises `LedgerStateError` for a move the table does not have and
        ``KeyError`` for an unknown intent; returns the new status."""
        with self._tx() as c:
            row = c.execute("SELECT status FROM intents WHERE intent_id = ?",
                            (intent_id,)).fetchone()
            if row is None:
                raise KeyError(f"no intent {intent_id!r} in {self.path}")
            cols["status"] = next_status(intent_id, row["status"], event)
            cols["updated_at"] = time.time()
            sets = ", ".join(f"{k} = ?" for k in cols)
            c.execute(f"UPDATE intents SET {sets} WHERE intent_id = ?",
                      (*cols.values(), intent_id))
        return cols["status"]

    def _stored_path(self, path: Path) -> str:
        """``path`` as the ledger keeps it: relative to the library when inside it."""
        try:
            return Path(path).resolve().relative_to(self.library.resolve()).as_posix()
        except ValueError:  # outside the library: kept whole
            return str(Path(path).resolve())

    def _file_path(self, stored: str) -> Path:
        """The path of a stored file name now, wherever the library was opened from."""
        here = Path(stored) if os.path.isabs(stored) else self.library / stored
        if "/" not in stored:  # the usual case: a file at the top of the library
            return here
        # Rows written before paths were relative hold the path as the writer saw it
        # (absolute, or from its working directory); library files sit at the top of
        # the library folder, so a moved library is found by name.
        top = self.library / Path(stored).name
        return top if not here.exists() and top.exists() else here

    def _from_row(self, row: sqlite3.Row) -> IntentRecord:
        """The `IntentRecord` of a row; `LedgerDamagedError` naming the row when a column
        cannot be read (a hand-edited row, say)."""
        def column(name: str, want: type, default: Any = None) -> Any:
            raw = row[name]
            try:
                value = json.loads(raw) if isinstance(raw, str) else raw
            except ValueError:
                raise self._bad_row(row, name, f"is not JSON: {str(raw)[:60]!r}") from None
            if value is None and default is not None:
                return default
            if not isinstance(value, want):
                raise self._bad_row(row, name, f"holds a {type(value).__name__}; expected "
                                    f"a JSON {'object' if want is dict else 'array'}")
            return value

        def number(name: str) -> float | None:
            raw = row[name]
            if raw is None:
                return None
            try:
                return float(raw)
            except (TypeError, ValueError):
                raise self._bad_row(row, name, f"is {str(raw)[:40]!r}, not a number") from None

        status = row["status"]
        if status not in INTENT_STATUSES:
            raise self._bad_row(row, "status", f"is {status!r}; allowed: "
                                + ", ".join(INTENT_STATUSES))
        files = column("files", list, [])
        assets = column("asset_ids", list, [])
        detail = column("detail", dict, {})
        output = detail.get("file")
        if output is not None and not isinstance(output, str):
            raise self._bad_row(row, "detail", "names a file that is not a file name")
        if not all(isinstance(f, str) for f in files):
            raise self._bad_row(row, "files", "must be a list of file names")
        return IntentRecord(
            intent_id=row["intent_id"],
            fingerprint=row["fingerprint"],
            model_id=row["model_id"],
            request=column("body", dict),
            status=status,
            job_id=row["job_id"],
            job_status=row["job_status"],
            progress=number("progress") or 0.0,
            asset_ids=tuple(str(a) for a in assets),
            files=tuple(self._file_path(p) for p in files),
            cu_cost=number("cu_cost"),
            error=row["error"],
            created_at=number("created_at") or 0.0,
            updated_at=number("updated_at") or 0.0,
            backend=row["backend"],
            pid=int(number("pid") or 0),
            writer=row["writer"],
            parent_id=row["parent_id"],
            kind=row["kind"] or "generation",
            detail=detail,
            output=self._file_path(output) if output else None,
        )

    def _bad_row(self, row: sqlite3.Row, column: str, what: str) -> "LedgerDamagedError":
        return damaged(self.path, f"row {row['intent_id']!r}: {column} {what}",
                        intent_id=row["intent_id"])

    def _select(self, where: str = "1", args: tuple = ()) -> list[IntentRecord]:
        with self._lock:
            try:
                rows = self._conn.execute(
                    f"SELECT * FROM intents WHERE {where} ORDER BY created_at DESC, "
                    "rowid DESC", args).fetchall()
            except sqlite3.DatabaseError as e:
                raise sqlite_error(self.path, e) from None
        return [self._from_row(r) for r in rows]

    # -- writing an intent and its job ------------------------------------------------

    def record_intent(self, model_id: str, body: Mapping[str, Any], fingerprint: str, *,
                      intent_id: str | None = None, exclusive: bool = False,
                      backend: str | None = None) -> str:
        """Commit a "submitting" intent for a paid POST and return its id (``intent_id``
        when given, so a caller interrupted while this runs knows which row to undo).

        Raises ``DuplicateIntentError`` when an identical intent is "unknown": sending it
        again might start (and bill) a second job. With ``exclusive`` (a request whose
        seed makes the same image), also raises `IntentInFlight` while an identical
        intent is being sent by a live writer or has a running job: wait for it.
        """
        self.sweep_stale()
        intent_id = intent_id or new_intent_id()
        now = time.time()
        with self._tx(durable=True) as c:
            if intent_id in self._forgotten:  # its caller gave up before this ran
                raise IntentInFlight(intent_id)
            row = c.execute("SELECT intent_id, created_at FROM intents WHERE fingerprint = ? "
                            "AND status = 'unknown' ORDER BY created_at LIMIT 1",
                            (fingerprint,)).fetchone()
            if row is not None:
                raise _duplicate(row["intent_id"], row["created_at"])
            if exclusive:
                row = c.execute("SELECT intent_id FROM intents WHERE fingerprint = ? AND "
                                "status IN ('submitting', 'running') AND (backend IS ? OR "
                                "backend IS NULL) ORDER BY created_at LIMIT 1",
                                (fingerprint, backend)).fetchone()
                if row is not None:
                    raise IntentInFlight(row["intent_id"])
            parent_id, kind, detail = self._expected.get(fingerprint, (None, None, None))
            c.execute(
                "INSERT INTO intents (intent_id, fingerprint, model_id, body, status, "
                "created_at, updated_at, pid, writer, backend, parent_id, kind, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (intent_id, fingerprint, model_id, json.dumps(dict(body), sort_keys=True),
                 START["paid"], now, now, os.getpid(), writer_token(), backend, parent_id,
                 kind, detail),
            )
        return intent_id

    @contextmanager
    def expect_child(self, fingerprint: str, parent_id: str | None, kind: str,
                     detail: Mapping[str, Any]) -> Iterator[None]:
        """While inside this block, a paid intent recorded with ``fingerprint`` is
        written as a ``kind`` child of ``parent_id`` with ``detail``, in the same INSERT
        as the intent (so before its POST: a re-run finds it, whatever happens next).
        A refine runs its request through the client inside it."""
        if kind not in CHILD_KINDS:
            raise ValueError(f"kind: got {kind!r}; allowed: {', '.join(CHILD_KINDS)}")
        with self._lock:
            self._expected[fingerprint] = (parent_id, kind,
                                           json.dumps(dict(detail), sort_keys=True))
        try:
            yield
        finally:
            with self._lock:
                self._expected.pop(fingerprint, None)

    def record_child(self, parent_id: str, kind: str, files: list[Path],
                     detail: Mapping[str, Any], *, body: Mapping[str, Any]) -> str:
        """Record free work made here from ``parent_id``'s file (a repair): a row with
        no job and no cost, its ``files`` on disk, ``body`` what was asked (the repair's
        options) and ``detail`` what came of it (steps, verdicts before and after).
        One row per parent and first file: doing it again to the same file updates that
        row. Returns the row's id; ``KeyError`` when the parent is not in the ledger."""
        if kind not in CHILD_KINDS:
            raise ValueError(f"kind: got {kind!r}; allowed: {', '.join(CHILD_KINDS)}")
        parent = self.get(parent_id)
        stored = [self._stored_path(p) for p in files]
        intent_id = self.child_id(parent_id, kind, files[0] if files else None)
        now = time.time()
        cols = {"files": json.dumps(stored), "detail": json.dumps(dict(detail), sort_keys=True),
                "body": json.dumps(dict(body), sort_keys=True)}
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO intents (intent_id, fingerprint, model_id, body, "
                "status, files, cu_cost, created_at, updated_at, pid, writer, backend, "
                "parent_id, kind, detail) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
                (intent_id, f"{kind}:{intent_id}", f"skybox_nb.{kind}", cols["body"],
                 START["free"], cols["files"], now, now, os.getpid(), writer_token(),
                 parent.backend, parent_id, kind, cols["detail"]))
            made = c.execute("SELECT changes()").fetchone()[0] == 1
        if not made:  # made again (a re-run): the same row, the new outcome
            self._move(intent_id, "files_saved", **cols)
        return intent_id

    def child_id(self, parent_id: str, kind: str,
                 file: str | os.PathLike[str] | None) -> str:
        """The id `record_child` gives the ``kind`` child of ``parent_id`` whose first
        file is ``file``: known before the row is written, so the file's sidecar can
        name it (and a rebuilt ledger gives the row back under the same id)."""
        stored = [self._stored_path(Path(file))] if file is not None else []
        key = json.dumps([parent_id, kind, stored])
        return "intent_" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def set_detail(self, intent_id: str, **detail: Any) -> None:
        """Merge ``detail`` into a row's record of what it is (a refine's saved file and
        its verdict, once known); the status is not touched."""
        with self._lock:
            merged = {**self.get(intent_id).detail, **detail}
            if isinstance(merged.get("file"), (str, Path)):
                merged["file"] = self._stored_path(Path(merged["file"]))
            self._update(intent_id, detail=json.dumps(merged, sort_keys=True, default=str))

    def forget_unsent(self, intent_id: str) -> bool:
        """Delete a "submitting" intent whose POST was never sent (its writer was
        interrupted before sending): no job can exist, so no row should block or
        haunt an identical request. Returns True when a row was deleted."""
        with self._tx() as c:
            # Under the ledger's lock: a record_intent still to come for this id (on a
            # worker thread) will find it forgotten and write nothing.
            self._forgotten.add(intent_id)
            cur = c.execute("DELETE FROM intents WHERE intent_id = ? AND status = "
                            "'submitting' AND pid = ?", (intent_id, os.getpid()))
        return cur.rowcount == 1

    def restore(self, row: Mapping[str, Any]) -> bool:
        """Insert a whole row recovered from elsewhere (``skybox-nb ledger rebuild``):
        ``row`` maps column names to values, ``body`` a dict, ``files`` paths, and
        ``asset_ids`` a list. Returns False when the intent is there already."""
        cols = {k: row[k] for k in COLUMNS if k in row}
        if cols.get("status") not in INTENT_STATUSES:
            raise ValueError(f"status: got {cols.get('status')!r}; allowed: "
                             + ", ".join(INTENT_STATUSES))
        cols["body"] = json.dumps(dict(cols["body"]), sort_keys=True)
        cols["files"] = json.dumps([self._stored_path(p) for p in cols.get("files", [])])
        cols["asset_ids"] = json.dumps(list(cols.get("asset_ids", [])))
        if cols.get("detail") is not None:
            cols["detail"] = json.dumps(dict(cols["detail"]), sort_keys=True)
        cols.setdefault("updated_at", cols["created_at"])
        cols.setdefault("pid", 0)
        with self._tx() as c:
            cur = c.execute(f"INSERT OR IGNORE INTO intents ({', '.join(cols)}) VALUES "
                            f"({', '.join('?' * len(cols))})", tuple(cols.values()))
        return cur.rowcount == 1

    def mark_unknown(self, intent_id: str, error: str) -> None:
        """The paid POST failed ambiguously: a job may exist. Blocks identical requests."""
        self._move(intent_id, "answer_lost", error=error)

    def mark_refused(self, intent_id: str, error: str) -> None:
        """The server provably refused the POST (a 4xx): nothing started, nothing billed."""
        self._move(intent_id, "refused", error=error)

    def attach_job(self, intent_id: str, job: Job, cu_cost: float | None = None) -> None:
        """Record the job an intent started (after the POST answered, or a reconcile)."""
        self._move(intent_id, "job_attached", **self._job_columns(job, cu_cost),
                   job_id=job.id, error=None)
        if job.done:
            self.update_job(intent_id, job)

    def update_job(self, intent_id: str, job: Job) -> None:
        """Store the job's latest status, progress, asset ids and cost."""
        cols = self._job_columns(job)
        if job.status == "failure":
            cols["error"] = "; ".join(x for x in (job.error, job.hint) if x) or "job failed"
            self._move(intent_id, "job_failed", **cols)
        elif job.status == "canceled":
            self._move(intent_id, "job_canceled", **cols)
        else:
            self._move(intent_id, "job_progress", **cols)

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
        self._move(intent_id, "files_saved", error=None,
                   files=json.dumps([self._stored_path(p) for p in files]))

    def set_error(self, intent_id: str, error: str) -> None:
        """Note the last error of an intent without changing its status."""
        self._update(intent_id, error=error)

    def mark_lost(self, intent_id: str, error: str) -> None:
        """The backend answered 404 for the intent's job: nobody can follow it now."""
        self._move(intent_id, "job_lost", error=error)

    def lose_backend(self, backend: str, why: str) -> int:
        """Mark every running intent of ``backend`` lost (its emulator has stopped, and
        its jobs with it); returns how many."""
        n = 0
        for rec in self._select("status = 'running' AND backend = ?", (backend,)):
            try:
                self.mark_lost(rec.intent_id, why)
                n += 1
            except LedgerStateError:  # it moved on meanwhile
                pass
        return n

    def dismiss(self, intent_id: str) -> IntentRecord:
        """Give up on an "unknown", "submitting" or "lost" intent, unblocking identical
        requests: use it when you know no job was started (e.g. none in Scenario's
        job list) or its job is gone. Returns the updated record; raises ``KeyError``
        for an unknown id and ``ValueError`` when the intent is not unresolved."""
        rec = self.get(intent_id)
        if rec.status not in ("unknown", "submitting", "lost"):
            raise ValueError(f"intent {intent_id} is {rec.status!r}; only 'unknown', "
                             "'submitting' or 'lost' intents can be dismissed")
        self._move(intent_id, "dismissed")
        return self.get(intent_id)

    def sweep_stale(self) -> int:
        """Turn "submitting" rows whose process died (or that are too old to still be in
        flight) into "unknown"; returns how many changed."""
        now = time.time()
        with self._lock:
            try:
                rows = self._conn.execute("SELECT intent_id, pid, writer, created_at FROM "
                                          "intents WHERE status = 'submitting'").fetchall()
            except sqlite3.DatabaseError as e:
                raise sqlite_error(self.path, e) from None
        # The writer is its PID and start time: a new process with a dead writer's PID
        # (PID 1 in a restarted container) does not keep the dead one's rows alive.
        stale = [r["intent_id"] for r in rows
                 if not writer_alive(r["pid"], r["writer"])
                 or now - r["created_at"] > STALE_SUBMITTING_AFTER]
        moved = 0
        for intent_id in stale:
            try:
                self.mark_unknown(intent_id, "the process sending this request ended before "
                                  "Scenario answered; a job may exist")
                moved += 1
            except LedgerStateError:  # its answer arrived since we looked: it moved on
                pass
        return moved

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

    def children(self, intent_id: str, kind: str | None = None) -> list[IntentRecord]:
        """The rows made from ``intent_id`` (repairs, refines; of ``kind`` only when
        given), oldest first."""
        if kind is None:
            return self._select("parent_id = ?", (intent_id,))[::-1]
        return self._select("parent_id = ? AND kind = ?", (intent_id, kind))[::-1]

    def parent(self, intent_id: str) -> IntentRecord | None:
        """The row ``intent_id`` was made from, or None (a generation; or a child whose
        parent row is gone)."""
        pid = self.get(intent_id).parent_id
        if pid is None:
            return None
        try:
            return self.get(pid)
        except KeyError:
            return None

    def by_file(self, path: str | os.PathLike[str]) -> IntentRecord | None:
        """The newest row whose output is the file at ``path`` (one of a job's files, or
        a child's saved file), if the ledger knows it."""
        stored = self._stored_path(Path(path))
        recs = self._select(
            "intent_id IN (SELECT intent_id FROM intents, json_each(intents.files) "
            "WHERE json_each.value = ?) OR json_extract(detail, '$.file') = ?",
            (stored, stored))
        return recs[0] if recs else None

    def child_by_key(self, kind: str, key: str) -> IntentRecord | None:
        """The newest ``kind`` child whose detail records ``key`` (what identifies the
        same work asked again: a refine of the same pixels with the same request)."""
        recs = self._select("kind = ? AND json_extract(detail, '$.key') = ?", (kind, key))
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
            try:
                return int(self._conn.execute("SELECT COUNT(*) FROM intents").fetchone()[0])
            except sqlite3.DatabaseError as e:
                raise sqlite_error(self.path, e) from None

    def __repr__(self) -> str:
        return f"Ledger({str(self.library)!r}, {len(self)} generations)"

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


def new_intent_id() -> str:
    """A fresh intent id."""
    return "intent_" + uuid.uuid4().hex[:16]


class IntentInFlight(Exception):
    """An identical request (same seed: the same image) is being sent or followed now;
    ``intent_id`` names it. Its caller waits for it rather than paying again."""

    def __init__(self, intent_id: str) -> None:
        self.intent_id = intent_id
        super().__init__(f"an identical request is in flight (intent {intent_id})")


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
        except sqlite3.DatabaseError as e:  # never leave the lock held
            self.ledger._lock.release()
            raise sqlite_error(self.ledger.path, e) from None
        return self.ledger._conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.ledger._conn.execute("ROLLBACK" if exc_type else "COMMIT")
            if self.durable:
                self.ledger._conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as e:
            if exc_type is None:
                raise sqlite_error(self.ledger.path, e) from None
        finally:
            self.ledger._lock.release()
        if isinstance(exc, sqlite3.DatabaseError):
            raise sqlite_error(self.ledger.path, exc) from None


def _duplicate(intent_id: str, created_at: float) -> DuplicateIntentError:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created_at))
    return DuplicateIntentError(
        f"an identical request (intent {intent_id}, sent {when}) may already have started "
        "a billed job: its answer was lost, so sending it again could pay twice",
        intent_id=intent_id,
        hint=f"run client.reconcile() (shell: 'skybox-nb ledger reconcile') to match it "
             f"against Scenario's job list, or client.ledger.dismiss({intent_id!r}) (shell: "
             f"'skybox-nb ledger dismiss {intent_id}') if you know no job was created",
    )
