"""A file made here from another panorama (a repair, a refine's output turned back, an
upscale): what its sidecar says it was made from.

Invariant: the sidecar of such a file carries one ``lineage`` entry: its ``kind``, its
``source`` (file, path, sha256 of the bytes, and the ids that name it: the ledger row
when the ledger knows it, else what the source's own sidecar names), its own ``file``
and ``sha256``, what was done (``detail``) and, once recorded, its row (``intent_id``,
the row's ``detail`` as stored, and the rest of it under ``row``) and its parent's
(``parent_id``): enough for `ledger_rebuild` to give the row back as it was. A source nobody recorded (a plain file, an array) is
said to be ``unknown``; no parent is made up for it. The sidecar of a child never names
the source's Scenario asset or job as its own (``asset_id``, ``job_id``): those are not
its pixels, and an upscale of the child would otherwise send the source.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from . import sidecar
from .files import write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    from .ledger import IntentRecord
    from .panorama import Panorama

__all__ = ["LINEAGE_KEY", "KNOWN", "sha256_file", "source_of", "entry", "save_child", "check_out",
           "recorded", "link", "read_lineage", "mark_generation"]

LINEAGE_KEY = "lineage"
# How a source is known: by a ledger row, by its own sidecar only, or not at all.
KNOWN = ("ledger", "sidecar", "unknown")
# Metadata naming a Scenario asset or job: true of the source's pixels, not the child's.
_NOT_THESE_PIXELS = ("asset_id", "job_id", "file", LINEAGE_KEY)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of the file's bytes, in hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _own_ids(path: Path) -> dict[str, str]:
    """The ids a file's own sidecar gives it: the intent that made it (a generation's
    sidecar, or a child's lineage), and its Scenario job and asset."""
    ids: dict[str, str] = {}
    try:
        raw = sidecar.load(sidecar.path_for(path))
    except (OSError, ValueError):
        raw = None
    if isinstance(raw, dict):
        if isinstance(raw.get("intent_id"), str):
            ids["intent_id"] = raw["intent_id"]
        mine = (raw.get("metadata") or {}).get(LINEAGE_KEY) \
            if isinstance(raw.get("metadata"), dict) else raw.get(LINEAGE_KEY)
        if isinstance(mine, dict) and isinstance(mine.get("intent_id"), str):
            ids.setdefault("intent_id", mine["intent_id"])
    flat = sidecar.read(path)
    for k in ("job_id", "asset_id"):
        if isinstance(flat.get(k), str):
            ids[k] = flat[k]
    return ids


def source_of(path: str | os.PathLike[str] | None,
              parent: "IntentRecord | None" = None) -> dict[str, Any]:
    """What a child says its source is: ``file`` (name), ``path``, ``sha256`` (None for
    an array), ``intent_id``/``job_id``/``asset_id`` when known, and ``known``: "ledger"
    (``parent`` is its row), "sidecar" (only its own sidecar names it) or "unknown" (a
    plain file or an array: nothing says where it came from)."""
    if path is None:
        return {"file": None, "path": None, "sha256": None, "known": "unknown",
                "note": "an array: nothing records where it came from"}
    p = Path(path)
    out: dict[str, Any] = {"file": p.name, "path": str(p.resolve()),
                           "sha256": sha256_file(p) if p.is_file() else None}
    out.update(_own_ids(p))
    if parent is not None:
        out.update(intent_id=parent.intent_id, known="ledger")
        if parent.job_id and "job_id" not in out:
            out["job_id"] = parent.job_id
    elif any(k in out for k in ("intent_id", "job_id", "asset_id")):
        out["known"] = "sidecar"
    else:
        out.update(known="unknown", note="a plain file: no ledger row and no sidecar "
                   "say where it came from")
    return out


def entry(kind: str, source: Mapping[str, Any], detail: Mapping[str, Any], *,
          parent_id: str | None = None, intent_id: str | None = None) -> dict[str, Any]:
    """A lineage entry: ``kind`` made from ``source`` (`source_of`), ``detail`` what was
    done, ``parent_id`` and ``intent_id`` the rows once the ledger has recorded it."""
    return {"kind": kind, "source": dict(source), "parent_id": parent_id,
            "intent_id": intent_id, "detail": dict(detail)}


