"""Gallery: finished skyboxes as small previews, each with its seed, style and cost, and
the actions a person takes next.

Invariant: only downscaled JPEG previews (at most ``thumb_width`` pixels wide) go through
the widget comm channel, never a full panorama. Each action is one call into the package
(``client.upload``, ``seam_report``, ``cubemap.export``, ``Viewer360``, ``Panorama.save``)
and is a public method, so notebook code and the buttons do the same thing. The history
is read from the ledger, so results survive a kernel restart.
"""

from __future__ import annotations

import base64
import html
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import ipywidgets as W
from PIL import Image

from ..contract import SKYBOX_FLUX, style_label
from ..conventions import CONVENTIONS, LAYOUT_NAMES
from ..formats import by_suffix
from .. import sidecar
from ..panorama import Panorama

__all__ = ["Gallery", "GalleryItem", "preview_jpeg"]



def preview_jpeg(path: str | Path, max_width: int = 320) -> bytes:
    """A downscaled JPEG of the panorama at ``path``, at most ``max_width`` pixels wide
    (``Panorama.thumbnail``: area-averaged, 16-bit and EXIF orientation honoured)."""
    im = Panorama.load(path).thumbnail(max_width).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _bundle(obj: Any) -> dict[str, Any]:
    """A display_data mime bundle for ``obj`` (a matplotlib Figure becomes a PNG), made
    without a running kernel so the output area fills the same from buttons and code."""
    from matplotlib.figure import Figure

    if isinstance(obj, Figure):
        buf = io.BytesIO()
        obj.savefig(buf, format="png", dpi=96)  # at 72 a figure's small print was unreadable
        return {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                "text/plain": repr(obj)}
    if hasattr(obj, "_repr_mimebundle_"):
        data = obj._repr_mimebundle_()
        return data[0] if isinstance(data, tuple) else data
    data = {"text/plain": repr(obj)}
    if hasattr(obj, "_repr_html_"):
        data["text/html"] = obj._repr_html_()
    return data


def _seed_int(seed: Any) -> int | None:
    try:
        return None if seed is None or seed == "" else int(seed)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class GalleryItem:
    """One output panorama on disk and what a person wants to know about it."""

    path: Path
    seed: int | None
    style: str
    prompt: str
    cu_cost: float | None  # of the whole job (Scenario bills jobs, not images)
    job_id: str | None = None
    asset_id: str | None = None
    index: int = 0
    geometry_enforcement: float | None = None  # as sent; 0 or None: the style's default
    outputs: int = 1  # how many outputs the job made (its cost covers them all)
    made: str = ""  # what a child is, in words ("repair of ..., free"); "" for a generation

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) read from the file's header, None when it cannot be read."""
        try:
            with Image.open(self.path) as im:
                return im.size
        except OSError:
            return None

    @property
    def caption(self) -> str:
        """``seed · style · geometry enforcement · size · cost``, as the card shows it.
        A job's cost is given once, on its first output (Scenario bills jobs, not
        images): the other outputs of the job point to it."""
        seed = "?" if self.seed is None else str(self.seed)
        ge = self.geometry_enforcement
        level = "style default" if not ge else f"{ge:g}"
        size = "x".join(map(str, self.size or ("?", "?")))
        if self.made:
            paid = self.made
        elif self.index == 0:
            cost = "?" if self.cu_cost is None else f"{self.cu_cost:g}"
            many = f" for {self.outputs} outputs" if self.outputs > 1 else ""
            paid = f"job {cost} CU{many}"
        else:
            paid = f"output {self.index + 1} of {self.outputs}, same job"
        return (f"seed {seed} · {style_label(self.style)} · geometry {level} · {size} · "
                f"{paid}")

    @property
    def short_prompt(self) -> str:
        """The prompt, cut to one card line."""
        return self.prompt if len(self.prompt) <= 60 else self.prompt[:59] + "…"

    @classmethod
    def from_result(cls, result: Any) -> list["GalleryItem"]:
        """One item per output file of a ``RunResult``."""
        req = result.request
        default_style = SKYBOX_FLUX["style"].default
        style = req.effective("style") if hasattr(req, "effective") else default_style
        style = style or ""  # a model without styles (Skybox GPT, the upscaler)
        assets = list(result.assets or [])
        items = []
        for i, path in enumerate(result.files):
            asset = assets[i] if i < len(assets) else None
            items.append(cls(
                path=Path(path),
                seed=_seed_int(asset.seed if asset else None),
                style=str(style),
                prompt=str(getattr(req, "prompt", "")),
                cu_cost=result.cu_cost,
                job_id=result.job.id,
                asset_id=asset.id if asset else None,
                index=i,
                geometry_enforcement=getattr(req, "geometry_enforcement", None),
                outputs=len(result.files),
            ))
        return items

    @classmethod
    def from_record(cls, record: Any) -> list["GalleryItem"]:
        """One item per existing file of a ``ledger.IntentRecord`` record. The seed comes
        from each file's JSON sidecar when there is one, else from the request; a
        repair's or refine's prompt and style are its source's (from its sidecar)."""
        body = dict(record.request)
        asset_ids = list(record.asset_ids)
        kind = getattr(record, "kind", "generation")
        cost = "?" if record.cu_cost is None else f"{record.cu_cost:g}"
        made = {"repair": "repair, free", "refine": f"refine, job {cost} CU",
                "upscale": f"upscale, job {cost} CU"}.get(kind, "")
        output = getattr(record, "output", None)  # a refine's output turned back
        files = [output] if output is not None else list(record.files)
        if kind == "refine":  # its job's asset is half a turn round: not these pixels
            asset_ids = []
        items = []
        for i, path in enumerate(files):
            if not Path(path).is_file():
                continue
            side = sidecar.read(Path(path))  # the metadata Panorama.load reads
            style = body.get("style") or side.get("style") or SKYBOX_FLUX["style"].default
            items.append(cls(
                path=path,
                seed=_seed_int(side.get("seed", body.get("seed"))),
                style=str(style),
                prompt=str(body.get("prompt", side.get("prompt", ""))),
                cu_cost=record.cu_cost,
                job_id=record.job_id,
                asset_id=asset_ids[i] if i < len(asset_ids) else None,
                index=i,
                geometry_enforcement=body.get("geometryEnforcement"),
                outputs=len(files),
                made=made,
            ))
        return items


