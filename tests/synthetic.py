"""Analytic test panoramas: scenes defined on the sphere (seamless by construction) and
the broken variants the seam check must flag.

Invariant: a scene is a function of unit directions in the panorama frame (x = right of
the centre, y = up, z = the centre column), so any rendering of it - an equirect, a cube
face, a perspective view - is exact up to sampling, and independent of the code under test.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def equirect_directions(width: int, height: int) -> np.ndarray:
    """(height, width, 3) unit directions of the pixel centres of an equirect image."""
    lon = ((np.arange(width) + 0.5) / width * 2 - 1) * np.pi
    lat = (0.5 - (np.arange(height) + 0.5) / height) * np.pi
    lat, lon = np.meshgrid(lat, lon, indexing="ij")
    return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)


def lonlat_of(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude (0 at the centre, + to the right) and latitude of directions."""
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    return np.arctan2(d[..., 0], d[..., 2]), np.arcsin(np.clip(d[..., 1], -1, 1))


def colour_field(d: np.ndarray) -> np.ndarray:
    """Direction-coded colour: (R, G, B) = (x, y, z) mapped to 0..255 (float)."""
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    return (d + 1.0) * 127.5


def textured(d: np.ndarray, seed: int = 0, finest: float = 40.0) -> np.ndarray:
    """A multi-scale texture on the sphere: sums of sines of random 3-D frequencies from
    |k| = 2 to ``finest`` (radians^-1), amplitude ~ 1/sqrt|k|, per channel; 0..255."""
    rng = np.random.default_rng(seed)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    out = np.zeros(d.shape[:-1] + (3,))
    freqs = np.geomspace(2.0, finest, 10)
    for c in range(3):
        for f in freqs:
            for _ in range(2):
                k = rng.normal(size=3)
                k *= f / np.linalg.norm(k)
                out[..., c] += np.sin(d @ k + rng.uniform(0, 2 * np.pi)) / np.sqrt(f)
    spread = 0.4 * 2 * np.sum(1 / np.sqrt(freqs))  # fixed, so every rendering agrees
    return np.clip(127.5 + out / spread * 117.5, 0, 255)


def render(scene, width: int = 256, height: int = 128, **kw) -> np.ndarray:
    """uint8 (height, width, 3) equirect rendering of ``scene`` (a function of directions)."""
    values = scene(equirect_directions(width, height), **kw)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int = 85) -> np.ndarray:
    """``img`` after a JPEG round trip (the noise real files carry)."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


# ------------------------------------------------------------------ broken variants

def shift_half(img: np.ndarray, rows: int = 3) -> np.ndarray:
    """The right half moved down ``rows`` rows (edge rows repeated at the top)."""
    out = img.copy()
    w = img.shape[1]
    right = img[:, w // 2:]
    out[rows:, w // 2:] = right[:-rows]
    out[:rows, w // 2:] = right[:1]
    return out


def photo_like(width: int = 256, height: int = 192, seed: int = 1) -> np.ndarray:
    """An ordinary photo, not a panorama: a sky brightening towards a sun on the left, a
    textured ground in perspective, a tree trunk on the right; nothing wraps."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / width, y / height
    horizon = 0.55
    sky = np.stack([90 + 120 * (1 - u) * (1 - v), 140 + 80 * (1 - u), 230 - 40 * v], -1)
    sun = np.exp(-(((u - 0.15) ** 2) + ((v - 0.2) ** 2)) / 0.004)[..., None] * 120
    depth = np.clip(v - horizon, 1e-3, None)
    grain = np.sin(x / (2 + 40 * depth) + rng.uniform(0, 6)) * np.sin(1 / depth * 3)
    ground = np.stack([70 + 30 * grain + 60 * u, 110 + 25 * grain, 40 + 20 * grain], -1)
    img = np.where((v < horizon)[..., None], sky + sun, ground)
    trunk = (np.abs(u - 0.8) < 0.03)[..., None]
    img = np.where(trunk, np.array([60.0, 40.0, 25.0]) + 10 * np.sin(y / 3)[..., None], img)
    return np.clip(img, 0, 255).astype(np.uint8)


