"""The upscale chain: a skybox to Scenario's skybox upscaler and back, with its seam checked.

Invariant: nothing is paid for unseen. The chain finds (or uploads) the input asset,
quotes the job with a dry run (which the upscaler answers only once its input is
uploaded), lets the caller refuse that quote (``confirm`` or ``max_cost``), and only then
runs it; the upscaled file is checked with the same `seam_report` as any result, and a
wrap the upscaler broke is flagged (and mended on request with `repair`, the original
kept). The chain in the ledger needs no table of its own: the upscale's row is written
as an "upscale" child of the row its input came from (a generation, a repair, a refine,
another upscale), in the same INSERT as its intent, before the POST; its request also
names its input asset in ``image`` (see `lineage`). Its download's sidecar and a repair
of a broken wrap (a "repair" child of the upscale) name their source too, so the chain
parent -> upscale -> repair, or parent -> repair -> upscale, survives a rebuilt ledger.
It uses the client's public methods only, so it works the same on Scenario and on the
emulator.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import child_files
from .contract import ModelSpec
from .errors import NotFoundError, SkyboxError
from .files import commit_file, temp_path
from .ledger_children import save_repair, source_row, verdicts
from .panorama import Panorama
from .request import ModelRequest
from .seams import SeamReport, seam_report

__all__ = ["UPSCALER_ID", "FAITHFUL_STRENGTH", "Upscale", "UpscaleRefused", "upscale",
           "quote", "resolve_source"]

UPSCALER_ID = "model_sc-upscale-flux-skybox"
# The model's own default strength (0.6) invents detail; lower stays faithful to the
# input (facts file). 0.3 keeps the picture and still sharpens the enlargement.
FAITHFUL_STRENGTH = 0.3


class UpscaleRefused(SkyboxError):
    """The quote was refused (by ``confirm`` or over ``max_cost``): nothing was run."""

    kind = "refused"


@dataclass
class Upscale:
    """What the chain did: the ``quote`` (CU) shown before running, the ``request`` sent,
    the ``run`` (a RunResult), the upscaled ``file`` and its ``report``, the input's
    ``before`` report when its pixels were at hand, the ``source`` asset id and file, and,
    when the wrap broke and a repair was asked for, the ``repaired`` file and ``repair``."""

    quote: float
    request: ModelRequest
    run: Any
    file: Path
    report: SeamReport
    source_asset: str
    source_file: Path | None = None
    before: SeamReport | None = None
    repaired: Path | None = None
    repair: Any = field(default=None, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the upscaled image."""
        from PIL import Image

        with Image.open(self.file) as im:  # the header only: no decode of a large image
            return im.size

    @property
    def wrap_broke(self) -> bool:
        """True when the upscaled wrap seam fails and the input's held (or is unknown)."""
        held = self.before is None or self.before.wrap.ok
        return held and not self.report.wrap.ok

    def verdict(self) -> str:
        """One line for a person: the seam verdict, and what to do about a broken wrap."""
        if self.report.seamless:
            return "seamless"
        what = "; ".join(self.report.defects) or "not seamless"
        if self.wrap_broke:
            mended = (" A repaired copy holds (see .repaired)." if self.repaired
                      and self.repair is not None and self.repair.after.wrap.ok else "")
            return (f"the upscaler broke the wrap seam ({what}); lower the strength "
                    f"(faithful: {FAITHFUL_STRENGTH}) or repair it.{mended}")
        return f"not seamless ({what})"

    def _repr_html_(self) -> str:
        import html

        w, h = self.size
        ok = self.report.seamless
        colour = "#047857" if ok else "#b91c1c"
        return (f"<div><b>Upscaled</b> to {w}x{h} for <b>{self.quote:g} CU</b>: "
                f"<code>{html.escape(str(self.file))}</code><br>seam: <span style='color:"
                f"{colour}'>{html.escape(self.verdict())}</span></div>")


def _asset_of(metadata: dict[str, Any]) -> str | None:
    aid = metadata.get("asset_id")
    return aid if isinstance(aid, str) and aid.startswith("asset_") else None


def resolve_source(client: Any, source: Any, index: int = 0) -> tuple[str, Path | None]:
    """The asset id to upscale and the local file, if any, for ``source``: a RunResult
    (its output ``index``), a gallery item, a Panorama or a path (their sidecar's asset
    id when Scenario still has it, else an upload of the pixels), or an asset id."""
    if isinstance(source, str) and source.startswith("asset_") and not Path(source).exists():
        return source, None
    if hasattr(source, "assets") and hasattr(source, "files"):  # a RunResult
        return source.assets[index].id, Path(source.files[index])
    if hasattr(source, "asset_id") and hasattr(source, "path"):  # a GalleryItem
        aid, path = getattr(source, "asset_id"), Path(source.path)
    else:
        pano = source if isinstance(source, Panorama) else Panorama.load(source)
        path = getattr(pano, "path", None) or (Path(source) if isinstance(source, (str, Path)) else None)
        aid = _asset_of(pano.metadata)
        if aid is None:
            return client.upload(path if path is not None else pano.array), path
    if aid:
        try:
            client.asset(aid)  # still there? (assets outlive their URLs)
            return aid, path
        except NotFoundError:
            pass
    return client.upload(path), path


