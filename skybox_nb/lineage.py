"""Which generation came from which: the chain of an upscale, a repair, a refine.

Invariant: read-only, and derived from what the ledger already records, one record per
link: a row that names its ``parent_id`` (a repair, which sends nothing; a refine,
whose input is a rolled copy of its parent, not its parent's asset) is linked by that;
any other child's request names its parent's asset in ``image`` (the upscaler's input,
an img2img init, image-to-skybox's photo), and the parent's row lists that asset among
its outputs.
"""

from __future__ import annotations

from typing import Any, Iterable

from .ledger import IntentRecord

__all__ = ["input_asset", "parent", "children", "chain"]


def input_asset(gen: IntentRecord) -> str | None:
    """The asset a generation started from (its request's ``image``), or None."""
    aid = gen.request.get("image")
    return aid if isinstance(aid, str) else None


def _rows(ledger: Any) -> Iterable[IntentRecord]:
    return ledger.generations() if hasattr(ledger, "generations") else ledger


def parent(ledger: Any, gen: IntentRecord) -> IntentRecord | None:
    """The row ``gen`` names as its parent, else the ledger's generation whose outputs
    include ``gen``'s input asset, or None (an upload, or a generation made elsewhere)."""
    if gen.parent_id is not None:
        return next((g for g in _rows(ledger) if g.intent_id == gen.parent_id), None)
    aid = input_asset(gen)
    if aid is None:
        return None
    return next((g for g in _rows(ledger) if aid in g.asset_ids), None)


def children(ledger: Any, gen: IntentRecord) -> list[IntentRecord]:
    """The rows made from ``gen`` (naming it as their parent, or started from one of its
    outputs), oldest first."""
    mine = set(gen.asset_ids)
    kids = [g for g in _rows(ledger) if g.parent_id == gen.intent_id
            or (g.parent_id is None and input_asset(g) in mine)]
    return sorted(kids, key=lambda g: g.created_at)


def chain(ledger: Any, gen: IntentRecord) -> list[IntentRecord]:
    """``gen`` and its ancestors, the first generation first."""
    rows = list(_rows(ledger))
    out, seen = [gen], {gen.intent_id}
    while (up := parent(rows, out[-1])) is not None and up.intent_id not in seen:
        out.append(up)
        seen.add(up.intent_id)
    return out[::-1]
