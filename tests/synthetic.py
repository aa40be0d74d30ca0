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
