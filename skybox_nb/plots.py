"""The figures a person looks at to decide whether a panorama's seam and poles hold (and
whether to raise geometryEnforcement): seam strip, per-row seam profile, pole views, cube
net with edge scores, contact sheet.

Invariant: every function returns a new `figure.Figure` (a matplotlib Figure that Jupyter
shows as an image) built without pyplot,
so nothing accumulates in pyplot's figure list and no backend is touched; images are
drawn from downscaled copies (or small full-resolution crops), never the whole panorama.

Imports: the seam check (`seams`) imports this module for `SeamReport.plot`, so this
module takes the check's types for annotations only and never imports `seams` at load
time; matplotlib (0.4 s of CPU to import) is imported when a figure is first drawn, so
`skybox-nb seams FILE` without ``--plot`` never pays for it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .conventions import FACE_BASIS, LAYOUTS, get_convention
from .cubemap import perspective, to_faces
from .palette import BAD as _BAD, OK as _OK
from .panorama import Panorama, Source, to_uint8

if TYPE_CHECKING:  # pragma: no cover - annotations only: no cycle, no matplotlib at load
    from matplotlib.axes import Axes
    from matplotlib.gridspec import SubplotSpec

    from .figure import Figure
    from .repair import Repair
    from .seams import SeamReport
    from .sweeps import SweepResult

__all__ = ["seam_strip", "row_profile", "pole_views", "cube_net", "contact_sheet",
           "report_figure", "plot_scores", "repair_figure", "exported_faces", "face_directions"]

# A panorama as the figures take it: a Panorama, or anything Panorama.load reads.
PanoramaLike = Source


def _figure(*args: Any, **kwargs: Any) -> Figure:
    """A new `figure.Figure` (matplotlib is loaded here, on the first figure)."""
    from .figure import Figure

    return Figure(*args, **kwargs)


def _checked(p: Panorama) -> SeamReport:
    """A fresh seam report, for a figure asked for without one (the check runs here)."""
    from .seams import seam_report

    return seam_report(p)


def _pano(src: PanoramaLike) -> Panorama:
    return src if isinstance(src, Panorama) else Panorama.load(src)  # keeps a sidecar's metadata


def _small(pano: Panorama, max_width: int) -> np.ndarray:
    return np.asarray(pano.thumbnail(max_width))


def _show(ax: Axes, img: np.ndarray, **kw: Any) -> None:
    img = to_uint8(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:  # one channel (a thumbnail of a grey panorama is 2-D)
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, **kw)
    else:
        ax.imshow(img, **kw)
    ax.set_xticks([])
    ax.set_yticks([])


def _worst_rows(report: SeamReport | None, scale: float = 1.0) -> tuple[int, int] | None:
    """The longest failing band (or else flagged row range) of a report, in pixels of an
    image ``scale`` times the report's size."""
    if report is None or not (report.wrap.bands or report.wrap.rows):
        return None
    a, b = max(report.wrap.bands or report.wrap.rows, key=lambda r: r[1] - r[0])
    return int(a * scale), int(b * scale)


