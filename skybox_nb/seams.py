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

The measures (intensities are the mean of the colour channels, 0..255; alpha ignored;
an HDRi, float32 radiance above `HDR_ABOVE`, is read as a person sees it: exposed to a
middle-grey log-average, one exposure for the whole image, and tone-mapped):

* Wrap seam. D(y, j) = |I(y, j+1) - I(y, j)| (per channel, averaged) for every column
  pair, the pair (W-1, 0) included; each row is normalised by its own mean neighbour
  difference m(y) plus `C_FLOOR` (1 grey level, so flat rows are not amplified):
  N = D / (m + C_FLOOR). The
  median of N over rows is about 0.7 for an ordinary column pair whatever the texture
  (a difference over its mean); a pair's score is that median over an ordinary pair's
  (the median over all pairs, or over those at the same place in an 8-pixel JPEG grid,
  whichever is larger, and at least 0.35), so an ordinary pair scores about 1. ``wrap``
  is the score of the pair (W-1, 0); ``interior`` the worst other pair, which catches a
  seam moved inside the image (an image that does not wrap, rolled).
  Real AI seams are often partial (a band of 10-30% of the height), which a median over
  rows misses, so the per-row profile decides too: N averaged over a running window of
  2% of the height, the wrap pair's over an ordinary pair's in the same rows (the upper
  quartile of all pairs there, or of the pairs two and three columns from the border,
  whichever is larger). A contiguous band over the wrap limit (with hysteresis: rows
  over 0.8 of it joined to a run over it) covering `BAND_MIN` (8%) of the height or more
  fails the wrap; the report names its rows and latitudes and
  gives DS over those rows alone. On the real calibration set the clean images' longest
  run is 2% of the height and the shortest visible seam's 12%.
  An interior column is a seam only when it jumps in at least `INTERIOR_BANDS` of 8
  bands of rows: a seam cuts textures, gradients and horizons at once, while a real
  vertical edge (a door frame, a tower) spans part of the height and not the poles.
* Poles. ``uniformity``: the pole row's mean absolute deviation from its own mean,
  divided by the mean vertical neighbour difference in the polar cap (the rows within
  5.6 degrees of the pole) plus `C_FLOOR`. A pole row spans a circle one row across, so
  on a correct pole this is about 1/pi of a row's change (~0.3) whatever the texture.
  ``smear``: in the views straight up and down (50 degree field of view), the mean
  tangential gradient divided by the mean radial gradient over the disc around the pole:
  about 1 for isotropic texture, large for the radial streaks of a smeared pole.
  ``pinch``: what a person sees in the 90-degree view straight up or down: the RMS
  tangential over radial gradient in rings 3-6 and 6-12 degrees from the pole (the
  worse). A camera's texture has edges at every angle (~1); a star or bow-tie pinch,
  planks or light streaks meeting at the pole, a kaleidoscope's mirror lines and radial
  tunnel streaks all put edges along the radii. Being a ratio in the view itself it
  judges structure against the image's own texture, and it starts 3 degrees out, so a
  stitcher's blurred last 1% of rows under a crisp view is not a defect.
  Four more measures read one 40-degree view straight up or down, its detail (a
  difference of Gaussians, sigma 1 and 3 view pixels) resampled on rings around the pole,
  each judged against the same view's own texture: ``symmetry``, the kaleidoscope: the
  best correlation of the rings' detail with itself turned by 360/k degrees (k = 2..6),
  3-15 degrees from the pole (camera texture ~0; a 2- or 4-fold mirrored nadir ~1);
  ``fold``, a straight line across the pole: the jump between neighbouring azimuths
  over the ring's median jump, its median over the rings 3-6 degrees out and over those
  6-12 degrees out, each over its own median azimuth's (plus 0.25, so a smooth view's
  faint steps do not count), at an azimuth and the opposite one: the least of those four
  for the best diameter (a line through the pole keeps its azimuth near it and further
  out and runs both ways; a straight beam passing beside the pole turns with the radius;
  texture ~0.8, a ceiling grid ~1.5); ``knot``, structure
  crammed into the pole, as a bow-tie or star pinch crams a ring of content into a small
  disc: the mean gradient of the detail across the radii (edges that run along them, i.e.
  converge on the pole; a disc's rim or a patch's rings run across them and do not
  count) within R of the pole (from 1 degree) over that from R to 2.5 R, the worst of
  R = 3, 5, 7 degrees (texture ~1; a blurred cap lowers it); ``void``, a
  torn hole: the share of azimuths around a disc of R = 3-6 degrees where the ring from R
  to 2 R holds three times the disc's gradient across the radii or more (a flat disc ringed
  by texture on every side scores 1; a patch of sky between clouds, a snow field, a
  posterised sky's rings well under 0.8).
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
import dataclasses
import html
import io
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import cv2
import numpy as np

from . import remap
from .conventions import FACE_BASIS, get_convention
from .cubemap import from_faces, perspective, to_faces
from .palette import verdict_colour
from .medians import median, median_rows, percentile_rows
from .pole_extent import pole_profile
from .panorama import Panorama, _resize, _validate_array as _validate_image, as_array

__all__ = ["seam_report", "SeamReport", "WrapSeam", "Pole", "PoleStructure", "Poles", "CubeEdges",
           "discontinuity_score", "THRESHOLDS", "ANALYSIS_WIDTH", "C_FLOOR", "DS_C"]

