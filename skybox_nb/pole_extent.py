"""How far from a pole its artefact reaches: a profile of the artefact measures in 1-degree
rings out to `PROFILE_DEG`, and the angle where it ends.

Invariant: the extent is judged against the image's own texture, never against a fixed
texture level: a ring is part of the artefact only while its measure stands clear of both
what camera texture gives (edges at every angle) and what this image gives further out
(rings `REFERENCE_DEG`), so a panorama whose real vertical edges (walls, towers) converge
on the pole far from it does not stretch the extent. The profile reads a conformal
(stereographic) view of the cap, so a ratio of tangential to radial gradient means the
same at 2 degrees and at 40.

The measures, per ring (1 degree wide) of the detail (a difference of Gaussians, sigma 1
and 3 view pixels):
* ``streak``: the RMS gradient of the detail across the radii over that along them
  (edges that run along the radii: radial streaks, a smear, a star pinch, a tunnel);
  about 1 for texture a camera saw.
* ``mirror``: the ring's detail correlated with itself turned by 360/k degrees, the best
  k of 2..6 (a kaleidoscope); about 0 for texture.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from . import remap
from .medians import median

__all__ = ["PoleProfile", "pole_profile", "PROFILE_DEG", "REFERENCE_DEG"]

PROFILE_DEG = 40  # the rings the extent is looked for in (1 degree each)
REFERENCE_DEG = (40.0, 50.0)  # the image's own texture, further out
_VIEW_DEG = 50.0  # the stereographic view reaches this far from the pole
_SIZE = 384  # view pixels across (1 degree at the pole is 3.7 pixels)
_AZIMUTHS = 256
_EPS = 0.25  # (half a grey level per pixel)^2: a flat ring scores 1 (streak)
# A ring belongs to the artefact while its streak ratio (smoothed over 3 rings) is over
# both STREAK_FLOOR and STREAK_OVER x the reference rings' median, or its mirror
# correlation is over MIRROR_CUT; the artefact ends at the first run of RUN clean rings.
STREAK_FLOOR = 1.35
STREAK_OVER = 1.2
MIRROR_CUT = 0.4
RUN = 2
_FOLDS = (2, 3, 4, 5, 6)


@dataclass(frozen=True)
class PoleProfile:
    """The artefact measures of one pole ring by ring: ``degrees`` (the rings' inner
    angles from the pole), ``streak`` and ``mirror`` (module docstring), the ``cut`` the
    streak ratio was judged against, and ``extent``: the angle (degrees) from the pole
    where the artefact ends (0 when the rings from 1 degree out are clean)."""

    degrees: np.ndarray
    streak: np.ndarray
    mirror: np.ndarray
    cut: float
    extent: float


def _maps(h: int, w: int, north: bool) -> tuple[np.ndarray, np.ndarray]:
    """The stereographic view's sampling map in a (h, w) equirect image."""

    def build() -> tuple[np.ndarray, np.ndarray]:
        f = _SIZE / 4 / math.tan(math.radians(_VIEW_DEG) / 2)  # rho = 2 f tan(theta / 2)
        c = (_SIZE - 1) / 2
        yy, xx = np.mgrid[0:_SIZE, 0:_SIZE].astype(np.float64) - c
        theta = 2 * np.arctan(np.hypot(xx, yy) / (2 * f))
        az = np.arctan2(-yy, xx)
        lat = (np.pi / 2 - theta) * (1 if north else -1)
        return remap.equirect_coords(az if north else -az, lat, w, h)

    return remap.cached_map(("pole-extent", h, w, north), build)


