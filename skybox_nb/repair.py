"""Repair, offline and free: mend a panorama's wrap seam and poles where the seam check
flags them, and say what changed.

Invariant: a repair changes only the pixels in its mask, and every pixel outside it is
bit-identical to the input (the repaired image is the input with the mask's pixels
replaced). The mask is exactly where the check found a defect, widened by what the blend
needs: a band of columns around the wrap border over the rows that failed, and a disc
around each failing pole. The result is checked again, so the caller sees both verdicts.

* Wrap: the panorama is rolled half a turn (the seam to the centre); each side is
  continued across the seam by its own mirror image, and the two are joined with a
  Laplacian-pyramid (multi-band, Burt and Adelson 1983) blend: coarse detail changes over
  a wide band, fine detail over a few pixels, so a brightness step fades out and texture
  stays sharp. The band is as wide as the defect needs (wider for a larger jump), and the
  change is feathered to nothing at its edges and at the ends of the failing rows.
* Poles: the polar cap is taken as a gnomonic view straight up or down, a disc around
  the pole is inpainted from the ring around it by a push-pull pyramid (OpenCV's
  pyrDown/pyrUp: a smooth membrane fill; Telea's fast marching drew the ring's edges
  inwards as radial streaks, the very pinch being removed), and only the disc
  (feathered over its outer fifth) is pasted back into the panorama. The disc is as
  large as the artefact reaches (`Pole.extent_deg`, plus a margin; `disc_degrees`), and
  the membrane carries the surroundings' fine grain (`pole_fill.carried_detail`), so a
  textured cap does not get a blurred hole; a large zenith disc gets a sky synthesised
  from the spectrum of the sky around it (`spot_noise.spot_texture`), so it is not a
  haze.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from . import remap
from .cubemap import _rotation, perspective
from .panorama import Panorama, Source, as_array
from .pole_fill import carried_detail
from .seams import _PINCH_MIN_ROWS, Pole, SeamReport, seam_report
from .spot_noise import spot_texture

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["repair", "Repair", "psnr", "disc_degrees", "check_pole_disc"]

# Wrap band half-width in pixels: W/128 per unit of severity (the failing score over its
# limit), at least W/128 and at most W/16.
_BAND_MIN_FRAC = 1 / 128
_BAND_MAX_FRAC = 1 / 16
# The pole disc: the rings the pinch is measured in (out to 12 degrees) plus a margin,
# whatever failed: a smaller disc's smooth fill beside the cap's texture reads as a pinch.
DISC_DEG = 16.0
# ... except when only the pole row's uniformity failed (the last rows disagree, as a
# stitched photo's may): then a disc over those rows alone. A 16-degree smooth disc in a
# crisp nadir (a city from the air) is a blurred hole a person sees.
ROW_DISC_DEG = 2.0


# A measured artefact (`Pole.extent_deg`) sets the disc: its extent plus EXTENT_MARGIN
# (the paste's feather is the disc's outer fifth), at least DISC_DEG and at most
# MAX_DISC_DEG (beyond, the view straight up or down is mostly walls or horizon).
EXTENT_MARGIN = 4.0
MAX_DISC_DEG = 42.0
# From this disc on, the fill (shading and fine grain, no mid-scale structure: a copy of
# the surroundings brought a wardrobe onto a floor, and patch synthesis blurred or
# scattered pieces, on the real calibration set) reads as a soft patch, and the step says
# how to mend it with the model.
SOFT_DISC_DEG = 24.0
# A zenith's disc from this size on is textured by spot noise from the sky around it
# (`spot_noise.spot_texture`): on the calibration set's 40-degree zenith the fine grain
# alone left a purple haze between pink clouds and blue sky, spot noise gave clouds. On
# nadirs (floors beside furniture, machinery) its random field read as grime, so they
# keep the fine grain.
SPOT_DISC_DEG = SOFT_DISC_DEG
# A fold or a torn void with no converging structure (a stitcher's wedges under a crisp
# aerial nadir) may need less than DISC_DEG: a 16-degree patch in a city reads as a hole,
# and a 10-degree one replaced the real observation deck under the stitched aerial photo
# of the calibration set, whose fold a 5-degree disc mends. Such a pole is mended with
# the smallest disc of SMALL_DISCS (and DISC_DEG) that passes, trying them in turn.
SMALL_DISCS = (5.0, 10.0)
SMALL_DISC_DEG = SMALL_DISCS[0]
# The discs a person is offered in place of the measured one (the gallery's Pole disc):
# the small discs, the default, the soft-patch threshold and steps up to MAX_DISC_DEG.
DISC_CHOICES = (*SMALL_DISCS, DISC_DEG, 20.0, SOFT_DISC_DEG, 28.0, 34.0, MAX_DISC_DEG)
# Drawing the sides of a wrap seam together (`_row_offset`): a window of rows counts
# when its clearest edge changes by this many levels a row and its match correlates so.
_ALIGN_EDGE = 8.0
_ALIGN_NCC = 0.8
# ... and a shift is clear when it matches better than no shift, and than any other
# shift more than 2 rows away, by this much.
_ALIGN_MARGIN = 0.15
# The wrap is blended at most this many times while the check still fails it.
WRAP_PASSES = 3
# The paste-back works on this many panorama pixels at a time (its float32 directions and
# maps are ~40 bytes a pixel).
_PASTE_PIXELS = 1 << 21
# Whatever the disc, it covers the pole row in full: that row's centre is 90/H degrees
# from the pole and the disc's outer fifth is feathered, so on an image under about 60
# rows a 2-degree disc would change nothing (and the step would say it had).
POLE_ROW_REACH = 1.3


def disc_degrees(pole: Pole) -> float:
    """The radius (degrees from the pole) of the disc `repair` inpaints for a failing
    ``pole``: `ROW_DISC_DEG` when only the pole row's uniformity failed, else its measured
    extent plus `EXTENT_MARGIN` within [`DISC_DEG`, `MAX_DISC_DEG`] (from
    `SMALL_DISC_DEG` when only a fold or void failed, with the row: `repair` mends such a
    pole with the next of `SMALL_DISCS` and `DISC_DEG` while the smaller disc does not
    pass). `repair` widens it to
    `POLE_ROW_REACH` x 90/H degrees when that is more, so it covers a small image's pole
    row."""
    if pole.rules == ["uniformity"]:
        return ROW_DISC_DEG
    least = SMALL_DISC_DEG if set(pole.rules) <= {"uniformity", "fold", "void"} else DISC_DEG
    return float(np.clip(pole.extent_deg + EXTENT_MARGIN, least, MAX_DISC_DEG))


def check_pole_disc(value: Any, name: str = "pole_disc",
                    unset: str = "None") -> float | None:
    """``value`` as a disc radius in degrees (or None: the measured one); otherwise a
    ValueError naming the field (``name``, as the caller spells it), the value and what
    is allowed (``unset``: how that caller asks for the measured disc)."""
    if value is None:
        return None
    number = (isinstance(value, (int, float, np.integer, np.floating))
              and not isinstance(value, (bool, np.bool_)))  # bytes, str, True refused
    deg = float(value) if number else math.nan
    if not (math.isfinite(deg) and 1.0 <= deg <= MAX_DISC_DEG):
        raise ValueError(f"{name}: got {value!r}; allowed: {unset} (the disc follows the "
                         f"artefact's measured extent) or degrees from 1 to {MAX_DISC_DEG:g}")
    return deg


@dataclass(frozen=True)
class Repair:
    """What `repair` returns: the repaired ``panorama``, the check ``before`` and
    ``after``, the boolean ``mask`` (H, W) of the pixels allowed to change (everything
    else is bit-identical), ``steps``: what was done, in words, and ``pole_disc``: the
    disc radius (degrees) the caller asked for and the mended poles got, or None (each
    disc measured, or no pole mended)."""

    panorama: Panorama
    before: SeamReport
    after: SeamReport
    mask: np.ndarray = field(repr=False)
    steps: list[str]
    source: np.ndarray = field(repr=False, compare=False)
    pole_disc: float | None = None

    @property
    def changed(self) -> float:
        """The share of pixels in the mask."""
        return float(self.mask.mean())

    def psnr_outside(self) -> float:
        """PSNR (dB) between the input and the repair outside the mask (inf: identical)."""
        return psnr(self.source, self.panorama.array, ~self.mask)

    def to_dict(self) -> dict[str, Any]:
        """Verdicts, steps and the changed share, as plain JSON types."""
        out = self.psnr_outside()
        return {"steps": list(self.steps), "changed_share": self.changed,
                "pole_disc": self.pole_disc,
                "psnr_outside_db": None if math.isinf(out) else out,
                "before": self.before.to_dict(), "after": self.after.to_dict()}

    def plot(self) -> "Figure":
        """Before and after side by side: rolled strips, pole views and verdicts."""
        from .plots import repair_figure

        return repair_figure(self)

    def __repr__(self) -> str:
        was = "seamless" if self.before.seamless else f"{len(self.before.defects)} defect(s)"
        now = "seamless" if self.after.seamless else f"{len(self.after.defects)} defect(s)"
        return (f"Repair({was} -> {now}; {100 * self.changed:.1f}% of pixels changed; "
                f"{'; '.join(self.steps) or 'nothing to do'})")

    def _repr_html_(self) -> str:
        from .palette import verdict_colour

        def column(title: str, r: SeamReport) -> str:
            items = "".join(f"<li>{html.escape(d)}</li>" for d in r.defects) or "<li>none</li>"
            verdict = "seamless" if r.seamless else "not seamless"
            return (f"<td style='vertical-align:top;width:50%'><b>{title}: <span style='color:"
                    f"{verdict_colour(r.seamless)}'>{verdict}</span></b><ul>{items}</ul></td>")

        png = _strip_pair_png(self.source, self.panorama.array)
        steps = "".join(f"<li>{html.escape(s)}</li>" for s in self.steps) or "<li>nothing</li>"
        return (f"<div><b>Repair</b> ({100 * self.changed:.1f}% of pixels changed, the rest "
                f"bit-identical)<ul>{steps}</ul><img src='data:image/png;base64,{png}' "
                "style='max-width:100%' alt='before (top) and after (bottom), rolled half a "
                f"turn'/><table style='width:100%'><tr>{column('before', self.before)}"
                f"{column('after', self.after)}</tr></table></div>")


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR in dB of two same-shaped images on a 0..255 scale, over the pixels where
    ``where`` (H, W) is True (all when None); inf when they are identical there."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"psnr: shapes {x.shape} and {y.shape} differ")
    d = (x - y) ** 2
    if where is not None:
        d = d[where]
    mse = float(d.mean()) if d.size else 0.0
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def _strip_pair_png(before: np.ndarray, after: np.ndarray) -> str:
    from PIL import Image

    from .panorama import to_uint8

    rows = []
    for a in (before, after):
        a = to_uint8(a)
        a = np.roll(a, a.shape[1] // 2, axis=1)
        im = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a[:, :, :3])
        im.thumbnail((768, 384))
        rows.append(np.asarray(im.convert("RGB")))
    buf = io.BytesIO()
    Image.fromarray(np.concatenate(rows, axis=0)).save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ------------------------------------------------------------------ wrap

def _pyramid_blend(a: np.ndarray, b: np.ndarray, weight: np.ndarray, levels: int) -> np.ndarray:
    """Laplacian-pyramid blend of float32 images ``a`` and ``b`` (h, w, C) with the
    weight of ``a`` (h, w) in 0..1, over ``levels`` levels."""
    ga, gb, gw = [a], [b], [weight]
    for _ in range(levels):
        ga.append(cv2.pyrDown(ga[-1]))
        gb.append(cv2.pyrDown(gb[-1]))
        gw.append(cv2.pyrDown(gw[-1]))

    def expand(img: np.ndarray, like: np.ndarray) -> np.ndarray:
        return cv2.pyrUp(img, dstsize=(like.shape[1], like.shape[0]))

    def channels(img: np.ndarray) -> np.ndarray:
        return img if img.ndim == 3 else img[:, :, None]

    out = channels(ga[-1]) * channels(gw[-1])[..., :1] + \
        channels(gb[-1]) * (1 - channels(gw[-1])[..., :1])
    for i in range(levels - 1, -1, -1):
        la = channels(ga[i]) - channels(expand(ga[i + 1], ga[i]))
        lb = channels(gb[i]) - channels(expand(gb[i + 1], gb[i]))
        w = channels(gw[i])[..., :1]
        up = channels(expand(out[..., 0] if out.shape[2] == 1 else out, ga[i]))
        out = up + la * w + lb * (1 - w)
    return out


def _feather(n: int, lo: int, hi: int, ramp: int) -> np.ndarray:
    """1 over [lo, hi), falling linearly to 0 over ``ramp`` samples on each side."""
    x = np.arange(n, dtype=np.float32)
    up = np.clip((x - (lo - ramp)) / max(1, ramp), 0, 1)
    down = np.clip(((hi + ramp) - x) / max(1, ramp), 0, 1)
    return np.minimum(up, down)


Patch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # rows, columns, values, weight


def _repair_wrap(arr: np.ndarray, report: SeamReport) -> tuple[Patch, str]:
    """The wrap repair as a patch (the rows and columns it covers, the new values there
    as float32 and the weight of the change, 0..1) and the step in words."""
    H, W, C = arr.shape
    w = report.wrap
    severity = max(w.score / w.threshold, w.ds / w.ds_threshold,
                   max((float(np.max(w.profile[a // max(1, H // w.profile.size):
                                                b // max(1, H // w.profile.size) + 1]))
                        for a, b in w.bands), default=0.0) / w.threshold, 1.0)
    half = int(np.clip(W * _BAND_MIN_FRAC * severity, max(8, W * _BAND_MIN_FRAC),
                       W * _BAND_MAX_FRAC))
    rows = w.bands if ("band" in w.rules and "median" not in w.rules) else [(0, H)]
    margin = max(4, H // 50)
    y_weight = np.zeros(H, np.float32)
    for a, b in rows:
        y_weight = np.maximum(y_weight, _feather(H, a, b, margin))
    nz = np.flatnonzero(y_weight > 0)
    ys = np.arange(nz[0], nz[-1] + 1)  # one block of rows (zero weight between bands)
    y_weight = y_weight[ys]
    # The strip around the seam, seam at its centre (column ``half``).
    xs = np.r_[W - half:W, 0:half]
    strip = arr[ys[0]:ys[-1] + 1][:, xs].astype(np.float32)
    if strip.ndim == 2:
        strip = strip[:, :, None]
    x_weight = 1.0 - np.abs(np.arange(2 * half, dtype=np.float32) - (half - 0.5)) / half
    # The change fades linearly over the whole half band: the blend has spread the step's
    # offset that far, and a change cut off in the band's outer third (as it was) left
    # that offset as a new seam there on small images (256 wide: columns 11-12).
    x_weight = np.clip(x_weight, 0, 1)
    weight = y_weight[:, None] * x_weight[None, :]
    # A horizon or an edge that jumps rows at the border: each side is first drawn
    # towards the other by half the jump, fading to nothing at the band's ends, so the
    # blend joins the same rows (a blend alone left the horizon kinked).
    offset = _row_offset(arr, ys, y_weight)
    if offset:
        # (not moved near the poles: a pole row is one point, which rows drawn in from
        # either side would make uneven; full from 60 degrees of latitude inwards)
        lat = (0.5 - (ys + 0.5) / H) * np.pi
        near = np.minimum(1.0, 2.0 * np.cos(lat)).astype(np.float32)[:, None]
        shift = np.float32(offset / 2) * weight * near * np.where(
            np.arange(2 * half) < half, np.float32(-1), np.float32(1))
        lo = max(0, int(ys[0]) - abs(offset))  # the rows the drawn strip reads
        hi = min(H, int(ys[-1]) + abs(offset) + 2)
        rows_from = np.clip(ys[:, None].astype(np.float32) + shift, 0, H - 1) - np.float32(lo)
        cols = arr[lo:hi][:, xs].astype(np.float32)
        cols = cols if cols.ndim == 3 else cols[:, :, None]
        same = np.broadcast_to(np.arange(2 * half, dtype=np.float32), rows_from.shape)
        strip = remap.sample(cols, np.ascontiguousarray(same), rows_from)
    left, right = strip[:, :half], strip[:, half:]
    a = np.concatenate([left, left[:, ::-1]], axis=1)   # the left side, continued
    b = np.concatenate([right[:, ::-1], right], axis=1)  # the right side, continued
    # The weight of the left side: a step at the seam softened over a few pixels, so even
    # the finest level crosses over a ramp rather than at one column pair.
    soft = max(2, half // 16)
    x = np.arange(2 * half, dtype=np.float32) - (half - 0.5)
    step = np.clip(0.5 - x / (2 * soft), 0, 1)
    # The coarsest level's pixel is as wide as the half band (or 128 columns): a brightness
    # step is then spread over the whole band (with one level fewer, a seam drifting in
    # brightness, the emulator's, left a visible soft edge in a clear sky).
    levels = max(1, min(7, int(math.log2(max(2, half)))))
    blended = _pyramid_blend(a, b, np.repeat(step[None, :], len(ys), axis=0), levels)
    mended = strip + (blended - strip) * weight[..., None]
    where = ", ".join(f"rows {a}-{b - 1}" for a, b in rows) if rows != [(0, H)] else "all rows"
    aligned = f", its two sides {abs(offset)} rows apart drawn together" if offset else ""
    return (ys, xs, mended, weight), (f"wrap seam blended (multi-band, {levels} levels) over "
                                      f"{2 * half} columns around the border, {where}{aligned}")


def _lag(ref: np.ndarray, sig: np.ndarray, a0: int, a1: int, reach: int) -> int | None:
    """The shift k (|k| <= reach) for which ``sig[a0 + k:a1 + k]`` best matches
    ``ref = ...[a0:a1]``, or None when the match is not clear: under `_ALIGN_NCC`, no
    better than no shift by `_ALIGN_MARGIN`, or matched nearly as well at another shift
    (periodic content: stripes, bricks, a checker look alike at several shifts)."""
    shifts = np.arange(-reach, reach + 1)
    cand = np.stack([sig[a0 + k:a1 + k] for k in shifts])
    ncc = cand @ ref / (np.linalg.norm(cand, axis=1) * np.linalg.norm(ref) + 1e-6)
    best = int(np.argmax(ncc))
    if ncc[best] < _ALIGN_NCC:
        return None
    if shifts[best] == 0 or ncc[reach] >= ncc[best] - 1e-6:
        return 0  # no shift matches as well: ties go to 0
    if ncc[reach] > ncc[best] - _ALIGN_MARGIN:
        return None
    far = np.abs(shifts - shifts[best]) > 2
    if far.any() and ncc[far].max() > ncc[best] - _ALIGN_MARGIN:
        return None
    return int(shifts[best])


def _row_offset(arr: np.ndarray, ys: np.ndarray, y_weight: np.ndarray) -> int:
    """How many rows the content right of the border sits below the same content left of
    it, over the rows ``ys`` being mended (0 when no clear answer): the vertical
    gradients of the 4 columns each side of the border matched in windows of rows (a
    window counts when it holds a clear edge, a horizon or a roof, and one shift matches
    it clearly: `_lag`), less the slope each side shows on its own (the same match
    between its outer and inner 4 columns: a sloping line is not a jump); an offset is
    taken only when most such windows agree on it."""
    H = arr.shape[0]
    g = np.concatenate([arr[:, -8:], arr[:, :8]], axis=1).astype(np.float32)  # 16 columns
    g = g[:, :, :3].mean(axis=2) if g.ndim == 3 else g
    # on 0..255, whatever the type: 16-bit by its range, float (an HDRi) by its own bright
    top = (float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui"
           else max(float(np.percentile(g, 99.5)), 1e-6))
    g *= np.float32(255.0 / top)
    lo, li, ri, ro = (np.diff(g[:, i:i + 4].mean(axis=1)) for i in (0, 4, 8, 12))
    reach = max(2, H // 16)
    win = max(16, H // 12)
    found: list[float] = []
    for c in range(int(ys[0]), int(ys[-1]) + 1, win // 2):
        a0, a1 = c - win // 2, c + win // 2
        if a0 - reach < 0 or a1 + reach > li.size or y_weight[c - ys[0]] < 1:
            continue
        ref = li[a0:a1]
        if np.abs(ref).max() < _ALIGN_EDGE:
            continue
        across = _lag(ref, ri, a0, a1, reach)
        if across is None:
            continue
        slopes = [k for k in (_lag(lo[a0:a1], li, a0, a1, reach),
                              _lag(ri[a0:a1], ro, a0, a1, reach)) if k is not None]
        found.append(across - (float(np.mean(slopes)) if slopes else 0.0))
    if not found:  # (one clear window will do: a small image's horizon may fill just one)
        return 0
    mid = float(np.median(found))
    agree = sum(abs(f - mid) <= 1 for f in found)
    return int(round(mid)) if agree * 3 >= len(found) * 2 and abs(mid) >= 2 else 0


# ------------------------------------------------------------------ poles

def _fill(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``img`` (h, w, C) float32 with the pixels where ``known`` (h, w, 0..1) is 0 filled
    smoothly from the rest: a push-pull pyramid (normalised averages, coarse to fine), a
    membrane-like fill with no streaks (fast-marching inpainting draws the ring's
    edges inwards as radial streaks: the very pinch being removed)."""
    h, w = known.shape
    if min(h, w) <= 4 or known.min() >= 1.0:
        total = float(known.sum())
        mean = (img * known[..., None]).sum(axis=(0, 1)) / total if total > 0 else \
            img.mean(axis=(0, 1))
        return img * known[..., None] + mean[None, None, :] * (1 - known[..., None])
    num = cv2.pyrDown(img * known[..., None])
    den = cv2.pyrDown(known)
    if num.ndim == 2:
        num = num[:, :, None]
    coarse = num / np.maximum(den, 1e-6)[..., None]
    coarse = _fill(coarse, np.clip(den * 4.0, 0, 1))
    up = cv2.pyrUp(coarse, dstsize=(w, h))
    if up.ndim == 2:
        up = up[:, :, None]
    return img * known[..., None] + up * (1 - known[..., None])


