"""The figures a person looks at to decide whether a panorama's seam and poles hold (and
whether to raise geometryEnforcement): seam strip, per-row seam profile, pole views, cube
net with edge scores, contact sheet.

Invariant: every function returns a new `matplotlib.figure.Figure` built without pyplot,
so nothing accumulates in pyplot's figure list and no backend is touched; images are
drawn from downscaled copies (or small full-resolution crops), never the whole panorama.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from .figure import Figure

from .conventions import FACE_BASIS, LAYOUTS, get_convention
from .cubemap import perspective, to_faces
from .panorama import Panorama, to_uint8

__all__ = ["seam_strip", "row_profile", "pole_views", "cube_net", "contact_sheet",
           "report_figure"]

_OK, _BAD = "#1a7f37", "#c62828"


def _pano(src: Any) -> Panorama:
    return src if isinstance(src, Panorama) else Panorama.load(src)  # keeps a sidecar's metadata


def _small(pano: Panorama, max_width: int) -> np.ndarray:
    return np.asarray(pano.thumbnail(max_width))


def _show(ax: Any, img: np.ndarray, **kw: Any) -> None:
    img = to_uint8(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:  # one channel (a thumbnail of a grey panorama is 2-D)
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, **kw)
    else:
        ax.imshow(img, **kw)
    ax.set_xticks([])
    ax.set_yticks([])


def _worst_rows(report: Any, scale: float = 1.0) -> tuple[int, int] | None:
    """The longest flagged row range of a report, in pixels of an image ``scale`` times
    the report's size."""
    if report is None or not report.wrap.rows:
        return None
    a, b = max(report.wrap.rows, key=lambda r: r[1] - r[0])
    return int(a * scale), int(b * scale)


def _draw_strip(fig: Figure, spec: Any, pano: Panorama, focus: tuple[int, int] | None,
                zoom: int) -> None:
    """Rolled panorama on top, three zoomed crops around the seam below; the middle crop
    is centred on the ``focus`` rows when given."""
    sub = spec.subgridspec(2, 3, height_ratios=[1.1, 1.0])
    top = fig.add_subplot(sub[0, :])
    small = _small(pano, 1024)
    _show(top, np.roll(small, small.shape[1] // 2, axis=1))
    top.axvline(small.shape[1] / 2 - 0.5, color="yellow", lw=0.8, ls="--")
    top.set_title("rolled half a turn: the wrap seam is on the dashed line", fontsize=9)
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


def seam_strip(pano: Any, report: Any = None, zoom: int = 32) -> Figure:
    """The panorama rolled half a turn (the wrap seam in the middle) with three crops
    of ``2*zoom`` pixels around the seam at full resolution (top, middle or worst rows,
    bottom). Returns a Figure."""
    fig = Figure(figsize=(10, 6.2), layout="constrained")
    _draw_strip(fig, fig.add_gridspec(1, 1)[0], _pano(pano), _worst_rows(report), zoom)
    return fig


def _draw_profile(ax: Any, report: Any) -> None:
    prof = np.asarray(report.wrap.profile)
    k = report.size[1] / max(1, prof.size)
    rows = (np.arange(prof.size) + 0.5) * k
    lim = report.wrap.threshold
    ax.plot(rows, prof, color="#1f4e79", lw=1)
    ax.axhline(lim, color=_BAD, ls="--", lw=1, label=f"limit {lim:g}")
    ax.axhline(1.0, color="grey", ls=":", lw=1, label="ordinary column")
    for a, b in report.wrap.rows:
        ax.axvspan(a, b, color=_BAD, alpha=0.15)
    ax.set_xlim(0, report.size[1])
    ax.set_xlabel("row (0 = north pole)")
    ax.set_ylabel("jump / ordinary column")
    ok = report.wrap.ok
    ax.set_title(f"wrap seam per row: score {report.wrap.score:.2f} "
                 f"({'ok' if ok else 'over the limit'})", fontsize=9,
                 color=_OK if ok else _BAD)
    ax.legend(fontsize=7, loc="upper right")


def row_profile(report: Any) -> Figure:
    """The per-row wrap-seam profile of a `SeamReport`: how much bigger the jump across
    the border is than across an ordinary column, row by row, with the limit and the
    flagged rows shaded. Returns a Figure."""
    fig = Figure(figsize=(8, 3), layout="constrained")
    _draw_profile(fig.add_subplot(), report)
    return fig


def _draw_poles(axes: Sequence[Any], pano: Panorama, report: Any, fov: float, size: int) -> None:
    src = Panorama(_small(pano, 2048), ratio="ignore") if pano.width > 2048 else pano
    for ax, name, pitch in zip(axes, ("north", "south"), (90.0, -90.0)):
        view = perspective(src, pitch=pitch, fov=fov, size=(size, size))
        _show(ax, view)
        title = f"{name} pole (looking {'up' if pitch > 0 else 'down'})"
        colour = "black"
        if report is not None:
            p = getattr(report.poles, name)
            title += f"\nuniformity {p.uniformity:.2f}, smear {p.smear:.2f}"
            colour = _OK if p.ok else _BAD
        ax.set_title(title, fontsize=8, color=colour)


def pole_views(pano: Any, report: Any = None, fov: float = 90.0, size: int = 256) -> Figure:
    """The views straight up and straight down (where a pinch, swirl or radial smear
    shows), titled with the pole scores when ``report`` is given. Returns a Figure."""
    fig = Figure(figsize=(6.5, 3.6), layout="constrained")
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


def _draw_net(ax: Any, pano: Panorama, report: Any, face_size: int) -> None:
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


def cube_net(pano: Any, report: Any = None, face_size: int | None = None) -> Figure:
    """The six generic faces unfolded as a horizontal cross, each edge labelled with its
    Discontinuity Score (green under the limit, red over) - from ``report`` or from a
    fresh `seams.seam_report`. Returns a Figure."""
    p = _pano(pano)
    if report is None:
        from .seams import seam_report

        report = seam_report(p)
    size = face_size or max(8, min(256, p.width // 4))
    fig = Figure(figsize=(8, 6.3), layout="constrained", display_format="jpeg")
    _draw_net(fig.add_subplot(), p, report, size)
    return fig


def contact_sheet(panos: Sequence[Any], reports: Sequence[Any] | None = None,
                  titles: Sequence[str] | None = None, ncols: int = 3) -> Figure:
    """Many panoramas side by side, each titled with its verdict and seam scores (from
    ``reports``, computed when not given). Returns a Figure."""
    items = [_pano(p) for p in panos]
    if not items:
        raise ValueError("panos: got an empty sequence; allowed: one or more panoramas")
    if reports is None:
        from .seams import seam_report

        reports = [seam_report(p) for p in items]
    if len(reports) != len(items):
        raise ValueError(f"reports: got {len(reports)} for {len(items)} panoramas; "
                         "allowed: one report per panorama")
    ncols = max(1, min(int(ncols), len(items)))
    nrows = -(-len(items) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 2.6 * nrows + 0.3), layout="constrained",
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


def report_figure(report: Any) -> Figure:
    """Everything about one `SeamReport` in one Figure: the rolled strip with zoomed
    crops, the per-row profile, both pole views and the cube net with edge scores,
    drawn from the report's downscaled copy."""
    pano = Panorama(report.preview, ratio="ignore")
    fig = Figure(figsize=(11, 12), layout="constrained")
    grid = fig.add_gridspec(3, 1, height_ratios=[1.6, 0.7, 1.3])
    _draw_strip(fig, grid[0], pano, _worst_rows(report, pano.height / report.size[1]), zoom=24)
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