@functools.lru_cache(maxsize=1)
def _geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per view pixel: its angle from the pole (degrees), x and y from the centre, radius."""
    f = _SIZE / 4 / math.tan(math.radians(_VIEW_DEG) / 2)
    c = (_SIZE - 1) / 2
    yy, xx = np.mgrid[0:_SIZE, 0:_SIZE].astype(np.float32) - np.float32(c)
    rho = np.hypot(xx, yy)
    out = (np.degrees(2 * np.arctan(rho / (2 * f))), xx, yy, rho)
    for a in out:  # shared by every call: read-only
        a.setflags(write=False)
    return out


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)


def pole_profile(gray: np.ndarray, north: bool) -> PoleProfile:
    """The ring-by-ring profile of one pole of ``gray`` (an (h, w) equirect image of
    intensities 0..255), and where its artefact ends. Returns a `PoleProfile`."""
    h, w = gray.shape
    mx, my = _maps(h, w, north)
    view = remap.sample(np.ascontiguousarray(gray, np.float32)[:, :, None], mx, my)[:, :, 0]
    detail = _blur(view, 1.0) - _blur(view, 3.0)
    gy, gx = np.gradient(detail)
    theta, xx, yy, rho = _geometry()
    r = rho + np.float32(1e-6)
    across = (gy * xx - gx * yy) / r  # the gradient along the ring: edges along the radii
    along = (gx * xx + gy * yy) / r
    n = int(REFERENCE_DEG[1])
    ring = np.minimum(theta.astype(np.int32), n)
    inside = rho < _SIZE / 2 - 4  # clear of the blur's repeated border
    idx = ring[inside]
    cnt = np.bincount(idx, None, n + 1)[:n]
    t2 = np.bincount(idx, across[inside] ** 2, n + 1)[:n]
    r2 = np.bincount(idx, along[inside] ** 2, n + 1)[:n]
    streak = np.sqrt((t2 + _EPS * cnt) / (r2 + _EPS * cnt))

    # mirror: the detail on 4 sub-rings per degree, against itself turned 360/k
    f = _SIZE / 4 / math.tan(math.radians(_VIEW_DEG) / 2)
    c = (_SIZE - 1) / 2
    sub = np.arange(PROFILE_DEG * 4) / 4 + 0.125
    rr = (2 * f * np.tan(np.radians(sub) / 2))[:, None]
    t = np.arange(_AZIMUTHS) * (2 * np.pi / _AZIMUTHS)
    px = (c + rr * np.cos(t)).astype(np.float32)
    py = (c - rr * np.sin(t)).astype(np.float32)
    rings = remap.sample(np.ascontiguousarray(detail)[:, :, None], px, py)[:, :, 0]
    rings = rings - rings.mean(axis=1, keepdims=True)
    # The circular autocorrelation at the five turns, summed over each degree's 4
    # sub-rings: five products, not an FFT (whose first use imports numpy.fft, ~10 ms
    # of a cold check).
    auto = np.stack([(rings * np.roll(rings, -(_AZIMUTHS // k), axis=1)).sum(axis=1)
                     for k in _FOLDS])
    auto = auto.reshape(len(_FOLDS), PROFILE_DEG, 4).sum(axis=2)
    energy = (rings.reshape(PROFILE_DEG, 4, -1) ** 2).sum(axis=(1, 2)) + 4 * _AZIMUTHS * _EPS
    mirror = np.max(auto, axis=0) / energy

    ref = float(median(streak[int(REFERENCE_DEG[0]):n]))  # np.median: ~20 ms first call
    cut = max(STREAK_FLOOR, STREAK_OVER * ref)
    s = streak[:PROFILE_DEG]
    smooth = np.convolve(np.pad(s, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    bad = (smooth > cut) | (mirror > MIRROR_CUT)
    # The artefact ends where the first run of RUN clean rings starts (the first ring,
    # a few pixels across, is too noisy to end or start one on its own).
    extent = float(PROFILE_DEG)
    if not bad.any():
        extent = 0.0
    else:
        for i in range(1, PROFILE_DEG - RUN + 1):
            if not bad[i:i + RUN].any():
                extent = float(i)
                break
    return PoleProfile(np.arange(PROFILE_DEG, dtype=float), s.astype(float),
                       mirror.astype(float), cut, extent)
