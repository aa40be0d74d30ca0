"""Work made from a saved panorama, in the ledger: which row a file came from, and a
repair recorded as a free child of that row.

Invariant: a child is recorded only under a row the ledger has (found by the source's
file, else by the job its sidecar names); a file the ledger does not know (made
elsewhere, or in another library) gets no row, and its sidecar alone says what it is a
repair of. Verdicts are stored as `verdicts` gives them, the same for repairs and
refines. Recording never changes an image or a sidecar.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from . import sidecar
from .ledger import LEDGER_NAME, IntentRecord, Ledger

if TYPE_CHECKING:  # pragma: no cover
    from .seams import SeamReport

__all__ = ["verdicts", "repair_summary", "source_row", "library_of", "record_repair"]


def verdicts(report: "SeamReport") -> dict[str, Any]:
    """A seam check's verdicts as plain JSON: what a child row records before and after."""
    return {"seamless": report.seamless, "wrap": report.wrap.ok,
            "north": report.poles.north.ok, "south": report.poles.south.ok,
            "defects": list(report.defects)}


def repair_summary(result: Any, wrap: bool = True, poles: bool = True) -> dict[str, Any]:
    """What a child row records of a `repair.Repair`, as plain JSON (it travels back from
    a batch's worker): what was asked (``wrap``, ``poles``), the ``steps`` taken, the
    ``changed_share`` of pixels and the verdicts ``before`` and ``after``."""
    return {"wrap": bool(wrap), "poles": bool(poles), "steps": list(result.steps),
            "changed_share": float(result.changed), "before": verdicts(result.before),
            "after": verdicts(result.after)}


def source_row(ledger: Ledger, path: str | os.PathLike[str] | None,
               metadata: Mapping[str, Any] | None = None) -> IntentRecord | None:
    """The ledger row a panorama came from: the one whose output is the file at ``path``
    (a generation's output, a repair, a refine), else the job its ``metadata`` (default:
    its sidecar's) names; None when the ledger knows neither."""
    rec = ledger.by_file(path) if path is not None else None
    if rec is None:
        meta = metadata if metadata is not None else (
            sidecar.read(Path(path)) if path is not None else {})
        job = meta.get("job_id")
        if isinstance(job, str):
            rec = ledger.by_job(job)
    return rec


def library_of(path: str | os.PathLike[str]) -> Path | None:
    """The library a file lies in (its folder holds a ledger), or None."""
    folder = Path(path).resolve().parent
    return folder if (folder / LEDGER_NAME).is_file() else None


def record_repair(ledger: Ledger, source: str | os.PathLike[str], out: str | os.PathLike[str],
                  summary: Mapping[str, Any]) -> str | None:
    """Record the repair of ``source`` written to ``out`` as a free child of the row
    ``source`` came from. ``summary``: ``steps``, ``before`` and ``after`` (`verdicts`),
    ``changed_share``, ``wrap`` and ``poles`` (what was asked). Returns the child's id,
    or None when the ledger does not know the source (nothing is written)."""
    parent = source_row(ledger, source)
    if parent is None:
        return None
    detail = {k: summary[k] for k in ("steps", "before", "after", "changed_share")
              if k in summary}
    detail["source"] = str(Path(source).name)
    body = {"repair": {"wrap": bool(summary.get("wrap", True)),
                       "poles": bool(summary.get("poles", True))}}
    return ledger.record_child(parent.intent_id, "repair", [Path(out)], detail, body=body)