ANALYSIS_WIDTH = 2048
# A float32 image with values above this is linear HDR radiance, checked tone-mapped
# (a picture in 0..1 overshoots 1 by a resampling's ringing at most).
HDR_ABOVE = 2.0
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
    "pole_pinch": 1.6,  # same ratio 3-12 deg from the pole, ring by ring (isotropic ~1)
    "pole_symmetry": 0.4,  # detail's correlation with itself turned 360/k (texture ~0)
    "pole_fold": 2.0,   # a diameter's jump / the median azimuth's (texture ~0.8)
    "pole_knot": 1.35,  # edges along the radii near the pole / around it (texture ~1)
    "pole_void": 0.8,   # share of azimuths ringing a flat disc with texture (texture < 0.3)
    "cube_edge": 2.5,   # DS of one cube edge
}
# On the real calibration set (../shared/realpanos-dev, bench_seams_real.py) the clean
# poles reach symmetry 0.06, fold 1.58 (a gallery's floor), knot 1.10 (its ceiling grid)
# and void 0.21; the synthetic clean textures 0.13, 1.0 (a ceiling grid 1.5), 1.01 and
# 0.01; the emulator's renders at geometryEnforcement 100 (22 styles) 0.09, 1.11, 1.50 (a
# cartoon cloud at the zenith: the knot flags it) and 0.68 (a posterised zenith). Its pole
# artefacts: knot 1.56-2.2 on 6 of 12 and the cabin's bow-tie 1.59, which no other
# measure sees; fold 2.9 on one. Synthetic kaleidoscopes reach symmetry 0.6-1, folds
# 2.3-26, torn voids in texture 0.82-1, bow-ties knot ~2.
_CAP_DEG = 5.6
_ORDINARY_FLOOR = 0.35  # half the usual median jump of an ordinary pair (~0.7)
_VIEW_FOV = 50.0
# A partial wrap seam: the per-row profile, smoothed over 2% of the height, over the wrap
# limit for a contiguous run of at least 8% of the height. On the real calibration set
# the clean images' longest run is 3.3% and the shortest visible seam's 12%.
BAND_SMOOTH = 0.02
BAND_MIN = 0.08
_BAND_ROWS = 12  # and at least 12 analysis rows: a tiny image's profile is noisy
_BAND_QUANTILE = 75.0
_BAND_HYSTERESIS = 0.8
# An interior seam cuts the whole height at once: its jump is over the interior limit in
# at least this many of 8 horizontal bands of rows. A real vertical edge (a door frame, a
# tower) spans some bands and not the polar ones: 5 of 8 at most on the calibration set.
INTERIOR_BANDS = 7
# The pinch view: straight up/down, 90 degree field of view, 192 pixels (fewer for a small
# image, so a view pixel is never finer than a row); rings 3-6 and 6-12 degrees from the
# pole (inside 3 degrees a stitcher's blurred last rows live, which a person does not see).
_PINCH_SIZE = 192
_PINCH_RINGS = ((3.0, 6.0), (6.0, 12.0))
_PINCH_MIN_ROWS = 256  # 3 degrees = 4 rows; below that the rings are a few pixels: not measured
_PINCH_EPS = 0.25  # (half a grey level per pixel)^2, so flat views score 1
# The structure view: straight up/down, 40 degrees across, 192 pixels (a view pixel at
# the centre is 0.21 degrees, about a row of a 1024-row image); rings every 0.25 degrees
# from 0.5 to 17.5 degrees, 256 azimuths.
_STRUCT_FOV = 40.0
_STRUCT_SIZE = 192
_STRUCT_RINGS = np.arange(0.5, 17.51, 0.25)
_STRUCT_AZIMUTHS = 256
_SYMMETRY_RINGS = (3.0, 15.0)
_SYMMETRY_FOLDS = (2, 3, 4, 5, 6)
_FOLD_RINGS = (3.0, 12.0)
_FOLD_SPLIT = 6.0  # degrees: the inner rings end and the outer begin
_KNOT_RADII = (3.0, 5.0, 7.0)
_KNOT_FROM = 1.0  # degrees: nearer, the last rows (a stitcher's patch) are too few to tell
_VOID_RADII = (3.0, 4.5, 6.0)
_DETAIL_EPS = 0.5  # grey levels of detail, so flat views score 1 (knot) or 0 (void)
_FOLD_EPS = 0.25  # of an ordinary azimuth's (normalised) jump: a smooth view's are ~0
_VOID_EPS = 0.05  # grey levels per pixel of gradient across the radii: texture, not noise


# ------------------------------------------------------------------ result types

@dataclass(frozen=True)
class WrapSeam:
    """The wrap border (and the worst interior column).

    The wrap fails by one of three rules, named by ``rules``: ``"median"`` (the score, a
    median over rows, is over its limit: a seam over about half the height or more),
    ``"band"`` (a contiguous band of rows covering at least `BAND_MIN` of the height is
    over the limit in the smoothed per-row ``profile``: a partial seam) or ``"ds"`` (the
    Discontinuity Score of the whole border is over its limit). ``bands``: those bands,
    in the input's rows (end exclusive); ``band_ds``: DS over the rows of the bands alone
    (0 when there are none). ``rows``: every run of the profile over the limit, when the
    wrap fails. ``interior_cover``: in how many of 8 bands of rows the worst interior
    column jumps; it is a seam only when that is at least `INTERIOR_BANDS`."""

    score: float
    ds: float
    interior: float
    interior_column: int
    profile: np.ndarray = field(repr=False)
    rows: list[tuple[int, int]]
    threshold: float
    ds_threshold: float
    interior_threshold: float
    bands: list[tuple[int, int]] = field(default_factory=list)
    band_ds: float = 0.0
    interior_cover: int = 8
    height: int = 0
    band_share: float = 0.0
    band_min: float = BAND_MIN

    @property
    def rules(self) -> list[str]:
        """The rules that fail the wrap, in the order the docstring gives."""
        out = []
        if self.score > self.threshold:
            out.append("median")
        if self.bands:
            out.append("band")
        if self.ds > self.ds_threshold:
            out.append("ds")
        return out

    @property
    def ok(self) -> bool:
        return not self.rules

    @property
    def interior_ok(self) -> bool:
        return self.interior <= self.interior_threshold or self.interior_cover < INTERIOR_BANDS

    def latitudes(self, rows: tuple[int, int]) -> tuple[float, float]:
        """Latitudes in degrees (+90 = north pole) of the top and bottom of a row range."""
        h = self.height or max(1, self.profile.size)
        return 90.0 - 180.0 * rows[0] / h, 90.0 - 180.0 * rows[1] / h