def _draw_strip(fig: Figure, spec: SubplotSpec, pano: Panorama, focus: tuple[int, int] | None,
                zoom: int, report: SeamReport | None = None) -> None:
    """Rolled panorama on top, three zoomed crops around the seam below; the middle crop
    is centred on the ``focus`` rows when given. The bands that fail the wrap (from
    ``report``) are boxed in red on the seam line."""
    from matplotlib.patches import Rectangle  # matplotlib loads with the first figure

    sub = spec.subgridspec(2, 3, height_ratios=[1.1, 1.0])
    top = fig.add_subplot(sub[0, :])
    small = _small(pano, 1024)
    _show(top, np.roll(small, small.shape[1] // 2, axis=1))
    top.axvline(small.shape[1] / 2 - 0.5, color="yellow", lw=0.8, ls="--")
    title = "rolled half a turn: the wrap seam is on the dashed line"
    if report is not None and report.wrap.bands:
        k = small.shape[0] / report.size[1]
        for a, b in report.wrap.bands:
            top.add_patch(Rectangle((small.shape[1] / 2 - 0.04 * small.shape[1], a * k),
                                    0.08 * small.shape[1], (b - a) * k, fill=False,
                                    edgecolor=_BAD, lw=1.5))
        title += "; red boxes: the rows where it fails"
    top.set_title(title, fontsize=9)
    arr = pano.array
    h, w = arr.shape[:2]
    half = max(4, min(zoom, w // 4, h // 4))
    centres = [h // 8 + half, h // 2, h - h // 8 - half]
    if focus is not None:
        centres[1] = (focus[0] + focus[1]) // 2
    for i, cy in enumerate(centres):
        y0 = int(np.clip(cy - half, 0, h - 2 * half))
        crop = np.concatenate([arr[y0:y0 + 2 * half, w - half:], arr[y0:y0 + 2 * half, :half]],
                              axis=1)
        ax = fig.add_subplot(sub[1, i])
        _show(ax, crop, interpolation="nearest")
        ax.axvline(half - 0.5, color="yellow", lw=0.8, ls="--")
        ax.set_title(f"rows {y0}-{y0 + 2 * half - 1}", fontsize=8)


def seam_strip(pano: PanoramaLike, report: SeamReport | None = None, zoom: int = 32) -> Figure:
    """The panorama rolled half a turn (the wrap seam in the middle) with three crops
    of ``2*zoom`` pixels around the seam at full resolution (top, middle or worst rows,
    bottom), the failing bands boxed when ``report`` is given. Returns a Figure."""
    fig = _figure(figsize=(10, 6.2), layout="constrained")
    p = _pano(pano)
    _draw_strip(fig, fig.add_gridspec(1, 1)[0], p, _worst_rows(report, p.height / report.size[1])
                if report is not None else None, zoom, report)
    return fig


def _wrap_verdict(report: SeamReport) -> str:
    """The wrap's verdict in words, naming the rule it used: never "ok" over a profile
    that crosses the limit without saying why that is not a seam."""
    w = report.wrap
    share = 100 * w.band_share
    if w.ok:
        if share > 0:
            return (f"ok: runs over the limit are short (longest {share:.0f}% of the height; "
                    f"a seam needs {100 * w.band_min:.0f}%), median {w.score:.2f}")
        return f"ok: under the limit on every row, median {w.score:.2f}"
    why = {"median": f"median over rows {w.score:.2f} > {w.threshold:g}",
           "band": "band of " + ", ".join(
               f"rows {a}-{b - 1}" for a, b in w.bands[:3]) + f" over the limit "
               f"(>= {100 * w.band_min:.0f}% of the height)",
           "ds": f"DS {w.ds:.2f} > {w.ds_threshold:g}"}
    return "FAILS: " + "; ".join(why[r] for r in w.rules)


def _draw_profile(ax: Axes, report: SeamReport) -> None:
    prof = np.asarray(report.wrap.profile)
    k = report.size[1] / max(1, prof.size)
    rows = (np.arange(prof.size) + 0.5) * k
    lim = report.wrap.threshold
    ax.plot(rows, prof, color="#1f4e79", lw=1)
    ax.axhline(lim, color=_BAD, ls="--", lw=1, label=f"limit {lim:g}")
    ax.axhline(1.0, color="grey", ls=":", lw=1, label="ordinary column")
    for a, b in report.wrap.rows:
        ax.axvspan(a, b, color=_BAD, alpha=0.35 if (a, b) in report.wrap.bands else 0.12)
    ax.set_xlim(0, report.size[1])
    ax.set_xlabel("row (0 = north pole)")
    ax.set_ylabel("jump / ordinary column")
    ok = report.wrap.ok
    ax.set_title(f"wrap seam per row: {_wrap_verdict(report)}", fontsize=9,
                 color=_OK if ok else _BAD)
    ax.legend(fontsize=7, loc="upper right")


def row_profile(report: SeamReport) -> Figure:
    """The per-row wrap-seam profile of a `SeamReport`: how much bigger the jump across
    the border is than across an ordinary column, row by row, with the limit and the
    flagged rows shaded. Returns a Figure."""
    fig = _figure(figsize=(8, 3), layout="constrained")
    _draw_profile(fig.add_subplot(), report)
    return fig


def _draw_poles(axes: Sequence[Axes], pano: Panorama, report: SeamReport | None, fov: float,
                size: int) -> None:
    """The views straight up and down, titled with the pole's scores; where a rule fired,
    its pattern is marked in red: a pinch's rings (dashed), a kaleidoscope's k mirror
    spokes, a fold's line across the pole, a knot's disc (solid), a void's disc (dotted)."""
    from matplotlib.patches import Circle  # matplotlib loads with the first figure

    src = Panorama(_small(pano, 2048), ratio="ignore") if pano.width > 2048 else pano
    c = (size - 1) / 2
    focal = size / 2 / math.tan(math.radians(fov) / 2)

    def radius(deg: float) -> float:
        return focal * math.tan(math.radians(deg))

    def spoke(ax: Axes, azimuth: float, deg: float, both: bool = False) -> None:
        t = math.radians(azimuth)
        dx, dy = radius(deg) * math.cos(t), -radius(deg) * math.sin(t)  # view rows go down
        ax.plot([c - dx if both else c, c + dx], [c - dy if both else c, c + dy], color=_BAD,
                lw=1.4, ls="-" if both else "--")

    for ax, name, pitch in zip(axes, ("north", "south"), (90.0, -90.0)):
        view = perspective(src, pitch=pitch, fov=fov, size=(size, size))
        _show(ax, view)
        title = f"{name} pole (looking {'up' if pitch > 0 else 'down'})"
        colour = "black"
        if report is not None:
            p = report.poles.north if name == "north" else report.poles.south
            st = p.structure
            pinch = "" if math.isnan(p.pinch) else f", pinch {p.pinch:.2f}"
            title += f"\nuniformity {p.uniformity:.2f}, smear {p.smear:.2f}{pinch}"
            if st is not None and not math.isnan(st.knot):
                # + 0.0 turns a rounded -0.0 into 0.0: no "symmetry -0.00" under a clean pole
                title += (f"\nsymmetry {round(st.symmetry, 2) + 0.0:.2f}, fold {st.fold:.1f}, "
                          f"knot {st.knot:.2f}, void {st.void:.2f}")
            title += "\nFAILS: " + ", ".join(p.rules) if p.rules else "\nok"
            colour = _OK if p.ok else _BAD
            if "pinch" in p.rules:  # the rings where edges converge on the pole
                for deg in p.pinch_deg:
                    ax.add_patch(Circle((c, c), radius(deg), fill=False, edgecolor=_BAD,
                                        lw=1.2, ls="--"))
            if "symmetry" in p.rules:  # the k wedges that repeat
                for i in range(st.symmetry_folds):
                    spoke(ax, 360.0 * i / st.symmetry_folds, 15.0)
            if "fold" in p.rules:  # the fold line, through the pole
                spoke(ax, st.fold_azimuth, 12.0, both=True)
            if "knot" in p.rules:
                ax.add_patch(Circle((c, c), radius(st.knot_deg), fill=False, edgecolor=_BAD,
                                    lw=1.4))
            if "void" in p.rules:
                ax.add_patch(Circle((c, c), radius(st.void_deg), fill=False, edgecolor=_BAD,
                                    lw=1.4, ls=":"))
        ax.set_title(title, fontsize=8, color=colour)


def pole_views(pano: PanoramaLike, report: SeamReport | None = None, fov: float = 90.0,
               size: int = 256) -> Figure:
    """The views straight up and straight down (where a pinch, star, kaleidoscope or
    radial smear shows), titled with the pole scores and the rules that fired when
    ``report`` is given; where a rule fired its pattern is marked in red (module
    `_draw_poles`). Returns a Figure."""
    fig = _figure(figsize=(6.5, 3.6), layout="constrained")
    _draw_poles(fig.subplots(1, 2), _pano(pano), report, fov, size)
    return fig


def _side_neighbours(axis: str) -> dict[str, str]:
    """For a face in the net, which face lies beyond each of its sides."""
    _, u, v = (np.array(x) for x in FACE_BASIS[axis])
    out = {}
    for side, vec in (("right", u), ("left", -u), ("bottom", v), ("top", -v)):
        for other, (n, _, _) in FACE_BASIS.items():
            if np.array_equal(np.array(n), vec):
                out[side] = other
    return out


def _draw_net(ax: Axes, pano: Panorama, report: SeamReport | None, face_size: int) -> None:
    conv = get_convention("generic")
    faces = to_faces(pano, face_size, conv)
    (rows, cols), cells = LAYOUTS["hcross"]
    s = face_size
    net = np.full((rows * s, cols * s, faces["F"].shape[2]), 255, dtype=np.uint8)
    for r, c, axis, _ in cells:
        net[r * s:(r + 1) * s, c * s:(c + 1) * s] = to_uint8(faces[conv.name_of(axis)])
    _show(ax, net)
    edges = report.cube_edges.edges if report is not None else {}
    for r, c, axis, _ in cells:
        name = conv.name_of(axis)
        ax.text(c * s + s / 2, r * s + s / 2, name, ha="center", va="center", fontsize=10,
                color="white", alpha=0.8, weight="bold")
        if not edges:
            continue
        for side, other in _side_neighbours(axis).items():
            o = conv.name_of(other)
            score = edges.get(f"{name}-{o}", edges.get(f"{o}-{name}"))
            if score is None:
                continue
            fx, fy = {"right": (0.88, 0.5), "left": (0.12, 0.5), "top": (0.5, 0.1),
                      "bottom": (0.5, 0.9)}[side]
            x, y = (c + fx) * s, (r + fy) * s
            bad = score > report.cube_edges.threshold
            ax.text(x, y, f"{score:.2f}", ha="center", va="center", fontsize=7,
                    color="white", bbox={"facecolor": _BAD if bad else _OK, "alpha": 0.75,
                                         "pad": 1, "edgecolor": "none"})
    if report is not None:
        ok = report.cube_edges.ok
        ax.set_title(f"cube net (generic F R B L U D), edge DS; worst "
                     f"{report.cube_edges.score:.2f} (limit {report.cube_edges.threshold:g})",
                     fontsize=8, color=_OK if ok else _BAD)
    else:
        ax.set_title("cube net (generic F R B L U D)", fontsize=8)


def cube_net(pano: PanoramaLike, report: SeamReport | None = None,
             face_size: int | None = None) -> Figure:
    """The six generic faces unfolded as a horizontal cross, each edge labelled with its
    Discontinuity Score (green under the limit, red over) - from ``report`` or from a
    fresh `seams.seam_report`. Returns a Figure."""
    p = _pano(pano)
    if report is None:
        report = _checked(p)
    size = face_size or max(8, min(256, p.width // 4))
    fig = _figure(figsize=(8, 6.3), layout="constrained", display_format="jpeg")
    _draw_net(fig.add_subplot(), p, report, size)
    return fig


def contact_sheet(panos: Sequence[PanoramaLike], reports: Sequence[SeamReport] | None = None,
                  titles: Sequence[str] | None = None, ncols: int = 3) -> Figure:
    """Many panoramas side by side, each titled with its verdict and seam scores (from
    ``reports``, computed when not given). Returns a Figure."""
    items = [_pano(p) for p in panos]
    if not items:
        raise ValueError("panos: got an empty sequence; allowed: one or more panoramas")
    if reports is None:
        reports = [_checked(p) for p in items]
    if len(reports) != len(items):
        raise ValueError(f"reports: got {len(reports)} for {len(items)} panoramas; "
                         "allowed: one report per panorama")
    ncols = max(1, min(int(ncols), len(items)))
    nrows = -(-len(items) // ncols)
    fig = _figure(figsize=(4.2 * ncols, 2.6 * nrows + 0.3), layout="constrained",
                 display_format="jpeg")  # photographs: JPEG keeps saved notebooks small
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        if i >= len(items):
            ax.set_axis_off()
            continue
        p, r = items[i], reports[i]
        _show(ax, _small(p, 512))
        head = titles[i] if titles and i < len(titles) else _label(p, i)
        verdict = "seamless" if r.seamless else "NOT seamless"
        ax.set_title(f"{head}\n{verdict}: wrap {r.wrap.score:.2f}, poles "
                     f"{r.poles.score:.2f}, DS {r.ds:.2f}", fontsize=8,
                     color=_OK if r.seamless else _BAD)
        for side in ax.spines.values():
            side.set_edgecolor(_OK if r.seamless else _BAD)
            side.set_linewidth(2)
    return fig


def _label(p: Panorama, i: int) -> str:
    bits = [f"#{i + 1}"]
    for key in ("style", "seed", "geometryEnforcement"):
        if key in p.metadata:
            bits.append(f"{key}={p.metadata[key]}")
    return " ".join(bits)


def report_figure(report: SeamReport) -> Figure:
    """Everything about one `SeamReport` in one Figure: the rolled strip with zoomed
    crops, the per-row profile, both pole views and the cube net with edge scores,
    drawn from the report's downscaled copy."""
    pano = Panorama(report.preview, ratio="ignore")
    # shown as JPEG: it is mostly photographs (a tenth of the PNG in a saved notebook)
    fig = _figure(figsize=(11, 12), layout="constrained", display_format="jpeg")
    grid = fig.add_gridspec(3, 1, height_ratios=[1.6, 0.7, 1.3])
    _draw_strip(fig, grid[0], pano, _worst_rows(report, pano.height / report.size[1]), zoom=24,
                report=report)
    _draw_profile(fig.add_subplot(grid[1]), report)
    bottom = grid[2].subgridspec(1, 3, width_ratios=[1, 1, 2])
    _draw_poles([fig.add_subplot(bottom[0, 0]), fig.add_subplot(bottom[0, 1])], pano, report,
                90.0, 200)
    _draw_net(fig.add_subplot(bottom[0, 2]), pano, report, max(8, min(192, pano.width // 4)))
    verdict = "seamless" if report.seamless else "NOT seamless"
    fig.suptitle(f"{verdict} - " + ("; ".join(report.defects) if report.defects else
                                    "wrap seam, poles and cube edges within their limits"),
                 fontsize=9, color=_OK if report.seamless else _BAD, wrap=True)
    return fig


# The limit of each sweep score, and whether a report's part passes (by every rule of the
# check, so a marker says what the verdict used, not only the score drawn).
_SCORE_LIMIT = {"wrap": "wrap", "ds": "ds", "cube_edges": "cube_edge"}
_PART_OK = {"wrap": lambda r: r.wrap.ok, "ds": lambda r: r.ds <= r.thresholds["ds"],
            "poles": lambda r: r.poles.ok, "cube_edges": lambda r: r.cube_edges.ok}


def _score_of(report: SeamReport, score: str) -> float:
    value = getattr(report, score)
    return float(value.score if hasattr(value, "score") else value)


def plot_scores(result: SweepResult, param: str = "geometry_enforcement",
                scores: Sequence[str] = ("wrap", "poles", "ds")) -> Figure:
    """Each seam score of a sweep against ``param``, one line per combination of the
    other axes (e.g. one per seed) and output. A filled marker: that part passes the
    check by every rule (a hollow one under the limit line failed by another rule, e.g.
    a partial wrap seam's band); the limit is dotted where the score has one (the poles'
    score is the worst measure over its limit, so its limit is 1). Returns a Figure."""
    if param not in result.axes:
        raise ValueError(f"plot_scores: param {param!r} is not an axis of this sweep; "
                         f"axes: {', '.join(result.axes)}")
    unknown = [s for s in scores if s not in _PART_OK]
    if unknown:
        raise ValueError(f"plot_scores: scores {unknown!r}; allowed: {', '.join(_PART_OK)}")
    values = list(result.axes[param])
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    xs = {v: (v if numeric else i) for i, v in enumerate(values)}
    others = [a for a in result.axes if a != param]
    groups: dict[tuple[Any, ...], list[tuple[Any, SeamReport]]] = {}
    for cell in result.cells:
        for i, rep in enumerate(cell.reports):
            key = tuple(cell.params[a] for a in others) + (i,)
            groups.setdefault(key, []).append((cell.params[param], rep))
    thresholds = dict(result.cells[0].reports[0].thresholds) if result.cells else {}
    fig = _figure(figsize=(4.2 * len(scores), 3.4), layout="constrained")
    axs = fig.subplots(1, len(scores), squeeze=False)[0]
    for ax, score in zip(axs, scores):
        for key, items in groups.items():
            label = ", ".join(f"{a}={k}" for a, k in zip([*others, "output"], key))
            pts = sorted(((xs[v], _score_of(r, score), _PART_OK[score](r)) for v, r in items),
                         key=lambda t: t[0])
            line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", label=label)
            for x, y, ok in pts:
                ax.plot([x], [y], "o", color=line.get_color(),
                        markerfacecolor=line.get_color() if ok else "none")
        limit = 1.0 if score == "poles" else thresholds.get(_SCORE_LIMIT.get(score, score))
        if limit is not None:
            ax.axhline(limit, ls=":", color="grey", lw=1)
            ax.annotate("limit", (0, limit), xycoords=("axes fraction", "data"),
                        fontsize=7, color="grey", va="bottom")
        ax.set_title(score)
        ax.set_xlabel(param)
        if not numeric:
            ax.set_xticks(list(xs.values()), [str(v) for v in values], rotation=45, ha="right")
        ax.grid(alpha=0.3)
    if len(groups) <= 8:
        axs[0].legend(fontsize=7)
    fig.suptitle(f"Seam scores vs {param} (filled marker: that part passes by every rule)")
    return fig


def repair_figure(result: Repair, size: int = 200) -> Figure:
    """A repair before and after, side by side: each column the panorama rolled half a
    turn (the wrap seam in the middle) and the views straight up and down, titled with
    its verdict and defects; the after column outlines the changed pixels in yellow.
    Returns a Figure."""
    fig = _figure(figsize=(11, 7.5), layout="constrained", display_format="jpeg")  # photos
    cols = fig.add_gridspec(1, 2)
    for i, (label, arr, report) in enumerate((("before", result.source, result.before),
                                              ("after", result.panorama.array, result.after))):
        sub = cols[i].subgridspec(2, 2, height_ratios=[1.0, 1.0])
        top = fig.add_subplot(sub[0, :])
        pano = Panorama(arr, ratio="ignore")
        small = _small(pano, 1024)
        _show(top, np.roll(small, small.shape[1] // 2, axis=1))
        top.axvline(small.shape[1] / 2 - 0.5, color="yellow", lw=0.6, ls="--")
        if label == "after" and result.mask.any():
            h, w = small.shape[:2]
            m = np.asarray(result.mask)[:: max(1, result.mask.shape[0] // h),
                                        :: max(1, result.mask.shape[1] // w)][:h, :w]
            top.contour(np.roll(m, m.shape[1] // 2, axis=1).astype(float), levels=[0.5],
                        colors="yellow", linewidths=0.8)
        verdict = "seamless" if report.seamless else "NOT seamless"
        defects = "; ".join(d.split(":")[0] for d in report.defects)
        top.set_title(f"{label}: {verdict}" + (f" ({defects})" if defects else ""),
                      fontsize=9, color=_OK if report.seamless else _BAD, wrap=True)
        _draw_poles([fig.add_subplot(sub[1, 0]), fig.add_subplot(sub[1, 1])], pano, report,
                    90.0, size)
    fig.suptitle(f"repair: {'; '.join(result.steps) or 'nothing to do'} "
                 f"({100 * result.changed:.1f}% of pixels changed, the rest bit-identical)",
                 fontsize=9, wrap=True)
    return fig


def exported_faces(paths: Sequence[str | Path], ncols: int = 6) -> Figure:
    """The image files an export wrote (six faces, or one cross or strip), drawn side by
    side, each titled with its file name, so what an engine will receive can be seen.
    Returns a Figure (shown as JPEG)."""
    from PIL import Image

    files = [Path(p) for p in paths]
    if not files:
        raise ValueError("paths: got an empty sequence; allowed: one or more image files")
    ncols = max(1, min(int(ncols), len(files)))
    nrows = -(-len(files) // ncols)
    sizes = []
    for f in files:
        with Image.open(f) as im:
            sizes.append(im.size)
    aspect = max(h / w for w, h in sizes)
    width = 11.0 if len(files) > 1 else 8.0
    fig = _figure(figsize=(width, width / ncols * aspect * nrows + 0.4 * nrows),
                 layout="constrained", display_format="jpeg")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[len(files):]:
        ax.set_axis_off()
    for ax, f, (w, h) in zip(axes, files, sizes):
        with Image.open(f) as im:
            im.thumbnail((1024, 1024))
            _show(ax, np.asarray(im.convert("RGB")))
        ax.set_title(f"{f.name} ({w}x{h})", fontsize=8)
    return fig


def face_directions(pano: PanoramaLike, convention: str = "unity") -> Figure:
    """Where each face of ``convention`` looks, drawn on the panorama: the side faces'
    90-degree columns outlined and named, the up and down caps named, and the panorama's
    centre column marked, so a face called "front" can be seen not to be the centre.
    Returns a Figure (shown as JPEG)."""
    from matplotlib.patches import Rectangle  # matplotlib loads with the first figure

    conv = get_convention(convention)
    p = _pano(pano)
    img = _small(p, 1024)
    h, w = img.shape[:2]
    fig = _figure(figsize=(10, 5.6), layout="constrained", display_format="jpeg")
    ax = fig.add_subplot()
    _show(ax, img)
    colours = ["#f59e0b", "#10b981", "#3b82f6", "#ef4444", "#a855f7", "#ec4899"]
    for (name, _), colour in zip(conv.faces, colours):
        n = conv.basis(name)[0]
        if abs(n[1]) > 0.5:  # up or down: the cap above or below 45 degrees
            y = h * 0.08 if n[1] > 0 else h * 0.92
            ax.text(w / 2, y, f"{name}: the cap {'above' if n[1] > 0 else 'below'} 45°",
                    ha="center", va="center", fontsize=9, color="white",
                    bbox={"facecolor": colour, "alpha": 0.8, "edgecolor": "none", "pad": 2})
            continue
        centre = (math.atan2(n[0], n[2]) / (2 * math.pi) + 0.5) * w
        for shift in (-w, 0, w):  # a face across the wrap seam is drawn in two parts
            left = centre - w / 8 + shift
            if left + w / 4 <= 0 or left >= w:
                continue
            ax.add_patch(Rectangle((left, h / 4), w / 4, h / 2, fill=False, edgecolor=colour,
                                   lw=2.2))
            ax.text(left + w / 8, h / 2, name, ha="center", va="center", fontsize=12,
                    weight="bold", color="white",
                    bbox={"facecolor": colour, "alpha": 0.85, "edgecolor": "none", "pad": 3})
    ax.axvline(w / 2 - 0.5, color="yellow", lw=1.5, ls="--")
    ax.text(w / 2, h * 0.2, "panorama centre", ha="center", va="bottom", fontsize=8,
            color="black", bbox={"facecolor": "yellow", "alpha": 0.85, "edgecolor": "none"})
    ax.set_xlim(0, w)
    ax.set_title(f"{conv.name}: the part of the panorama each face shows "
                 f"(90° wide, 90° tall)", fontsize=10)
    return fig
