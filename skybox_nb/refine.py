"""Repair with the model, paid: send the panorama back to Skybox Flux.1 as an init image at a
low strength, with its wrap seam turned to the middle, and check what comes back.

Invariant: nothing is spent before the cost is known. `refine` uploads the panorama rolled
by half its width (the seam in the middle, where the model paints it like any other
content), builds the request from the source's own prompt, style and seed with the given
``strength``, and asks for the quote (``client.estimate``, a dry run); only with
``dry_run=False`` and a quote within ``max_cu`` does it run the job. The output is rolled
back, checked, and saved beside the source with a sidecar naming the source as its parent
(file, asset, job; and its ``lineage``: file, sha256, rows, `child_files`) and the
refine's own job and cost. Only the client's public methods are
used (``upload``, ``estimate``, ``run``), so any client with them will do.

Never paid twice: with a client that has a ledger, the refine's intent row is written as
a "refine" child of the source's row (when the ledger knows the source) before its POST,
keyed by the source's pixels and the request (`refine_key`). The same refine asked again
reuses that row: a finished one's output is turned back and saved again for free; a
running, unknown or in-flight one is asked for with the very same request (the same
uploaded init image), so the client follows its job, or refuses to pay for it twice.
"""

from __future__ import annotations

import hashlib
import html
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import child_files
from .ledger_children import source_row, verdicts
from .panorama import Panorama, Source
from .request import RequestWarning, SkyboxRequest
from .seams import SeamReport, seam_report

__all__ = ["refine", "Refinement", "DEFAULT_STRENGTH", "refine_key"]

DEFAULT_STRENGTH = 0.3


class _Client(Protocol):  # the public methods refine needs
    def upload(self, image: Any) -> str: ...
    def estimate(self, request: Any) -> float: ...
    def run(self, request: Any, on_progress: Any = None) -> Any: ...


@dataclass(frozen=True)
class Refinement:
    """What `refine` did. ``quote``: the CU the job costs (asked before anything ran);
    ``request``: what was (or would be) sent; ``ran``: False for a dry run or a quote over
    ``max_cu``, and then ``panorama``, ``after`` and ``path`` are None; ``before``: the
    source's check; ``after``: the refined panorama's; ``path``: where it was saved."""

    quote: float
    request: SkyboxRequest
    before: SeamReport
    ran: bool
    panorama: Panorama | None = None
    after: SeamReport | None = None
    path: Path | None = None
    cu_cost: float | None = None
    job_id: str | None = None
    reason: str = ""
    source: Path | None = field(default=None, repr=False)
    # The refine's ledger row, and True when it was paid for before (nothing sent now).
    intent_id: str | None = None
    reused: bool = False

    def __repr__(self) -> str:
        if not self.ran:
            return f"Refinement(not run: {self.reason}; quote {self.quote:g} CU)"
        now = "seamless" if self.after and self.after.seamless else "still NOT seamless"
        again = ", paid before: reused" if self.reused else ""
        return (f"Refinement({now}; {self.cu_cost if self.cu_cost is not None else '?'} CU, "
                f"job {self.job_id}{again}; saved {self.path.name if self.path else '?'})")

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(repr(self))}</pre>"


def _request_for(pano: Panorama, strength: float, base: SkyboxRequest | None,
                 overrides: dict[str, Any]) -> SkyboxRequest:
    """The source's own prompt, style, seed (and level) from ``base`` or its metadata."""
    meta = pano.metadata
    if base is None:
        if not meta.get("prompt"):
            raise ValueError("panorama: its prompt is not known (no sidecar); pass "
                             "request=SkyboxRequest(prompt=..., seed=...) with the source's values")
        base = SkyboxRequest(
            prompt=str(meta["prompt"]), style=meta.get("style"),
            seed=int(meta["seed"]) if meta.get("seed") is not None else None,
            geometry_enforcement=meta.get("geometryEnforcement"),
            num_inference_steps=meta.get("numInferenceSteps"),
            negative_prompt=meta.get("negativePrompt"))
    with warnings.catch_warnings():  # "strength without an init image": set once uploaded
        warnings.simplefilter("ignore", RequestWarning)
        return base.replace(strength=strength, num_outputs=1, **overrides)


