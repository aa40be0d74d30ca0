"""Work made from a saved panorama, in the ledger: which row a file came from, and a
repair recorded as a free child of that row.

Invariant: a child is recorded only under a row the ledger has (found by the source's
file, else by the job its sidecar names); a file the ledger does not know (made
elsewhere, or in another library) gets no row, and its sidecar alone says what it is a
repair of (`child_files`: the source's file, sha256 and ids, or that it is unknown).
A child row's detail holds what was done (``repaired``: the wrap rows and columns, the
poles), the verdicts ``before`` and ``after`` (as `verdicts` gives them, the same for
repairs, refines and upscales), the ``source`` and the ``output`` file with its sha256;
its sidecar holds the same and names the row, so `ledger_rebuild` restores it.
Recording never changes an image, and of the sidecars only the child's own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from . import child_files, sidecar
from .ledger import LEDGER_NAME, IntentRecord, Ledger

if TYPE_CHECKING:  # pragma: no cover
    from .repair import Repair
    from .seams import SeamReport

__all__ = ["verdicts", "repaired_parts", "repair_summary", "source_row", "library_of",
           "record_repair", "save_repair"]


def verdicts(report: "SeamReport") -> dict[str, Any]:
    """A seam check's verdicts as plain JSON: what a child row records before and after."""
    return {"seamless": report.seamless, "wrap": report.wrap.ok,
            "north": report.poles.north.ok, "south": report.poles.south.ok,
            "defects": list(report.defects)}


def _runs(rows: np.ndarray) -> list[list[int]]:
    """The runs of True in a boolean row vector, as inclusive [first, last] pairs."""
    idx = np.flatnonzero(rows)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    return [[int(a), int(b)] for a, b in zip(starts, ends)]


def repaired_parts(result: "Repair") -> dict[str, Any]:
    """What a repair changed, read from its mask (the pixels it was allowed to change):
    ``wrap`` (None when the wrap was not repaired) with the ``rows`` changed at the
    border, as inclusive [first, last] runs, and the ``columns`` changed across it (the
    widest band); ``poles``: each pole repaired with the ``rows`` its cap covers. A pole
    cap repaired too counts among the wrap's rows, as its border pixels changed."""
    mask = np.asarray(result.mask, bool)
    H, W = mask.shape
    border = mask[:, 0] | mask[:, -1]
    middle = mask[:, W // 4:3 * W // 4].any(axis=1)  # off the border: a pole's cap
    band = border & ~middle  # rows changed at the border only: the wrap's band
    wrap: dict[str, Any] | None = None
    if band.any():
        wrap = {"rows": _runs(border), "columns": int(mask[band].sum(axis=1).max())}
    poles: dict[str, Any] = {}
    for name, half in (("north", slice(0, H // 2)), ("south", slice(H // 2, H))):
        pole = getattr(result.before.poles, name)
        runs = _runs(middle[half])
        if not pole.ok and runs:
            off = half.start
            poles[name] = {"rows": [runs[0][0] + off, runs[-1][1] + off]}
    return {"wrap": wrap, "poles": poles}


def repair_summary(result: Any, wrap: bool = True, poles: bool = True) -> dict[str, Any]:
    """What a child row records of a `repair.Repair`, as plain JSON (it travels back from
    a batch's worker): what was asked (``wrap``, ``poles``), the ``steps`` taken, what
    was ``repaired`` (`repaired_parts`), the ``changed_share`` of pixels and the
    verdicts ``before`` and ``after``; ``pole_disc``, the disc radius asked for (None:
    measured)."""
    return {"wrap": bool(wrap), "poles": bool(poles),
            "pole_disc": result.pole_disc, "steps": list(result.steps),
            "repaired": repaired_parts(result), "changed_share": float(result.changed),
            "before": verdicts(result.before), "after": verdicts(result.after)}


def source_row(ledger: Ledger, path: str | os.PathLike[str] | None,
               metadata: Mapping[str, Any] | None = None) -> IntentRecord | None:
    """The ledger row a panorama came from: the one whose output is the file at ``path``
    (a generation's output, a repair, a refine), else the row its ``metadata`` (default:
    its sidecar's) names: a child's ``lineage`` row (a copy of a repair), or its job;
    None when the ledger knows none of them."""
    rec = ledger.by_file(path) if path is not None else None
    if rec is None:
        meta = metadata if metadata is not None else (
            sidecar.read(Path(path)) if path is not None else {})
        mine = meta.get(child_files.LINEAGE_KEY)
        intent = mine.get("intent_id") if isinstance(mine, dict) else None
        if isinstance(intent, str):
            try:
                rec = ledger.get(intent)
            except KeyError:  # recorded in another library's ledger
                rec = None
        job = meta.get("job_id")
        if rec is None and isinstance(job, str):
            rec = ledger.by_job(job)
    return rec


def library_of(path: str | os.PathLike[str]) -> Path | None:
    """The library a file lies in (its folder holds a ledger), or None."""
    folder = Path(path).resolve().parent
    return folder if (folder / LEDGER_NAME).is_file() else None


_DETAIL_KEYS = ("steps", "repaired", "before", "after", "changed_share", "pole_disc")


def record_repair(ledger: Ledger, source: str | os.PathLike[str], out: str | os.PathLike[str],
                  summary: Mapping[str, Any], *,
                  source_info: Mapping[str, Any] | None = None) -> str | None:
    """Record the repair of ``source`` written to ``out`` as a free child of the row
    ``source`` came from, and name that row in ``out``'s sidecar. ``summary``:
    `repair_summary`'s ``steps``, ``repaired``, ``before`` and ``after``,
    ``changed_share``, ``wrap``, ``poles`` and ``pole_disc`` (what was asked);
    ``source_info``: the source as `child_files.source_of` gave it when the repair was
    made (default: read now). Returns the child's id, or None when the ledger does not
    know the source (no row is written; the sidecar says the source is not in the
    ledger)."""
    parent = source_row(ledger, source)
    if parent is None:
        return None
    src = dict(source_info) if source_info is not None else child_files.source_of(source)
    src.update(intent_id=parent.intent_id, known="ledger")
    src.pop("note", None)
    out = Path(out)
    detail = {k: summary[k] for k in _DETAIL_KEYS if k in summary}
    detail["source"] = src
    detail["output"] = {"file": out.name, "sha256": child_files.sha256_file(out)}
    body = {"repair": {"wrap": bool(summary.get("wrap", True)),
                       "poles": bool(summary.get("poles", True))}}
    if summary.get("pole_disc") is not None:  # the disc asked for, not the measured one
        body["repair"]["pole_disc"] = float(summary["pole_disc"])
    child = ledger.record_child(parent.intent_id, "repair", [out], detail, body=body)
    child_files.link(out, ledger.get(child))
    return child


def save_repair(result: "Repair", source: str | os.PathLike[str] | None,
                out: str | os.PathLike[str], ledger: Ledger | None = None, *,
                wrap: bool = True, poles: bool = True) -> tuple[Path, str | None]:
    """Save a repair of ``source`` to ``out`` with a sidecar naming its source, and
    record it in ``ledger`` as a child of the source's row when the ledger knows it
    (and something was repaired). Returns (the written file, the child's id or None)."""
    summary = repair_summary(result, wrap, poles)
    parent = source_row(ledger, source) if ledger is not None and source is not None \
        else None
    src = child_files.source_of(source, parent)
    path, _ = child_files.save_child(result.panorama, out,
                                     child_files.entry("repair", src, summary))
    child = None
    if ledger is not None and source is not None and result.steps:
        child = record_repair(ledger, source, path, summary, source_info=src)
    return path, child
