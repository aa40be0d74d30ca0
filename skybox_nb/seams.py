"""The seam check: is the panorama continuous across its wrap border, at its poles and
across the twelve edges of its cube faces? `seam_report` answers with numbers, a verdict
and where the defect is.

Invariant: every score is relative to the image's own texture, so a busy city and a
smooth sky are judged alike, and every verdict compares a score with a documented
threshold in `THRESHOLDS`. The check reads a downscaled copy, never the input's pixels
in place: at most `ANALYSIS_WIDTH` columns, box-averaged by an integer factor. That is
sound because every measure is a ratio of neighbour differences taken at one scale: a box
filter keeps the wrap border on a block boundary (W is a multiple of the factor), so a
seam stays a one-column jump while the interior is averaged the same way.

The measures (intensities are the mean of the colour channels, 0..255; alpha ignored):

* Wrap seam. D(y, j) = |I(y, j+1) - I(y, j)| (per channel, averaged) for every column
  pair, the pair (W-1, 0) included; each row is normalised by its own mean neighbour
  difference m(y) plus `C_FLOOR` (1 grey level, so flat rows are not amplified):
  N = D / (m + C_FLOOR). The
  median of N over rows is about 0.7 for an ordinary column pair whatever the texture
  (a difference over its mean); a pair's score is that median over an ordinary pair's
  (the median over all pairs, or over those at the same place in an 8-pixel JPEG grid,
  whichever is larger, and at least 0.35), so an ordinary pair scores about 1. ``wrap``
  is the score of the pair (W-1, 0); ``interior`` the worst other pair, which catches a
  seam moved inside the image (an image that does not wrap, rolled). The per-row profile
  (N of the wrap pair over an ordinary median, 5-row running mean) says which rows
  break. Being a median over rows, the score flags a seam that spans about half the
  height or more; a shorter one shows in the profile and raises DS in proportion.
* Poles. ``uniformity``: the pole row's mean absolute deviation from its own mean,
  divided by the mean vertical neighbour difference in the polar cap (the rows within
  5.6 degrees of the pole) plus `C_FLOOR`. A pole row spans a circle one row across, so
  on a correct pole this is about 1/pi of a row's change (~0.3) whatever the texture.
  ``smear``: in the views straight up and down (50 degree field of view), the mean
  tangential gradient divided by the mean radial gradient over the disc around the pole:
  about 1 for isotropic texture, large for the radial streaks of a smeared pole.
* Cube edges: the Discontinuity Score (below) of each of the twelve edges of the generic
  cube faces (face size = analysis width / 4, at most 256). Faces resampled from one
  equirect image are continuous by construction except where its own seam or pole
  defects cross an edge, so this score matters most for a cubemap made elsewhere:
  `seam_report` also takes a dict of six faces and then measures their own edges.
* DS, Christensen et al., "Geometry Fidelity for Spherical Images", ECCV 2024: for a
  border of L pixels, six columns across it (three each side), a(k, y) for k = 1..4 is a
  Sobel response across the border: the central difference (I(k+1) - I(k-1)) / 2
  smoothed along the border by [1, 2, 1] / 4, on intensities scaled to 0..1, so a(k) is
  a derivative per pixel. DS(a) = 1/(2L) sum_y (|a(2,y)| / (|a(1,y)| + c) +
  |a(3,y)| / (|a(4,y)| + c)) with c = `DS_C` = 0.01 (2.5 grey levels per pixel).
  ``ds`` is DS over the wrap border (L = H, so DS(I) = DS(a)); ``cube_edges.ds`` is
  (L / H_E) * sum over the twelve edges, H_E = 2 L (the panorama matching the faces).
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .conventions import FACE_BASIS, get_convention
from .cubemap import from_faces, perspective, to_faces
from .palette import verdict_colour
from .panorama import Panorama, _resize, _validate_array as _validate_image, as_array

__all__ = ["seam_report", "SeamReport", "WrapSeam", "Pole", "Poles", "CubeEdges",
           "discontinuity_score", "THRESHOLDS", "ANALYSIS_WIDTH", "C_FLOOR", "DS_C"]

ANALYSIS_WIDTH = 2048
C_FLOOR = 1.0
DS_C = 0.01

# Verdict limits. A score above its limit is a defect. Calibrated on analytic seamless
# panoramas (smooth and textured, with and without JPEG noise) against the broken
# variants in tests/synthetic.py; see tests/test_seams.py.
THRESHOLDS: dict[str, float] = {
    "wrap": 2.5,        # wrap-border jump / an ordinary column pair's (ordinary ~1)
    "interior": 4.0,    # same for the worst other column pair (one of W - 1 candidates)
    "ds": 2.5,          # Discontinuity Score of the wrap border (seamless ~0.5-1.2)
    "pole_uniformity": 1.5,  # pole-row spread / cap texture (correct ~0.3)
    "pole_smear": 2.5,  # tangential / radial gradient around the pole (isotropic ~1)
    "cube_edge": 2.5,   # DS of one cube edge
}
_CAP_DEG = 5.6
_ORDINARY_FLOOR = 0.35  # half the usual median jump of an ordinary pair (~0.7)
_VIEW_FOV = 50.0


# ------------------------------------------------------------------ result types

@dataclass(frozen=True)
class WrapSeam:
    """The wrap border (and the worst interior column). ``rows``: when the seam is
    flagged, the row ranges (in the input's pixels, end exclusive) where the per-row
    profile exceeds the threshold. The score is a median over rows, so a seam is flagged
    when it spans about half the rows or more; a shorter one shows in ``profile`` and
    raises ``ds`` in proportion."""

    score: float
    ds: float
    interior: float
    interior_column: int
    profile: np.ndarray = field(repr=False)
    rows: list[tuple[int, int]]
    threshold: float
    ds_threshold: float
    interior_threshold: float

    @property
    def ok(self) -> bool:
        return self.score <= self.threshold and self.ds <= self.ds_threshold

    @property
    def interior_ok(self) -> bool:
        return self.interior <= self.interior_threshold


@dataclass(frozen=True)
class Pole:
    """One pole: ``name`` "north" (row 0) or "south"; its two measures and limits."""

    name: str
    uniformity: float
    smear: float
    uniformity_threshold: float
    smear_threshold: float

    @property
    def ok(self) -> bool:
        return self.uniformity <= self.uniformity_threshold and self.smear <= self.smear_threshold

    @property
    def severity(self) -> float:
        """The worse measure over its threshold (1.0 = at the limit)."""
        return max(self.uniformity / self.uniformity_threshold, self.smear / self.smear_threshold)


@dataclass(frozen=True)
class Poles:
    """Both poles. ``score`` is the worst severity (measure / threshold), limit 1.0."""

    north: Pole
    south: Pole

    @property
    def score(self) -> float:
        return max(self.north.severity, self.south.severity)

    @property
    def ok(self) -> bool:
        return self.north.ok and self.south.ok

    @property
    def bad(self) -> list[str]:
        return [p.name for p in (self.north, self.south) if not p.ok]


@dataclass(frozen=True)
class CubeEdges:
    """DS of each of the twelve cube edges, named "F-R", "U-F", ... (generic faces)."""

    edges: dict[str, float]
    ds: float
    threshold: float

    @property
    def score(self) -> float:
        return max(self.edges.values())

    @property
    def bad(self) -> list[str]:
        return [k for k, v in self.edges.items() if v > self.threshold]

    @property
    def ok(self) -> bool:
        return not self.bad


@dataclass(frozen=True)
class SeamReport:
    """What `seam_report` found. ``seamless`` is the verdict; ``defects`` says where, in
    words; ``to_dict()`` is JSON-ready; ``plot()`` draws the figures a person checks."""

    seamless: bool
    wrap: WrapSeam
    poles: Poles
    cube_edges: CubeEdges
    ds: float
    defects: list[str]
    thresholds: dict[str, float]
    size: tuple[int, int]
    analysis_size: tuple[int, int]
    seconds: float
    preview: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Scores, thresholds, verdict and defect locations as plain JSON types."""
        w = self.wrap
        return {
            "seamless": bool(self.seamless),
            "size": list(self.size),
            "analysis_size": list(self.analysis_size),
            "scores": {"wrap": w.score, "ds": self.ds, "interior": w.interior,
                       "poles": self.poles.score, "cube_edges": self.cube_edges.score},
            "thresholds": dict(self.thresholds),
            "wrap": {"score": w.score, "ds": w.ds, "ok": w.ok, "rows": [list(r) for r in w.rows],
                     "interior_score": w.interior, "interior_column": w.interior_column,
                     "interior_ok": w.interior_ok},
            "poles": {p.name: {"uniformity": p.uniformity, "smear": p.smear, "ok": p.ok}
                      for p in (self.poles.north, self.poles.south)},
            "cube_edges": {"edges": dict(self.cube_edges.edges), "ds": self.cube_edges.ds,
                           "bad": self.cube_edges.bad, "ok": self.cube_edges.ok},
            "ds": self.ds,
            "defects": list(self.defects),
            "seconds": self.seconds,
        }

    def plot(self) -> Any:
        """A matplotlib Figure: seam strip, row profile, pole views and cube net."""
        from .plots import report_figure

        return report_figure(self)

    def __repr__(self) -> str:
        verdict = "seamless" if self.seamless else "NOT seamless: " + "; ".join(self.defects)
        return (f"SeamReport({verdict}; wrap={self.wrap.score:.2f}, ds={self.ds:.2f}, "
                f"poles={self.poles.score:.2f}, cube_edges={self.cube_edges.score:.2f})")

    def measures(self) -> list[tuple[str, float, float]]:
        """(what, score, limit) for every measure, in reading order."""
        t = self.thresholds
        p = self.poles
        return [
            ("wrap seam", self.wrap.score, t["wrap"]),
            ("wrap DS", self.ds, t["ds"]),
            ("worst interior column", self.wrap.interior, t["interior"]),
            ("north pole uniformity", p.north.uniformity, t["pole_uniformity"]),
            ("north pole smear", p.north.smear, t["pole_smear"]),
            ("south pole uniformity", p.south.uniformity, t["pole_uniformity"]),
            ("south pole smear", p.south.smear, t["pole_smear"]),
            ("worst cube edge DS", self.cube_edges.score, t["cube_edge"]),
        ]

    def __str__(self) -> str:
        lines = [f"{'seamless' if self.seamless else 'NOT seamless'} "
                 f"({self.size[0]}x{self.size[1]}, checked at {self.analysis_size[0]}x"
                 f"{self.analysis_size[1]})"]
        lines += [f"  defect: {d}" for d in self.defects]
        lines += [f"  {name:<24} {v:8.2f}  (limit {lim:g})" for name, v, lim in self.measures()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(n)}</td><td style='text-align:right'>{v:.2f}</td>"
            f"<td style='text-align:right'>{lim:g}</td><td>{'ok' if v <= lim else '<b>over</b>'}"
            "</td></tr>" for n, v, lim in self.measures())
        colour = verdict_colour(self.seamless)
        verdict = "seamless" if self.seamless else "not seamless"
        defects = "".join(f"<li>{html.escape(d)}</li>" for d in self.defects)
        strip = _strip_png(self.preview)
        return (f"<div><b style='color:{colour}'>{verdict}</b> "
                f"<span style='font-size:small'>({self.size[0]}x{self.size[1]}, checked at "
                f"{self.analysis_size[0]}x{self.analysis_size[1]})</span>"
                f"{'<ul>' + defects + '</ul>' if defects else ''}"
                f"<img src='data:image/png;base64,{strip}' style='max-width:100%' "
                "alt='panorama rolled half a turn: the wrap seam is in the middle'/>"
                f"<table><tr><th>measure</th><th>score</th><th>limit</th><th></th></tr>{cells}"
                "</table></div>")


