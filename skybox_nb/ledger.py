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
naming the file, the row when there is one, and what to do; an empty or missing ledger
beside the sidecars of past generations is not silently started afresh (their running
and unknown intents would be forgotten and paid again): ``skybox-nb ledger rebuild``.
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

from . import sidecar
from .errors import DuplicateIntentError
from .files import pid_alive as _pid_alive
from .ledger_states import INTENT_STATUSES, LedgerStateError, next_status
from .models import Job

__all__ = ["Ledger", "IntentRecord", "DEFAULT_LIBRARY", "INTENT_STATUSES", "LedgerDamagedError",
           "LedgerStateError", "LEDGER_NAME"]

DEFAULT_LIBRARY = "skybox-library"
LEDGER_NAME = "ledger.sqlite"
# How long a write waits for another process's transaction before saying who holds it.
LOCK_TIMEOUT = 30.0
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
COLUMNS = ("intent_id", "fingerprint", "model_id", "body", "status", "job_id", "job_status",
           "progress", "asset_ids", "files", "cu_cost", "error", "created_at", "updated_at",
           "pid")


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
        fresh = not self.path.is_file() or self.path.stat().st_size == 0
        try:
            self._conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT,
                                         isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as e:
            raise _unwritable(self.path, e) from None
        try:
            self._conn.row_factory = sqlite3.Row
            with self._lock:
                if not start_empty and (fresh or not self._has_table()):
                    _refuse_if_history(self.path)
                self._conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL is crash-safe in WAL mode; `record_intent` alone asks for FULL, as
                # an intent must survive even a power cut before its paid POST goes out.
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._check_file()
                self._conn.executescript(_SCHEMA)
                self._check_schema()
            self.sweep_stale()
        except BaseException as e:
            self._conn.close()
            if isinstance(e, sqlite3.Error):
                raise _sqlite_error(self.path, e) from None
            raise

    def _has_table(self) -> bool:
        return self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                  "AND name = 'intents'").fetchone() is not None

    def _check_file(self) -> None:
        """Read every page once (fast: the ledger is small), so a truncated or damaged
        file is reported now, naming the file, not at some later write."""
        problems = [r[0] for r in self._conn.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            raise _damaged(self.path, "; ".join(p.replace("\n", " ") for p in problems))

    def _check_schema(self) -> None:
        have = {r["name"] for r in self._conn.execute("PRAGMA table_info(intents)")}
        missing = [c for c in COLUMNS if c not in have]
        if missing:
            raise _damaged(self.path, f"its table 'intents' has no column {', '.join(missing)} "
                           "(written by another version of skybox_nb, or edited by hand)")

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
        )

    def _bad_row(self, row: sqlite3.Row, column: str, what: str) -> "LedgerDamagedError":
        return _damaged(self.path, f"row {row['intent_id']!r}: {column} {what}",
                        intent_id=row["intent_id"])

    def _select(self, where: str = "1", args: tuple = ()) -> list[IntentRecord]:
        with self._lock:
            try:
                rows = self._conn.execute(
                    f"SELECT * FROM intents WHERE {where} ORDER BY created_at DESC, "
                    "rowid DESC", args).fetchall()
            except sqlite3.DatabaseError as e:
                raise _sqlite_error(self.path, e) from None
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

    def dismiss(self, intent_id: str) -> IntentRecord:
        """Give up on an "unknown" (or "submitting") intent, unblocking identical
        requests: use it when you know no job was started (e.g. none in Scenario's
        job list). Returns the updated record; raises ``KeyError`` for an unknown id and
        ``ValueError`` when the intent is not unresolved."""
        rec = self.get(intent_id)
        if rec.status not in ("unknown", "submitting"):
            raise ValueError(f"intent {intent_id} is {rec.status!r}; only 'unknown' or "
                             "'submitting' intents can be dismissed")
        self._move(intent_id, "dismissed")
        return self.get(intent_id)

    def sweep_stale(self) -> int:
        """Turn "submitting" rows whose process died (or that are too old to still be in
        flight) into "unknown"; returns how many changed."""
        now = time.time()
        with self._lock:
            try:
                rows = self._conn.execute("SELECT intent_id, pid, created_at FROM intents "
                                          "WHERE status = 'submitting'").fetchall()
            except sqlite3.DatabaseError as e:
                raise _sqlite_error(self.path, e) from None
        stale = [r["intent_id"] for r in rows
                 if not _pid_alive(r["pid"]) or now - r["created_at"] > STALE_SUBMITTING_AFTER]
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
                raise _sqlite_error(self.path, e) from None

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
        except sqlite3.DatabaseError as e:  # never leave the lock held
            self.ledger._lock.release()
            raise _sqlite_error(self.ledger.path, e) from None
        return self.ledger._conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.ledger._conn.execute("ROLLBACK" if exc_type else "COMMIT")
            if self.durable:
                self.ledger._conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as e:
            if exc_type is None:
                raise _sqlite_error(self.ledger.path, e) from None
        finally:
            self.ledger._lock.release()
        if isinstance(exc, sqlite3.DatabaseError):
            raise _sqlite_error(self.ledger.path, exc) from None