def stretched_photo(width: int = 256, height: int = 128) -> np.ndarray:
    """`photo_like` (4:3) stretched to 2:1, as someone might pass a photo as a panorama."""
    return np.asarray(Image.fromarray(photo_like()).resize((width, height), Image.BICUBIC))


def rolled(img: np.ndarray, columns: int) -> np.ndarray:
    """``img`` rolled horizontally: its own left/right border moves inside."""
    return np.roll(img, columns, axis=1)


def smear_pole(img: np.ndarray, fraction: float = 0.1, north: bool = True) -> np.ndarray:
    """The polar cap (``fraction`` of the rows) replaced by the row at its edge repeated
    up to the pole: the radial smear of a model that does not handle the pole."""
    out = img.copy()
    n = max(2, int(round(img.shape[0] * fraction)))
    if north:
        out[:n] = img[n]
    else:
        out[-n:] = img[-n - 1]
    return out


def not_wrapping(width: int = 256, height: int = 128, squeeze: float = 0.8) -> np.ndarray:
    """A panorama-like image that does not wrap: the textured scene over only ``squeeze``
    of a turn, stretched to the full width, so its left and right borders disagree while
    its poles stay uniform."""
    d = equirect_directions(width, height)
    lon, lat = lonlat_of(d)
    lon = lon * squeeze
    d2 = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)
    return np.clip(np.rint(textured(d2)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ real AI defect kinds
# Each reproduces a defect seen on real AI skyboxes (../shared/realpanos-dev/): the seam
# check must flag it; the last two reproduce what real cameras do and must pass.

def partial_seam(img: np.ndarray, top: float = 0.25, bottom: float = 0.35,
                 step: float = 40.0) -> np.ndarray:
    """A brightness step at the wrap border over rows ``top``..``bottom`` (shares of the
    height), the rest continuous: the left eighth of those rows brightened by ``step``
    grey levels at column 0, fading to nothing inwards (a cloud lit differently on each
    side of the seam)."""
    out = img.astype(np.float64)
    h, w = img.shape[:2]
    a, b = int(top * h), int(bottom * h)
    ramp = np.clip(1 - np.arange(w // 8) / (w // 8), 0, 1)
    out[a:b, : w // 8] += step * ramp[None, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def tinted_border(img: np.ndarray, width: float = 0.035, amount: float = 0.27,
                  shift: float = 0.03) -> np.ndarray:
    """A harsh wrap seam over every row: a band ``width`` of the width at column 0, its
    rows moved down ``shift`` of the height and each channel pushed ``amount`` away from
    mid-grey, fading linearly to nothing at the band's inner edge (a tile recoloured by
    another pass: the seam the emulator drew before it drifted instead). Fine detail that
    differs across the border stays after one blend of the two sides."""
    h, w = img.shape[:2]
    bw = max(4, round(width * w))
    here = img[:, :bw].astype(np.float64) / 255
    moved = np.roll(here, max(1, round(shift * h)), axis=0)
    ramp = (1 - np.arange(bw) / bw)[None, :, None]
    push = np.where(moved < 0.5, amount, -amount)
    out = img.copy()
    out[:, :bw] = np.clip(np.rint(255 * (moved * ramp + here * (1 - ramp) + push * ramp)),
                          0, 255).astype(np.uint8)
    return out


def _cap_rows(h: int, cap_deg: float) -> int:
    return max(2, int(round(h * cap_deg / 180.0)))


def _into_cap(img: np.ndarray, cap: np.ndarray, north: bool) -> np.ndarray:
    """``cap`` (n rows, pole row first) blended over the polar cap of ``img``, fully at
    the pole and fading out over its outer third."""
    out = img.astype(np.float64)
    n = cap.shape[0]
    t = np.clip((n - np.arange(n)) / (n / 3), 0, 1)[:, None, None]
    if north:
        out[:n] = cap * t + out[:n] * (1 - t)
    else:
        out[-n:] = (cap * t + out[-n:][::-1] * (1 - t))[::-1]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def pinch_pole(img: np.ndarray, north: bool = True, cap_deg: float = 15.0) -> np.ndarray:
    """A star pinch: the polar cap painted with rows from the equator, at their own
    horizontal scale, as a model that treats the cap like any other rows does; on the
    sphere their features converge on the pole."""
    h = img.shape[0]
    n = _cap_rows(h, cap_deg)
    mid = h // 2 - n // 2
    return _into_cap(img, img[mid:mid + n].astype(np.float64), north)


def kaleidoscope_pole(img: np.ndarray, north: bool = False, folds: int = 4,
                      cap_deg: float = 15.0) -> np.ndarray:
    """A nadir (or zenith) mirrored ``folds``-fold like a kaleidoscope: the cap's rows,
    taken from the equator as in `pinch_pole`, repeat one wedge of 360/folds degrees
    mirrored into every other."""
    h, w = img.shape[:2]
    n = _cap_rows(h, cap_deg)
    mid = h // 2 - n // 2
    src = img[mid:mid + n].astype(np.float64)
    wedge = w // (2 * folds)
    j = np.arange(w) % (2 * wedge)
    j = np.where(j < wedge, j, 2 * wedge - 1 - j)
    return _into_cap(img, src[:, j], north)


def radial_streaks(img: np.ndarray, north: bool = True, k: int = 24,
                   cap_deg: float = 12.0, amount: float = 60.0) -> np.ndarray:
    """Radial "tunnel" streaks: the cap overlaid with a pattern periodic in longitude
    (``k`` streaks), as strong at the pole as at the cap's edge."""
    h, w = img.shape[:2]
    n = _cap_rows(h, cap_deg)
    lon = (np.arange(w) + 0.5) / w * 2 * np.pi
    streak = amount * np.sign(np.sin(k * lon + 0.7))[None, :, None]
    src = img[:n] if north else img[::-1][:n]
    return _into_cap(img, src.astype(np.float64) + streak, north)


def vertical_edge(img: np.ndarray, column: int, top: float = 0.3, bottom: float = 0.75,
                  width: int | None = None) -> np.ndarray:
    """A real straight vertical edge: a dark tower with lit windows, ``width`` columns
    wide from ``column``, over rows ``top``..``bottom`` of the height. Content, not a
    seam: it has structure on both sides and stops short of the poles."""
    out = img.copy()
    h, w = img.shape[:2]
    width = width or max(4, w // 16)
    a, b = int(top * h), int(bottom * h)
    y, x = np.mgrid[a:b, 0:width]
    windows = ((y // 6) % 2 == 0) & ((x // 4) % 2 == 0)
    tower = np.where(windows[..., None], [200, 190, 120], [30, 32, 40])
    out[a:b, column:column + width] = tower
    return out


def blurred_cap(img: np.ndarray, fraction: float = 0.01) -> np.ndarray:
    """A stitched photo's last ``fraction`` of rows blurred along the row (the stitcher's
    patch under the tripod) while the view straight down stays crisp: not a defect."""
    out = img.copy()
    n = max(1, int(round(img.shape[0] * fraction)))
    k = max(3, img.shape[1] // 64)
    kernel = np.ones(k) / k
    for y in range(img.shape[0] - n, img.shape[0]):
        for c in range(img.shape[2]):
            row = np.concatenate([img[y, -k:, c], img[y, :, c], img[y, :k, c]]).astype(float)
            out[y, :, c] = np.rint(np.convolve(row, kernel, mode="same")[k:-k])
    return out


def _cap_polar(h: int, w: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Angle from the pole (degrees) of the cap's ``n`` rows and the longitude (radians,
    0..2 pi) of the ``w`` columns, pole row first."""
    return (np.arange(n) + 0.5) / h * 180.0, (np.arange(w) + 0.5) / w * 2 * np.pi


def fold_pole(img: np.ndarray, north: bool = True, cap_deg: float = 15.0,
              turn: float = 0.25, shade: float = 30.0) -> np.ndarray:
    """A fold line across the pole: one half of the polar cap (columns W/4 to 3W/4, the
    longitudes -90 to +90 deg about the centre) is the cap turned ``turn`` of a full turn
    about the pole and ``shade`` grey levels darker (the far side of a crease catches
    other light),
    the other half as it was, so the texture breaks along a straight line through the
    pole that runs along the meridians +-90 deg, away from the wrap border."""
    h, w = img.shape[:2]
    n = _cap_rows(h, cap_deg)
    src = img[:n] if north else img[::-1][:n]
    cap = src.astype(np.float64).copy()
    half = slice(w // 4, w // 4 + w // 2)
    cap[:, half] = np.roll(src, int(round(turn * w)), axis=1)[:, half] - shade
    return _into_cap(img, cap, north)


def torn_void(img: np.ndarray, north: bool = True, radius_deg: float = 7.0,
              value: float = 30.0, seed: int = 0) -> np.ndarray:
    """A torn void at the pole: a disc of one flat colour (``value`` grey levels) about
    ``radius_deg`` from the pole, its rim ragged (the radius varies by +-30% with
    longitude), the texture around it intact: a hole the model left unpainted."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    n = _cap_rows(h, 2 * radius_deg)
    colat, lon = _cap_polar(h, w, n)
    rim = np.zeros(w)
    for k in range(2, 9):
        rim += rng.normal() / k * np.sin(k * lon + rng.uniform(0, 2 * np.pi))
    rim = radius_deg * (1 + 0.3 * rim / np.abs(rim).max())
    inside = colat[:, None] < rim[None, :]
    out = img.copy()
    rows = out if north else out[::-1]
    rows[:n][inside] = value
    return out


def bow_tie_pole(img: np.ndarray, north: bool = True, cap_deg: float = 15.0,
                 planks: float = 6.0, amount: float = 50.0) -> np.ndarray:
    """A bow-tie pinch: the cap painted with planks that run straight in the view but
    fan into the pole from two opposite sides (two wedges of lines meeting at one point),
    as ceiling planks do when a model pinches them: stripes of y / (|x| + x0) in the
    view's coordinates, over the image's own cap."""
    h, w = img.shape[:2]
    n = _cap_rows(h, cap_deg)
    colat, lon = _cap_polar(h, w, n)
    r = np.tan(np.radians(colat))[:, None]
    x, y = r * np.cos(lon)[None, :], r * np.sin(lon)[None, :]
    stripes = np.sin(planks * np.pi * y / (np.abs(x) + 0.02))
    src = (img[:n] if north else img[::-1][:n]).astype(np.float64)
    return _into_cap(img, src * 0.5 + 64 + amount * stripes[:, :, None], north)


def ceiling_grid(img: np.ndarray, north: bool = True, spacing_deg: float = 6.0,
                 offset: tuple[float, float] = (0.3, 0.6), cap_deg: float = 25.0,
                 value: float = 235.0) -> np.ndarray:
    """A real straight structure over the pole: a ceiling's grid of bright bars (or floor
    tiles' joints), straight in the view straight up/down, shifted ``offset`` of a
    spacing from the pole (a camera stands anywhere under a grid), as in a photo of a
    gallery's ceiling. Content, not a fold: both sides of each bar are the same texture.
    (A grid centred exactly on the pole is four-fold symmetric there, a bar through the
    pole a line across it: the check flags those, as it would an AI's.)"""
    h, w = img.shape[:2]
    n = _cap_rows(h, cap_deg)
    colat, lon = _cap_polar(h, w, n)
    r = np.tan(np.radians(colat))[:, None]
    x, y = r * np.cos(lon)[None, :], r * np.sin(lon)[None, :]
    s = np.tan(np.radians(spacing_deg))
    half = np.tan(np.radians(0.35))  # bars 0.7 degrees wide

    def near(u: np.ndarray) -> np.ndarray:
        return np.abs(u / s - np.round(u / s)) * s < half

    bar = (near(x + offset[0] * s) | near(y + offset[1] * s))[:, :, None]
    out = img.copy()
    rows = out if north else out[::-1]
    rows[:n] = np.where(bar, value, rows[:n])
    return out


def clouds(d: np.ndarray, seed: int = 3) -> np.ndarray:
    """A sunset sky on the sphere: soft pink clouds (a thresholded multi-scale field, so
    bright and skewed, as real clouds are) over blue; 0..255."""
    field = textured(d, seed=seed, finest=60.0).mean(axis=-1) / 255.0
    cover = np.clip((field - 0.45) * 4.0, 0, 1)[..., None]
    blue, pink = np.array([60.0, 105.0, 165.0]), np.array([235.0, 160.0, 150.0])
    return blue * (1 - cover) + pink * cover
