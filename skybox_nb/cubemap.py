"""Cube faces, layouts and perspective views of an equirectangular panorama, and back.

Invariant: every conversion is a coordinate map computed once per (input size, output
size, convention or view) and cached (`remap.cached_map`), then one bilinear sampling pass
(`remap.sample`: OpenCV when importable, scipy otherwise). Face pixels are sampled at their
centres, so no two faces share a row of pixels. The geometry (which face is which, which
way is up) comes from `conventions`; the geometry of the faces matches py360convert's
`e2c` (its F R B L U D are our "generic" faces) and is tested against it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import remap
from .conventions import LAYOUT_NAMES, LAYOUTS, Convention, get_convention
from .formats import FORMATS, by_suffix
from .panorama import as_array, write_image

__all__ = ["to_faces", "from_faces", "perspective", "export", "assemble", "LAYOUT_NAMES",
           "face_directions"]



def _grid(size: int) -> np.ndarray:
    """Pixel-centre coordinates -1..1 of a face ``size`` pixels wide."""
    return ((np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0).astype(np.float32)


def face_directions(convention: str | Convention, face: str, size: int) -> np.ndarray:
    """(size, size, 3) panorama-frame directions (not normalised) of a face's pixels."""
    n, u, v = get_convention(convention).basis(face).astype(np.float32)
    g = _grid(size)
    return n + g[None, :, None] * u + g[:, None, None] * v


def _lonlat(d: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Longitude (plus ``yaw`` radians) and latitude of panorama-frame directions."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    lon = np.arctan2(x, z)
    if yaw:
        lon += np.float32(yaw)
    lat = np.arctan2(y, np.hypot(x, z))
    return lon, lat


def _check_size(name: str, value: Any, lo: int = 1, hi: int = 16384) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name}: got {value!r}; allowed: an integer from {lo} to {hi}")
    return int(value)


def _check_angle(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value):
        raise ValueError(f"{name}: got {value!r}; allowed: a finite number of degrees")
    return float(value)


def _face_maps(h: int, w: int, size: int, conv: Convention,
               yaw: float) -> tuple[np.ndarray, np.ndarray]:
    def build() -> tuple[np.ndarray, np.ndarray]:
        mx = np.empty((6 * size, size), np.float32)
        my = np.empty((6 * size, size), np.float32)
        front: list[tuple[np.ndarray, np.ndarray]] = []
        for i, name in enumerate(conv.names):
            n, u, v = conv.basis(name)
            if abs(n[1]) < 1e-9 and np.allclose(v, (0, -1, 0)) and np.allclose(u, (n[2], 0, -n[0])):
                # an upright side face is the front face turned about the vertical: reuse
                # its angles (half the trigonometry of a full build)
                if not front:
                    front.append(_lonlat(face_directions("generic", "F", size), 0.0))
                lon = front[0][0] + np.float32(math.atan2(n[0], n[2]) + yaw)
                lat = front[0][1]
            else:
                lon, lat = _lonlat(face_directions(conv, name, size), yaw)
            mx[i * size:(i + 1) * size], my[i * size:(i + 1) * size] = remap.equirect_coords(
                lon, lat, w, h)
        return mx, my

    return remap.cached_map(("faces", h, w, size, conv.name, round(yaw, 9)), build)


