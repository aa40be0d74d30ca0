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
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from . import remap
from .codec import DEFAULT_COMPRESSION, DEFAULT_QUALITY, check_compression, check_quality
from .conventions import LAYOUT_NAMES, LAYOUTS, Convention, get_convention
from .formats import FORMATS, by_suffix
from .panorama import as_array, write_image

if TYPE_CHECKING:  # the encoder pool's module loads with the first export
    from concurrent.futures import Future

# Face formats beyond the 8-bit table of formats.py: OpenEXR, written by hdr.write_hdr
# (half float, linear light).
HDR_FACE_FORMATS = ("exr",)

__all__ = ["to_faces", "iter_faces", "from_faces", "perspective", "export", "assemble", "LAYOUT_NAMES",
           "face_directions"]



def _grid(size: int) -> np.ndarray:
    """Pixel-centre coordinates -1..1 of a face ``size`` pixels wide, exactly
    antisymmetric (g[size-1-k] == -g[k]), so a flipped face is the same numbers."""
    g = ((np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0).astype(np.float32)
    g[size - size // 2:] = -g[:size // 2][::-1]
    return g


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


# -- maps: two built, six derived ------------------------------------------------------------
#
# Every face of every convention is, pixel for pixel, either the front face (generic F)
# or the up face (generic U) of the same size, after (1) one of the 8 flips/transposes of
# the pixel grid, (2) a turn about the vertical axis, which only adds a constant to the
# map's columns (longitude), and (3) for the down faces, a mirror through the equator,
# which turns a row y into H-1-y. So a cold cube costs two small builds (each done on one
# quadrant and mirrored, since the face grid is symmetric) plus six cheap array copies,
# instead of six full trigonometric builds.

def _unfold(q: np.ndarray, size: int, odd_rows: float | None, odd_cols: float | None
            ) -> np.ndarray:
    """A (size, size) array from its bottom-right quadrant ``q`` (rows and columns where
    the face grid is positive). Along an axis the values are even (None: mirrored) or odd
    about a centre value ``c`` (mirrored as 2c - value)."""
    half = size // 2
    full = np.empty((size, size), np.float32)
    full[half:, half:] = q
    left = full[half:, :half]
    np.copyto(left, q[:, ::-1]) if odd_cols is None else \
        np.subtract(np.float32(2 * odd_cols), q[:, ::-1], out=left)
    bottom = full[half:][::-1]
    np.copyto(full[:half], bottom) if odd_rows is None else \
        np.subtract(np.float32(2 * odd_rows), bottom, out=full[:half])
    return full


def _canonical_maps(kind: str, h: int, w: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cached (map_x, map_y) of the generic front face ("side") or up face ("pole"), of
    an even ``size``. Trigonometry runs on one quadrant; the rest is mirrored."""
    def build() -> tuple[np.ndarray, np.ndarray]:
        g = _grid(size)
        q = g[size // 2:]
        yc = (h - 1) / 2  # row of the equator: latitude is odd about it
        xc = w / 2 - 0.5  # column of longitude 0
        if size % 2:
            raise ValueError("face maps are derived for even sizes only")
        if kind == "side":  # d = (a, -b, 1): the column depends on a alone
            lat_q = np.arctan2(-q[:, None], np.sqrt(1 + q * q)[None, :])
            x_row, y_q = remap.equirect_coords(np.arctan(g), lat_q, w, h)
            return (np.ascontiguousarray(np.broadcast_to(x_row, (size, size))),
                    _unfold(y_q, size, yc, None))
        # d = (a, 1, b): longitude atan2(a, b), latitude atan2(1, |(a, b)|)
        lon_q = np.arctan2(q[None, :], q[:, None])  # a, b > 0: (0, pi/2), no wrap
        x_q = lon_q * np.float32(w / (2 * np.pi)) + np.float32(xc)
        lat_q = np.arctan2(np.float32(1), np.hypot(q[None, :], q[:, None]))
        _, y_q = remap.equirect_coords(lat_q[:0], lat_q, w, h)
        x = _unfold(x_q, size, None, xc)  # a < 0: longitude -lon
        # b < 0 (top rows): longitude sign(a) * pi - lon(a, -b); in columns that is
        # w/2 - 1 - x(a, -b), plus a turn for a > 0; a tiny negative wraps to the end
        top = x[:size // 2]
        np.subtract(np.float32(w / 2 - 1), x[size // 2:][::-1], out=top)
        top[:, size // 2:] += np.float32(w)
        np.add(top, np.float32(w), out=top, where=top < 0)
        return x, _unfold(y_q, size, None, None)

    return remap.cached_map(("cube", kind, h, w, size), build)


_D4 = [(swap, flip_rows, flip_cols) for swap in (False, True) for flip_rows in (False, True)
       for flip_cols in (False, True)]


def _derivation(n: np.ndarray, u: np.ndarray, v: np.ndarray
                ) -> tuple[str, tuple[bool, bool, bool], bool, float] | None:
    """How the face with panorama-frame basis (n, u, v) comes from a canonical face:
    (kind, grid transform, mirrored through the equator, turn in radians), or None."""
    if abs(n[1]) < 1e-9:
        kind, cn, cu, cv = "side", (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, -1.0, 0.0)
    elif abs(abs(n[1]) - 1) < 1e-9:
        kind, cn, cu, cv = "pole", (0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)
    else:
        return None
    mirror = n[1] < 0
    m = np.diag([1.0, -1.0 if mirror else 1.0, 1.0])
    for swap, fr, fc in _D4:
        # the array op is A.T (if swap) then [::-1 rows if fr, ::-1 columns if fc]; the
        # grid is antisymmetric (g[S-1-k] = -g[k]), so a flip negates a basis vector
        ue = np.array(cv if swap else cu) * (-1.0 if fc else 1.0)
        ve = np.array(cu if swap else cv) * (-1.0 if fr else 1.0)
        cn_, ue, ve = m @ np.array(cn), m @ ue, m @ ve
        ref = cn_ if kind == "side" else ue  # a horizontal vector the turn must carry
        tgt = n if kind == "side" else u
        turn = math.atan2(tgt[0], tgt[2]) - math.atan2(ref[0], ref[2])
        c, s = math.cos(turn), math.sin(turn)
        rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        if (np.allclose(rot @ cn_, n, atol=1e-9) and np.allclose(rot @ ue, u, atol=1e-9)
                and np.allclose(rot @ ve, v, atol=1e-9)):
            return kind, (swap, fr, fc), mirror, turn
    return None


def _face_map(h: int, w: int, size: int, conv: Convention, name: str,
              yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """The (map_x, map_y) of one face: derived from a cached canonical map when the face
    is axis-aligned (every built-in convention), else built directly."""
    n, u, v = conv.basis(name)
    # an odd face's centre pixel looks exactly at a pole on the up/down faces, where the
    # longitude (which column of the pole row) is arbitrary: build those as before
    how = _derivation(n, u, v) if size % 2 == 0 else None
    if how is None:
        return remap.equirect_coords(*_lonlat(face_directions(conv, name, size), yaw), w, h)
    kind, (swap, fr, fc), mirror, turn = how
    cx, cy = _canonical_maps(kind, h, w, size)
    if swap:
        cx, cy = cx.T, cy.T
    sl = (slice(None, None, -1 if fr else 1), slice(None, None, -1 if fc else 1))
    cx, cy = cx[sl], cy[sl]
    # A turn only moves columns; put the face's columns in [0, W) where they fit, so
    # the sampler's wrap-around (cv2 BORDER_WRAP, scipy grid-wrap) is needed only at
    # the seam. OpenCV's fixed-point maps hold |x| < 32768: 16K panoramas fit.
    off = ((turn + yaw) * w / (2 * math.pi)) % w
    x = np.add(cx, np.float32(off), dtype=np.float32)
    np.subtract(x, np.float32(w), out=x, where=x >= w)
    y = np.subtract(np.float32(h - 1), cy) if mirror else np.ascontiguousarray(cy)
    return x, y


def _prepare(pano_or_array: Any, face_size: int | None, convention: str | Convention,
             yaw: float) -> tuple[np.ndarray, Convention, int, float]:
    arr = as_array(pano_or_array)
    conv = get_convention(convention)
    size = _check_size("face_size", max(1, arr.shape[1] // 4) if face_size is None else face_size)
    return arr, conv, size, math.radians(_check_angle("yaw", yaw))


def iter_faces(pano_or_array: Any, face_size: int | None = None,
               convention: str | Convention = "generic", yaw: float = 0.0
               ) -> Iterator[tuple[str, np.ndarray]]:
    """The faces of `to_faces`, one at a time, as ``(name, (S, S, C) array)`` in the
    convention's order. Each face is sampled when asked for and owns its memory, so a
    caller that writes and drops each face holds one face's map and pixels at a time
    (how `export` keeps a 16K panorama's peak memory low)."""
    arr, conv, size, yaw_rad = _prepare(pano_or_array, face_size, convention, yaw)
    h, w = arr.shape[:2]
    for name in conv.names:
        mx, my = _face_map(h, w, size, conv, name, yaw_rad)
        yield name, remap.sample(arr, mx, my)


def to_faces(pano_or_array: Any, face_size: int | None = None,
             convention: str | Convention = "generic", yaw: float = 0.0) -> dict[str, np.ndarray]:
    """The six cube faces of a panorama, as ``{face name: (S, S, C) array}`` in the
    convention's order (generic: F R B L U D; unity: front back left right up down;
    threejs/opengl: px nx py ny pz nz). ``face_size`` defaults to width / 4 (the
    equator's resolution). ``yaw`` (degrees) turns the cube to the right: with yaw=90
    each face shows what lies 90 degrees right of where it looks at yaw=0.

    The faces are views into one (6S, S, C) array, so they cost one allocation.
    """
    arr, conv, size, yaw_rad = _prepare(pano_or_array, face_size, convention, yaw)
    h, w = arr.shape[:2]
    stack = None
    for i, name in enumerate(conv.names):
        mx, my = _face_map(h, w, size, conv, name, yaw_rad)
        if stack is None:
            probe = remap.sample(arr, mx, my)
            stack = np.empty((6 * size, *probe.shape[1:]), probe.dtype)
            stack[:size] = probe
        else:
            remap.sample(arr, mx, my, out=stack[i * size:(i + 1) * size])
    assert stack is not None
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


def check_export_options(convention: str = "unity", layout: str = "six",
                         face_size: int | None = None, fmt: str = "png", prefix: str = "",
                         quality: int = DEFAULT_QUALITY,
                         compression: int = DEFAULT_COMPRESSION) -> str:
    """Check `export`'s options without touching an image (a batch checks them once,
    before any file); returns the format's canonical name. Raises ValueError naming the
    option, the value and what is allowed."""
    get_convention(convention)
    if layout not in LAYOUT_NAMES:
        raise ValueError(f"layout: got {layout!r}; allowed: {', '.join(LAYOUT_NAMES)}")
    if face_size is not None:
        _check_size("face_size", face_size)
    kind = by_suffix(str(fmt))
    if kind is None and str(fmt).lower().lstrip(".") not in HDR_FACE_FORMATS:
        raise ValueError(f"fmt: got {fmt!r}; allowed: "
                         + ", ".join([f.suffix[1:] for f in FORMATS] + list(HDR_FACE_FORMATS)))
    if any(sep in prefix for sep in ("/", "\\")) or prefix in (".", ".."):
        raise ValueError(f"prefix: got {prefix!r}; allowed: a file-name prefix without '/'")
    check_quality(quality)
    check_compression(compression)
    return str(fmt).lower().lstrip(".")


def _write_linear(face: np.ndarray, path: Path) -> Path:
    """An EXR face: 8/16-bit values decoded from sRGB after sampling (so it holds the
    very pixels of the PNG face, in linear light), float values as they are."""
    from .hdr import linear_rgb, write_hdr

    return write_hdr(face if face.dtype.kind == "f" else linear_rgb(face, "ignore"), path)


def export_to(path: str | os.PathLike, out_root: str | os.PathLike, nested: bool = False,
              pano: Any = None, **options: Any) -> list[Path]:
    """`export` of the panorama file ``path`` (or of ``pano`` already loaded from it)
    into ``out_root`` (``out_root/<stem>`` when ``nested``, for batches); a picklable
    job for `batch.map_panoramas`."""
    from .batch import out_dir_for

    return export(Path(path) if pano is None else pano,
                  out_dir_for(Path(path), out_root, nested), **options)


def export(pano: Any, out_dir: str | os.PathLike, convention: str = "unity",
           layout: str = "six", face_size: int | None = None, fmt: str = "png",
           prefix: str = "", yaw: float = 0.0, *, quality: int = DEFAULT_QUALITY,
           compression: int = DEFAULT_COMPRESSION, threads: int | None = None) -> list[Path]:
    """Write the cubemap of ``pano`` into ``out_dir`` for an engine and return the paths.

    ``layout`` "six" writes one file per face named after the convention's faces
    (``front.png`` ... for unity, ``px.png`` ... for threejs/opengl, ``F.png`` ... for
    generic); the other layouts write one ``<layout>.<fmt>`` file. ``fmt``: png, jpg,
    webp, tif or exr; ``quality`` (1..100) is for jpg and webp, ``compression`` (0..9) for
    png (the default is fast and about as small as Pillow's default). ``prefix`` is put
    before every file name.

    ``exr`` writes OpenEXR half floats in linear light, as engines read EXR: the faces of
    an 8/16-bit panorama are sampled as for PNG, then decoded from sRGB (`hdr.linear_rgb`:
    the IEC 61966-2-1 curve, nothing estimated), so sRGB-encoding an EXR face gives the
    PNG face back; an `HdrPanorama` is sampled in linear light as it is. For an HDR
    estimate, pass ``hdr.to_hdr(pano)``.

    Six faces are sampled one at a time and encoded on ``threads`` threads (default:
    one per CPU) while the next is sampled; at most that many faces are held at once,
    so a 16K panorama's export needs little more memory than the panorama itself.
    """
    fmt = check_export_options(convention, layout, face_size, fmt, prefix, quality, compression)
    workers = _check_size("threads", threads if threads is not None else os.cpu_count() or 1,
                          1, 256)
    conv = get_convention(convention)
    write: Any = write_image
    options: dict[str, Any] = {"quality": quality, "compression": compression}
    if fmt in HDR_FACE_FORMATS:
        from .hdr import HdrPanorama, write_hdr

        write, options = _write_linear, {}
        arr = pano.array if isinstance(pano, HdrPanorama) else as_array(pano)
    else:
        arr = as_array(pano)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if layout != "six":
        faces = to_faces(arr, face_size, conv, yaw=yaw)
        return [write(assemble(faces, layout, conv), out / f"{prefix}{layout}.{fmt}",
                      **options)]
    paths: list[Path] = []
    from concurrent.futures import ThreadPoolExecutor  # here: views and checks need no pool

    with ThreadPoolExecutor(workers, thread_name_prefix="skybox-encode") as pool:
        pending: deque[Future[Path]] = deque()
        try:
            for name, face in iter_faces(arr, face_size, conv, yaw=yaw):
                while len(pending) >= workers:  # bounded: a face sampled per free encoder
                    paths.append(pending.popleft().result())
                pending.append(pool.submit(write, face, out / f"{prefix}{name}.{fmt}",
                                           **options))
                del face
            while pending:
                paths.append(pending.popleft().result())
        except BaseException:
            for f in pending:
                f.cancel()
            raise
    return paths
