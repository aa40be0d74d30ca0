"""Procedural runs of Skybox Flux.1's sibling models: stand-ins, never the models.

Invariant: every function here is a deterministic function of its arguments and returns
an (H, W, 3) uint8 equirectangular image whose wrap border and poles hold by
construction, with one deliberate exception: the upscaler above `FAITHFUL_STRENGTH`
SIMULATES what users report of upscalers, tiles that ignore the wrap, as a band at the
left border whose content no longer meets the right border; its size grows with
``strength``. That says nothing about how Scenario's upscaler behaves; it is there so the
seam re-check after an upscale can be tried offline.

- `skybox_gpt`: the procedural sky at the requested width x height, coloured toward the
  reference images when there are any; ``quality`` sets how fine its detail is.
- `upscale`: the input enlarged by ``factor`` (bicubic, wrapping around in x) with
  invented detail whose amount follows ``strength`` (0 keeps only the enlargement).
- `image_to_skybox`: a photo seen straight ahead (a 90 degree window at longitude 0),
  inside a procedural sky and ground coloured like the photo.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .render import render

__all__ = ["skybox_gpt", "upscale", "image_to_skybox", "FAITHFUL_STRENGTH", "QUALITY_STEPS"]

# Up to this strength the emulated upscaler only sharpens and adds fine detail; above it
# its tiles stop respecting the wrap (the simulated defect).
FAITHFUL_STRENGTH = 0.45
# How fine the procedural detail of Skybox GPT is, per quality (as inference steps).
QUALITY_STEPS = {"low": 20, "medium": 30, "high": 45, "auto": 30}
F32 = np.float32


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(x + F32(0.5), 0, 255).astype(np.uint8)


def _mean_colour(images: list[np.ndarray]) -> np.ndarray:
    return np.mean([im.reshape(-1, 3).mean(axis=0) for im in images], axis=0).astype(F32)


def skybox_gpt(prompt: str, width: int, height: int, seed: int, quality: str = "auto",
               references: list[np.ndarray] | None = None) -> np.ndarray:
    """A ``width`` x ``height`` sky for ``prompt``; a quarter of its colour is pulled
    toward the mean colour of the ``references`` (RGB uint8 arrays) when given."""
    pixels = render(prompt, "standard", seed=seed, size=(int(width), int(height)),
                    steps=QUALITY_STEPS.get(quality, 30), geometry_enforcement=100)
    if references:
        target = _mean_colour(references)
        out = pixels.astype(F32)
        out += (target - out.reshape(-1, 3).mean(axis=0)) * F32(0.25)
        pixels = _u8(out)
    return pixels


def _wrap_resize(pixels: np.ndarray, width: int, height: int, resample: int) -> np.ndarray:
    """Resize an (h, w, 3) panorama reading across the wrap border as anywhere else."""
    h, w = pixels.shape[:2]
    pad = 3
    padded = np.concatenate([pixels[:, -pad:], pixels, pixels[:, :pad]], axis=1)
    im = Image.fromarray(np.ascontiguousarray(padded))
    return np.asarray(im.resize((width, height), resample, box=(pad, 0, pad + w, h)))


def _wrap_blur(x: np.ndarray, r: int) -> np.ndarray:
    """A box blur of radius ``r`` that wraps in x and clamps in y (a float image)."""
    out = x.copy()
    for k in range(1, r + 1):
        out += np.roll(x, k, axis=1) + np.roll(x, -k, axis=1)
    out /= F32(2 * r + 1)
    pad = np.concatenate([np.repeat(out[:1], r, 0), out, np.repeat(out[-1:], r, 0)], axis=0)
    acc = np.zeros_like(out)
    for k in range(2 * r + 1):
        acc += pad[k:k + out.shape[0]]
    return acc / F32(2 * r + 1)


def _latitude_weight(height: int) -> np.ndarray:
    """cos(latitude) per row, (H, 1, 1): invented detail fades out toward the poles."""
    lat = (0.5 - (np.arange(height, dtype=F32) + F32(0.5)) / F32(height)) * F32(math.pi)
    return np.cos(lat)[:, None, None]


def upscale(pixels: np.ndarray, factor: int, strength: float, seed: int,
            details: bool = True) -> np.ndarray:
    """``pixels`` enlarged ``factor`` times, with detail following ``strength`` (0 to 1).

    The enlargement is bicubic and wraps in x. Detail is an unsharp mask and fine grain,
    both ``strength``-weighted, periodic in longitude and fading toward the poles; with
    ``details`` off only the sharpening remains. Above `FAITHFUL_STRENGTH` the simulated
    tile defect breaks the wrap (see the module's docstring).
    """
    h, w = pixels.shape[:2]
    out_w, out_h = w * int(factor), h * int(factor)
    big = _wrap_resize(pixels, out_w, out_h, Image.BICUBIC).astype(F32)
    s = float(strength)
    lat_w = _latitude_weight(out_h)
    # Unsharp mask: the enlargement's softness taken back, more with strength.
    soft = _wrap_blur(big, max(1, int(factor) // 2))
    big += (big - soft) * F32(1.5 * s) * lat_w
    if details:
        rng = np.random.default_rng(seed)
        gh, gw = max(4, out_h // 2), max(8, out_w // 2)
        grain = rng.standard_normal((gh, gw)).astype(F32)
        grain = _wrap_resize(np.repeat(((grain * 40 + 128).clip(0, 255)).astype(np.uint8)[..., None],
                                       3, axis=2), out_w, out_h, Image.BILINEAR)[..., :1]
        # Grain is drawn in the panorama's grid, whose columns crowd together toward the
        # poles: it fades out faster there than the sharpening, or it would converge on them.
        big += (grain.astype(F32) - F32(128)) * F32(0.6 * s) * lat_w ** 3
    if s > FAITHFUL_STRENGTH:
        _break_wrap(big, (s - FAITHFUL_STRENGTH) / (1 - FAITHFUL_STRENGTH), seed)
    return _u8(big)


def _break_wrap(img: np.ndarray, severity: float, seed: int) -> None:
    """In place on a float image: a band at the left border, ``0.05 * severity`` of the
    width, shifted down and brightened or darkened, fading to nothing at its inner edge,
    so the jump sits between the last column and the first (a tile that ignored the wrap)."""
    h, w = img.shape[:2]
    sev = min(1.0, max(0.0, severity))
    bw = max(2, round(0.05 * sev * w))
    shift = max(1, round(0.04 * sev * h))
    rng = np.random.default_rng(seed + 1)
    ramp = (1 - np.arange(bw, dtype=F32) / F32(bw))[None, :, None]
    here = img[:, :bw].copy()
    band = np.roll(here, shift, axis=0)
    offset = np.where(band < 128, 1, -1) * rng.uniform(0.5, 1.0, 3).astype(F32) * F32(90 * sev)
    img[:, :bw] = band * ramp + here * (1 - ramp) + offset * ramp


def image_to_skybox(photo: np.ndarray, width: int, height: int, seed: int,
                    prompt: str | None = None, fov_degrees: float = 90.0) -> np.ndarray:
    """A ``width`` x ``height`` panorama around ``photo`` (RGB uint8): the photo fills a
    ``fov_degrees`` window straight ahead (longitude 0, feathered at its edge); the rest
    is a procedural sky and ground, re-coloured toward the photo's top and bottom."""
    base = render(prompt or "a wide landscape under the sky", "photo", seed=seed,
                  size=(int(width), int(height)), geometry_enforcement=100).astype(F32)
    ph, pw = photo.shape[:2]
    top = photo[: max(1, ph // 3)].reshape(-1, 3).mean(axis=0).astype(F32)
    bottom = photo[ph - max(1, ph // 3):].reshape(-1, 3).mean(axis=0).astype(F32)
    rows = np.arange(height, dtype=F32)
    lat = (0.5 - (rows + 0.5) / height) * F32(math.pi)
    sky = (lat > 0)[:, None, None]
    target = np.where(sky, top, bottom)  # (H, 1, 3)
    mean = np.where(sky, base[: height // 2].reshape(-1, 3).mean(axis=0),
                    base[height // 2:].reshape(-1, 3).mean(axis=0))
    base += (target - mean) * F32(0.6)
    # The window: a pinhole camera looking at longitude 0, latitude 0.
    lon = ((np.arange(width, dtype=F32) + 0.5) / width - 0.5) * F32(2 * math.pi)
    cl = np.cos(lat)[:, None]
    x = cl * np.sin(lon)[None, :]
    y = np.sin(lat)[:, None] * np.ones((1, width), F32)
    z = cl * np.cos(lon)[None, :]
    half_w = math.tan(math.radians(fov_degrees) / 2)
    half_h = half_w * ph / pw
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(z > 1e-6, x / z / half_w, 9.0)
        v = np.where(z > 1e-6, y / z / half_h, 9.0)
    inside = (np.abs(u) < 1) & (np.abs(v) < 1)
    if inside.any():
        edge = np.minimum(1 - np.abs(u), 1 - np.abs(v))
        alpha = np.clip(edge / 0.12, 0, 1)[..., None].astype(F32)
        px = np.clip(((u + 1) / 2 * (pw - 1)).round().astype(int), 0, pw - 1)
        py = np.clip(((1 - v) / 2 * (ph - 1)).round().astype(int), 0, ph - 1)
        sampled = photo[py, px].astype(F32)
        base = np.where(inside[..., None], sampled * alpha + base * (1 - alpha), base)
    return _u8(base)