@dataclass(frozen=True)
class Pole:
    """One pole: ``name`` "north" (row 0) or "south"; its measures and limits.

    ``pinch`` is the tangential over radial gradient ratio in rings 3-6 and 6-12 degrees
    from the pole in the 90-degree view straight up/down (the worse ring): converging
    structure (a star, a bow-tie, planks or streaks meeting at the pole, a kaleidoscope's
    mirror lines) puts edges along the radii there. ``pinch_deg`` is where (the ring's
    inner and outer angle from the pole). NaN for an image under 256 rows (at the
    analysis size): too few rows near the pole to tell.

    ``structure`` holds the measures of the 40-degree view (`PoleStructure`: symmetry,
    fold, knot, void), each with where it is; ``limits`` their thresholds.
    ``extent_deg``: how far from the pole (degrees) the artefact reaches, for a failing
    pole (`pole_extent.pole_profile`; 0 for a passing one)."""

    name: str
    uniformity: float
    smear: float
    uniformity_threshold: float
    smear_threshold: float
    pinch: float = 1.0
    pinch_threshold: float = THRESHOLDS["pole_pinch"]
    pinch_deg: tuple[float, float] = (0.0, 0.0)
    structure: PoleStructure | None = None
    limits: Mapping[str, float] = field(default_factory=lambda: {
        k: THRESHOLDS[f"pole_{k}"] for k in STRUCTURE_RULES})
    # How far from the pole (degrees) its artefact reaches, read from the ring-by-ring
    # profile of `pole_extent.pole_profile`; measured only for a pole that fails (0 else).
    extent_deg: float = 0.0

    def _scores(self) -> list[tuple[str, float, float]]:
        out = [("uniformity", self.uniformity, self.uniformity_threshold),
               ("smear", self.smear, self.smear_threshold),
               ("pinch", self.pinch, self.pinch_threshold)]
        if self.structure is not None:
            out += [(k, getattr(self.structure, k), self.limits[k]) for k in STRUCTURE_RULES]
        return out

    @property
    def rules(self) -> list[str]:
        """The measures over their limits: "uniformity", "smear", "pinch", "symmetry",
        "fold", "knot", "void" (an unmeasured one, NaN, never fails)."""
        return [n for n, v, t in self._scores() if v > t]

    @property
    def ok(self) -> bool:
        return not self.rules

    @property
    def severity(self) -> float:
        """The worst measure over its threshold (1.0 = at the limit)."""
        return max(0.0 if math.isnan(v) else v / t for _, v, t in self._scores())


STRUCTURE_RULES = ("symmetry", "fold", "knot", "void")


@dataclass(frozen=True)
class PoleStructure:
    """What the 40-degree view straight up or down shows around one pole (module
    docstring: the measures). ``symmetry_folds``: the k of the best k-fold repetition;
    ``fold_azimuth``: the azimuth of the fold line in the view, degrees counter-clockwise
    from the view's right edge (the line runs through the pole, both ways); ``knot_deg``:
    the radius R of the busiest disc; ``void_deg``: the radius of the most ringed flat
    disc. All NaN when the image is too small to tell (under `_PINCH_MIN_ROWS` rows)."""

    symmetry: float
    symmetry_folds: int
    fold: float
    fold_azimuth: float
    knot: float
    knot_deg: float
    void: float
    void_deg: float


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
            "wrap": {"score": w.score, "ds": w.ds, "ok": w.ok, "rules": w.rules,
                     "rows": [list(r) for r in w.rows],
                     "bands": [{"rows": list(b), "latitudes": list(w.latitudes(b))}
                               for b in w.bands],
                     "band_ds": w.band_ds, "band_share": w.band_share,
                     "interior_score": w.interior, "interior_column": w.interior_column,
                     "interior_cover": w.interior_cover, "interior_ok": w.interior_ok},
            "poles": {p.name: {"uniformity": p.uniformity, "smear": p.smear,
                               "pinch": None if math.isnan(p.pinch) else p.pinch,
                               "pinch_degrees": list(p.pinch_deg),
                               **_structure_dict(p.structure), "rules": p.rules,
                               "ok": p.ok, "extent_degrees": p.extent_deg}
                      for p in (self.poles.north, self.poles.south)},
            "cube_edges": {"edges": dict(self.cube_edges.edges), "ds": self.cube_edges.ds,
                           "bad": self.cube_edges.bad, "ok": self.cube_edges.ok},
            "ds": self.ds,
            "defects": list(self.defects),
            "seconds": self.seconds,
        }

    def plot(self) -> Any:
        """A matplotlib Figure: seam strip, row profile, pole views and cube net."""
        from . import plots  # with matplotlib's drawing code, only when a figure is asked

        return plots.report_figure(self)

    def __repr__(self) -> str:
        verdict = "seamless" if self.seamless else "NOT seamless: " + "; ".join(self.defects)
        return (f"SeamReport({verdict}; wrap={self.wrap.score:.2f}, ds={self.ds:.2f}, "
                f"poles={self.poles.score:.2f}, cube_edges={self.cube_edges.score:.2f})")

    def measures(self) -> list[tuple[str, float, float, bool]]:
        """(what, score, limit, failed) for every measure, in reading order. ``failed``
        is what the verdict used: a worst interior column over its limit that is a real
        vertical edge (it does not cut the whole height) has not failed."""
        t = self.thresholds
        w, p = self.wrap, self.poles
        rows = [
            ("wrap seam (median over rows)", w.score, t["wrap"], w.score > t["wrap"]),
            ("wrap: longest band, % height", 100 * w.band_share, 100 * BAND_MIN, bool(w.bands)),
            ("wrap DS", self.ds, t["ds"], self.ds > t["ds"]),
        ]
        if w.bands:
            rows.append(("wrap DS over the bands", w.band_ds, t["ds"], False))
        rows.append((f"worst interior column ({w.interior_cover}/8 bands; a seam cuts "
                     f">= {INTERIOR_BANDS})", w.interior, t["interior"], not w.interior_ok))
        for pole in (p.north, p.south):
            rows += [(f"{pole.name} pole uniformity", pole.uniformity, t["pole_uniformity"],
                      "uniformity" in pole.rules),
                     (f"{pole.name} pole smear", pole.smear, t["pole_smear"],
                      "smear" in pole.rules),
                     ] + ([] if math.isnan(pole.pinch) else [
                     (f"{pole.name} pole pinch", pole.pinch, t["pole_pinch"],
                      "pinch" in pole.rules)])
            st = pole.structure
            if st is not None and not math.isnan(st.knot):
                rows += [(f"{pole.name} pole {k}", getattr(st, k), pole.limits[k],
                          k in pole.rules) for k in STRUCTURE_RULES]
        rows.append(("worst cube edge DS", self.cube_edges.score, t["cube_edge"],
                     not self.cube_edges.ok))
        return rows

    def __str__(self) -> str:
        lines = [f"{'seamless' if self.seamless else 'NOT seamless'} "
                 f"({self.size[0]}x{self.size[1]}, checked at {self.analysis_size[0]}x"
                 f"{self.analysis_size[1]})"]
        lines += [f"  defect: {d}" for d in self.defects]
        lines += [f"  {name:<30} {v:8.2f}  (limit {lim:g}){'  FAILS' if bad else ''}"
                  for name, v, lim, bad in self.measures()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(n)}</td><td style='text-align:right'>{v:.2f}</td>"
            f"<td style='text-align:right'>{lim:g}</td><td>{'<b>fails</b>' if bad else 'ok'}"
            "</td></tr>" for n, v, lim, bad in self.measures())
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