def refine_key(pixels: np.ndarray, request: SkyboxRequest) -> str:
    """What makes two refines the same: the source's pixels and the request apart from
    its init image (a fresh upload of the same pixels gets a new asset id)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{pixels.shape}{pixels.dtype}".encode())
    h.update(np.ascontiguousarray(pixels).tobytes())
    body = {k: v for k, v in request.to_body().items() if k != "image"}
    h.update(json.dumps([request.model_id, body], sort_keys=True).encode())
    return h.hexdigest()


def _of(pano: Panorama) -> dict[str, Any]:
    """What a refine is of, for its sidecar and ledger row: the source's file, and its
    generation (asset, job, seed) when known."""
    return {"file": str(pano.path) if pano.path is not None else "an array",
            **{k: pano.metadata[k] for k in ("asset_id", "job_id", "seed")
               if k in pano.metadata}}


def refine(client: _Client, panorama: Source, strength: float = DEFAULT_STRENGTH, *,
           request: SkyboxRequest | None = None, dry_run: bool = False,
           max_cu: float | None = None, out: str | Path | None = None,
           **overrides: Any) -> Refinement:
    """Refine ``panorama`` with the model at a low ``strength`` (0 < strength < 1):
    upload it rolled half a turn, quote the job, and unless ``dry_run`` (or the quote is
    over ``max_cu``) run it, roll the result back, check it and save it (to ``out``, by
    default ``<source stem>-refined.png`` beside the source, or in the current folder for
    an array). The request repeats the source's prompt, style and seed (from its sidecar,
    or ``request``); ``overrides`` change fields of it (e.g. ``geometry_enforcement=80``).
    The ledger records the refine as a child of the source; the same refine asked again
    is not paid again (its quote is then 0). Returns a `Refinement`. Raises ValueError,
    before anything is paid, when ``out`` would replace the source or its sidecar."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) \
            or not 0 < strength < 1:
        raise ValueError(f"strength: got {strength!r}; allowed: 0 < strength < 1 (low, "
                         f"e.g. {DEFAULT_STRENGTH}, keeps the picture)")
    pano = panorama if isinstance(panorama, Panorama) else Panorama.load(panorama)
    if out is not None:  # before anything is paid
        child_files.check_out(pano.path, out)
    before = seam_report(pano)
    arr = pano.array
    half = arr.shape[1] // 2
    base = _request_for(pano, float(strength), request, overrides)
    ledger = getattr(client, "ledger", None)
    key = refine_key(arr, base)
    prev = ledger.child_by_key("refine", key) if ledger is not None else None
    back = _paid_output(prev) if prev is not None and prev.status == "done" else None
    if back is not None:
        req = base.replace(image=prev.request.get("image"))
        if dry_run:
            return Refinement(0.0, req, before, False, source=pano.path,
                              intent_id=prev.intent_id, reason="paid before (intent "
                              f"{prev.intent_id}): running it reuses that output for free")
        return _finish(pano, before, req, back, prev.job_id, prev.cu_cost,
                       float(prev.detail.get("quote", prev.cu_cost or 0.0)), out, ledger,
                       prev.intent_id, reused=True)
    settling = prev is not None and prev.status in ("submitting", "unknown", "running")
    if settling and isinstance(prev.request.get("image"), str):
        # the same request as before, so the client follows (or refuses to re-pay) it
        asset = prev.request["image"]
    else:
        asset = client.upload(np.ascontiguousarray(np.roll(arr, half, axis=1)))
    req = base.replace(image=asset)
    quote = float(client.estimate(req))
    if dry_run or (max_cu is not None and quote > max_cu):
        reason = "dry run" if dry_run else f"quote {quote:g} CU over max_cu {max_cu:g}"
        return Refinement(quote, req, before, False, reason=reason, source=pano.path)
    parent = (source_row(ledger, pano.path, pano.metadata) if ledger is not None
              else None)
    if ledger is None:
        result = client.run(req)
    else:
        with ledger.expect_child(req.fingerprint, parent.intent_id if parent else None,
                                 "refine", {"key": key, "of": _of(pano), "strength": float(strength),
                                            "quote": quote, "before": verdicts(before)}):
            result = client.run(req)
    return _finish(pano, before, req, Panorama.load(result.files[0]), result.job.id,
                   result.cu_cost, quote, out, ledger, getattr(result, "intent_id", None))


def _paid_output(rec: Any) -> Panorama | None:
    """A finished refine's output as its job made it (half a turn round): its download,
    else its saved file turned again; None when both are gone (then it is paid again)."""
    if rec.files and rec.files[0].is_file():
        return Panorama.load(rec.files[0])
    if rec.output is not None and rec.output.is_file():
        saved = Panorama.load(rec.output)
        meta = {k: v for k, v in saved.metadata.items() if k not in ("refine", "file")}
        return Panorama(np.roll(saved.array, saved.width // 2, axis=1), meta, ratio="ignore")
    return None


def _finish(pano: Panorama, before: SeamReport, req: SkyboxRequest, back: Panorama,
            job_id: str | None, cu_cost: float | None, quote: float,
            out: str | Path | None, ledger: Any, intent_id: str | None,
            reused: bool = False) -> Refinement:
    """Turn the job's output back half a turn, check it, save it (its sidecar naming the
    source) and note the saved file and verdict on the refine's ledger row."""
    fixed = np.roll(back.array, -(back.width // 2), axis=1)  # the seam back to the border
    meta = {k: v for k, v in back.metadata.items() if k != "file"}
    meta["refine"] = {"of": _of(pano), "strength": req.strength, "job_id": job_id,
                      "cu_cost": cu_cost, "quote": quote}
    refined = Panorama(fixed, meta, ratio="ignore")
    after = seam_report(refined)
    if out is None:
        out = (pano.path.with_name(f"{pano.path.stem}-refined.png") if pano.path is not None
               else Path(f"refined-{job_id}.png"))
    row = ledger.get(intent_id) if ledger is not None and intent_id is not None else None
    parent = ledger.parent(intent_id) if row is not None and row.parent_id else None
    src = child_files.source_of(pano.path, parent)
    detail = {"strength": req.strength, "job_id": job_id, "cu_cost": cu_cost,
              "quote": quote, "before": verdicts(before), "after": verdicts(after)}
    lineage = child_files.entry("refine", src, detail, intent_id=intent_id,
                                parent_id=row.parent_id if row is not None else None)
    path, digest = child_files.save_child(refined, out, lineage)
    if row is not None:
        ledger.set_detail(intent_id, file=path, after=verdicts(after), source=src,
                          output={"file": path.name, "sha256": digest})
        row = ledger.get(intent_id)
        child_files.link(path, row)
        lineage = child_files.recorded(row)
    if back.path is not None:  # the job's download: its sidecar names the refine too
        child_files.mark_generation(back.path, lineage)
    return Refinement(quote, req, before, True, refined, after, path, cu_cost, job_id,
                      source=pano.path, intent_id=intent_id, reused=reused)