def to_faces(pano_or_array: Any, face_size: int | None = None,
             convention: str | Convention = "generic", yaw: float = 0.0) -> dict[str, np.ndarray]:
    """The six cube faces of a panorama, as ``{face name: (S, S, C) array}`` in the
    convention's order (generic: F R B L U D; unity: front back left right up down;
    threejs/opengl: px nx py ny pz nz). ``face_size`` defaults to width / 4 (the
    equator's resolution). ``yaw`` (degrees) turns the cube to the right: with yaw=90
    each face shows what lies 90 degrees right of where it looks at yaw=0.

    The faces are views into one (6S, S, C) array, so they cost one allocation.
    """
    arr = as_array(pano_or_array)
    conv = get_convention(convention)
    h, w = arr.shape[:2]
    size = _check_size("face_size", max(1, w // 4) if face_size is None else face_size)
    mx, my = _face_maps(h, w, size, conv, math.radians(_check_angle("yaw", yaw)))
    stack = remap.sample(arr, mx, my)
    return {name: stack[i * size:(i + 1) * size] for i, name in enumerate(conv.names)}


def from_faces(faces: dict[str, np.ndarray], height: int | None = None,
               convention: str | Convention = "generic", yaw: float = 0.0) -> np.ndarray:
    """The equirectangular panorama (2*height x height, default height = 2 * face size)
    of six faces given as ``to_faces`` returns them; the inverse of `to_faces`.

    Within a face, sampling is bilinear; the outermost half pixel of each face is
    clamped to the face's edge pixels instead of blending with the neighbour face.
    """
    conv = get_convention(convention)
    missing = [n for n in conv.names if n not in faces]
    if missing:
        raise ValueError(f"faces: missing {', '.join(missing)} for convention "
                         f"{conv.name!r}; expected {', '.join(conv.names)}")
    first = np.asarray(faces[conv.names[0]])
    size = first.shape[0]
    for n in conv.names:
        f = np.asarray(faces[n])
        if f.shape[:2] != (size, size) or f.shape[2:] != first.shape[2:] or f.dtype != first.dtype:
            raise ValueError(f"faces: face {n!r} is {f.shape} {f.dtype}; every face must be "
                             f"square and like {conv.names[0]!r}: {first.shape} {first.dtype}")
    h = _check_size("height", 2 * size if height is None else height, 2)
    yaw = _check_angle("yaw", yaw)
    stack = np.concatenate([np.asarray(faces[n]) for n in conv.names], axis=0)
    squeeze = stack.ndim == 2
    if squeeze:
        stack = stack[:, :, None]

    def build() -> tuple[np.ndarray, np.ndarray]:
        w = 2 * h
        lon = ((np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1) * np.float32(math.pi)
        lat = (0.5 - (np.arange(h, dtype=np.float32) + 0.5) / h) * np.float32(math.pi)
        lon = lon[None, :] - np.float32(math.radians(yaw))
        lat = lat[:, None]
        d = np.stack(np.broadcast_arrays(np.cos(lat) * np.sin(lon), np.sin(lat),
                                         np.cos(lat) * np.cos(lon)), axis=-1)
        bases = np.stack([conv.basis(n) for n in conv.names]).astype(np.float32)  # (6,3,3)
        facing = d @ bases[:, 0].T  # (h, w, 6): d . n for each face
        idx = np.argmax(facing, axis=-1)
        dn = np.take_along_axis(facing, idx[..., None], -1)[..., 0]
        a = np.einsum("hwk,hwk->hw", d, bases[:, 1][idx]) / dn
        bb = np.einsum("hwk,hwk->hw", d, bases[:, 2][idx]) / dn
        col = np.clip((a + 1) * (size / 2) - 0.5, 0, size - 1)
        row = np.clip((bb + 1) * (size / 2) - 0.5, 0, size - 1) + idx * size
        return col.astype(np.float32), row.astype(np.float32)

    mx, my = remap.cached_map(("equirect", size, h, conv.name, round(yaw, 9)), build)
    out = remap.sample(stack, mx, my)
    return out[:, :, 0] if squeeze else out


def perspective(pano_or_array: Any, yaw: float = 0.0, pitch: float = 0.0, fov: float = 90.0,
                size: tuple[int, int] = (512, 512), roll: float = 0.0) -> np.ndarray:
    """A pinhole view of the panorama: ``size`` = (width, height) pixels, ``fov`` the
    horizontal field of view in degrees (0 < fov < 180), looking ``yaw`` degrees right
    of the panorama's centre and ``pitch`` degrees up (90 = straight up), ``roll``
    degrees clockwise. Returns an (height, width, C) array of the input's dtype."""
    arr = as_array(pano_or_array)
    if not (isinstance(size, (tuple, list)) and len(size) == 2):
        raise ValueError(f"size: got {size!r}; allowed: (width, height)")
    ow, oh = (_check_size("size[0]", size[0], 1, 8192), _check_size("size[1]", size[1], 1, 8192))
    yaw, pitch, roll, fov = (_check_angle(n, v) for n, v in
                             (("yaw", yaw), ("pitch", pitch), ("roll", roll), ("fov", fov)))
    if not 0 < fov < 180:
        raise ValueError(f"fov: got {fov!r}; allowed: 0 < fov < 180 degrees")
    h, w = arr.shape[:2]
    key = ("view", h, w, ow, oh, round(yaw, 6), round(pitch, 6), round(fov, 6), round(roll, 6))

    def build() -> tuple[np.ndarray, np.ndarray]:
        tx = math.tan(math.radians(fov) / 2)
        ty = tx * oh / ow
        xs = ((np.arange(ow, dtype=np.float32) + 0.5) / ow * 2 - 1) * np.float32(tx)
        ys = ((np.arange(oh, dtype=np.float32) + 0.5) / oh * 2 - 1) * np.float32(ty)
        d = np.stack(np.broadcast_arrays(xs[None, :], -ys[:, None], np.float32(1.0)), -1)
        d = d @ _rotation(yaw, pitch, roll).T.astype(np.float32)
        return remap.equirect_coords(*_lonlat(d, 0.0), w, h)

    mx, my = remap.cached_map(key, build)
    return remap.sample(arr, mx, my)


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-panorama-frame rotation: roll about z, then pitch up, then yaw right."""
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    rz = np.array([[math.cos(r), math.sin(r), 0], [-math.sin(r), math.cos(r), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    return ry @ rx @ rz


def assemble(faces: dict[str, np.ndarray], layout: str,
             convention: str | Convention = "generic") -> np.ndarray:
    """One image of the six faces: "hcross" (4:3), "vcross" (3:4), "hstrip" (6:1) or
    "vstrip" (1:6). Crosses are the cube unfolded around the front (+Z) face, seen from
    inside; strips follow the convention's strip order. Empty cells are zero."""
    conv = get_convention(convention)
    any_face = next(iter(faces.values()))
    s = any_face.shape[0]
    tail = any_face.shape[2:]
    if layout in ("hstrip", "vstrip"):
        parts = [faces[conv.name_of(axis)] for axis in conv.strip]
        return np.concatenate(parts, axis=1 if layout == "hstrip" else 0)
    if layout not in LAYOUTS:
        raise ValueError(f"layout: got {layout!r}; allowed: {', '.join(LAYOUT_NAMES)}")
    (rows, cols), cells = LAYOUTS[layout]
    out = np.zeros((rows * s, cols * s, *tail), dtype=any_face.dtype)
    for r, c, axis, turns in cells:
        out[r * s:(r + 1) * s, c * s:(c + 1) * s] = np.rot90(faces[conv.name_of(axis)], turns)
    return out


def export(pano: Any, out_dir: str | os.PathLike, convention: str = "unity",
           layout: str = "six", face_size: int | None = None, fmt: str = "png",
           prefix: str = "", yaw: float = 0.0) -> list[Path]:
    """Write the cubemap of ``pano`` into ``out_dir`` for an engine and return the paths.

    ``layout`` "six" writes one file per face named after the convention's faces
    (``front.png`` ... for unity, ``px.png`` ... for threejs/opengl, ``F.png`` ... for
    generic); the other layouts write one ``<layout>.<fmt>`` file. ``fmt``: png, jpg,
    webp or tif. ``prefix`` is put before every file name.
    """
    if layout not in LAYOUT_NAMES:
        raise ValueError(f"layout: got {layout!r}; allowed: {', '.join(LAYOUT_NAMES)}")
    fmt = str(fmt).lower().lstrip(".")
    if by_suffix(fmt) is None:
        raise ValueError(f"fmt: got {fmt!r}; allowed: {', '.join(f.suffix[1:] for f in FORMATS)}")
    if any(sep in prefix for sep in ("/", "\\")) or prefix in (".", ".."):
        raise ValueError(f"prefix: got {prefix!r}; allowed: a file-name prefix without '/'")
    conv = get_convention(convention)
    faces = to_faces(pano, face_size, conv, yaw=yaw)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if layout == "six":
        return [write_image(img, out / f"{prefix}{name}.{fmt}") for name, img in faces.items()]
    return [write_image(assemble(faces, layout, conv), out / f"{prefix}{layout}.{fmt}")]