def quote(client: Any, source: Any, factor: int = 2, strength: float = FAITHFUL_STRENGTH,
          *, index: int = 0, spec: ModelSpec | None = None,
          **inputs: Any) -> tuple[float, ModelRequest, Path | None]:
    """What upscaling ``source`` would cost, before anything is paid: finds or uploads the
    input (the upscaler's dry run needs it uploaded), validates the request against the
    model's spec and asks for a dry run. Returns ``(CU, request, local source file)``."""
    spec = spec or client.model_spec(UPSCALER_ID)
    asset_id, source_file = resolve_source(client, source, index)
    body = {"image": asset_id, "upscaleFactor": factor, "strength": strength, **inputs}
    request = ModelRequest(spec, body)
    return float(client.estimate(request)), request, source_file


def upscale(client: Any, source: Any, factor: int = 2, strength: float = FAITHFUL_STRENGTH,
            *, out_dir: str | Path | None = None, repair: bool = False,
            confirm: Callable[[float, ModelRequest], bool] | None = None,
            max_cost: float | None = None, on_progress: Any = None, index: int = 0,
            spec: ModelSpec | None = None, **inputs: Any) -> Upscale:
    """Upscale ``source`` ``factor`` times with the skybox upscaler and check its seam.

    ``strength`` defaults to a faithful `FAITHFUL_STRENGTH` (the model's 0.6 invents).
    Other upscaler inputs (``prompt``, ``numInferenceSteps``, ...) pass through
    ``inputs`` and are validated against the model's spec like any request. The quote
    comes first: ``confirm(quote, request)`` returning False, or a quote over
    ``max_cost``, raises `UpscaleRefused` before anything is paid. ``out_dir`` gets a
    copy of the result; ``repair=True`` mends a wrap the upscaler broke into
    ``<name>-repaired.png`` beside it. Returns an `Upscale`.
    """
    cost, request, source_file = quote(client, source, factor, strength, index=index,
                                       spec=spec, **inputs)
    if max_cost is not None and cost > max_cost:
        raise UpscaleRefused(f"the upscale costs {cost:g} CU, over max_cost={max_cost:g}; "
                             "nothing was run")
    if confirm is not None and not confirm(cost, request):
        raise UpscaleRefused(f"the quote of {cost:g} CU was declined; nothing was run")
    before = seam_report(source_file) if source_file is not None and source_file.is_file() else None
    ledger = getattr(client, "ledger", None)
    parent = _source_row(ledger, source_file, request.inputs["image"])
    src = (child_files.source_of(source_file, parent) if source_file is not None else
           {"file": None, "asset_id": request.inputs["image"],
            **({"intent_id": parent.intent_id, "known": "ledger"} if parent else
               {"known": "unknown", "note": "an asset no ledger row made"})})
    detail = {"factor": factor, "strength": strength, "quote": cost,
              "before": verdicts(before) if before is not None else None}
    if ledger is None:
        run = client.run(request, on_progress=on_progress)
    else:
        with ledger.expect_child(request.fingerprint, parent.intent_id if parent else None,
                                 "upscale", {**detail, "source": src}):
            run = client.run(request, on_progress=on_progress)
    file = Path(run.files[0])
    intent_id = getattr(run, "intent_id", None)
    lineage = child_files.entry("upscale", src, detail, intent_id=intent_id,
                                parent_id=parent.intent_id if parent else None)
    after = seam_report(file)
    if ledger is not None and intent_id is not None:
        copy = ({"file": Path(out_dir) / file.name} if out_dir is not None and
                (Path(out_dir) / file.name).resolve() != file.resolve() else {})
        ledger.set_detail(intent_id, after=verdicts(after), **copy,
                          output={"file": file.name, "sha256": child_files.sha256_file(file)})
        lineage = child_files.recorded(ledger.get(intent_id))
    child_files.mark_generation(file, lineage)  # before the copy: the copy says it too
    if out_dir is not None:
        dest = Path(out_dir)
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / file.name
        if target.resolve() != file.resolve():  # the library keeps its own copy
            for orig, dst in ((file, target), (file.with_suffix(".json"), target.with_suffix(".json"))):
                if orig.is_file():  # the sidecar too: it names the asset for the next step
                    tmp = temp_path(dst)
                    shutil.copyfile(orig, tmp)
                    commit_file(tmp, dst)
        file = target
    result = Upscale(quote=cost, request=request, run=run, file=file,
                     report=after, source_asset=request.inputs["image"],
                     source_file=source_file, before=before)
    if repair and result.wrap_broke:
        try:
            from .repair import repair as mend  # the seam repair module
        except ImportError:  # a version without it: the verdict still flags the wrap
            return result
        fixed = mend(Panorama.load(file))  # where the check failed: the wrap, and poles its band reached
        # a "repair" child of the upscale's row, its sidecar naming the upscaled file
        result.repaired, _ = save_repair(fixed, file, file.with_name(f"{file.stem}-repaired.png"),
                                         ledger)
        result.repair = fixed
    return result


def _source_row(ledger: Any, source_file: Path | None, asset_id: str) -> Any:
    """The ledger row the upscale's input came from: the one that made its file (a
    generation, a repair, a refine, an upscale's copy), else the one whose outputs hold
    the input asset; None without a ledger or when it knows neither."""
    if ledger is None:
        return None
    rec = source_row(ledger, source_file) if source_file is not None else None
    if rec is None:
        rec = next((g for g in ledger.generations() if asset_id in g.asset_ids), None)
    return rec
