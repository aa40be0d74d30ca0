"""Repair with the model, paid: send the panorama back to Skybox Flux.1 as an init image at a
low strength, with its wrap seam turned to the middle, and check what comes back.

Invariant: nothing is spent before the cost is known. `refine` uploads the panorama rolled
by half its width (the seam in the middle, where the model paints it like any other
content), builds the request from the source's own prompt, style and seed with the given
``strength``, and asks for the quote (``client.estimate``, a dry run); only with
``dry_run=False`` and a quote within ``max_cu`` does it run the job. The output is rolled
back, checked, and saved beside the source with a sidecar naming the source as its parent
(file, asset, job) and the refine's own job and cost. Only the client's public methods are
used (``upload``, ``estimate``, ``run``), so any client with them will do.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .panorama import Panorama, Source
from .request import SkyboxRequest
from .seams import SeamReport, seam_report

__all__ = ["refine", "Refinement", "DEFAULT_STRENGTH"]

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

    def __repr__(self) -> str:
        if not self.ran:
            return f"Refinement(not run: {self.reason}; quote {self.quote:g} CU)"
        now = "seamless" if self.after and self.after.seamless else "still NOT seamless"
        return (f"Refinement({now}; {self.cu_cost if self.cu_cost is not None else '?'} CU, "
                f"job {self.job_id}; saved {self.path.name if self.path else '?'})")

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
    return base.replace(strength=strength, num_outputs=1, **overrides)


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
    Returns a `Refinement`."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) \
            or not 0 < strength < 1:
        raise ValueError(f"strength: got {strength!r}; allowed: 0 < strength < 1 (low, "
                         f"e.g. {DEFAULT_STRENGTH}, keeps the picture)")
    pano = panorama if isinstance(panorama, Panorama) else Panorama.load(panorama)
    before = seam_report(pano)
    arr = pano.array
    half = arr.shape[1] // 2
    asset = client.upload(np.ascontiguousarray(np.roll(arr, half, axis=1)))
    req = _request_for(pano, float(strength), request, {**overrides, "image": asset})
    quote = float(client.estimate(req))
    if dry_run or (max_cu is not None and quote > max_cu):
        reason = "dry run" if dry_run else f"quote {quote:g} CU over max_cu {max_cu:g}"
        return Refinement(quote, req, before, False, reason=reason, source=pano.path)
    result = client.run(req)
    back = Panorama.load(result.files[0])
    fixed = np.roll(back.array, -(back.width // 2), axis=1)  # the seam back to the border
    parent = {"file": str(pano.path) if pano.path is not None else "an array",
              **{k: pano.metadata[k] for k in ("asset_id", "job_id", "seed")
                 if k in pano.metadata}}
    meta = {k: v for k, v in back.metadata.items() if k != "file"}
    meta["refine"] = {"of": parent, "strength": float(strength), "job_id": result.job.id,
                      "cu_cost": result.cu_cost, "quote": quote}
    refined = Panorama(fixed, meta, ratio="ignore")
    after = seam_report(refined)
    if out is None:
        out = (pano.path.with_name(f"{pano.path.stem}-refined.png") if pano.path is not None
               else Path(f"refined-{result.job.id}.png"))
    path = refined.save(out)
    return Refinement(quote, req, before, True, refined, after, path, result.cu_cost,
                      result.job.id, source=pano.path)