def check_out(source: str | os.PathLike[str] | None, out: str | os.PathLike[str],
              name: str = "out") -> None:
    """Raise ValueError (naming ``name``) when writing a child of ``source`` to ``out``
    would replace the source's image or its sidecar (``pano.jpg`` shares the sidecar
    ``pano.json`` of ``pano.png``)."""
    if source is None:
        return
    src, dst = Path(source).resolve(), Path(out).resolve()
    if dst == src:
        raise ValueError(f"{name}: got {str(out)!r}, the source itself; allowed: another "
                         "file (the source is never replaced)")
    if sidecar.path_for(dst) == sidecar.path_for(src):
        raise ValueError(f"{name}: got {str(out)!r}, whose sidecar "
                         f"{sidecar.path_for(dst).name} is the source's; allowed: another "
                         "name (the source's record is never replaced)")


def save_child(pano: "Panorama", out: str | os.PathLike[str],
               lineage: Mapping[str, Any]) -> tuple[Path, str]:
    """Save ``pano`` to ``out`` (image first, then its sidecar, each atomically), its
    sidecar's metadata carrying ``lineage`` with the written file's name and SHA-256.
    The source's asset and job ids are left out of the metadata (they stay under
    ``lineage.source``). Returns (the image path, its SHA-256)."""
    from .panorama import Panorama

    check_out((lineage.get("source") or {}).get("path"), out)
    meta = {k: v for k, v in pano.metadata.items() if k not in _NOT_THESE_PIXELS}
    path = Panorama(pano.array, meta, ratio="ignore").save(out, sidecar=False)
    digest = sha256_file(path)
    meta[LINEAGE_KEY] = {**lineage, "file": path.name, "sha256": digest}
    sidecar.write_metadata(path, meta)
    return path, digest


def read_lineage(image: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The lineage entry of the sidecar beside ``image`` (a child's or a paid child's
    download), or None."""
    try:
        raw = sidecar.load(sidecar.path_for(Path(image)))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    found = raw.get(LINEAGE_KEY)
    if found is None and isinstance(raw.get("metadata"), dict):
        found = raw["metadata"].get(LINEAGE_KEY)
    return found if isinstance(found, dict) else None


def recorded(rec: "IntentRecord") -> dict[str, Any]:
    """The lineage entry of a child the ledger has recorded: its ``kind``, ``source``,
    ``parent_id``, ``intent_id``, ``detail`` (the row's, as stored) and ``row`` (the
    rest a rebuilt ledger needs: model, request, job, cost, backend, time)."""
    return {"kind": rec.kind, "source": dict(rec.detail.get("source") or {}),
            "parent_id": rec.parent_id, "intent_id": rec.intent_id,
            "detail": dict(rec.detail),
            "row": {"model_id": rec.model_id, "request": dict(rec.request),
                    "job_id": rec.job_id, "cu_cost": rec.cu_cost,
                    "backend": rec.backend, "created_at": rec.created_at}}


def link(image: str | os.PathLike[str], rec: "IntentRecord") -> bool:
    """Complete the lineage entry in the sidecar of ``image`` with its row in the
    ledger (`recorded`): the source is then known by its row. Returns False when the
    file has no lineage entry (nothing is written)."""
    side = sidecar.path_for(Path(image))
    try:
        raw = sidecar.load(side)
    except (OSError, ValueError):
        return False
    holder = raw.get("metadata") if isinstance(raw, dict) and isinstance(
        raw.get("metadata"), dict) and LINEAGE_KEY in raw["metadata"] else raw
    if not isinstance(holder, dict) or not isinstance(holder.get(LINEAGE_KEY), dict):
        return False
    mine = holder[LINEAGE_KEY]
    made = recorded(rec)
    if not made["source"]:
        made["source"] = mine.get("source") or {}
    mine.update(made)
    write_json_atomic(side, raw)
    return True


def mark_generation(image: str | os.PathLike[str], lineage: Mapping[str, Any]) -> bool:
    """Add ``lineage`` to the generation sidecar the client wrote beside a paid child's
    download (a refine's, an upscale's), so a rebuilt ledger links it again. Returns
    False when there is no such sidecar."""
    side = sidecar.path_for(Path(image))
    try:
        raw = sidecar.load(side)
    except (OSError, ValueError):
        return False
    if not sidecar.is_generation(raw):
        return False
    raw[LINEAGE_KEY] = {**lineage, "file": Path(image).name}
    write_json_atomic(side, raw)
    return True
