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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import ipywidgets as W

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
        obj.savefig(buf, format="png", dpi=72)
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

    @property
    def caption(self) -> str:
        """``seed · style · job cost``, as the card shows it."""
        seed = "?" if self.seed is None else str(self.seed)
        cost = "?" if self.cu_cost is None else f"{self.cu_cost:g}"
        return f"seed {seed} · {style_label(self.style)} · job {cost} CU"

    @classmethod
    def from_result(cls, result: Any) -> list["GalleryItem"]:
        """One item per output file of a ``RunResult``."""
        req = result.request
        default_style = SKYBOX_FLUX["style"].default
        style = req.effective("style") if hasattr(req, "effective") else default_style
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
            ))
        return items

    @classmethod
    def from_record(cls, record: Any) -> list["GalleryItem"]:
        """One item per existing file of a ``ledger.IntentRecord`` record. The seed comes
        from each file's JSON sidecar when there is one, else from the request."""
        body = dict(record.request)
        asset_ids = list(record.asset_ids)
        style = body.get("style") or SKYBOX_FLUX["style"].default
        items = []
        for i, path in enumerate(record.files):
            if not Path(path).is_file():
                continue
            side = sidecar.read(Path(path))  # the metadata Panorama.load reads
            items.append(cls(
                path=path,
                seed=_seed_int(side.get("seed", body.get("seed"))),
                style=str(style),
                prompt=str(body.get("prompt", "")),
                cu_cost=record.cu_cost,
                job_id=record.job_id,
                asset_id=asset_ids[i] if i < len(asset_ids) else None,
                index=i,
            ))
        return items


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
            self.cards,
            self.output,
        ])
        if form is not None:
            form.attach(self)
        if history:
            self.load_history()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

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
        caption = W.HTML(f'<span title="{tip}">{html.escape(item.caption)}</span>')
        actions = [
            ("Seed", "repeat", "reuse this seed in the form", self.reuse_seed),
            ("Init", "image", "use as the form's init image (uploads it)", self.use_as_init),
            ("Seams", "search", "seam check: report and plots", self.seam_check),
            ("Repair", "wrench", "mend the flagged wrap seam and poles (offline, free): "
             "before/after", self.repair),
            ("Cube", "cube", "cubemap faces, exported in the chosen convention", self.cubemap),
            ("360", "eye", "open in the 360 viewer", self.view),
            ("Save", "save", "save with 360 metadata", self.save),
        ]
        buttons = []
        for label, icon, tooltip, method in actions:
            b = W.Button(description=label, icon=icon, tooltip=tooltip,
                         layout=W.Layout(width="auto"))
            b.on_click(lambda _b, m=method: self._action(m, item))
            buttons.append(b)
        card = W.VBox([img, caption, W.HBox(buttons, layout=W.Layout(flex_flow="row wrap"))],
                      layout=W.Layout(margin="4px", width=f"{self.thumb_width + 8}px"))
        card.item = item  # lets tests and callers find a card's item
        card.buttons = {label: b for (label, *_), b in zip(actions, buttons)}
        return card

    def _action(self, method: Any, item: GalleryItem) -> None:
        """Run a card action from a button: its errors go to the output area."""
        try:
            method(item)
        except Exception as err:  # noqa: BLE001 - a button must not raise into the void
            self.show(f"{type(err).__name__}: {err}")

    def show(self, text: str, *objs: Any) -> None:
        """Replace the output area's content with a line of ``text`` and ``objs``
        (figures, reports, widgets)."""
        outs = [{"output_type": "stream", "name": "stdout", "text": text + "\n"}]
        outs += [{"output_type": "display_data", "data": _bundle(o), "metadata": {}}
                 for o in objs]
        self.output.outputs = tuple(outs)

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
        """Upload this panorama (``client.upload``) and set it as the form's init image.
        Returns the new asset id."""
        it = self._item(item)
        if self.form is not None:
            return self.form.set_init_image(it.path)
        return self.client.upload(it.path)

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
        self.show(f"Seam check: {it.path.name}", report, fig)
        return report

    def repair(self, item: GalleryItem | int) -> Any:
        """Repair what the seam check flags in this panorama (``repair.repair``), save the
        result beside it as ``<stem>-repaired.png`` (its sidecar names the source) and
        show the before/after report and figure. Returns the ``Repair``."""
        from ..repair import repair

        it = self._item(item)
        result = repair(self.panorama(it))
        if result.steps:
            out = result.panorama.save(it.path.with_name(f"{it.path.stem}-repaired.png"))
            self.show(f"Repair: {it.path.name} -> {out.name}", result, result.plot())
        else:
            self.show(f"Repair: {it.path.name} is seamless; nothing to repair", result)
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
        self.show(f"{convention} / {layout}: {len(files)} file(s) in {dest}: {names}", fig)
        return list(files)

    def view(self, item: GalleryItem | int, **viewer_kw: Any) -> Any:
        """Open this panorama in the 360 viewer (in the output area). Returns the viewer."""
        from .viewer import Viewer360

        it = self._item(item)
        viewer = Viewer360(self.panorama(it), **viewer_kw)
        self.show(f"360 view: {it.path.name}", viewer)
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
        self.show(f"saved {target}")
        return target