def _structure_dict(st: PoleStructure | None) -> dict[str, Any]:
    """The structure measures of a pole as JSON types (None where not measured)."""
    if st is None:
        return {}
    out: dict[str, Any] = {}
    for k, v in vars(st).items():
        out[k] = None if isinstance(v, float) and math.isnan(v) else v
    return out


def _strip_png(preview: np.ndarray) -> str:
    from PIL import Image

    a = np.roll(preview, preview.shape[1] // 2, axis=1)
    im = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    im.thumbnail((768, 384))
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ------------------------------------------------------------------ measures

def _analysis_copy(arr: np.ndarray, max_width: int,
                   exposure: float | None) -> tuple[np.ndarray, int]:
    """(C, h, w) float32 copy (one plane per channel, C <= 3) on a 0..255 scale,
    box-downscaled by an integer factor so that w <= max_width; linear HDR radiance
    (``exposure`` not None: `_hdr_exposure` of the whole image) is tone-mapped after the
    downscale. Returns the copy and the factor."""
    h, w = arr.shape[:2]
    rgb = arr[:, :, :3] if arr.shape[2] == 4 else arr
    k = max(1, math.ceil(w / max_width))
    small = _resize(np.ascontiguousarray(rgb), w // k, h // k) if k > 1 else rgb
    if exposure is not None and small.dtype == np.float32:
        # Linear radiance (an HDRi), not a picture in 0..1: checked as a person sees it,
        # exposed so its log-average is middle grey (as a camera's auto exposure) and
        # tone-mapped as the HDR previews are. Scaled by 255, a sky of radiance 50 made
        # texture noise 50 times stronger than the measures' floors and read as defects.
        from .hdr import tonemap

        small = tonemap(np.maximum(small, np.float32(0)), exposure=exposure)  # uint8
    # Always a copy (np.array copies; ascontiguousarray returned a float32 grey input
    # itself), as it is scaled in place below: the caller's pixels are never written.
    out = np.array(small.transpose(2, 0, 1), dtype=np.float32, order="C")
    if small.dtype == np.uint16:
        out *= np.float32(255.0 / 65535.0)
    elif small.dtype == np.float32:
        out *= np.float32(255.0)
    return out, k


def _hdr_exposure(arr: np.ndarray) -> float | None:
    """Stops that expose an (H, W, C) image of float32 radiance (max above `HDR_ABOVE`)
    to a middle-grey log-average; None for a picture (any other dtype, or floats up to
    `HDR_ABOVE`). Alpha is ignored. Pixels 16 stops under the brightest (black, zero) are
    left out: they made the exposure depend on the scale and blew the sky out."""
    if arr.dtype != np.float32 or arr.size == 0:
        return None
    rgb = arr[:, :, :3]
    top = float(rgb.max())
    if not top > HDR_ABOVE:
        return None
    # The log-average of about 2048 columns is the whole image's, at a fraction of the
    # cost on an 8K or 16K HDRi.
    step = max(1, arr.shape[1] // ANALYSIS_WIDTH)
    lum = rgb[::step, ::step].mean(axis=2)
    lum = lum[lum > np.float32(top * 2.0 ** -16)]  # black (0) pixels carry no exposure
    return math.log2(0.18 / float(np.exp(np.mean(np.log(lum)))))


def _preview(arr: np.ndarray, work: np.ndarray, k: int) -> np.ndarray:
    """The (h, w, C) uint8 copy the report's figures draw from: the input itself (copied)
    when it is 8-bit at the analysis size, else the analysis copy rounded (clipping and
    casting 2048x1024x3 floats costs a tenth of the check)."""
    if arr.dtype == np.uint8 and k == 1:
        return np.array(arr[:, :, :3] if arr.shape[2] == 4 else arr)
    return np.clip(work, 0, 255).astype(np.uint8).transpose(1, 2, 0)


def _gray(arr: np.ndarray, max_width: int, exposure: float | None) -> np.ndarray:
    """Channel-mean intensities 0..255 of an image, box-downscaled to <= max_width (HDR
    radiance exposed by ``exposure``, see `_analysis_copy`)."""
    planes, _ = _analysis_copy(_validate_image(arr), max_width, exposure)
    return _mean_planes(planes)


def _generic_faces(faces: Mapping[str, Any], conv: Any) -> dict[str, np.ndarray]:
    """A convention's faces (already checked by `from_faces`) renamed F R B L U D. Every
    convention orients its faces the same way in cube space, so only the names change."""
    generic = get_convention("generic")
    return {generic.name_of(conv.axis(n)): np.asarray(faces[n]) for n in conv.names}


def _column_scores(work: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``work`` is (C, h, w). Per column pair (j, j+1 mod w): its median normalised jump
    over rows, divided by that of an ordinary pair; N itself (h, w); and the ordinary
    pair's median per column (w), which `_cover` and `_band_profile` divide N by.

    Differences are per channel, then averaged, so a jump in colour alone counts. An
    ordinary pair is the median over all pairs or over the pairs at the same place in an
    8-pixel grid, whichever is larger: JPEG's block edges are rougher than its block
    interiors, and the wrap border is always a block edge.
    """
    # d[:, j] = |I(j+1) - I(j)|, channel mean. cv2.absdiff: one pass where numpy takes
    # two, same values; written into d and one scratch buffer (a fresh 8 MB array costs
    # its page faults, as much again as the pass itself in a cold process).
    d = np.empty(work.shape[1:], np.float32)
    step = np.empty((work.shape[1], work.shape[2] - 1), np.float32)
    for i, plane in enumerate(work):
        cv2.absdiff(plane[:, 1:], plane[:, :-1], dst=step if i else d[:, :-1])
        if i:
            cv2.add(d[:, :-1], step, dst=d[:, :-1])
    d[:, -1] = 0
    for plane in work:
        d[:, -1] += np.abs(plane[:, 0] - plane[:, -1])
    d /= np.float32(work.shape[0])
    m = d[:, :-1].mean(axis=1, keepdims=True)
    n = d
    n /= m + np.float32(C_FLOOR)
    col = median_rows(n)
    w = col.size
    ref = np.full(w, max(float(median(col)), _ORDINARY_FLOOR), np.float32)
    if w % 8 == 0 and w >= 64:
        phase = np.array([median(col[p::8]) for p in range(8)], np.float32)
        ref = np.maximum(ref, np.tile(phase, w // 8))
    return col / ref, n, ref


def _cover(column: np.ndarray, limit: float) -> int:
    """In how many of 8 horizontal bands of rows a column pair's median jump (over an
    ordinary pair's) is over ``limit``: a seam cuts them all at once."""
    bands = np.array_split(column, 8)
    return int(sum(median(b) > limit for b in bands if b.size))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) ranges of True in a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _band_profile(n: np.ndarray, ordinary: np.ndarray) -> np.ndarray:
    """The wrap pair's per-row jump against an ordinary pair's in the same rows. N
    (``n``, over ``ordinary``, both from `_column_scores`) is averaged over a running
    window of `BAND_SMOOTH` of the height (5 rows at least: small images are noisy); the
    wrap column is divided by the upper quartile of the columns in the same rows (or of
    those at the same place in an 8-pixel JPEG grid, or of the pairs near the border,
    whichever is larger; at least `_ORDINARY_FLOOR`). Means over rows are compared with
    means over rows, and with a quartile rather than the median, so sparse texture
    (posterised art, where most neighbour differences are 0) is judged against itself."""
    h, w = n.shape
    k = min(h, max(5, int(round(BAND_SMOOTH * h))))
    # Only the columns used are smoothed: every 4th pair for the quartile (a quartile of
    # 512 pairs is as good as of 2048, at a quarter of the cost), every other JPEG-grid
    # pair, the pairs near the border and the border itself.
    near = [1, 2, w - 4, w - 3]
    grid = list(range(7, w - 1, 16)) if w % 8 == 0 and w >= 64 else []
    every = list(range(0, w - 1, 4))
    cols = np.array(near + grid + every + [w - 1]) % w
    # One row per column pair (OpenCV's transpose, then a row gather: a column gather
    # of n costs 5x), averaged along the rows by a box of k rows, edges repeated.
    t = cv2.transpose(n)[cols] / ordinary[cols, None]
    c = np.cumsum(cv2.copyMakeBorder(t, 0, 0, k // 2 + 1, k - 1 - k // 2,
                                     cv2.BORDER_REPLICATE), axis=1, dtype=np.float32)
    smooth = cv2.transpose((c[:, k:] - c[:, :-k]) / np.float32(k))
    a, b = len(near), len(near) + len(grid)
    ref = percentile_rows(smooth[:, b:-1], _BAND_QUANTILE)
    if grid:
        ref = np.maximum(ref, percentile_rows(smooth[:, a:b], _BAND_QUANTILE))
    # The second and third pairs on each side of the border, in the same rows: a smooth
    # gradient (a sun's glow) that crosses the border jumps as much there; a seam does not
    # (the nearest pairs are skipped: resampling softens a seam over a pixel or so).
    local = smooth[:, :a].mean(axis=1)
    return smooth[:, -1] / np.maximum(np.maximum(ref, local), np.float32(_ORDINARY_FLOOR))


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


def _pole_smear(gray: Panorama, north: bool) -> float:
    h = gray.height
    n = int(np.clip(round(0.3 * h), 48, 256))
    view = perspective(gray, pitch=90.0 if north else -90.0, fov=_VIEW_FOV, size=(n, n))[:, :, 0]
    gy, gx = np.gradient(view.astype(np.float32))
    c = (n - 1) / 2.0
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) - np.float32(c)
    r = np.hypot(xx, yy)
    ring = (r >= 2.0) & (r <= 0.45 * n)
    rx, ry = xx[ring] / r[ring], yy[ring] / r[ring]
    radial = np.abs(gx[ring] * rx + gy[ring] * ry)
    tangential = np.abs(-gx[ring] * ry + gy[ring] * rx)
    return float(tangential.mean() / (radial.mean() + 0.05))


def _binomial(a: np.ndarray) -> np.ndarray:
    """[1, 2, 1] / 4 along both axes (a Gaussian of sigma ~0.7), edges repeated."""
    p = np.pad(a, 1, mode="edge")
    a = (p[:-2] + 2 * p[1:-1] + p[2:]) * np.float32(0.25)
    return (a[:, :-2] + 2 * a[:, 1:-1] + a[:, 2:]) * np.float32(0.25)


def _pole_pinch(gray: Panorama, north: bool) -> tuple[float, tuple[float, float]]:
    """Tangential over radial RMS gradient in rings around the pole of the 90-degree view
    straight up or down (`_PINCH_RINGS`), the worse ring; and that ring's angles from the
    pole in degrees. NaN (not measured, never failing) below `_PINCH_MIN_ROWS` rows. About 1 for texture a camera saw (edges at every angle), large when
    structure converges on the pole."""
    if gray.height < _PINCH_MIN_ROWS:
        return float("nan"), (0.0, 0.0)
    n = int(min(_PINCH_SIZE, 0.6 * gray.height))  # view pixel (114.6 / n deg) >= a row
    view = perspective(gray, pitch=90.0 if north else -90.0, fov=90.0, size=(n, n))[:, :, 0]
    g = _binomial(view.astype(np.float32))  # the resampling's own noise
    gy, gx = np.gradient(g)
    c = (n - 1) / 2.0
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) - np.float32(c)
    r = np.hypot(xx, yy) + np.float32(1e-6)
    radial = (gx * xx + gy * yy) / r
    tangential = (gy * xx - gx * yy) / r
    best, where = 0.0, (0.0, 0.0)
    for lo, hi in _PINCH_RINGS:
        a, b = (n / 2 * math.tan(math.radians(x)) for x in (lo, hi))  # tan(45 deg) = 1
        ring = (r >= a) & (r < b)
        ratio = math.sqrt((float(np.mean(tangential[ring] ** 2)) + _PINCH_EPS)
                          / (float(np.mean(radial[ring] ** 2)) + _PINCH_EPS))
        if ratio > best:
            best, where = ratio, (lo, hi)
    return best, where


def _gauss(a: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of a 2-D float32 array (separable, edges repeated, 3 sigma)."""
    r = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    for axis in (0, 1):
        p = np.pad(a, [(r, r) if ax == axis else (0, 0) for ax in (0, 1)], mode="edge")
        n = a.shape[axis]
        a = sum(w * (p[i:i + n] if axis == 0 else p[:, i:i + n]) for i, w in enumerate(k))
    return a


def _polar_rings(view: np.ndarray) -> np.ndarray:
    """(C, rings, azimuths) samples of an (n, n, C) view straight up or down on the rings
    `_STRUCT_RINGS` (degrees from the pole) and `_STRUCT_AZIMUTHS` azimuths (counter-
    clockwise from the view's right edge)."""
    n = view.shape[0]
    key = ("pole-rings", n)

    def build() -> tuple[np.ndarray, np.ndarray]:
        f = n / 2 / math.tan(math.radians(_STRUCT_FOV / 2))
        c = (n - 1) / 2
        r = f * np.tan(np.radians(_STRUCT_RINGS))[:, None]
        t = np.arange(_STRUCT_AZIMUTHS) * (2 * np.pi / _STRUCT_AZIMUTHS)
        return ((c + r * np.cos(t)).astype(np.float32), (c - r * np.sin(t)).astype(np.float32))

    mx, my = remap.cached_map(key, build)
    return remap.sample(np.ascontiguousarray(view), mx, my).transpose(2, 0, 1)


def _pole_structure(gray: Panorama, north: bool) -> PoleStructure:
    """The symmetry, fold, knot and void measures (module docstring) of one pole, read in
    the 40-degree view straight up or down of the grey panorama ``gray``."""
    if gray.height < _PINCH_MIN_ROWS:
        nan = float("nan")
        return PoleStructure(nan, 0, nan, nan, nan, nan, nan, nan)
    view = perspective(gray, pitch=90.0 if north else -90.0, fov=_STRUCT_FOV,
                       size=(_STRUCT_SIZE, _STRUCT_SIZE))[:, :, 0]
    view = view.astype(np.float32)
    fine = _gauss(view, 1.0)
    detail = fine - _gauss(view, 3.0)  # a difference of Gaussians: edges, not shading
    # The knot counts edges that run along the radii (the detail's gradient across them):
    # what converges on the pole; the rings of a disc or a patch around it do not count.
    gy, gx = np.gradient(detail)
    c = (_STRUCT_SIZE - 1) / 2
    yy, xx = np.mgrid[0:_STRUCT_SIZE, 0:_STRUCT_SIZE].astype(np.float32) - np.float32(c)
    across = np.abs(gy * xx - gx * yy) / (np.hypot(xx, yy) + np.float32(1e-6))
    # The magnitude is sampled, not taken after sampling: near the pole the rings are
    # finer than the view's pixels and interpolating a signed value would cancel it.
    smooth, bp, along = _polar_rings(np.dstack([_gauss(view, 0.7), detail, across]))
    a = _STRUCT_RINGS
    nt = _STRUCT_AZIMUTHS

    # symmetry: the rings' detail against itself turned by 360/k degrees
    sel = (a >= _SYMMETRY_RINGS[0]) & (a <= _SYMMETRY_RINGS[1])
    ring = bp[sel] - bp[sel].mean(axis=1, keepdims=True)
    # the rings' circular autocorrelation at the five turns, summed directly (what an
    # inverse FFT of the power spectrum gives at those lags, without importing numpy.fft)
    energy = float((ring ** 2).sum()) + ring.size * _PINCH_EPS
    r64 = ring.astype(np.float64)
    turns = [float((r64 * np.roll(r64, -(nt // k), axis=1)).sum()) / energy
             for k in _SYMMETRY_FOLDS]
    best_k = int(np.argmax(turns))

    # fold: a straight line across the pole, a jump between neighbouring azimuths at two
    # opposite azimuths, in most rings
    sel = (a >= _FOLD_RINGS[0]) & (a <= _FOLD_RINGS[1])
    jump = np.abs(np.roll(smooth[sel], -1, axis=1) - smooth[sel])
    jump /= median(jump, axis=1)[:, None] + np.float32(_DETAIL_EPS)
    # ... in the inner rings and the outer ones at once: a line through the pole keeps
    # its azimuth, a straight bar passing beside the pole turns with the radius
    half = int(np.searchsorted(a[sel], _FOLD_SPLIT))
    profs = [median(part, axis=0) for part in (jump[:half], jump[half:])]
    profs = [(np.roll(p, 1) + p + np.roll(p, -1)) / 3 for p in profs]
    lines = [np.minimum(p, np.roll(p, -nt // 2)) / (median(p) + _FOLD_EPS) for p in profs]
    line = np.minimum(*lines)  # both ways from the pole, near it and further out
    t = int(np.argmax(line))
    fold = float(line[t])

    # knot and void: edges along the radii near the pole against those around it
    per_ring = along.mean(axis=1)

    def mean(lo: float, hi: float) -> float:
        return float(per_ring[(a >= lo) & (a < hi)].mean())

    knots = [(mean(_KNOT_FROM, r) + _DETAIL_EPS) / (mean(r, 2.5 * r) + _DETAIL_EPS)
             for r in _KNOT_RADII]
    voids = []
    for r in _VOID_RADII:
        # texture has edges along the radii; a posterised sky's rings around the pole not
        inner = float(along[(a >= 0.5) & (a < 0.8 * r)].mean())
        around = along[(a >= r) & (a < 2 * r)].mean(axis=0)
        voids.append(float(np.mean(around > 3 * inner + _VOID_EPS)))
    kk, kv = int(np.argmax(knots)), int(np.argmax(voids))
    return PoleStructure(
        symmetry=turns[best_k], symmetry_folds=_SYMMETRY_FOLDS[best_k], fold=fold,
        fold_azimuth=360.0 * t / nt % 180.0, knot=knots[kk], knot_deg=_KNOT_RADII[kk],
        void=voids[kv], void_deg=_VOID_RADII[kv])


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
    # Narrower, a 2:1 image's analysis copy can fall under the 16x8 a panorama needs (the
    # error would then blame the image's size).
    if isinstance(max_width, bool) or not isinstance(max_width, (int, np.integer)) or max_width < 32:
        raise ValueError(f"max_width: got {max_width!r}; allowed: an integer >= 32")
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
        # Every verdict divides by its limit (severity, the repair's band) and the report
        # is JSON: a limit of 0, below 0, NaN or inf is refused here, by name.
        try:
            value = float(v)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"thresholds[{k!r}]: got {v!r}; allowed: a finite number > 0")
        limits[k] = value
    arr = as_array(pano_or_array)
    H, W = arr.shape[:2]
    exposure = _hdr_exposure(arr)  # one for the whole image, its given faces included
    work, k = _analysis_copy(arr, max_width, exposure)
    h, w = work.shape[1:]
    gray = _mean_planes(work)
    gray_pano = Panorama(gray[:, :, None], ratio="ignore")  # checked once, viewed six times

    def pole(name: str, north: bool) -> Pole:
        pinch, where = _pole_pinch(gray_pano, north)
        return _with_extent(
            Pole(name, _pole_uniformity(gray, north), _pole_smear(gray_pano, north),
                 limits["pole_uniformity"], limits["pole_smear"], pinch,
                 limits["pole_pinch"], where, _pole_structure(gray_pano, north),
                 {k: limits[f"pole_{k}"] for k in STRUCTURE_RULES}), gray, north)

    # The poles are measured on a second thread while this one does the wrap and the cube
    # edges: OpenCV and numpy's large-array work let go of the GIL, so on two cores a cold
    # check takes a third less (what a user waits for on every `skybox-nb seams`).
    poles_job = _Background(lambda: Poles(pole("north", True), pole("south", False)))
    try:
        col, norm, ordinary = _column_scores(work)
        wrap_score = float(col[-1])
        j = int(np.argmax(col[:-1]))
        profile = _band_profile(norm, ordinary)
        # Hysteresis: a run is rows over 0.8 of the limit holding at least one over it, so a
        # seam whose profile hovers about the limit is one band, not several short ones.
        over = profile > limits["wrap"]
        runs = [(a, b) for a, b in _runs(profile > _BAND_HYSTERESIS * limits["wrap"])
                if over[a:b].any()]
        bands = [(a, b) for a, b in runs if b - a >= max(BAND_MIN * h, _BAND_ROWS)]
        share = max((b - a for a, b in runs), default=0) / h
        border = np.concatenate([gray[:, -3:], gray[:, :3]], axis=1) / 255.0
        ds = discontinuity_score(border)
        band_ds = (discontinuity_score(np.concatenate([border[a:b] for a, b in bands]))
                   if bands else 0.0)
        # Rows are located only for a failed wrap: on a sound one, JPEG noise and sharp
        # texture put short runs over the line that are not defects.
        flagged = wrap_score > limits["wrap"] or ds > limits["ds"] or bool(bands)
        bad_rows = [(a * k, b * k) for a, b in runs] if flagged else []
        wrap = WrapSeam(wrap_score, ds, float(col[j]), (j + 1) * k, profile, bad_rows,
                        limits["wrap"], limits["ds"], limits["interior"],
                        bands=[(a * k, b * k) for a, b in bands], band_ds=band_ds,
                        interior_cover=_cover(norm[:, j] / ordinary[j], limits["interior"]),
                        height=H, band_share=share)

        if given_faces is None:
            size = max(8, min(256, w // 4))
            faces = to_faces(gray_pano, size, "generic")
            gray_faces = {n: f[:, :, 0] for n, f in faces.items()}
        else:
            # One exposure for all six faces (the panorama's): each face exposed to its own
            # log-average put a step at every edge between a bright and a dark face.
            gray_faces = {n: _gray(f, 256, exposure) for n, f in given_faces.items()}
            size = next(iter(gray_faces.values())).shape[0]
        edges, cube_ds = _cube_edges(gray_faces, 2 * size)
        if given_faces is not None and conv.name != "generic":  # name edges as the user does
            generic = get_convention("generic")
            rename = {g: conv.name_of(generic.axis(g)) for g in generic.names}
            edges = {"-".join(rename[x] for x in e.split("-")): v for e, v in edges.items()}
        cube = CubeEdges(edges, cube_ds, limits["cube_edge"])
    finally:
        poles_job.join()  # even when this thread is interrupted (Ctrl-C)
    poles = poles_job.result()

    defects = _describe(wrap, poles, cube, H, W)
    preview = _preview(arr, work, k)
    return SeamReport(
        seamless=not defects, wrap=wrap, poles=poles, cube_edges=cube, ds=ds,
        defects=defects, thresholds=limits, size=(W, H), analysis_size=(w, h),
        seconds=time.perf_counter() - t0, preview=preview)


class _Background:
    """A call run on a thread of its own from the moment it is made; `result` waits for
    it and returns its value or raises what it raised, on the caller's thread."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        # Set when the call has ended. Not Thread.join: on Python 3.11 a join that a
        # Ctrl-C interrupts marks the thread stopped while it still runs.
        self._done = threading.Event()

        def run() -> None:
            try:
                self._value = call()
            except BaseException as exc:  # handed to the caller, who sees it raised
                self._error = exc
            finally:
                self._done.set()

        threading.Thread(target=run, name="skybox-nb-poles", daemon=True).start()

    def join(self) -> None:
        """Wait for the call to end, even through a KeyboardInterrupt (raised once it has
        ended): a thread left inside an OpenCV call while the interpreter exits aborts
        the process (exit 134, "terminate called without an active exception")."""
        stopped: BaseException | None = None
        while True:
            try:
                self._done.wait()
                break
            except KeyboardInterrupt as exc:
                stopped = exc
        if stopped is not None:
            raise stopped

    def result(self) -> Any:
        self.join()
        if self._error is not None:
            raise self._error
        return self._value


def _mean_planes(work: np.ndarray) -> np.ndarray:
    """The mean of the (C, h, w) planes as ``work.mean(axis=0)`` gives it, bit for bit
    (float32 sums in plane order, then one division), in half its cold time; the plane
    itself when there is one."""
    if work.shape[0] == 1:
        return work[0]
    out = work[0] + work[1]
    for plane in work[2:]:
        out += plane
    out /= np.float32(work.shape[0])
    return out


def _with_extent(p: Pole, gray: np.ndarray, north: bool) -> Pole:
    """``p`` with its artefact's extent measured (`pole_extent.pole_profile` on the
    analysis intensities ``gray``) when it fails; a passing pole is returned as it is."""
    if p.ok or gray.shape[0] < _PINCH_MIN_ROWS:
        return p
    return dataclasses.replace(p, extent_deg=pole_profile(gray, north).extent)


def _rows_text(rows: list[tuple[int, int]], wrap: WrapSeam, most: int = 4) -> str:
    parts = []
    for a, b in rows[:most]:
        top, bottom = wrap.latitudes((a, b))
        parts.append(f"{a}-{b - 1} (latitude {top:+.0f} to {bottom:+.0f} deg)")
    more = f" (+{len(rows) - most} more ranges)" if len(rows) > most else ""
    return ", ".join(parts) + more


def _describe(wrap: WrapSeam, poles: Poles, cube: CubeEdges, H: int, W: int) -> list[str]:
    """The defects in words, each naming the rule that fired and where."""
    out = []
    rules = wrap.rules
    if "band" in rules and "median" not in rules:
        share = sum(b - a for a, b in wrap.bands) / H
        out.append(f"partial wrap seam (between columns {W - 1} and 0) over "
                   f"{100 * share:.0f}% of the height: rows {_rows_text(wrap.bands, wrap)} of "
                   f"{H} jump more than {wrap.threshold:g}x an ordinary column; DS over "
                   f"those rows {wrap.band_ds:.2f} (limit {wrap.ds_threshold:g}), over the "
                   f"whole border {wrap.ds:.2f}")
    elif rules:
        rows = _rows_text(wrap.rows, wrap) or "spread thinly"
        why = ", ".join({"median": f"median over rows {wrap.score:.2f} (limit "
                                   f"{wrap.threshold:g})",
                         "band": f"bands over {100 * BAND_MIN:.0f}% of the height",
                         "ds": f"DS {wrap.ds:.2f} (limit {wrap.ds_threshold:g})"}[r]
                        for r in rules)
        out.append(f"wrap seam (between columns {W - 1} and 0): {why}; score "
                   f"{wrap.score:.2f}, DS {wrap.ds:.2f}; rows {rows} of {H}")
    if not wrap.interior_ok:
        c = wrap.interior_column
        lon = (c / W) * 360.0 - 180.0
        out.append(f"a seam inside the image between columns {c - 1} and {c} "
                   f"(longitude {lon:+.0f} deg): score {wrap.interior:.2f} "
                   f"(limit {wrap.interior_threshold:g}), cutting {wrap.interior_cover} of 8 "
                   "bands of rows")
    for p in (poles.north, poles.south):
        if p.ok:
            continue
        rows = "top rows" if p.name == "north" else "bottom rows"
        what = []
        if "uniformity" in p.rules:
            what.append(f"pole row not uniform {p.uniformity:.2f} (limit "
                        f"{p.uniformity_threshold:g})")
        if "smear" in p.rules:
            what.append(f"radial smear {p.smear:.2f} (limit {p.smear_threshold:g})")
        if "pinch" in p.rules:
            what.append(f"structure converging on the pole (pinch, star or mirrored "
                        f"pattern) {p.pinch_deg[0]:g}-{p.pinch_deg[1]:g} deg from it: "
                        f"{p.pinch:.2f} (limit {p.pinch_threshold:g})")
        st, lim = p.structure, p.limits
        if "symmetry" in p.rules:
            what.append(f"{st.symmetry_folds}-fold kaleidoscope (the view repeats when turned "
                        f"{360 / st.symmetry_folds:g} deg about the pole, 3-15 deg out): "
                        f"{st.symmetry:.2f} (limit {lim['symmetry']:g})")
        if "fold" in p.rules:
            what.append(f"a fold line across the pole (azimuth {st.fold_azimuth:.0f} deg in "
                        f"the view): {st.fold:.2f} (limit {lim['fold']:g})")
        if "knot" in p.rules:
            what.append(f"detail crammed into the pole (bow-tie or star pinch) within "
                        f"{st.knot_deg:g} deg of it: {st.knot:.2f}x the detail around it "
                        f"(limit {lim['knot']:g})")
        if "void" in p.rules:
            what.append(f"a torn void: a flat disc of about {st.void_deg:g} deg ringed by "
                        f"texture on {100 * st.void:.0f}% of its rim "
                        f"(limit {100 * lim['void']:.0f}%)")
        out.append(f"{p.name} pole ({rows}): " + ", ".join(what))
    if not cube.ok:
        worst = sorted(cube.bad, key=lambda e: -cube.edges[e])
        out.append("cube edges " + ", ".join(f"{e} (DS {cube.edges[e]:.2f})" for e in worst)
                   + f" over the limit {cube.threshold:g}")
    return out
