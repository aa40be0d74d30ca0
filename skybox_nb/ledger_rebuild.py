"""Rebuilding a damaged, emptied or lost ledger from what the library still holds.

Invariant: nothing is deleted. The old ledger file (with its -wal and -shm) is renamed
aside, never removed; its rows that can still be read are kept as they were (so running
and unknown intents are not forgotten and paid again), and every generation whose
sidecar is on disk gets a row: "done" when all its outputs are there, "running" (so
``client.resume()`` fetches the rest without a new POST) when some are missing. A child
(a repair, a refine, an upscale) comes back under its own id with its parent, kind and
detail as its sidecars' ``lineage`` entries recorded them (`child_files`); a child never
recorded in a ledger (its source was not there) gets no row here either. Rebuilding
again gives the same rows.
"""

from __future__ import annotations

import json
import sqlite3
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import sidecar
from .child_files import LINEAGE_KEY
from .isotime import parse_iso
from .ledger import CHILD_KINDS, COLUMNS, LEDGER_NAME, Ledger
from .request import SkyboxRequest, body_fingerprint

__all__ = ["rebuild", "RebuildReport"]


@dataclass
class RebuildReport:
    """What `rebuild` did: the new ledger, where the old file went, how many rows came
    from it and from the sidecars, and the sidecars it could not use (with why)."""

    ledger: Path
    moved_aside: list[Path] = field(default_factory=list)
    kept_rows: int = 0
    from_sidecars: int = 0
    incomplete: int = 0
    children: int = 0
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"rebuilt {self.ledger}: {self.kept_rows} row(s) kept from the old file, "
                 f"{self.from_sidecars} from sidecars"
                 + (f" ({self.incomplete} with outputs missing: client.resume() fetches "
                    "them)" if self.incomplete else "")
                 + (f"; {self.children} of these a child linked to its source again"
                    if self.children else "")]
        lines += [f"  old file kept as {p}" for p in self.moved_aside]
        lines += [f"  skipped {s}" for s in self.skipped]
        return "\n".join(lines)


def rebuild(library: str | Path) -> RebuildReport:
    """Make a new ledger for ``library`` from its old ledger's readable rows and the
    JSON sidecars of its saved outputs; the old file is renamed aside (never deleted).
    Returns a `RebuildReport`."""
    lib = Path(library)
    if not lib.is_dir():
        raise FileNotFoundError(f"library: no such folder: {lib}")
    path = lib / LEDGER_NAME
    kept = _salvage(path)
    report = RebuildReport(ledger=path)
    stamp = _free_stamp(lib, datetime.now().strftime("%Y%m%d-%H%M%S"))
    for suffix in ("", "-wal", "-shm"):
        old = lib / (LEDGER_NAME + suffix)
        if old.exists():
            aside = lib / f"{LEDGER_NAME}.old-{stamp}{suffix}"
            old.rename(aside)
            if suffix == "":
                report.moved_aside.append(aside)
    rows = {r["intent_id"]: r for r in kept}
    for row in _rows_from_sidecars(lib, report.skipped):
        old_row = rows.get(row["intent_id"])
        if old_row is None or old_row["status"] != "done":
            rows[row["intent_id"]] = row
            report.from_sidecars += 1
            report.incomplete += row["status"] == "running"
            report.children += row.get("kind") is not None
    report.kept_rows = len(rows) - report.from_sidecars
    ledger = Ledger(lib, start_empty=True)
    try:
        for row in rows.values():
            ledger.restore(row)
    finally:
        ledger.close()
    return report


def _free_stamp(lib: Path, stamp: str) -> str:
    """``stamp``, or ``stamp-2``, ``-3``...: the first no aside file of the ledger has
    yet (a rename onto an existing name would replace it: two rebuilds in one second)."""
    n, mine = 1, stamp
    while any((lib / f"{LEDGER_NAME}.old-{mine}{s}").exists() for s in ("", "-wal", "-shm")):
        n += 1
        mine = f"{stamp}-{n}"
    return mine


def _salvage(path: Path) -> list[dict[str, Any]]:
    """The rows of the old ledger that still read as rows (none when it is unreadable)."""
    if not path.is_file() or path.stat().st_size == 0:
        return []
    out: list[dict[str, Any]] = []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        conn.row_factory = sqlite3.Row
        for r in conn.execute("SELECT * FROM intents"):
            try:
                row = {k: r[k] for k in COLUMNS if k in r.keys()}
                row["body"] = json.loads(row["body"])
                row["files"] = json.loads(row.get("files") or "[]")
                row["asset_ids"] = json.loads(row.get("asset_ids") or "[]")
                row["detail"] = json.loads(row["detail"]) if row.get("detail") else None
                if isinstance(row["body"], dict) and isinstance(row["files"], list):
                    row["files"] = [_salvaged_file(path.parent, p) for p in row["files"]]
                    out.append(row)
            except (ValueError, TypeError, KeyError, IndexError):
                continue  # a hand-damaged row: its generation comes back from sidecars
    except sqlite3.Error:
        pass  # a damaged page: keep the rows read before it
    finally:
        conn.close()
    return out


def _salvaged_file(lib: Path, stored: str) -> Path:
    """A file path as an old row stored it, as a path now: absolute as it was; relative
    to the library (``sub/x.png``) when the file is there; else by its name at the top of
    the library (a row written before paths were relative held the writer's path)."""
    if Path(stored).is_absolute():
        return Path(stored)
    here = lib / stored
    return here if here.exists() else lib / Path(stored).name