class LedgerDamagedError(OSError):
    """A ledger file that cannot be read as a ledger: not a database, truncated, an
    unknown schema, a row that does not parse, or missing beside past generations. Its
    message names the file (and the row) and what to do; ``intent_id`` names the row."""

    def __init__(self, message: str, *, path: Path, intent_id: str | None = None) -> None:
        super().__init__(message)
        self.path, self.intent_id = path, intent_id


def _rebuild_hint(path: Path) -> str:
    return (f"`skybox-nb ledger rebuild {path.parent}` makes a new ledger from the JSON "
            "sidecars of the saved panoramas (the old file is kept beside it)")


def _damaged(path: Path, what: str, intent_id: str | None = None) -> LedgerDamagedError:
    todo = ("Fix or delete that row with an SQLite tool, or: " if intent_id else "To "
            "recover: ") + _rebuild_hint(path)
    return LedgerDamagedError(f"the ledger {path} cannot be read: {what}. {todo}; then "
                              "client.resume() and client.reconcile() settle the running "
                              "and unknown requests it kept", path=path, intent_id=intent_id)


def _refuse_if_history(path: Path) -> None:
    """Refuse to start an empty ledger (a 0-byte, missing or table-less file) in a folder
    whose sidecars show generations were recorded there."""
    n = sum(1 for side in path.parent.glob("*.json") if sidecar.is_generation_file(side))
    if n:
        raise _damaged(path, f"it is {'empty' if path.exists() else 'missing'} (or has no "
                       f"table of intents) but {n} sidecar(s) in {path.parent} record "
                       "generations; a new empty ledger would forget what they and any "
                       "running or unknown request cost")


def _sqlite_error(path: Path, e: sqlite3.Error) -> OSError:
    """The clear error for an SQLite failure on the ledger at ``path``: held by another
    process, unwritable, or damaged."""
    text = str(e).lower()
    if "locked" in text or "busy" in text:
        return _locked(path, e)
    if "no such table" in text or "no such column" in text or "has no column" in text:
        return _damaged(path, f"{e} (written by another version of skybox_nb, or edited "
                        "by hand)")
    if isinstance(e, sqlite3.OperationalError) and not any(
            w in text for w in ("malformed", "not a database", "corrupt")):
        return _unwritable(path, e)
    return _damaged(path, f"SQLite says {e!r}")


def _locked(path: Path, e: sqlite3.Error) -> OSError:
    """Another process has held the ledger's write lock for the whole wait."""
    holders = _processes_with_open(path)
    who = (f"process(es) {', '.join(map(str, holders))}" if holders
           else "another process")
    return OSError(f"the ledger {path} is locked: {who} kept it busy for over "
                   f"{LOCK_TIMEOUT:g} s ({e}). Another notebook, kernel or skybox-nb "
                   "command is writing to this library; wait for it to finish, or stop it, "
                   "then try again")


def _processes_with_open(path: Path) -> list[int]:
    """Ids of other processes with ``path`` open (Linux /proc; empty elsewhere)."""
    target = str(path.resolve())
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        if proc.name == str(os.getpid()):
            continue
        try:
            if any(os.readlink(fd) == target for fd in (proc / "fd").iterdir()):
                found.append(int(proc.name))
        except OSError:  # gone, or not ours to look at
            continue
    return found[:5]


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
