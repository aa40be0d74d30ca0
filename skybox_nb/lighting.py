"""A lighting pack for physically based materials, computed from an HDR panorama.

Invariant: every quantity is an integral over the sphere of the panorama's linear
radiance, each pixel weighted by the solid angle it covers (`hdr.solid_angles`), and
each has a brute-force definition the tests check it against:

* ``sh``: the nine order-2 real spherical-harmonic coefficients of the radiance (RGB),
  and of the irradiance (each band times A0 = pi, A1 = 2pi/3, A2 = pi/4, Ramamoorthi and
  Hanrahan 2001), so E(n) = sum irradiance_i * Y_i(n). Within 2% of the brute-force
  irradiance for a sky without a sun; a sun is not order-2 light: with one 4x the sky
  the error is a median 10% and at most about 30% of the mean (tests/test_lighting.py);
* ``specular``: a cube map whose mip level m holds the radiance convolved with the GGX
  lobe of roughness m / (levels - 1) (the split-sum prefilter: N = V = R, weights
  D(h) * (n.l)), level 0 being the sharp sky; computed with filtered importance sampling
  (Krivanek and Colbert 2008): Hammersley samples of the lobe, each read from the mip of
  the source whose texels are as large as the sample's solid angle;
* ``brdf_lut``: the split-sum scale and bias of F0 (Karis 2013), by (n.v, roughness),
  Smith-Schlick visibility with k = alpha / 2.

Directions are in the panorama frame (x right of the image centre, y up, z the image
centre); a cube's faces follow a `conventions` convention (default "generic", whose cube
space is that frame). The pack's files: ``sh.json``, ``specular.ktx2`` / ``.dds`` (RGBA
half float, one roughness per mip), ``irradiance.ktx2`` / ``.dds`` (a small cube of E/pi),
``brdf_lut.ktx2`` (RG half float) and ``brdf_lut.png`` (16-bit), each read back after it
is written.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import remap
from .conventions import Convention, get_convention
from .cubemap import face_directions, to_faces
from .files import write_json_atomic
from .hdr import HdrPanorama, luminance, solid_angles, to_hdr, tonemap
from .panorama import _resize

__all__ = ["sh_basis", "sh_project", "sh_irradiance", "irradiance_brute", "prefilter_specular",
           "ggx_reference", "brdf_lut", "LightingPack", "lighting_pack", "sample_cube",
           "render_spheres", "preview", "SH_BANDS"]

SH_BANDS = (math.pi, 2 * math.pi / 3, 2 * math.pi / 3, 2 * math.pi / 3,
            math.pi / 4, math.pi / 4, math.pi / 4, math.pi / 4, math.pi / 4)
LOD_BIAS = 1.0
_SH_NAMES = ("Y00", "Y1-1 (y)", "Y10 (z)", "Y11 (x)", "Y2-2 (xy)", "Y2-1 (yz)",
             "Y20 (3z^2-1)", "Y21 (xz)", "Y22 (x^2-y^2)")


def _hdr_array(hdr: Any) -> np.ndarray:
    """Linear float32 RGB of an HdrPanorama, an HDR array, or an 8-bit panorama (through
    `to_hdr` with its defaults)."""
    if isinstance(hdr, HdrPanorama):
        return hdr.array
    if isinstance(hdr, np.ndarray) and hdr.dtype.kind == "f" and hdr.ndim == 3:
        return np.ascontiguousarray(hdr[:, :, :3], np.float32)
    return to_hdr(hdr).array


def _equirect_dirs(h: int, w: int) -> np.ndarray:
    """(h, w, 3) unit directions of an equirectangular image's pixel centres."""
    lat = (0.5 - (np.arange(h, dtype=np.float32) + 0.5) / h) * np.float32(math.pi)
    lon = ((np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1) * np.float32(math.pi)
    cl = np.cos(lat)[:, None]
    return np.stack(np.broadcast_arrays(cl * np.sin(lon)[None, :], np.sin(lat)[:, None],
                                        cl * np.cos(lon)[None, :]), axis=-1)


def _small(arr: np.ndarray, width: int) -> np.ndarray:
    """An area-averaged copy at most ``width`` wide (energy per solid angle kept)."""
    return _resize(arr, width, width // 2) if arr.shape[1] > width else arr


# ---------------------------------------------------------------- spherical harmonics

def sh_basis(d: np.ndarray) -> np.ndarray:
    """(..., 9) real SH basis Y00, Y1-1, Y10, Y11, Y2-2, Y2-1, Y20, Y21, Y22 of unit
    directions (..., 3) = (x, y, z), in Ramamoorthi and Hanrahan's polynomial form (the
    order three.js's SphericalHarmonics3 uses)."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    return np.stack([
        np.full_like(x, 0.282095), 0.488603 * y, 0.488603 * z, 0.488603 * x,
        1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3 * z * z - 1),
        1.092548 * x * z, 0.546274 * (x * x - y * y)], axis=-1)


def sh_project(hdr: Any, width: int = 512) -> np.ndarray:
    """(9, 3) SH coefficients of the radiance: sum of L * Y_i * solid angle over an
    area-averaged copy ``width`` pixels wide (order 2 needs no more)."""
    a = _small(_hdr_array(hdr), width)
    h, w = a.shape[:2]
    wy = sh_basis(_equirect_dirs(h, w)) * solid_angles(h, w)[..., None]  # (h, w, 9)
    return np.einsum("hwk,hwc->kc", wy, a.astype(np.float64)).astype(np.float64)


def sh_irradiance(coeffs: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Irradiance E(n) (..., 3) at unit ``normals`` (..., 3) from radiance coefficients
    (9, 3): sum of A_band * L_i * Y_i(n)."""
    return sh_basis(normals) @ (np.asarray(coeffs) * np.array(SH_BANDS)[:, None])


def irradiance_brute(hdr: Any, normals: np.ndarray, width: int = 256) -> np.ndarray:
    """Irradiance at ``normals`` (N, 3) by direct summation of L * max(0, n.l) * dOmega
    over every pixel of a ``width``-wide copy: the reference `sh_irradiance` is checked
    against."""
    a = _small(_hdr_array(hdr), width)
    h, w = a.shape[:2]
    d = _equirect_dirs(h, w).reshape(-1, 3).astype(np.float64)
    la = (a.reshape(-1, 3) * np.broadcast_to(solid_angles(h, w), (h, w)).reshape(-1, 1))
    cos = np.maximum(np.asarray(normals, np.float64).reshape(-1, 3) @ d.T, 0.0)
    return cos @ la


# ---------------------------------------------------------------- GGX prefiltering

def _hammersley(n: int) -> np.ndarray:
    i = np.arange(n, dtype=np.uint32)
    b = i.copy()
    b = ((b << 16) | (b >> 16)) & 0xFFFFFFFF
    b = ((b & 0x55555555) << 1) | ((b & 0xAAAAAAAA) >> 1)
    b = ((b & 0x33333333) << 2) | ((b & 0xCCCCCCCC) >> 2)
    b = ((b & 0x0F0F0F0F) << 4) | ((b & 0xF0F0F0F0) >> 4)
    b = ((b & 0x00FF00FF) << 8) | ((b & 0xFF00FF00) >> 8)
    return np.stack([(i + 0.5) / n, b.astype(np.float64) / 2.0**32], axis=1)


def _ggx_d(noh: np.ndarray, alpha: float) -> np.ndarray:
    a2 = alpha * alpha
    t = noh * noh * (a2 - 1) + 1
    return a2 / (math.pi * t * t)


def _pyramid(arr: np.ndarray, base_width: int) -> list[np.ndarray]:
    """The equirect at ``base_width`` and each half size down to 8 wide."""
    levels = [_small(arr, base_width)]
    while levels[-1].shape[1] > 8:
        top = levels[-1]
        levels.append(_resize(top, top.shape[1] // 2, top.shape[0] // 2))
    return levels


def _lookup(level: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Bilinear radiance of an equirect ``level`` at directions ``d`` (..., 3)."""
    shape = d.shape[:-1]
    d = d.reshape(-1, shape[-1], 3) if len(shape) != 2 else d  # the sampler takes 2-D maps
    lon = np.arctan2(d[..., 0], d[..., 2])
    lat = np.arcsin(np.clip(d[..., 1], -1.0, 1.0))
    mx, my = remap.equirect_coords(lon, lat, level.shape[1], level.shape[0])
    return remap.sample(level, mx, my).reshape(*shape, level.shape[2])


def _cube_dirs(conv: Convention, size: int) -> np.ndarray:
    """(6, size, size, 3) unit panorama-frame directions of a cube's texel centres."""
    d = np.stack([face_directions(conv, name, size) for name in conv.names])
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _prefilter_level(pyr: list[np.ndarray], n: np.ndarray, roughness: float,
                     samples: int) -> np.ndarray:
    """GGX-convolved radiance at unit directions ``n`` (..., 3), N = V = R."""
    alpha = max(roughness * roughness, 1e-4)
    up = np.where(np.abs(n[..., 1:2]) < 0.999, np.array([0, 1, 0], np.float32),
                  np.array([1, 0, 0], np.float32))
    t = np.cross(up, n)
    t /= np.linalg.norm(t, axis=-1, keepdims=True)
    b = np.cross(n, t)
    base_h, base_w = pyr[0].shape[:2]
    texel = 2 * math.pi**2 / (base_w * base_h)  # solid angle of an equator texel
    acc = np.zeros(n.shape[:-1] + (3,), np.float32)
    total = 0.0
    for u1, u2 in _hammersley(samples):
        phi = 2 * math.pi * u1
        cos_t = math.sqrt((1 - u2) / (1 + (alpha * alpha - 1) * u2))
        sin_t = math.sqrt(1 - cos_t * cos_t)
        nol = 2 * cos_t * cos_t - 1  # the same for every texel: n.h is fixed by the sample
        if nol <= 0:
            continue
        h = (t * np.float32(sin_t * math.cos(phi)) + b * np.float32(sin_t * math.sin(phi))
             + n * np.float32(cos_t))
        l_dir = 2 * np.float32(cos_t) * h - n
        pdf = _ggx_d(cos_t, alpha) / 4  # per solid angle of l, with V = N
        lod = max(0.0, 0.5 * math.log2(1 / (samples * pdf) / texel) + LOD_BIAS)
        lo = min(int(lod), len(pyr) - 1)
        hi = min(lo + 1, len(pyr) - 1)
        f = lod - int(lod) if hi > lo else 0.0
        sample = _lookup(pyr[lo], l_dir)
        if f > 0:
            sample = sample * np.float32(1 - f) + _lookup(pyr[hi], l_dir) * np.float32(f)
        acc += sample * np.float32(nol)
        total += nol
    return acc / np.float32(total)


def prefilter_specular(hdr: Any, size: int = 256, levels: int | None = None,
                       samples: int = 64, convention: str | Convention = "generic",
                       ) -> tuple[list[np.ndarray], list[float]]:
    """The GGX-prefiltered specular cube: ([level 0 .. levels-1], each (6, S, S, 3)
    float32 with S = size >> m and faces in ``convention``'s order), [roughness per
    level] = m / (levels - 1). ``levels`` defaults to log2(size) - 1 (down to 4 pixels).
    ``samples``: lobe samples per texel at level 1, four times more each level after
    (as the texels get four times fewer) up to 1024, so every level costs about the
    same and the rough, wide lobes get the samples they need."""
    if not isinstance(size, (int, np.integer)) or size < 4 or size & (size - 1):
        raise ValueError(f"size: got {size!r}; allowed: a power of two from 4 to 4096")
    most = int(math.log2(size)) + 1
    levels = max(1, most - 2) if levels is None else levels
    if not isinstance(levels, (int, np.integer)) or not 1 <= levels <= most:
        raise ValueError(f"levels: got {levels!r}; allowed: 1 to {most} for size {size}")
    if not isinstance(samples, (int, np.integer)) or not 1 <= samples <= 4096:
        raise ValueError(f"samples: got {samples!r}; allowed: 1 to 4096")
    conv = get_convention(convention)
    arr = _hdr_array(hdr)
    pyr = _pyramid(arr, 4 * size)
    faces = to_faces(pyr[0], size, conv)
    out = [np.stack([faces[n] for n in conv.names]).astype(np.float32)]
    rough = [0.0]
    for m in range(1, levels):
        r = m / (levels - 1)
        # the texels fall 4x a level: spend what they save on samples (rougher lobes)
        k = min(max(samples, 1024), samples * 4 ** (m - 1))
        out.append(_prefilter_level(pyr, _cube_dirs(conv, size >> m), r, k))
        rough.append(r)
    return out, rough


def ggx_reference(hdr: Any, normals: np.ndarray, roughness: float,
                  width: int = 128) -> np.ndarray:
    """The prefiltered radiance at ``normals`` (N, 3) by brute force over every pixel of
    a ``width``-wide copy: sum L * D(n.h) * max(0, n.l) * dOmega / sum of the weights.
    The reference `prefilter_specular` is checked against."""
    a = _small(_hdr_array(hdr), width)
    h, w = a.shape[:2]
    d = _equirect_dirs(h, w).reshape(-1, 3).astype(np.float64)
    dom = np.broadcast_to(solid_angles(h, w), (h, w)).reshape(-1).astype(np.float64)
    nol = np.asarray(normals, np.float64).reshape(-1, 3) @ d.T
    noh = np.sqrt(np.clip((1 + nol) / 2, 0, 1))
    wgt = _ggx_d(noh, max(roughness**2, 1e-4)) * np.maximum(nol, 0) * dom
    return (wgt @ a.reshape(-1, 3)) / wgt.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- BRDF lookup table

def brdf_lut(size: int = 128, samples: int = 256) -> np.ndarray:
    """(size, size, 2) float32 split-sum terms: [row = roughness, column = n.v], both
    sampled at texel centres (row 0 = roughness near 0), values (scale, bias) with
    specular = F0 * scale + bias."""
    if not isinstance(size, (int, np.integer)) or not 2 <= size <= 1024:
        raise ValueError(f"size: got {size!r}; allowed: 2 to 1024")
    c = ((np.arange(size) + 0.5) / size).astype(np.float32)
    nov = c[:, None]  # (n.v, 1) against (1, samples)
    vx, vz = np.sqrt(1 - nov * nov), nov
    xi = _hammersley(samples).astype(np.float32)
    cos_phi = np.cos(2 * np.float32(math.pi) * xi[:, 0])[None, :]
    out = np.empty((size, size, 2), np.float32)
    for i, rough in enumerate(c):  # a row at a time: small arrays, no swapping
        alpha = rough * rough
        cos_t = np.sqrt((1 - xi[:, 1]) / (1 + (alpha * alpha - 1) * xi[:, 1]))[None, :]
        hx, hz = np.sqrt(1 - cos_t * cos_t) * cos_phi, cos_t  # h.y does not enter: v in xz
        voh = vx * hx + vz * hz
        nol = np.clip(2 * voh * hz - vz, 0, 1)
        voh = np.clip(voh, 0, 1)
        k = alpha / 2
        g = (nov / (nov * (1 - k) + k)) * (nol / (nol * (1 - k) + k))
        g_vis = np.where(nol > 0, g * voh / np.maximum(hz * nov, 1e-8), 0)
        fc = (1 - voh) ** 5
        out[i, :, 0] = ((1 - fc) * g_vis).mean(axis=1)
        out[i, :, 1] = (fc * g_vis).mean(axis=1)
    return out


# ---------------------------------------------------------------- cube lookups

def sample_cube(faces: np.ndarray, d: np.ndarray,
                convention: str | Convention = "generic") -> np.ndarray:
    """Bilinear values of a cube (6, S, S, C) (faces in ``convention``'s order) at
    panorama-frame directions ``d`` (..., 3); texels clamp at each face's edge."""
    conv = get_convention(convention)
    bases = np.stack([conv.basis(n) for n in conv.names]).astype(np.float32)  # (6, 3, 3)
    s = faces.shape[1]
    facing = d @ bases[:, 0].T
    idx = np.argmax(facing, axis=-1)
    dn = np.take_along_axis(facing, idx[..., None], -1)[..., 0]
    a = np.einsum("...k,...k->...", d, bases[:, 1][idx]) / dn
    bb = np.einsum("...k,...k->...", d, bases[:, 2][idx]) / dn
    col = np.clip((a + 1) * (s / 2) - 0.5, 0, s - 1).astype(np.float32)
    row = (np.clip((bb + 1) * (s / 2) - 0.5, 0, s - 1) + idx * s).astype(np.float32)
    stack = np.ascontiguousarray(faces.reshape(6 * s, s, -1), np.float32)
    flat_c, flat_r = col.reshape(-1, 1), row.reshape(-1, 1)
    out = _bilinear(stack, flat_c, flat_r)
    return out.reshape(*d.shape[:-1], faces.shape[-1])


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` (H, W, C) at pixel coordinates without wrapping."""
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x1 = np.minimum(x0 + 1, img.shape[1] - 1)
    y1 = np.minimum(y0 + 1, img.shape[0] - 1)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bot = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return (top * (1 - fy) + bot * fy)[:, 0]


# ---------------------------------------------------------------- the pack

@dataclass
class LightingPack:
    """SH coefficients (9, 3), the specular mip chain and its roughness values, the BRDF
    table, the irradiance cube, the convention of the cubes and, once saved, the
    files."""

    sh: np.ndarray
    specular: list[np.ndarray]
    roughness: list[float]
    brdf: np.ndarray
    irradiance: np.ndarray
    convention: str = "generic"
    timings: dict[str, float] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def sh_json(self) -> dict[str, Any]:
        """The SH coefficients with everything needed to use them."""
        return {
            "frame": "panorama: x = right of the image centre, y = up, z = the image centre",
            "basis": list(_SH_NAMES),
            "normalisation": "real orthonormal SH (Ramamoorthi and Hanrahan 2001 constants)",
            "radiance": np.round(self.sh, 7).tolist(),
            "irradiance": np.round(self.sh * np.array(SH_BANDS)[:, None], 7).tolist(),
            "usage": "E(n) = sum_i irradiance[i] * Y_i(n); diffuse = albedo * E(n) / pi",
        }

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write the pack's files into ``out_dir``, read each back and compare; returns
        {name: path}."""
        from PIL import Image

        from .dds import read_dds, write_dds
        from .ktx2 import read_ktx2, write_ktx2

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {"sh.json": write_json_atomic(out / "sh.json", self.sh_json())}
        meta = {"roughness": self.roughness, "convention": self.convention,
                "faces": get_convention(self.convention).names,
                "lod": "roughness * (levels - 1)"}
        files["specular.json"] = write_json_atomic(out / "specular.json", meta)
        irr = [self.irradiance]
        lut = [self.brdf[None]]
        for name, levels in (("specular", self.specular), ("irradiance", irr)):
            files[f"{name}.ktx2"] = write_ktx2(levels, out / f"{name}.ktx2")
            files[f"{name}.dds"] = write_dds(levels, out / f"{name}.dds")
            back_k = read_ktx2(files[f"{name}.ktx2"]).levels
            back_d = read_dds(files[f"{name}.dds"])
            for i, lv in enumerate(levels):
                for back in (back_k[i][..., :3], back_d[i][..., :3]):
                    if not np.allclose(back, lv, rtol=2e-3, atol=1e-4):
                        raise OSError(f"{name}: level {i} did not read back as written")
        files["brdf_lut.ktx2"] = write_ktx2(lut, out / "brdf_lut.ktx2")
        if not np.allclose(read_ktx2(files["brdf_lut.ktx2"]).levels[0][0], self.brdf,
                           atol=1e-3):
            raise OSError("brdf_lut.ktx2 did not read back as written")
        rgb16 = np.zeros((*self.brdf.shape[:2], 3), np.uint16)
        rgb16[..., :2] = np.round(np.clip(self.brdf, 0, 1) * 65535)
        # rows top first in the PNG: roughness 1 at the top, as the usual LUT pictures
        files["brdf_lut.png"] = write_image16(rgb16[::-1], out / "brdf_lut.png")
        with Image.open(files["brdf_lut.png"]) as im:
            if im.size != self.brdf.shape[1::-1]:
                raise OSError("brdf_lut.png did not read back as written")
        self.files = files
        return files


def write_image16(rgb16: np.ndarray, path: Path) -> Path:
    """A 16-bit RGB PNG through OpenCV (Pillow writes no 16-bit RGB), atomically."""
    import cv2

    from .files import commit_file, temp_path

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb16[..., ::-1]))
    if not ok:
        raise OSError(f"OpenCV could not encode {path.name}")
    tmp = temp_path(path)
    try:
        tmp.write_bytes(buf.tobytes())
        return commit_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def lighting_pack(hdr: Any, out_dir: str | os.PathLike | None = None, size: int = 256,
                  levels: int | None = None, samples: int = 64, lut_size: int = 128,
                  irradiance_size: int = 32, convention: str | Convention = "generic",
                  ) -> LightingPack:
    """Compute the lighting pack of ``hdr`` (an `HdrPanorama`, a linear float array, or
    an 8-bit panorama estimated with `to_hdr`'s defaults) and write it to ``out_dir``
    when given. ``size``: the specular cube's face size (a power of two); ``levels``,
    ``samples``: see `prefilter_specular`; the cubes' faces in ``convention``'s order."""
    import time

    conv = get_convention(convention)
    arr = _hdr_array(hdr)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    sh = sh_project(arr)
    timings["sh"] = time.perf_counter() - t
    t = time.perf_counter()
    spec, rough = prefilter_specular(arr, size, levels, samples, conv)
    timings["specular"] = time.perf_counter() - t
    t = time.perf_counter()
    lut = brdf_lut(lut_size)
    timings["brdf_lut"] = time.perf_counter() - t
    irr = sh_irradiance(sh, _cube_dirs(conv, irradiance_size)) / math.pi
    pack = LightingPack(sh, spec, rough, lut, np.maximum(irr, 0).astype(np.float32),
                        conv.name, timings)
    if out_dir is not None:
        t = time.perf_counter()
        pack.save(out_dir)
        timings["write"] = time.perf_counter() - t
    return pack


# ---------------------------------------------------------------- preview

def _sphere(size: int, yaw: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask, normals, reflection directions) of a sphere seen by an orthographic camera
    looking ``yaw`` degrees right of the panorama's centre, level; directions in the
    panorama frame."""
    from .cubemap import _rotation

    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(c, -c)
    r2 = x * x + y * y
    mask = r2 < 1
    z = -np.sqrt(np.clip(1 - r2, 0, 1))
    n = np.stack([x, y, z], axis=-1)
    v = np.array([0, 0, 1], np.float32)  # view direction
    refl = v - 2 * (n @ v)[..., None] * n
    turn = _rotation(yaw, 0.0, 0.0).astype(np.float32).T
    return mask, n @ turn, refl @ turn


def _rotation_dir(yaw: float) -> np.ndarray:
    r = math.radians(yaw)
    return np.array([math.sin(r), 0.0, math.cos(r)], np.float32)


def render_spheres(pack: LightingPack, hdr: Any, size: int = 256, exposure: float = 0.0,
                   view_yaw: float | None = None) -> np.ndarray:
    """A uint8 picture: the tone-mapped sky, then a white diffuse sphere (SH irradiance),
    a rough metal sphere (roughness 0.5 from the mips, split-sum) and a chrome sphere
    (the sky itself), all lit by the pack and drawn in numpy; size = sphere diameter.
    The camera looks ``view_yaw`` degrees right of the panorama's centre (default: away
    from the sun found by `to_hdr`, so the spheres are lit from the front).
    The spheres share one exposure, set so the diffuse sphere averages 0.3 (linear)."""
    arr = _hdr_array(hdr)
    sun = getattr(hdr, "sun", None)
    if view_yaw is None:  # the sun behind the viewer, a little to one side: shape shows
        view_yaw = sun.yaw + 180.0 - 35.0 if sun is not None else 0.0
    mask, n, refl = _sphere(size, view_yaw)
    view = _rotation_dir(view_yaw)
    bg = np.full((size, size, 3), 0.18, np.float32)  # mid grey behind the spheres
    diffuse = 0.8 * sh_irradiance(pack.sh, n) / math.pi
    conv = pack.convention
    lv = min(len(pack.specular) - 1, round(0.5 * (len(pack.specular) - 1)))
    nov = np.clip(-(n @ view), 0, 1)
    lut_n = pack.brdf.shape[0]
    col = np.clip((nov * lut_n).astype(int), 0, lut_n - 1)
    row = min(lut_n - 1, int(pack.roughness[lv] * lut_n))
    ab = pack.brdf[row, col]
    f0 = np.array([0.95, 0.93, 0.88], np.float32)
    rough = sample_cube(pack.specular[lv], refl, conv) * (f0 * ab[..., :1] + ab[..., 1:])
    chrome = _lookup(_small(arr, 2048), refl) * 0.95
    # the spheres get their own exposure (the diffuse one's mean at 0.3): a sun many
    # times the sky would otherwise turn them white while the sky tile looks right
    k = 0.3 / max(float(luminance(diffuse[mask]).mean()), 1e-6)
    tiles = [np.where(mask[..., None], img * np.float32(k), bg)
             for img in (diffuse, rough, chrome)]
    sky = _small(arr, 2 * size)
    sky = _resize(sky, 2 * size, size) if sky.shape[1] != 2 * size else sky
    return tonemap(np.concatenate([sky, *tiles], axis=1), exposure)



def preview(pano: Any, sphere_size: int = 192, pack_size: int = 64,
            sun_to_sky: float | None = 4.0) -> tuple[np.ndarray, str]:
    """(labelled uint8 picture, one-line caption) of a skybox's light: its HDR estimate
    (`to_hdr`) tone-mapped beside a diffuse, a rough metal and a chrome sphere lit by a
    small lighting pack. For reports and notebooks: a picture, not numbers."""
    from PIL import Image, ImageDraw, ImageFont

    hdr = pano if isinstance(pano, HdrPanorama) else to_hdr(pano, sun_to_sky=sun_to_sky)
    pack = lighting_pack(hdr, size=pack_size, lut_size=32)
    pic = render_spheres(pack, hdr, sphere_size)
    im = Image.new("RGB", (pic.shape[1], pic.shape[0] + 22), (255, 255, 255))
    im.paste(Image.fromarray(pic), (0, 22))
    draw = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=13)
    except TypeError:  # Pillow before 10.1 has only the small bitmap font
        font = ImageFont.load_default()
    s = sphere_size
    labels = (("sky: HDR estimate, tone-mapped", 0), ("diffuse (SH)", 2 * s),
              (f"metal, roughness {pack.roughness[len(pack.roughness) // 2]:.2g}", 3 * s),
              ("chrome", 4 * s))
    for text, x in labels:
        draw.text((x + 4, 4), text, fill=(0, 0, 0), font=font)
    sun = hdr.sun
    caption = ("no compact bright region: no sun scaled" if sun is None else
               f"sun found at yaw {sun.yaw:.0f}, pitch {sun.pitch:.0f} degrees, scaled "
               f"x{sun.scale:.0f} to a sun/sky energy ratio of {sun.sun_to_sky:.1f}")
    return np.asarray(im), caption + " (an estimate from the 8-bit image)"