def _repair_pole(arr: np.ndarray, north: bool, disc_deg: float, texture: bool = True,
                 spot: bool = False) -> Patch:
    """One pole's disc of ``disc_deg`` inpainted, as a patch (see `_repair_wrap`): a
    membrane fill for the shading and, when ``texture``, the surroundings' detail carried
    in (`pole_fill.carried_detail`), or with ``spot`` a texture synthesised from their
    spectrum (`spot_noise.spot_texture`)."""
    H, W, C = arr.shape
    # The face at the panorama's resolution, wide enough to hold the disc and a ring of
    # surroundings around it for the membrane to fill from.
    fov = float(np.clip(2 * (disc_deg + 14.0), 90.0, 150.0))
    f = float(np.clip(W // 4, 64, 1024)) / 2  # focal length in pixels
    size = int(min(2048, 2 * round(f * math.tan(math.radians(fov / 2)))))
    f = size / 2 / math.tan(math.radians(fov / 2))
    pitch = 90.0 if north else -90.0
    # Viewed as a Panorama taken as it is: its ratio was accepted by the caller.
    face = perspective(Panorama(arr, ratio="ignore"), pitch=pitch, fov=fov,
                       size=(size, size)).astype(np.float32)
    face = face.reshape(size, size, -1)
    c = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - np.float32(c)
    r = np.hypot(xx, yy)
    radius = f * math.tan(math.radians(disc_deg))
    known = (r > radius).astype(np.float32)
    filled = _fill(face, known)
    # None at the pole itself: within a degree or two the equirect's rows are a pixel's
    # circle each, and texture there makes the pole row disagree with itself.
    near = np.clip((r / f - math.tan(math.radians(1.0))) /
                   (math.tan(math.radians(3.0)) - math.tan(math.radians(1.0))), 0, 1)
    if spot:
        # From the membrane-filled face: the disc's own (damaged) content cannot reach the
        # texture, not even through the band-pass's blur at the rim.
        filled = filled + spot_texture(filled, radius) * (near * (1 - known))[..., None]
    elif texture:
        # Fine grain only (a few pixels at a 2048-wide panorama's scale): coarser detail
        # brings recognisable pieces of the surroundings (a lamp, a beam) in as ghosts.
        sigma = max(2.0, 3.0 * f / 256)
        detail = carried_detail(arr, north, disc_deg, fov, size, sigma)
        # Grain, not edges: the surroundings' strong edges (a shadow's, a table's) mixed
        # from several copies read as scribbles, so the detail is clipped softly at 2.5
        # robust deviations of the ring just outside the disc, and its contrast matched
        # to that ring's (a copy from a busier place would cram detail into the pole).
        own = face - cv2.GaussianBlur(face, (0, 0), sigma).reshape(face.shape)
        ring = (r > radius) & (r < 1.5 * radius)
        inside = r <= radius
        want = 1.4826 * float(np.median(np.abs(own[ring]))) if ring.any() else 0.0
        clip = np.float32(2.5 * want + 1e-3)
        detail = clip * np.tanh(detail / clip)
        have = 1.4826 * float(np.median(np.abs(detail[inside]))) if inside.any() else 0.0
        gain = min(2.0, want / have) if have > 1e-6 else 0.0
        detail = detail * (gain * near)[..., None]
        filled = filled + detail * (1 - known)[..., None]
    # Paste back: every panorama pixel within the disc's angle samples the filled face.
    rows = int(math.ceil(H * disc_deg / 180.0)) + 1
    ys = np.arange(rows) if north else np.arange(H - rows, H)
    lat = (0.5 - (ys + 0.5) / H) * np.pi
    lon = ((np.arange(W) + 0.5) / W * 2 - 1) * np.pi
    colat = np.pi / 2 - np.abs(lat)
    feather = np.clip((disc_deg - np.degrees(colat)) / (0.2 * disc_deg), 0, 1).astype(np.float32)
    weight = np.repeat(feather[:, None], W, axis=1)
    values = np.empty((rows, W, C), np.float32)
    src = np.ascontiguousarray(filled)
    rot = _rotation(0.0, pitch, 0.0).astype(np.float32)  # row vectors: d_cam = R^T d
    slon, clon = np.sin(lon).astype(np.float32), np.cos(lon).astype(np.float32)
    # Each panorama pixel's direction in the view's camera frame (the inverse of the
    # rotation `cubemap.perspective` uses), projected onto the face; in float32 (a face
    # pixel placed within a thousandth of a pixel) and in chunks of rows: a 16384-wide
    # 40-degree cap is 30 M directions, a gigabyte at once.
    step = max(1, _PASTE_PIXELS // W)
    for a in range(0, rows, step):
        b = min(rows, a + step)
        clat = np.cos(lat[a:b]).astype(np.float32)[:, None]
        d = np.empty((b - a, W, 3), np.float32)
        np.multiply(clat, slon[None, :], out=d[..., 0])
        d[..., 1] = np.sin(lat[a:b]).astype(np.float32)[:, None]
        np.multiply(clat, clon[None, :], out=d[..., 2])
        cam = d @ rot
        z = np.maximum(cam[..., 2], 1e-6)
        px = (cam[..., 0] / z * f + c).astype(np.float32)
        py = (-cam[..., 1] / z * f + c).astype(np.float32)
        sampled = cv2.remap(src, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        sampled = sampled.reshape(b - a, W, -1)[:, :, :C]
        part = arr[ys[a:b]].astype(np.float32).reshape(b - a, W, C)
        values[a:b] = part + (sampled - part) * weight[a:b, :, None]
    return ys, np.arange(W), values, weight


# ------------------------------------------------------------------ entry point

def _as_panorama(src: Source) -> Panorama:
    return src if isinstance(src, Panorama) else Panorama.load(src)


def repair(pano: Source, wrap: bool = True, poles: bool = True,
           report: SeamReport | None = None,
           thresholds: dict[str, float] | None = None,
           pole_disc: float | None = None) -> Repair:
    """Repair what the seam check flags in ``pano`` (a `Panorama`, an array or anything
    `Panorama.load` reads): the wrap seam when ``wrap``, each failing pole when
    ``poles``. ``report`` is the check of ``pano`` when the caller has it. ``pole_disc``
    (degrees, 1 to `MAX_DISC_DEG`) is the radius of every failing pole's disc instead of
    `disc_degrees` (from the artefact's measured extent): smaller keeps more of what is
    around the pole, larger mends streaks further out. Returns a `Repair` (the repaired
    panorama, the check before and after, the mask of changed pixels). A part that
    passes is left alone, so a seamless panorama comes back unchanged."""
    pole_disc = check_pole_disc(pole_disc)
    p = _as_panorama(pano)
    src = p.array
    # The Panorama's own array, already checked: its ratio was accepted when it was made
    # (the CLI loads with ratio="warn"), so it is not checked against 2:1 again.
    arr = as_array(p)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    H, W, C = arr.shape
    if report is not None and tuple(report.size) != (W, H):
        # Its rows and bands are another image's: the repair would mend the wrong rows.
        raise ValueError(f"report: the check of a {report.size[0]}x{report.size[1]} image; "
                         f"allowed: the check of this {W}x{H} panorama (or None)")
    before = report if report is not None else seam_report(p, thresholds=thresholds)
    c = min(C, 3)  # alpha is kept as it is
    out = arr.copy()
    mask = np.zeros((H, W), bool)
    steps: list[str] = []

    lo, hi = (float(arr[:, :, :c].min()), float(arr[:, :, :c].max())) \
        if arr.dtype.kind == "f" else (0.0, 0.0)

    def apply(patch: Patch) -> None:
        ys, xs, values, weight = patch  # values: the patch's own array, rounded in place
        changed = weight > 0
        if np.issubdtype(arr.dtype, np.integer):
            top = np.iinfo(arr.dtype).max
            np.clip(np.rint(values, out=values), 0, top, out=values)
        else:
            # A float image has no fixed range: the blend's overshoot (a pyramid rings
            # around a bright sun) is kept within the image's own, so no negative or
            # brighter-than-the-brightest radiance appears.
            np.clip(values, lo, hi, out=values)
        rows = out[ys[0]:ys[-1] + 1]
        # A pole's patch spans every column: its region is a view, written in place (a
        # copy of a 16K cap, and of its changed pixels, was a gigabyte more at the peak).
        whole = len(xs) == W and bool(np.all(xs == np.arange(W)))
        region = rows[:, :, :c] if whole else rows[:, xs, :c]
        np.copyto(region, values.astype(arr.dtype), where=changed[..., None])
        if not whole:
            rows[:, xs, :c] = region
        m = mask[ys[0]:ys[-1] + 1]
        m[:, xs] |= changed

    if wrap and not before.wrap.ok:
        patch, step = _repair_wrap(out[:, :, :c], before)
        apply(patch)
        steps.append(step)
    def mend_pole(name: str, north: bool, pole: Pole, deg: float) -> None:
        # (A disc the caller chose is textured whatever failed: it may be large.)
        row_only = pole.rules == ["uniformity"] and pole_disc is None
        deg = max(deg, POLE_ROW_REACH * 90.0 / H)
        spot = north and deg >= SPOT_DISC_DEG
        apply(_repair_pole(out[:, :, :c], north, deg, texture=not row_only, spot=spot))
        # The extent is measured only from `_PINCH_MIN_ROWS` analysis rows (0 below).
        extent = (f"measured extent {pole.extent_deg:.0f} deg"
                  if before.analysis_size[1] >= _PINCH_MIN_ROWS else
                  f"extent not measured under {_PINCH_MIN_ROWS} rows")
        texture = ("a texture synthesised from the spectrum of the sky around it (spot "
                   "noise)" if spot else "the surroundings' texture carried in")
        what = ("inpainted (push-pull)" if row_only else
                f"inpainted (push-pull shading, {texture}; {extent})")
        size = f"{deg:g}-degree disc (asked for)" if pole_disc is not None else \
            f"{deg:.0f}-degree disc"
        steps.append(f"{name} pole: a {size} {what} in the "
                     f"{'up' if north else 'down'} view and pasted back, feathered")
        if deg >= SOFT_DISC_DEG:
            fill = ("holds a sky synthesised from the texture around it, with none of the "
                    "model's structure (a cloud's shape, a beam), and can read as a patch"
                    if spot else "is filled from its surroundings without their mid-scale "
                    "structure and can read as a soft patch")
            steps.append(f"{name} pole: a disc this large {fill} "
                         f"(look straight {'up' if north else 'down'}); the model mends "
                         f"it: in Python, client.refine(panorama, dry_run=True) quotes a "
                         f"low-strength refine; or regenerate with more geometry "
                         f"enforcement; or a smaller disc keeps more of what is around "
                         f"the pole (repair(panorama, pole_disc={DISC_DEG:g}), or "
                         f"--pole-disc {DISC_DEG:g})")

    chosen: float | None = None  # the caller's disc, once a pole was mended with it
    small: list[tuple[str, bool, Pole]] = []  # poles mended with a disc under DISC_DEG
    used: dict[str, float] = {}  # ... and that disc
    for name, north in (("north", True), ("south", False)):
        pole = before.poles.north if north else before.poles.south
        if not poles or pole.ok:
            continue
        deg = disc_degrees(pole) if pole_disc is None else pole_disc
        mend_pole(name, north, pole, deg)
        chosen = pole_disc
        if pole_disc is None and pole.rules != ["uniformity"] and deg < DISC_DEG:
            small.append((name, north, pole))
            used[name] = deg

    def finish() -> tuple[Panorama, SeamReport]:
        done = out[:, :, 0] if src.ndim == 2 else out
        meta = {k: v for k, v in p.metadata.items() if k != "file"}  # the source's name
        if steps:
            # The HDRi's original (original_file) still holds what was repaired: not these
            # pixels.
            meta.pop("original_file", None)
            # What the file is a repair of: the source's path, and its generation when known.
            meta["repair"] = {"steps": list(steps),
                              "of": str(p.path) if p.path is not None else "an array",
                              **{k: meta[k] for k in ("asset_id", "job_id", "seed") if k in meta}}
        fixed = Panorama(done, meta, ratio="ignore")
        return fixed, (seam_report(fixed, thresholds=thresholds) if steps else before)

    fixed_pano, after = finish()
    # A fold or void mended with a small disc that still fails: the next disc at least a
    # degree larger (a repeat of nearly the same disc would change nothing), up to the
    # full one.
    while small:
        small = [(n, north, pole) for n, north, pole in small
                 if not (after.poles.north if north else after.poles.south).ok
                 and used[n] + 1.0 <= DISC_DEG]
        for name, north, pole in small:
            used[name] = next(d for d in (*SMALL_DISCS, DISC_DEG) if d >= used[name] + 1.0)
            mend_pole(name, north, pole, used[name])
        if small:
            fixed_pano, after = finish()
    # A wrap seam still over the line after one blend (a step so strong that the widest
    # band, W/16 each side, leaves fine detail that differs across it: a recoloured,
    # shifted tile at 512 wide) is blended again over what the check now finds, at most
    # WRAP_PASSES times in all: a second pass took such seams from ~4.5 to ~0.6.
    passes = 1
    while wrap and not before.wrap.ok and not after.wrap.ok and passes < WRAP_PASSES:
        patch, step = _repair_wrap(out[:, :, :c], after)
        apply(patch)
        passes += 1
        steps.append(f"{step} (pass {passes})")
        fixed_pano, after = finish()
    return Repair(fixed_pano, before, after, mask, steps,
                  arr if src.ndim == 3 else src[:, :, None], chosen)