_CHOSEN = object()  # Gallery.repair's pole_disc when not given: the dropdown's
MEASURED = "measured"  # the Pole disc dropdown's value for the measured disc


class Gallery:
    """Results as cards (preview, caption, actions) plus one output area for what the
    actions show. ``form`` (a ``GeneratorForm``) receives reused seeds and init images;
    ``out_dir`` is where exports and saves go (default ``<library>/exports``; relative
    paths stay relative)."""

    def __init__(
        self,
        client: Any = None,
        form: Any = None,
        *,
        thumb_width: int = 320,
        out_dir: str | Path | None = None,
        history: bool = False,
    ) -> None:
        if client is None:
            client = form.client if form is not None else None
        if client is None:
            from ..client import SkyboxClient

            client = SkyboxClient()
        self.client = client
        self.form = None
        self.thumb_width = thumb_width
        self.items: list[GalleryItem] = []
        self._lock = threading.Lock()
        self.convention = W.Dropdown(options=list(CONVENTIONS), value="unity", description="Convention")
        self.layout = W.Dropdown(options=LAYOUT_NAMES, value="six", description="Layout")
        from ..repair import DISC_CHOICES

        # The Repair button's pole disc: the measured one, or a radius the user picks when
        # the measured disc leaves a soft patch (smaller) or streaks outside it (larger).
        self.pole_disc = W.Dropdown(
            # (a str for "measured": a Dropdown shows a None value as nothing selected)
            options=[("measured", MEASURED)] + [(f"{d:g} deg", d) for d in DISC_CHOICES],
            value=MEASURED, description="Pole disc",
            tooltip="the radius Repair inpaints around a flagged pole")
        if out_dir is None:
            out_dir = Path(client.ledger.library) / "exports"
        self.out_dir = W.Text(value=str(out_dir), description="Export to")
        self.history_button = W.Button(description="Load history", icon="history")
        self.history_button.on_click(lambda _b: self.load_history())
        self.cards = W.Box(layout=W.Layout(display="flex", flex_flow="row wrap"))
        self.count = W.HTML("No results yet.")
        self.output = W.Output()
        self.widget = W.VBox([
            W.HBox([self.count, self.history_button]),
            W.HBox([self.convention, self.layout, self.out_dir]),
            W.HBox([self.pole_disc]),
            self.cards,
            self.output,
        ])
        if form is not None:
            form.attach(self)
        if history:
            self.load_history()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):  # what a saved notebook shows before it is run
            bundle["text/plain"] = 'Gallery: the results as cards. Run this cell to see them (widgets need a running kernel).'
        return bundle

    def __len__(self) -> int:
        return len(self.items)

    # ---- adding results -------------------------------------------------------------

    def add(self, result: Any) -> list[GalleryItem]:
        """Show every output of a ``RunResult`` first, as the newest (previews are made
        on the calling thread). Returns the new items."""
        return self.add_items(GalleryItem.from_result(result), newest=True)

    def add_items(self, items: Iterable[GalleryItem], newest: bool = False) -> list[GalleryItem]:
        """Show ``items`` (ones already shown, by path, are skipped): before the others
        when ``newest``, else after them. Returns the new ones."""
        with self._lock:
            known = {it.path for it in self.items}
        new = [it for it in items if it.path not in known]
        cards = tuple(self._card(it) for it in new)
        with self._lock:
            if newest:
                self.items[:0] = new
                self.cards.children = cards + self.cards.children
            else:
                self.items.extend(new)
                self.cards.children = self.cards.children + cards
            n = len(self.items)
        self.count.value = f"<b>{n}</b> result{'s' * (n != 1)}"
        return new

    def load_history(self, limit: int | None = 24) -> int:
        """Show finished generations from the ledger after the results shown already,
        newest first (at most ``limit`` records). Returns how many items were added."""
        records = self.client.ledger.generations(status="done", limit=limit)
        items: list[GalleryItem] = []
        for r in records:
            items.extend(GalleryItem.from_record(r))
        return len(self.add_items(items))

    def _card(self, item: GalleryItem) -> W.VBox:
        img = W.Image(value=preview_jpeg(item.path, self.thumb_width), format="jpeg",
                      layout=W.Layout(width=f"{self.thumb_width}px"))
        tip = html.escape(item.prompt)
        caption = W.HTML(f'<div title="{tip}" style="line-height:1.3;font-size:12px">'
                         f"<b>{html.escape(item.short_prompt)}</b><br>"
                         f"{html.escape(item.caption)}</div>")
        actions = [
            ("Seed", "repeat", "reuse this seed in the form", self.reuse_seed),
            ("Init", "image", "use as the form's init image", self.use_as_init),
            ("Seams", "search", "seam check: report and plots", self.seam_check),
            ("Repair", "wrench", "mend the flagged wrap seam and poles (offline, free): "
             "before/after", self.repair),
            ("Cube", "cube", "cubemap faces, exported in the chosen convention", self.cubemap),
            ("360", "eye", "open in the 360 viewer", self.view),
            ("Save", "save", "save with 360 metadata", self.save),
            ("Upscale", "expand", "upscale x2 with the skybox upscaler: the quote first", self.upscale),
        ]
        buttons = []
        for label, icon, tooltip, method in actions:
            b = W.Button(description=label, icon=icon, tooltip=tooltip,
                         layout=W.Layout(width="auto"))
            b.on_click(lambda _b, m=method: self._action(m, item))
            buttons.append(b)
        card = W.VBox([img, caption, W.HBox(buttons, layout=W.Layout(flex_flow="row wrap"))],
                      layout=W.Layout(margin="4px", width=f"{self.thumb_width + 8}px",
                                      border="2px solid transparent", padding="2px"))
        card.item = item  # lets tests and callers find a card's item
        card.buttons = {label: b for (label, *_), b in zip(actions, buttons)}
        return card

    def _action(self, method: Any, item: GalleryItem) -> None:
        """Run a card action from a button: its errors go to the output area."""
        try:
            method(item)
        except Exception as err:  # noqa: BLE001 - a button must not raise into the void
            self.show(f"{type(err).__name__}: {err}", item=item)

    def show(self, text: str, *objs: Any, item: GalleryItem | None = None) -> None:
        """Replace the output area's content with a line of ``text`` and ``objs``
        (figures, reports, widgets). With ``item``, the line names its card (number,
        seed, style) and that card is outlined, so it is clear what the output is of."""
        if item is not None and item in self.items:
            n = self.items.index(item) + 1
            seed = "?" if item.seed is None else item.seed
            text = f"Card {n} (seed {seed}, {style_label(item.style)}) - {text}"
            for card in self.cards.children:
                card.layout.border = ("2px solid #2563eb" if getattr(card, "item", None) is item
                                      else "2px solid transparent")
        outs = [{"output_type": "stream", "name": "stdout", "text": text + "\n"}]
        outs += [{"output_type": "display_data", "data": _bundle(o), "metadata": {}}
                 for o in objs]
        self.output.outputs = tuple(outs)

    def _replace(self, item: GalleryItem) -> None:
        """Show ``item`` in place of the card already shown for its path (a file written
        again), preview and caption made anew."""
        card = self._card(item)
        with self._lock:
            i = next(i for i, it in enumerate(self.items) if it.path == item.path)
            self.items[i] = item
            cards = list(self.cards.children)
            cards[i] = card
            self.cards.children = tuple(cards)

    def _item(self, item: GalleryItem | int) -> GalleryItem:
        return self.items[item] if isinstance(item, int) else item

    # ---- actions (each button calls exactly one of these) ---------------------------

    def reuse_seed(self, item: GalleryItem | int) -> int:
        """Lock the form's seed to this result's seed. Returns the seed."""
        it = self._item(item)
        if it.seed is None:
            raise ValueError(f"{it.path.name}: its seed is not known")
        if self.form is None:
            raise ValueError("reuse_seed needs a form: Gallery(form=...) or form.attach(gallery)")
        return self.form.reuse_seed(it.seed)

    def use_as_init(self, item: GalleryItem | int) -> str:
        """Set this panorama as the form's init image: its own asset id when the result
        has one (nothing is uploaded again), else the file, uploaded. Returns the id."""
        it = self._item(item)
        if self.form is not None:
            if it.asset_id:
                return self.form.set_init_image(it.asset_id, preview=it.path)
            return self.form.set_init_image(it.path)
        return it.asset_id or self.client.upload(it.path)

    def panorama(self, item: GalleryItem | int) -> Any:
        """The full-resolution ``Panorama`` of an item (loaded from disk)."""
        return Panorama.load(self._item(item).path)

    def seam_check(self, item: GalleryItem | int) -> Any:
        """Run ``seam_report`` on this panorama and show the report and its plot in the
        output area. Returns the ``SeamReport``."""
        from ..seams import seam_report

        it = self._item(item)
        report = seam_report(self.panorama(it))
        fig = report.plot()
        self.show(f"seam check of {it.path.name}", report, fig, item=it)
        return report

    def repair(self, item: GalleryItem | int, pole_disc: Any = _CHOSEN) -> Any:
        """Repair what the seam check flags in this panorama (``repair.repair``), save the
        result beside it as ``<stem>-repaired.png`` (``<stem>-repaired-disc20.png`` when a
        pole was mended with a chosen 20-degree disc; its sidecar names the source: file,
        sha256, ids), record it in the ledger as a free child of the source's row (when
        the ledger knows it), add it as a card (or renew the card of that file), and show
        the before/after report and figure side by side. ``pole_disc`` (degrees, or None
        or "measured" for the measured disc) defaults to the gallery's Pole disc
        dropdown. Returns the ``Repair``."""
        from ..ledger_children import save_repair
        from ..repair import repair

        it = self._item(item)
        disc = self.pole_disc.value if pole_disc is _CHOSEN else pole_disc
        disc = None if disc == MEASURED else disc
        result = repair(self.panorama(it), pole_disc=disc)
        if not result.steps:
            self.show(f"Repair: {it.path.name} is seamless; nothing to repair", result)
            return result
        ledger = getattr(self.client, "ledger", None)
        # A pole mended with a chosen disc gets a file (and card, and ledger row) of its
        # own, so repairs with two discs sit side by side and neither replaces the measured.
        suffix = "" if result.pole_disc is None else f"-disc{result.pole_disc:g}"
        out, child = save_repair(result, it.path,
                                 it.path.with_name(f"{it.path.stem}-repaired{suffix}.png"),
                                 ledger)
        name = it.path.name  # a job's file name is long: its ends say which it is
        of = name if len(name) <= 28 else f"{name[:12]}…{name[-15:]}"
        made = GalleryItem(path=out, seed=it.seed, style=it.style, prompt=it.prompt,
                           geometry_enforcement=it.geometry_enforcement, cu_cost=0.0,
                           made=f"repair of {of}, free")
        card = "a new card"
        if not self.add_items([made], newest=True):
            self._replace(made)  # the file was rewritten: its card shows the new pixels
            card = "its card renewed"
        where = (f"; in the ledger as {child}" if child else
                 "; not in the ledger (its source is not there): its sidecar names the source")
        self.show(f"Repair: {it.path.name} -> {out.name} ({card}){where}", result,
                  result.plot())
        return result

    def cubemap(self, item: GalleryItem | int, convention: str | None = None,
                layout: str | None = None, out_dir: str | Path | None = None) -> list[Path]:
        """Export the cube faces of this panorama in ``convention`` and ``layout``
        (default: the gallery's dropdowns) under ``out_dir``/<file stem>/, show the cube
        net, and return the written files."""
        from ..cubemap import export
        from ..plots import cube_net

        it = self._item(item)
        convention = convention or self.convention.value
        layout = layout or self.layout.value
        dest = Path(out_dir or self.out_dir.value) / it.path.stem / convention
        pano = self.panorama(it)
        files = export(pano, dest, convention=convention, layout=layout)
        fig = cube_net(pano)
        names = ", ".join(f.name for f in files)
        self.show(f"{convention} / {layout}: {len(files)} file(s) in {dest}: {names}", fig,
                  item=it)
        return list(files)

    def view(self, item: GalleryItem | int, **viewer_kw: Any) -> Any:
        """Open this panorama in the 360 viewer (in the output area). Returns the viewer."""
        from .viewer import Viewer360

        it = self._item(item)
        viewer = Viewer360(self.panorama(it), **viewer_kw)
        self.show(f"360 view of {it.path.name}", viewer, item=it)
        return viewer

    def save(self, item: GalleryItem | int, dest: str | Path | None = None) -> Path:
        """Save the panorama with 360 (GPano XMP) metadata to ``dest`` (a folder or a
        file name; default the export folder). Returns the path written."""
        it = self._item(item)
        target = Path(dest or self.out_dir.value)
        kind = by_suffix(target.suffix)
        if kind is None or not kind.xmp:  # a folder, or a format without the 360 metadata
            target = target / it.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        self.panorama(it).save(target)
        self.show(f"saved {target}", item=it)
        return target

    def upscale(self, item: GalleryItem | int, factor: int = 2, strength: float | None = None,
                *, run: bool = False) -> Any:
        """Upscale this panorama with the skybox upscaler, the quote first: without
        ``run`` it shows what ``factor`` x costs (a dry run; nothing is paid) with a
        "Run upscale" button, and returns the quote; with ``run`` (the button) the chain
        runs in the background, at most that quote: the upscaled image joins the gallery
        with its seam verdict. Returns the quote, or the Future of the ``Upscale``."""
        from ..upscale import FAITHFUL_STRENGTH, quote, upscale

        it = self._item(item)
        strength = FAITHFUL_STRENGTH if strength is None else strength
        source = it if it.asset_id else it.path
        cost, _request, _file = quote(self.client, source, factor, strength)
        if not run:
            go = W.Button(description=f"Run upscale ({cost:g} CU)", icon="play",
                          button_style="warning")
            go.on_click(lambda _b: self._action(
                lambda i: self.upscale(i, factor, strength, run=True), it))
            self.show(f"Upscale x{factor} of {it.path.name} (strength {strength:g}): "
                      f"{cost:g} CU. Nothing is paid until you run it.", go)
            self.upscale_button = go
            return cost
        self.show(f"Upscaling {it.path.name} x{factor} for {cost:g} CU...")
        pool = getattr(self, "_upscale_pool", None)
        if pool is None:
            pool = self._upscale_pool = ThreadPoolExecutor(1, thread_name_prefix="skybox-upscale")

        def work() -> Any:
            try:
                done = upscale(self.client, source, factor, strength, max_cost=cost)
            except Exception as err:  # noqa: BLE001 - shown in the output area
                self.show(f"Upscale failed: {type(err).__name__}: {err}")
                raise
            self.add_items([GalleryItem(path=done.file, seed=_seed_int(done.run.assets[0].seed),
                                        style=it.style, prompt=it.prompt, cu_cost=done.quote,
                                        job_id=done.run.job.id, asset_id=done.run.assets[0].id)],
                           newest=True)
            self.show(f"Upscaled x{factor}: {done.file.name}. Seam: {done.verdict()}", done)
            return done

        return pool.submit(work)