def _strip_png(preview: np.ndarray) -> str:
    from PIL import Image

    a = np.roll(preview, preview.shape[1] // 2, axis=1)
    im = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    im.thumbnail((768, 384))
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ------------------------------------------------------------------ measures

def _analysis_copy(arr: np.ndarray, max_width: int) -> tuple[np.ndarray, int]:
    """(C, h, w) float32 copy (one plane per channel, C <= 3) on a 0..255 scale,
    box-downscaled by an integer factor so that w <= max_width; returns it and the
    factor."""
    h, w = arr.shape[:2]
    rgb = arr[:, :, :3] if arr.shape[2] == 4 else arr
    k = max(1, math.ceil(w / max_width))
    small = _resize(np.ascontiguousarray(rgb), w // k, h // k) if k > 1 else rgb
    out = np.ascontiguousarray(small.transpose(2, 0, 1), dtype=np.float32)
    if arr.dtype == np.uint16:
        out *= np.float32(255.0 / 65535.0)
    elif arr.dtype == np.float32:
        out *= np.float32(255.0)
    return out, k


def _gray(arr: np.ndarray, max_width: int) -> np.ndarray:
    """Channel-mean intensities 0..255 of an image, box-downscaled to <= max_width."""
    planes, _ = _analysis_copy(_validate_image(arr), max_width)
    return planes.mean(axis=0)


def _generic_faces(faces: Mapping[str, Any], conv: Any) -> dict[str, np.ndarray]:
    """A convention's faces (already checked by `from_faces`) renamed F R B L U D. Every
    convention orients its faces the same way in cube space, so only the names change."""
    generic = get_convention("generic")
    return {generic.name_of(conv.axis(n)): np.asarray(faces[n]) for n in conv.names}


def _column_scores(work: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``work`` is (C, h, w). Per column pair (j, j+1 mod w): its median normalised jump
    over rows, divided by that of an ordinary pair; and N of the wrap pair, per row.

    Differences are per channel, then averaged, so a jump in colour alone counts. An
    ordinary pair is the median over all pairs or over the pairs at the same place in an
    8-pixel grid, whichever is larger: JPEG's block edges are rougher than its block
    interiors, and the wrap border is always a block edge.
    """
    d = np.zeros(work.shape[1:], np.float32)  # d[:, j] = |I(j+1) - I(j)|, channel mean
    for plane in work:
        d[:, :-1] += np.abs(plane[:, 1:] - plane[:, :-1])
        d[:, -1] += np.abs(plane[:, 0] - plane[:, -1])
    d /= np.float32(work.shape[0])
    m = d[:, :-1].mean(axis=1, keepdims=True)
    n = d / (m + np.float32(C_FLOOR))
    col = np.median(n, axis=0)
    w = col.size
    ref = np.full(w, max(float(np.median(col)), _ORDINARY_FLOOR), np.float32)
    if w % 8 == 0 and w >= 64:
        phase = np.array([np.median(col[p::8]) for p in range(8)], np.float32)
        ref = np.maximum(ref, np.tile(phase, w // 8))
    return col / ref, n[:, -1] / ref[-1]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) ranges of True in a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _sobel_across(strip: np.ndarray) -> np.ndarray:
    """(L, 4) responses at columns 1..4 of an (L, 6) strip: per-pixel derivative across,
    smoothed [1, 2, 1] / 4 along."""
    diff = (strip[:, 2:] - strip[:, :-2]) * 0.5
    padded = np.pad(diff, ((1, 1), (0, 0)), mode="edge")
    return (padded[:-2] + 2 * padded[1:-1] + padded[2:]) * 0.25


def discontinuity_score(strip: np.ndarray, c: float = DS_C) -> float:
    """DS(a) of Christensen et al. 2024 for one border: ``strip`` is (L, 6) intensities
    0..1, three columns on each side, the border between columns 2 and 3."""
    a = np.abs(_sobel_across(np.asarray(strip, dtype=np.float64)))
    return float(np.mean(a[:, 1] / (a[:, 0] + c) + a[:, 2] / (a[:, 3] + c)) / 2)


def _edge_side(axis: str, other: str, face: np.ndarray, e: np.ndarray) -> np.ndarray:
    """(L, 3) pixels of ``face`` along its edge with face ``other``: column 0 at the edge,
    rows ordered along the edge direction ``e``."""
    _, u, v = (np.array(x) for x in FACE_BASIS[axis])
    m = np.array(FACE_BASIS[other][0])
    s = face.shape[0]
    if np.array_equal(u, m) or np.array_equal(u, -m):
        cols = [s - 1 - k for k in range(3)] if np.array_equal(u, m) else [0, 1, 2]
        side = face[:, cols]
        along = v
    else:
        rows = [s - 1 - k for k in range(3)] if np.array_equal(v, m) else [0, 1, 2]
        side = face[rows, :].T
        along = u
    return side[::-1] if np.dot(along, e) < 0 else side


def _cube_edges(gray_faces: dict[str, np.ndarray], h: int) -> tuple[dict[str, float], float]:
    conv = get_convention("generic")
    axes = [conv.axis(n) for n in conv.names]
    scores: dict[str, float] = {}
    for i, a in enumerate(axes):
        for b in axes[i + 1:]:
            if np.dot(FACE_BASIS[a][0], FACE_BASIS[b][0]) != 0:
                continue  # opposite faces share no edge
            fa, fb = conv.name_of(a), conv.name_of(b)
            e = np.cross(FACE_BASIS[a][0], FACE_BASIS[b][0])
            left = _edge_side(a, b, gray_faces[fa], e)
            right = _edge_side(b, a, gray_faces[fb], e)
            strip = np.concatenate([left[:, ::-1], right], axis=1) / 255.0
            scores[f"{fa}-{fb}"] = discontinuity_score(strip)
    size = next(iter(gray_faces.values())).shape[0]
    return scores, size / h * sum(scores.values())


def _pole_uniformity(gray: np.ndarray, north: bool) -> float:
    h = gray.shape[0]
    cap = max(2, int(round(h * _CAP_DEG / 180.0)))
    g = gray if north else gray[::-1]
    row = g[0]
    spread = float(np.mean(np.abs(row - row.mean())))
    texture = float(np.mean(np.abs(np.diff(g[: cap + 1], axis=0))))
    return spread / (texture + C_FLOOR)


def _pole_smear(gray: np.ndarray, north: bool) -> float:
    h = gray.shape[0]
    n = int(np.clip(round(0.3 * h), 48, 256))
    view = perspective(Panorama(gray[:, :, None], ratio="ignore"),
                       pitch=90.0 if north else -90.0, fov=_VIEW_FOV, size=(n, n))[:, :, 0]
    gy, gx = np.gradient(view.astype(np.float32))
    c = (n - 1) / 2.0
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) - np.float32(c)
    r = np.hypot(xx, yy)
    ring = (r >= 2.0) & (r <= 0.45 * n)
    rx, ry = xx[ring] / r[ring], yy[ring] / r[ring]
    radial = np.abs(gx[ring] * rx + gy[ring] * ry)
    tangential = np.abs(-gx[ring] * ry + gy[ring] * rx)
    return float(tangential.mean() / (radial.mean() + 0.05))


def seam_report(pano_or_array: Any, thresholds: dict[str, float] | None = None,
                max_width: int = ANALYSIS_WIDTH,
                convention: str = "generic") -> SeamReport:
    """Check the wrap seam, the poles and the cube edges of a panorama (a `Panorama`, an
    array or anything `Panorama.load` takes) or of a cubemap given as a dict of six faces
    named as ``convention`` names them (as `cubemap.to_faces` returns them). For a
    cubemap the cube edges are measured on the faces themselves and the wrap seam and
    poles on the panorama made from them. ``thresholds`` overrides entries of
    `THRESHOLDS`; ``max_width`` is the analysis width. Returns a `SeamReport`."""
    t0 = time.perf_counter()
    given_faces = None
    if isinstance(pano_or_array, Mapping):
        conv = get_convention(convention)
        faces_in = pano_or_array  # from_faces checks that all six are there and alike
        pano_or_array = Panorama(from_faces(faces_in, convention=conv), ratio="ignore")
        given_faces = _generic_faces(faces_in, conv)
    limits = dict(THRESHOLDS)
    for k, v in (thresholds or {}).items():
        if k not in THRESHOLDS:
            raise ValueError(f"thresholds: unknown key {k!r}; allowed: {', '.join(THRESHOLDS)}")
        limits[k] = float(v)
    arr = as_array(pano_or_array)
    H, W = arr.shape[:2]
    work, k = _analysis_copy(arr, max_width)
    h, w = work.shape[1:]
    gray = work.mean(axis=0) if work.shape[0] > 1 else work[0]

    col, wrap_rows = _column_scores(work)
    wrap_score = float(col[-1])
    j = int(np.argmax(col[:-1]))
    profile = np.convolve(wrap_rows, np.ones(5, np.float32) / 5, mode="same")
    border = np.concatenate([gray[:, -3:], gray[:, :3]], axis=1) / 255.0
    ds = discontinuity_score(border)
    # Rows are located only for a flagged seam: on a sound one, JPEG noise and sharp
    # texture put short runs over the line that are not defects.
    flagged = wrap_score > limits["wrap"] or ds > limits["ds"]
    bad_rows = [(a * k, b * k) for a, b in _runs(profile > limits["wrap"])] if flagged else []
    wrap = WrapSeam(wrap_score, ds, float(col[j]), (j + 1) * k, profile, bad_rows,
                    limits["wrap"], limits["ds"], limits["interior"])

    poles = Poles(*(Pole(name, _pole_uniformity(gray, north), _pole_smear(gray, north),
                         limits["pole_uniformity"], limits["pole_smear"])
                    for name, north in (("north", True), ("south", False))))

    if given_faces is None:
        size = max(8, min(256, w // 4))
        faces = to_faces(Panorama(gray[:, :, None], ratio="ignore"), size, "generic")
        gray_faces = {n: f[:, :, 0] for n, f in faces.items()}
    else:
        gray_faces = {n: _gray(f, 256) for n, f in given_faces.items()}
        size = next(iter(gray_faces.values())).shape[0]
    edges, cube_ds = _cube_edges(gray_faces, 2 * size)
    if given_faces is not None and conv.name != "generic":  # name edges as the user does
        generic = get_convention("generic")
        rename = {g: conv.name_of(generic.axis(g)) for g in generic.names}
        edges = {"-".join(rename[x] for x in e.split("-")): v for e, v in edges.items()}
    cube = CubeEdges(edges, cube_ds, limits["cube_edge"])

    defects = _describe(wrap, poles, cube, H, W)
    preview = np.clip(work, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return SeamReport(
        seamless=not defects, wrap=wrap, poles=poles, cube_edges=cube, ds=ds,
        defects=defects, thresholds=limits, size=(W, H), analysis_size=(w, h),
        seconds=time.perf_counter() - t0, preview=preview)


def _describe(wrap: WrapSeam, poles: Poles, cube: CubeEdges, H: int, W: int) -> list[str]:
    """The defects in words, each naming where it is."""
    out = []
    if not wrap.ok:
        rows = ", ".join(f"{a}-{b - 1}" for a, b in wrap.rows[:4]) or "spread thinly"
        more = f" (+{len(wrap.rows) - 4} more ranges)" if len(wrap.rows) > 4 else ""
        out.append(f"wrap seam (between columns {W - 1} and 0): score {wrap.score:.2f} "
                   f"(limit {wrap.threshold:g}), DS {wrap.ds:.2f} (limit "
                   f"{wrap.ds_threshold:g}); rows {rows}{more} of {H}")
    if not wrap.interior_ok:
        c = wrap.interior_column
        lon = (c / W) * 360.0 - 180.0
        out.append(f"a seam inside the image between columns {c - 1} and {c} "
                   f"(longitude {lon:+.0f} deg): score {wrap.interior:.2f} "
                   f"(limit {wrap.interior_threshold:g})")
    for p in (poles.north, poles.south):
        if p.ok:
            continue
        rows = "top rows" if p.name == "north" else "bottom rows"
        what = []
        if p.uniformity > p.uniformity_threshold:
            what.append(f"pole row not uniform {p.uniformity:.2f} (limit "
                        f"{p.uniformity_threshold:g})")
        if p.smear > p.smear_threshold:
            what.append(f"radial smear {p.smear:.2f} (limit {p.smear_threshold:g})")
        out.append(f"{p.name} pole ({rows}): " + ", ".join(what))
    if not cube.ok:
        worst = sorted(cube.bad, key=lambda e: -cube.edges[e])
        out.append("cube edges " + ", ".join(f"{e} (DS {cube.edges[e]:.2f})" for e in worst)
                   + f" over the limit {cube.threshold:g}")
    return out