def _lineage(data: Any) -> dict[str, Any] | None:
    """The lineage entry of a sidecar that a ledger recorded (it names its row), else
    None: a generation's sidecar holds it at the top, a saved panorama's in its
    metadata."""
    if not isinstance(data, dict):
        return None
    found = data.get(LINEAGE_KEY)
    if found is None and isinstance(data.get("metadata"), dict):
        found = data["metadata"].get(LINEAGE_KEY)
    ok = (isinstance(found, dict) and isinstance(found.get("intent_id"), str)
          and found.get("kind") in CHILD_KINDS and isinstance(found.get("detail"), dict))
    return found if ok else None


def _rows_from_sidecars(lib: Path, skipped: list[str]) -> list[dict[str, Any]]:
    """One row per intent whose outputs' sidecars are in ``lib``, children linked to
    their source again."""
    groups: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    children: dict[str, tuple[Path, dict[str, Any]]] = {}
    for side in sorted(lib.glob("*.json")):
        try:
            data = sidecar.load(side)
        except (OSError, ValueError) as e:
            skipped.append(f"{side.name}: not readable JSON ({e})")
            continue
        generation = sidecar.is_generation(data)
        lineage = _lineage(data)
        if not generation and lineage is None:
            continue  # neither a generation's sidecar nor a recorded child's
        image = lib / str(data.get("file", ""))
        if not data.get("file") or not image.is_file():
            skipped.append(f"{side.name}: its image {data.get('file')!r} is not there")
            continue
        if lineage is not None:
            children.setdefault(lineage["intent_id"], (image, lineage))
        if generation:
            key = str(data.get("intent_id") or data["job"].get("id"))
            groups.setdefault(key, []).append((image, data))
    rows = {r["intent_id"]: r for r in
            (_row(key, sorted(g, key=lambda x: _index(x[1]))) for key, g in groups.items())}
    for intent_id, (image, lineage) in children.items():
        if intent_id in rows:  # a paid child's download: its job's row, linked
            rows[intent_id].update(_link(lineage))
        else:  # a repair; or a paid child whose download is gone
            rows[intent_id] = _child_row(image, lineage)
    return list(rows.values())


def _link(lineage: dict[str, Any]) -> dict[str, Any]:
    """The lineage columns of a child's row, as its sidecar recorded them."""
    return {"parent_id": lineage.get("parent_id"), "kind": lineage["kind"],
            "detail": dict(lineage["detail"])}


def _child_row(image: Path, lineage: dict[str, Any]) -> dict[str, Any]:
    """A child's row from its sidecar's lineage alone: a repair (free: no job, no
    cost, its file), or a paid child whose job's download is gone (done: its output,
    in its detail, is what a person looks at)."""
    kind, intent_id = lineage["kind"], lineage["intent_id"]
    row = lineage.get("row") if isinstance(lineage.get("row"), dict) else {}
    free = kind == "repair"
    model_id = str(row.get("model_id") or f"skybox_nb.{kind}")
    body = row.get("request") if isinstance(row.get("request"), dict) else {}
    created = row.get("created_at")
    return {
        "intent_id": intent_id,
        "fingerprint": f"{kind}:{intent_id}" if free else _fingerprint(model_id, body),
        "model_id": model_id,
        "body": body,
        "status": "done",
        "job_id": row.get("job_id"),
        "job_status": None if free else "success",
        "progress": 0.0 if free else 1.0,
        "asset_ids": [],
        "files": [image] if free else [],
        "cu_cost": 0.0 if free else row.get("cu_cost"),
        "error": None,
        "created_at": float(created) if isinstance(created, (int, float))
        else image.stat().st_mtime,
        "updated_at": time.time(),
        "pid": 0,
        "backend": row.get("backend"),
        **_link(lineage),
    }


def _index(data: dict[str, Any]) -> int:
    try:
        return int(data.get("output_index") or 0)
    except (TypeError, ValueError):
        return 0


def _row(key: str, outputs: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """A ledger row for one intent from its outputs' sidecars."""
    first = outputs[0][1]
    body = first["request"]
    model_id = str(first.get("model_id") or SkyboxRequest.model_id)
    job = first["job"]
    expected = body.get("numOutputs") or _default_outputs(model_id, body)
    complete = len(outputs) >= expected
    created = parse_iso((first.get("times") or {}).get("intent")) or \
        parse_iso(job.get("createdAt")) or outputs[0][0].stat().st_mtime
    return {
        "intent_id": key if key.startswith("intent_") else f"intent_rebuilt_{key}",
        "fingerprint": _fingerprint(model_id, body),
        "model_id": model_id,
        "body": body,
        "status": "done" if complete else "running",
        "job_id": job.get("id"),
        "job_status": job.get("status"),
        "progress": 1.0,
        "asset_ids": [str((d.get("asset") or {}).get("id") or "") for _, d in outputs],
        "files": [p for p, _ in outputs] if complete else [],
        "cu_cost": first.get("cu_cost"),
        "error": None,
        "created_at": created,
        "updated_at": time.time(),
        "pid": 0,
    }


def _skybox_request(model_id: str, body: dict[str, Any]) -> SkyboxRequest | None:
    if model_id != SkyboxRequest.model_id:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return SkyboxRequest.from_body(body)
    except ValueError:
        return None


def _default_outputs(model_id: str, body: dict[str, Any]) -> int:
    req = _skybox_request(model_id, body)
    return req.num_outputs_effective if req is not None else 1


def _fingerprint(model_id: str, body: dict[str, Any]) -> str:
    """The fingerprint the client gave this request (its body with defaults filled in)."""
    req = _skybox_request(model_id, body)
    return req.fingerprint if req is not None else body_fingerprint(model_id, body)
