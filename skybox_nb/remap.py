"""Sampling an equirectangular image at arbitrary coordinates, fast and cached.

Invariant: every geometric conversion in the package (cube faces, perspective views, faces
back to a panorama) is "compute a map of source coordinates once, then sample". Maps are
cached by the caller's key; sampling uses ``cv2.remap`` (OpenCV is a core dependency) and
``scipy.ndimage.map_coordinates`` where OpenCV cannot be imported, and the two give the same pixels up to
OpenCV's 1/32-pixel fixed-point interpolation weights. Horizontal coordinates wrap around
(column -0.5 lies between the last and the first column); vertical ones are clamped to the
first and last rows, never wrapped, because row 0 and row H-1 are opposite poles.

Set ``SKYBOX_NB_NO_OPENCV=1`` (read at every call) or ``remap.FORCE_PURE = True`` to force the
pure path, e.g. to check it or when OpenCV misbehaves.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Callable, Hashable

import numpy as np

try:  # a core dependency; absent only on platforms without its wheels
    import cv2 as _cv2
except ImportError:  # pragma: no cover - depends on the environment
    _cv2 = None

__all__ = [
    "backend",
    "sample",
    "equirect_coords",
    "cached_map",
    "clear_cache",
    "FORCE_PURE",
    "CACHE_BYTES",
]

FORCE_PURE = False
# Maps for 8192x4096 -> six 2048 faces take 200 MB; keep a few, never unbounded.
CACHE_BYTES = 640 * 2**20

_cache: "OrderedDict[Hashable, tuple[np.ndarray, np.ndarray]]" = OrderedDict()
_cache_lock = threading.Lock()

# dtypes both backends sample natively; anything else is converted to float32 first.
_NATIVE = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def backend() -> str:
    """The sampler in use now: ``"opencv"`` or ``"scipy"``."""
    if _cv2 is None or FORCE_PURE or os.environ.get("SKYBOX_NB_NO_OPENCV", "") not in ("", "0"):
        return "scipy"
    return "opencv"


def cached_map(
    key: Hashable, build: Callable[[], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Return the (map_x, map_y) float32 pair cached under ``key``, building it once.

    The arrays are made read-only, since every caller shares them.
    """
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    mx, my = build()
    mx = np.ascontiguousarray(mx, dtype=np.float32)
    my = np.ascontiguousarray(my, dtype=np.float32)
    mx.setflags(write=False)
    my.setflags(write=False)
    with _cache_lock:
        _cache[key] = (mx, my)
        total = sum(a.nbytes + b.nbytes for a, b in _cache.values())
        while total > CACHE_BYTES and len(_cache) > 1:
            _, (a, b) = _cache.popitem(last=False)
            total -= a.nbytes + b.nbytes
    return mx, my


def clear_cache() -> None:
    """Forget every cached map (frees their memory)."""
    with _cache_lock:
        _cache.clear()


def equirect_coords(
    lon: np.ndarray, lat: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates in a width x height panorama of longitudes/latitudes (radians).

    Longitude 0 is the centre column and grows to the right; latitude +pi/2 is row 0.
    Columns are taken modulo the width, rows clamped to [0, height-1].
    """
    # float32 keeps 8192-wide maps to 1/2000 pixel and halves their memory.
    x = (np.asarray(lon, dtype=np.float32) * np.float32(width / (2 * np.pi))) + np.float32(
        width / 2 - 0.5
    )
    _wrap_columns(x, width)
    y = np.asarray(lat, dtype=np.float32) * np.float32(-height / np.pi) + np.float32(
        height / 2 - 0.5
    )
    np.clip(y, 0.0, height - 1, out=y)
    return x, y


def _wrap_columns(x: np.ndarray, width: int) -> None:
    """Bring columns into [0, width) in place. Maps of cube faces and views lie within a
    turn of the image, where two masked steps are several times cheaper than np.mod."""
    if x.size == 0:
        return
    w = np.float32(width)
    if x.min() >= -w and x.max() < 2 * w:
        np.add(x, w, out=x, where=x < 0)
        np.subtract(x, w, out=x, where=x >= w)
        # float32 rounding: x = -tiny gives x + w == w, which must read as column 0
        np.subtract(x, w, out=x, where=x >= w)
    else:
        np.mod(x, w, out=x)


def sample(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray,
           out: np.ndarray | None = None) -> np.ndarray:
    """Bilinearly sample ``image`` (H, W, C) at (map_x, map_y); returns (h, w, C), written
    into ``out`` when given (a contiguous array of that shape and the input's dtype).

    Coordinates are in pixels of ``image`` (pixel centres at integers). Columns wrap
    (any column, keeping |x| < 32768 for OpenCV); rows must already lie in [0, H-1]
    (`equirect_coords` makes them so). The output has the input's dtype (integers are
    rounded). The input is read in place when it is contiguous and of a dtype OpenCV
    samples natively.
    """
    if image.ndim != 3:
        raise ValueError(f"image: expected an (H, W, C) array, got shape {image.shape}")
    h, w, c = image.shape
    src = image if image.dtype.type in _NATIVE else image.astype(np.float32)
    if backend() == "opencv" and w < 32767 and h < 32767:
        src = np.ascontiguousarray(src)
        dst = None if out is None else out.reshape(*map_x.shape, c)[..., 0] if c == 1 \
            else out
        res = _cv2.remap(src, map_x, map_y, _cv2.INTER_LINEAR, dst=dst,
                         borderMode=_cv2.BORDER_WRAP)
        return res.reshape(*map_x.shape, c) if out is None else out
    res = _sample_scipy(src, map_x, map_y)
    if out is None:
        return res
    out[...] = res
    return out


def _sample_scipy(src: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    out = np.empty((*map_x.shape, src.shape[2]), dtype=src.dtype)
    coords = np.stack([map_y, map_x])
    for ch in range(src.shape[2]):
        # integer outputs are rounded to nearest by scipy; bilinear stays in range
        out[..., ch] = map_coordinates(src[:, :, ch], coords, output=src.dtype, order=1,
                                       mode="grid-wrap")
    return out
