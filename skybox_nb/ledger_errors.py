"""How the ledger says what is wrong with its file: every SQLite failure, a damaged row or
an emptied ledger reaches the caller as an error in words.

Invariant: each error names the ledger file (and the row, when one is at fault), says
what happened and what to do; none is a bare ``sqlite3`` exception. A lock held by
another process is told apart from an unwritable folder or a full disk, and a damaged
file from both.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from . import sidecar

__all__ = ["LedgerDamagedError", "damaged", "refuse_if_history", "sqlite_error",
           "unwritable"]

# How long a write waits for another process's transaction (SQLite's busy timeout).
LOCK_TIMEOUT = 30.0


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


def damaged(path: Path, what: str, intent_id: str | None = None) -> LedgerDamagedError:
    todo = ("Fix or delete that row with an SQLite tool, or: " if intent_id else "To "
            "recover: ") + _rebuild_hint(path)
    return LedgerDamagedError(f"the ledger {path} cannot be read: {what}. {todo}; then "
                              "client.resume() and client.reconcile() settle the running "
                              "and unknown requests it kept", path=path, intent_id=intent_id)


def refuse_if_history(path: Path) -> None:
    """Refuse to start an empty ledger (a 0-byte, missing or table-less file) in a folder
    whose sidecars show generations were recorded there."""
    n = sum(1 for side in path.parent.glob("*.json") if sidecar.is_generation_file(side))
    if n:
        raise damaged(path, f"it is {'empty' if path.exists() else 'missing'} (or has no "
                       f"table of intents) but {n} sidecar(s) in {path.parent} record "
                       "generations; a new empty ledger would forget what they and any "
                       "running or unknown request cost")


def sqlite_error(path: Path, e: sqlite3.Error) -> OSError:
    """The clear error for an SQLite failure on the ledger at ``path``: held by another
    process, unwritable, or damaged."""
    text = str(e).lower()
    if "locked" in text or "busy" in text:
        return _locked(path, e)
    if "no such table" in text or "no such column" in text or "has no column" in text:
        return damaged(path, f"{e} (written by another version of skybox_nb, or edited "
                        "by hand)")
    if isinstance(e, sqlite3.OperationalError) and not any(
            w in text for w in ("malformed", "not a database", "corrupt")):
        return unwritable(path, e)
    return damaged(path, f"SQLite says {e!r}")


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


def unwritable(path: Path, e: sqlite3.Error) -> OSError:
    """A clear error for a ledger that cannot be opened or written (a read-only or
    missing folder, a full disk): names the file and what to do, not just SQLite's words."""
    return OSError(f"the ledger {path} cannot be opened or written ({e}): the library "
                   "folder must be writable and its disk must have free space; choose "
                   "another folder with library=...")
