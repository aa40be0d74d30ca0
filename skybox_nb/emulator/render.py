"""The emulator's procedural equirectangular renderer: a stand-in sky, never the model.

Invariant: the image is a deterministic function of (prompt, style, seed, size, steps,
negative prompt and its strength, init image and strength, geometry enforcement), and every
pixel is computed from its direction on the sphere (noise is evaluated on the unit direction
vector; anything that depends on longitude alone is periodic in it and fades out before the
poles), so the picture is seamless at the wrap border and constant at the poles by
construction. The only exception is deliberate: below `styles.GEOMETRY_THRESHOLD` an
effective geometryEnforcement level adds the defects real AI skyboxes show (a partial
wrap seam over a band of rows, a pinched zenith, a kaleidoscope nadir) whose size grows
as the level falls, and img2img at a low strength heals them in an init image (`heal`).
That is a SIMULATION, there so the seam check and the repair loop can be tried offline;
it says nothing about how the real Skybox Flux.1 model behaves.

Speed: images 1024 wide and larger are computed at half size and upscaled with wrap-around
interpolation (the geometry defects are then drawn at full size); within that, smooth fields
(clouds, ground and water texture) are evaluated on a grid a quarter of the size; direction
grids are cached per size. A 2048x1024 image takes about 0.1-0.2 s on one core.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from .styles import GEOMETRY_THRESHOLD, Look, look_for

__all__ = [
    "Scene",
    "scene_from_prompt",
    "removed_elements",
    "effective_geometry",
    "render",
    "apply_geometry_defects",
    "heal",
    "encode_png",
    "DEFAULT_SIZE",
    "EMULATOR_NOTICE",
]

DEFAULT_SIZE = (2048, 1024)
EMULATOR_NOTICE = ("Procedural image from the skybox_nb OFFLINE EMULATOR; "
                   "not produced by Scenario's Skybox Flux.1 model.")

F32 = np.float32

# --------------------------------------------------------------------------- scene


@dataclass(frozen=True)
class Scene:
    """What the prompt asks for: the time of day, the ground, the weather."""

    time: str = "day"  # day | sunset | night | space
    ground: str = "terrain"  # terrain | water | city | none
    clouds: float = 0.5  # 0 (clear) .. 1 (overcast)
    hills_over_water: bool = False
    land: str = "grass"  # grass | sand | snow | forest: the colour of the terrain


_WORDS = {
    "space": r"space|galaxy|nebula|cosmos|cosmic|orbit|planet|asteroid|starfield",
    "night": r"night|midnight|moon|moonlit|starry|stars|nocturnal|dark sky|aurora",
    "sunset": r"sunset|sunrise|dusk|dawn|twilight|golden hour|evening",
    "city": r"city|cities|town|skyline|street|buildings?|skyscrapers?|urban|downtown|metropolis|cyberpunk",
    "water": r"ocean|sea|beach|lake|water|island|coast|harbou?r|river|bay|lagoon",
    "terrain": r"mountains?|hills?|desert|forest|valley|canyon|meadow|field|cliffs?|dunes?",
    "storm": r"storm|stormy|overcast|cloudy|rain|thunder|clouds",
    "clear": r"clear|cloudless|sunny",
    "sand": r"desert|dunes?|sand|sandy|canyon|mesa|savanna",
    "snow": r"snow|snowy|ice|icy|winter|arctic|glacier|frozen|tundra",
    "forest": r"forest|woods|woodland|jungle|pines?|trees",
}


def _has(key: str, text: str) -> bool:
    return re.search(r"\b(?:" + _WORDS[key] + r")\b", text) is not None


def scene_from_prompt(prompt: str, look: Look | None = None) -> Scene:
    """Pick the scene from words in ``prompt`` (and a style that forces one)."""
    text = prompt.lower()
    time = "day"
    if _has("sunset", text):
        time = "sunset"
    if _has("night", text):
        time = "night"
    if _has("space", text) or (look is not None and look.scene == "space"):
        time = "space"
    ground = "terrain"
    if _has("water", text):
        ground = "water"
    if _has("city", text):
        ground = "city"
    hills = ground == "water" and _has("terrain", text)
    clouds = 0.45
    if _has("storm", text):
        clouds = 0.85
    if _has("clear", text):
        clouds = 0.15
    if look is not None and look.scene == "skydome":
        clouds, ground = max(clouds, 0.8), "none"
    if time == "space":
        clouds, ground = 0.0, "none" if ground == "terrain" and not _has("terrain", text) else ground
    land = next((k for k in ("snow", "sand", "forest") if _has(k, text)), "grass")
    return Scene(time=time, ground=ground, clouds=clouds, hills_over_water=hills, land=land)


_NEGATIVE = {
    "clouds": r"clouds?|cloudy|fog|mist",
    "sun": r"sun|sunlight|sunshine",
    "moon": r"moon",
    "stars": r"stars?|starry",
    "city": r"city|cities|buildings?|skyscrapers?|skyline|town|urban",
    "terrain": r"mountains?|hills?|terrain|peaks?|cliffs?",
    "water": r"water|ocean|sea|lake|river",
}


def removed_elements(negative_prompt: str | None, strength: float | None) -> dict[str, float]:
    """How much of each element a negative prompt removes: 0 (kept) to 1 (gone).

    Nothing is removed while ``strength`` is 0, as the model documents; from 1 up the named
    elements are gone entirely, and between 0 and 1 they fade.
    """
    s = float(strength or 0.0)
    if not negative_prompt or s <= 0:
        return {}
    text = negative_prompt.lower()
    amount = min(1.0, s)
    return {k: amount for k, pat in _NEGATIVE.items() if re.search(r"\b(?:" + pat + r")\b", text)}


def effective_geometry(value: float | None, look: Look) -> float:
    """The level actually used: ``value``, or the style's default when it is 0 or unset."""
    return float(look.default_geometry if not value else value)


# --------------------------------------------------------------------------- grids


@dataclass(frozen=True)
class _Grid:
    lat: np.ndarray  # (H, 1) latitude of each row, +pi/2 at row 0
    lon: np.ndarray  # (1, W) longitude of each column, -pi .. pi
    coslat: np.ndarray  # (H, 1)
    sinlat: np.ndarray  # (H, 1)
    dirs: np.ndarray  # (3, h, w) unit directions of the low-resolution grid


def _centres(n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.float64) + 0.5) / n


@lru_cache(maxsize=8)
def _grid(width: int, height: int) -> _Grid:
    lat = (0.5 - _centres(height)) * math.pi
    lon = (_centres(width) - 0.5) * 2 * math.pi
    w, h = min(width, max(128, width // 4)), min(height, max(64, height // 4))
    llat = (0.5 - _centres(h)) * math.pi
    llon = (_centres(w) - 0.5) * 2 * math.pi
    cl = np.cos(llat)[:, None]
    dirs = np.stack([cl * np.cos(llon)[None, :], cl * np.sin(llon)[None, :],
                     np.broadcast_to(np.sin(llat)[:, None], (h, w))]).astype(F32)
    return _Grid(
        lat=lat[:, None].astype(F32), lon=lon[None, :].astype(F32),
        coslat=np.cos(lat)[:, None].astype(F32), sinlat=np.sin(lat)[:, None].astype(F32),
        dirs=dirs,
    )


def _upsample(field: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear upsampling of an (h, w) field to (height, width); wraps around in x.

    One wrapped column is added on each side and Pillow resamples the box of the original
    columns, so the filter reads across the seam exactly as it reads anywhere else.
    """
    h, w = field.shape
    padded = np.concatenate([field[:, -1:], field, field[:, :1]], axis=1)
    im = Image.fromarray(np.ascontiguousarray(padded, F32), mode="F")
    return np.asarray(im.resize((width, height), Image.BILINEAR, box=(1, 0, 1 + w, h)))


def _rows(g: _Grid, lo: float, hi: float) -> slice:
    """The rows whose latitude lies in [lo, hi] (row 0 is the north pole)."""
    lat = g.lat[:, 0]
    inside = np.nonzero((lat >= lo) & (lat <= hi))[0]
    if inside.size == 0:
        return slice(0, 0)
    return slice(int(inside[0]), int(inside[-1]) + 1)


def _blend(img: np.ndarray, rows: slice, colour: Any, t: np.ndarray) -> None:
    """In place: ``img[rows] += (colour - img[rows]) * t``; ``t`` broadcasts to the rows."""
    part = img[rows]
    diff = np.subtract(colour, part, dtype=F32)
    diff *= t
    part += diff


# --------------------------------------------------------------------------- noise


def _hash3(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    h = (ix.astype(np.uint32) * np.uint32(73856093)) ^ (iy.astype(np.uint32) * np.uint32(19349663))
    h ^= iz.astype(np.uint32) * np.uint32(83492791)
    h ^= np.uint32(seed & 0xFFFFFFFF)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x5BD1E995)
    h ^= h >> np.uint32(15)
    return (h & np.uint32(0xFFFFFF)).astype(F32) * F32(1.0 / 0xFFFFFF)


def _value_noise(p: np.ndarray, seed: int) -> np.ndarray:
    """Smooth 3D value noise in [0, 1] at points ``p`` of shape (3, ...)."""
    fl = np.floor(p)
    f = p - fl
    u = f * f * (3 - 2 * f)
    i = fl.astype(np.int32)
    out = np.zeros(p.shape[1:], F32)
    for dx in (0, 1):
        wx = u[0] if dx else 1 - u[0]
        for dy in (0, 1):
            wy = u[1] if dy else 1 - u[1]
            for dz in (0, 1):
                wz = u[2] if dz else 1 - u[2]
                out += wx * wy * wz * _hash3(i[0] + dx, i[1] + dy, i[2] + dz, seed)
    return out


def _fbm(dirs: np.ndarray, scale: float, octaves: int, seed: int,
         stretch: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Fractal noise in about [0, 1] on directions ``dirs`` (3, ...)."""
    p = dirs * np.array(stretch, F32).reshape((3,) + (1,) * (dirs.ndim - 1)) * F32(scale)
    total = np.zeros(dirs.shape[1:], F32)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        total += F32(amp) * _value_noise(p + F32(17.0 * o), seed + 101 * o)
        norm += amp
        amp *= 0.5
        p = p * F32(2.03)
    return total / F32(norm)


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0, 1)
    return t * t * (3 - 2 * t)


# --------------------------------------------------------------------------- palettes

_PALETTES = {  # zenith, horizon, cloud light, cloud shade, light colour
    "day": ((0.16, 0.38, 0.80), (0.68, 0.83, 0.97), (1.0, 1.0, 1.0), (0.62, 0.66, 0.74), (1.0, 0.97, 0.88)),
    "sunset": ((0.12, 0.14, 0.38), (1.0, 0.55, 0.25), (1.0, 0.72, 0.55), (0.42, 0.27, 0.35), (1.0, 0.75, 0.4)),
    "night": ((0.005, 0.01, 0.04), (0.04, 0.07, 0.16), (0.30, 0.33, 0.42), (0.07, 0.08, 0.12), (0.85, 0.9, 1.0)),
    "space": ((0.0, 0.0, 0.01), (0.01, 0.01, 0.03), (0.3, 0.3, 0.4), (0.05, 0.05, 0.1), (1.0, 0.95, 0.85)),
}


def _rgb(c: tuple[float, float, float]) -> np.ndarray:
    return np.array(c, F32)


def _seed_of(*parts: Any) -> int:
    digest = hashlib.sha256(repr(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


# --------------------------------------------------------------------------- render


def render(
    prompt: str,
    style: str | None = "cinematic",
    seed: int = 0,
    size: tuple[int, int] = DEFAULT_SIZE,
    steps: int = 30,
    geometry_enforcement: float | None = 0,
    negative_prompt: str | None = None,
    negative_strength: float | None = 0,
    init_image: np.ndarray | None = None,
    strength: float | None = 0.8,
) -> np.ndarray:
    """Render a ``size`` = (width, height) equirectangular sky; returns (H, W, 3) uint8.

    ``init_image`` (any size, RGB uint8) is blended in: the result keeps ``1 - strength``
    of it, as img2img's strength documents, after `heal` (its seams and pinches smoothed
    as a model repainting at its own scale would), and the level's defects shrink with
    the square of ``strength``. ``geometry_enforcement`` follows the model's
    convention (0 = the style's default level) and only matters below the threshold.
    Raises ``ValueError`` for a size below 8x4 or an unknown style.
    """
    out_w, out_h = int(size[0]), int(size[1])
    if out_w < 8 or out_h < 4:
        raise ValueError(f"size: got {size!r}; allowed: width >= 8 and height >= 4")
    # Large images: the sky is computed at half size and upscaled (with wrap-around), then
    # the geometry defects are drawn at full size, so the seam still sits on the border.
    width, height = (out_w // 2, out_h // 2) if out_w >= 1024 and out_h >= 512 else (out_w, out_h)
    look = look_for(style)
    scene = scene_from_prompt(prompt, look)
    gone = removed_elements(negative_prompt, negative_strength)
    keep = {k: 1.0 - gone.get(k, 0.0) for k in _NEGATIVE}
    base = _seed_of(prompt, style, int(seed), int(steps))
    rng = np.random.default_rng(base)
    nseed = int(base & 0x7FFFFFFF)
    g = _grid(width, height)
    octaves = max(2, 3 + (int(steps) - 20) // 10)  # more steps, finer detail

    zen, hor, cl_lit, cl_shade, light = (_rgb(c) for c in _PALETTES[scene.time])
    jitter = rng.uniform(-0.06, 0.06, 3).astype(F32)  # each prompt and seed its own mood
    zen, hor = np.clip(zen + jitter * 0.5, 0, 1), np.clip(hor + jitter, 0, 1)

    # The light: the sun by day and at sunset, the moon at night, a far sun in space.
    light_lon = rng.uniform(-math.pi, math.pi)
    light_lat = {"day": rng.uniform(0.5, 1.0), "sunset": rng.uniform(0.04, 0.14),
                 "night": rng.uniform(0.35, 0.8), "space": rng.uniform(-0.3, 0.6)}[scene.time]
    light = _Light(lat=light_lat, lon=light_lon, colour=light,
                   kind="moon" if scene.time == "night" else "sun")
    cos_ang = light.cosine(g)  # (H, W)

    # The sky gradient depends on latitude only.
    t = np.clip(g.lat / F32(math.pi / 2), 0, 1) ** F32(0.6)
    sky = hor + (zen - hor) * t[..., None]  # (H, 1, 3)
    img = np.empty((height, width, 3), F32)
    img[...] = sky

    # Smooth fields on the sphere, computed small and upsampled: clouds, texture, ripples.
    d = g.dirs
    cloud_f = _upsample(_fbm(d, 2.2, octaves, nseed + 1, stretch=(1.0, 1.0, 1.6)), width, height)
    ground_f = _upsample(_fbm(d, 6.0, octaves, nseed + 2), width, height)
    if scene.time == "space":
        neb = _smoothstep(0.45, 0.8, _upsample(_fbm(d, 1.6, octaves, nseed + 4), width, height))
        violet, blue = _rgb((0.55, 0.2, 0.75)), _rgb((0.2, 0.45, 0.9))
        neb_col = violet + (blue - violet) * neb[..., None]
        img += neb[..., None] * neb_col * F32(0.45)
    ripple_f = None
    if scene.ground == "water":
        ripple_f = _upsample(_fbm(d, 9.0, max(2, octaves - 1), nseed + 3, stretch=(0.5, 0.5, 4.0)),
                             width, height)

    light_keep = keep[light.kind]
    _draw_light(img, g, light, cos_ang, look.glow * light_keep, light_keep, ground_f)

    if scene.time in ("night", "space") and keep["stars"] > 0:
        _draw_stars(img, rng, 2500 if scene.time == "night" else 5000, keep["stars"])

    # Clouds: 3D noise thresholded by the weather, thinning out at the horizon line.
    amount = scene.clouds * keep["clouds"]
    if amount > 0:
        r = _rows(g, -0.02, 10.0)
        thresh = 0.78 - 0.42 * amount
        dens = _smoothstep(thresh, thresh + 0.22, cloud_f[r]) * F32(min(1.0, 0.35 + amount))
        dens *= _smoothstep(-0.02, 0.12, g.lat[r])
        lit = np.clip(F32(0.5) + F32(0.5) * cos_ang[r], 0, 1)[..., None]
        ccol = cl_shade + (cl_lit - cl_shade) * lit
        ccol *= (F32(0.85) + F32(0.3) * ground_f[r])[..., None]
        _blend(img, r, ccol, dens[..., None])

    _draw_ground(img, scene, keep, look, g, rng, ground_f, ripple_f, hor, light, light_keep)

    if init_image is not None:
        st = F32(0.8 if strength is None else strength)
        init = heal(_resize_rgb(init_image, width, height), float(st))
        np.clip(img, 0, 1, out=img)
        img *= st
        img += init * (1 - st)

    _settle_poles(img)
    img = _grade(np.clip(img, 0, 1), look, g, rng)
    img *= 255
    img += 0.5
    pixels = np.clip(img, 0, 255).astype(np.uint8)
    if (width, height) != (out_w, out_h):
        pixels = _upscale(pixels, out_w, out_h)
    level = effective_geometry(geometry_enforcement, look)
    if init_image is not None:
        # Img2img changes ``strength`` of the image: the model's own geometry errors are
        # much smaller at a low strength (the level's shortfall scaled by its square).
        level = GEOMETRY_THRESHOLD - (GEOMETRY_THRESHOLD - level) * float(st) ** 2
    return apply_geometry_defects(pixels, level, rng)


def _upscale(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of an (h, w, 3) uint8 panorama that wraps around in x."""
    h, w = pixels.shape[:2]
    padded = np.concatenate([pixels[:, -1:], pixels, pixels[:, :1]], axis=1)
    im = Image.fromarray(padded).resize((width, height), Image.BILINEAR, box=(1, 0, 1 + w, h))
    return np.array(im)


@dataclass(frozen=True)
class _Light:
    lat: float
    lon: float
    colour: np.ndarray
    kind: str  # sun | moon

    def cosine(self, g: _Grid, mirrored: bool = False) -> np.ndarray:
        """Cosine of the angle between each pixel's direction and the light (or its
        reflection in a flat horizon when ``mirrored``)."""
        sl = F32(math.sin(self.lat) * (-1 if mirrored else 1))
        return (g.coslat * F32(math.cos(self.lat))) * np.cos(g.lon - F32(self.lon)) + g.sinlat * sl


def _draw_light(img, g, light, cos_ang, glow_w, disc_w, texture) -> None:
    """The glow and the disc of the sun or moon, only on the rows they can reach."""
    if glow_w <= 0 and disc_w <= 0:
        return
    reach = 0.85  # the glow is below 1/500 beyond ~47 degrees
    r = _rows(g, light.lat - reach, light.lat + reach)
    if light.lat + reach > math.pi / 2 or light.lat - reach < -math.pi / 2:
        r = slice(0, img.shape[0]) if light.lat - reach < -math.pi / 2 else slice(0, r.stop)
    c = cos_ang[r]
    strength = glow_w * (1.0 if light.kind == "sun" else 0.35)
    glow = np.exp((c - 1) * F32(18.0)) * F32(0.55) + np.exp((c - 1) * F32(400.0))
    img[r] += (glow * F32(strength))[..., None] * light.colour
    radius = 0.035 if light.kind == "sun" else 0.028
    disc = _smoothstep(math.cos(radius * 1.15), math.cos(radius), c) * F32(disc_w)
    if light.kind == "moon":
        disc *= F32(0.8) + F32(0.2) * texture[r]  # a few "craters"
    _blend(img, r, light.colour * F32(1.3), disc[..., None])


def _draw_stars(img: np.ndarray, rng: np.random.Generator, n: int, amount: float) -> None:
    """Points at random directions, away from the poles; a small image shows only the
    first of them (about one star per 800 pixels), so it does not turn to snow."""
    height, width = img.shape[:2]
    z = rng.uniform(-0.99, 0.99, n)
    phi = rng.uniform(-math.pi, math.pi, n)
    bright = rng.uniform(0.3, 1.0, n).astype(F32) ** 2 * F32(amount)
    k = max(1, min(n, width * height // 800))
    z, phi, bright = z[:k], phi[:k], bright[:k]
    rows = np.clip(((0.5 - np.arcsin(z) / math.pi) * height).astype(int), 0, height - 1)
    cols = np.clip(((phi / (2 * math.pi) + 0.5) * width).astype(int), 0, width - 1)
    img[rows, cols] += bright[:, None] * _rgb((0.9, 0.92, 1.0))


def _periodic_profile(lon: np.ndarray, rng: np.random.Generator, terms: int,
                      base: float, amp: float, rough: float = 1.1) -> np.ndarray:
    """A horizon height (radians) over longitude: integer frequencies, so it wraps.
    A smaller ``rough`` keeps more of the high frequencies (a more jagged line)."""
    k = np.arange(1, terms + 1, dtype=F32)
    a = (rng.uniform(0.4, 1.0, terms) / k ** F32(rough)).astype(F32)
    ph = rng.uniform(0, 2 * math.pi, terms).astype(F32)
    prof = (a[:, None] * np.sin(k[:, None] * lon + ph[:, None])).sum(0)
    prof = (prof - prof.min()) / max(float(np.ptp(prof)), 1e-6)
    return (F32(base) + F32(amp) * prof)[None, :]  # (1, W)


_LANDS = {"grass": (0.30, 0.36, 0.20), "sand": (0.74, 0.60, 0.38),
          "snow": (0.86, 0.88, 0.93), "forest": (0.17, 0.32, 0.15)}


def _draw_ground(img, scene, keep, look, g, rng, ground_f, ripple_f, hor, light, light_keep):
    """Below and along the horizon: terrain, water or a city (a haze floor in a skydome)."""
    dark = {"day": 1.0, "sunset": 0.55, "night": 0.3, "space": 0.25}[scene.time]
    below = _rows(g, -10.0, 0.004)
    fade = _smoothstep(0.004, -0.004, g.lat[below])[..., None]  # (rows, 1, 1)
    if scene.ground == "none":
        if scene.time != "space":  # a skydome: a soft floor of haze reads as a floor
            floor = _smoothstep(0.0, -0.5, g.lat[below])[..., None]
            _blend(img, below, hor * F32(0.8 * dark), floor)
        return

    colour = {"water": (0.55, 0.50, 0.38), "city": (0.22, 0.22, 0.24)}.get(
        scene.ground, _LANDS[scene.land])
    base = _rgb(colour) * F32(dark)
    ground = base * (F32(0.7) + F32(0.6) * ground_f[below])[..., None]
    if scene.ground == "water" and keep["water"] > 0:
        # Mirror the sky by latitude, ripple it, add the light's glitter path.
        lat = g.lat[below]
        mirror = np.clip(-lat / F32(math.pi / 2), 0, 1)[..., None] ** F32(0.5)
        deep = hor * F32(0.35) + _rgb((0.0, 0.05, 0.12))
        water = (hor + (deep - hor) * mirror) * F32(0.8)
        water = water * (F32(0.85) + F32(0.3) * ripple_f[below])[..., None]
        if light_keep > 0:
            refl = light.cosine(g, mirrored=True)[below]
            glint = np.exp((refl - 1) * F32(30.0)) * _smoothstep(0.45, 0.75, ripple_f[below])
            water += (glint * F32(0.9 * light_keep))[..., None] * light.colour
        ground += (water - ground) * F32(keep["water"])
    _blend(img, below, ground, fade)

    if (scene.ground == "terrain" or scene.hills_over_water) and keep["terrain"] > 0:
        hscale = keep["terrain"] * (0.35 if scene.hills_over_water else 1.0)
        for layer, (b, a, shade) in enumerate(((0.03, 0.22, 0.55), (0.0, 0.12, 0.85))):
            prof = _periodic_profile(g.lon, rng, 24, b * hscale, a * hscale)
            r = _rows(g, -0.01, float(prof.max()) + 0.01)
            mask = _smoothstep(0.003, -0.003, g.lat[r] - prof)
            haze = F32(shade) * (F32(0.6) + F32(0.4) * ground_f[r])[..., None]
            col = hor * F32(0.9) + (base * haze - hor * F32(0.9)) * F32(0.55 + 0.35 * layer)
            _blend(img, r, col, mask[..., None])
        if scene.land == "forest":  # a ragged tree line in front of the hills
            prof = _periodic_profile(g.lon, rng, 160, 0.004 * hscale, 0.05 * hscale, rough=0.35)
            r = _rows(g, -0.01, float(prof.max()) + 0.01)
            mask = _smoothstep(0.002, -0.002, g.lat[r] - prof)
            _blend(img, r, base * F32(0.55), mask[..., None])

    if scene.ground == "city" and keep["city"] > 0:
        _draw_city(img, keep["city"], look, g, rng, scene, dark)


def _draw_city(img, amount, look, g, rng, scene, dark) -> None:
    """A skyline of buildings around the horizon, windows lit at night or in neon."""
    n = 96
    heights = (rng.uniform(0.02, 0.16, n) * rng.choice([1.0, 1.0, 1.6, 2.4], n) * amount).astype(F32)
    u = (g.lon / F32(2 * math.pi) + F32(0.5)) * F32(n)  # (1, W) building coordinate
    h = heights[np.minimum(u.astype(int), n - 1)]  # (1, W)
    lit = scene.time in ("night", "sunset") or look.neon
    if lit:  # the city's light on the haze above it, so the skyline stands out at night
        haze = _rows(g, 0.0, 0.5)
        glow = np.exp(-g.lat[haze] / F32(0.15)) * F32(0.6 * amount)
        tone = _rgb((0.9, 0.25, 0.8)) if look.neon else _rgb((0.9, 0.55, 0.3))
        img[haze] += (glow * tone)[:, None, :]
    r = _rows(g, -0.002, float(heights.max()) + 0.01)
    lat = g.lat[r]
    inside = (lat < h) & (lat > -0.002)
    part = img[r]
    part[inside] = _rgb((0.12, 0.12, 0.15)) * F32(max(dark, 0.35))
    if lit:
        wx = (u * F32(5.0)) % F32(1.0)
        wy = (lat * F32(260.0)) % F32(1.0)
        cell = _hash3(np.floor(u * 5).astype(np.int32), np.floor(lat * 260).astype(np.int32),
                      np.zeros((1, 1), np.int32), 7)
        window = (wx > 0.3) & (wx < 0.75) & (wy > 0.35) & (cell > 0.55) & inside
        if look.neon:
            cyan = window & (cell > 0.78)
            part[window & ~cyan] = _rgb((1.0, 0.2, 0.85))
            part[cyan] = _rgb((0.1, 0.95, 1.0))
        else:
            part[window] = _rgb((1.0, 0.85, 0.5))


def _settle_poles(img: np.ndarray) -> None:
    """In place: ease the rows nearest each pole towards their mean (fully at the pole row).

    A pole row is one point of the sphere; small leftovers along it (noise sampled on a
    tiny ring) would otherwise be magnified by posterisation into visible steps.
    """
    cap = max(1, round(img.shape[0] * 0.02))
    w = ((1 - np.arange(cap, dtype=F32) / F32(cap)) ** 2)[:, None, None]
    for rows in (slice(0, cap), slice(img.shape[0] - 1, img.shape[0] - 1 - cap, -1)):
        part = img[rows]
        part += (part.mean(axis=1, keepdims=True) - part) * w


def _resize_rgb(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim == 2:
        a = np.stack([a] * 3, -1)
    im = Image.fromarray(a[..., :3].astype(np.uint8)).resize((width, height), Image.BILINEAR)
    return np.asarray(im, F32) / F32(255)


def _hue_matrix(degrees: float, saturation: float) -> np.ndarray:
    """A 3x3 RGB matrix rotating hue about the grey axis and scaling saturation."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    grey = np.full((3, 3), 1 / 3)
    k = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / math.sqrt(3)
    rot = grey + c * (np.eye(3) - grey) + s * k
    return (grey + saturation * (rot - grey)).astype(F32)


def _grade(img: np.ndarray, look: Look, g: _Grid, rng: np.random.Generator) -> np.ndarray:
    """Apply the style: colour matrix, contrast, posterisation, outlines, grain."""
    tint = np.array(look.tint, F32)
    if look.mono:  # grade the luminance alone; the tint is the paper's colour, added last
        img = (img @ np.array([0.299, 0.587, 0.114], F32))[..., None]
        # Ink on paper uses the whole range whatever the light: stretch 2%..98% to 0..1.
        lo, hi = np.percentile(img[::7, ::7], [2, 98])
        img = (img - F32(lo)) / F32(max(hi - lo, 0.05))
        img = (img - F32(0.5)) * F32(look.contrast) + F32(0.5 + look.lift)
    else:  # colour, contrast and lift in one matrix product and one addition
        m = _hue_matrix(look.hue, look.saturation) * tint[:, None] * F32(look.contrast)
        img = img @ m.T
        img += F32(0.5 + look.lift) - F32(0.5 * look.contrast) * m.sum(axis=1)
    np.clip(img, 0, 1, out=img)
    if look.outline > 0:
        y = img.mean(axis=2) if img.shape[2] > 1 else img[..., 0]
        gx = np.abs(y - np.roll(y, 1, axis=1))  # wraps: the seam is treated like any column
        gy = np.zeros_like(y)
        gy[1:] = np.abs(y[1:] - y[:-1])
        edge = _smoothstep(0.04, 0.12, gx + gy)
        img = img * (1 - F32(look.outline) * edge)[..., None]
    if look.posterize:
        q = F32(look.posterize - 1)
        img = np.floor(img * q + F32(0.5)) / q
    if look.grain:
        # Fade the grain towards the poles, where a row of pixels is a single point.
        noise = rng.random((img.shape[0], img.shape[1]), dtype=F32) - F32(0.5)
        img = img + (noise * g.coslat * F32(2 * look.grain))[..., None]
    if look.mono:
        img = img * tint
    return img


# The share of the width right of the border over which a simulated wrap seam drifts.
SEAM_ZONE = 0.25


def apply_geometry_defects(pixels: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """Simulate weak geometry enforcement on an (H, W, 3) uint8 image, in place; returns it.

    With severity ``s = (GEOMETRY_THRESHOLD - level) / GEOMETRY_THRESHOLD`` (nothing when
    ``s <= 0``) it draws the kinds real AI skyboxes show (`../shared/realpanos-dev`):

    * a PARTIAL wrap seam: over a band of rows covering ``0.2 + 0.8 * s**2`` of the
      height (at a place the seed picks; eased in over its outer 15% rows and fading out
      from 60 degrees of latitude to the poles), the picture
      DRIFTS over the quarter turn right of the border (`SEAM_ZONE` of the width, eased
      with a smoothstep): up to ``0.05 * s * H`` rows down and ``0.08 + 0.16 * s`` in
      brightness (away from mid-grey, a little tinted), both full at column 0 and nothing
      from the zone's end on. Each side is a smooth picture, as a model's is; they fail to
      meet only between columns W-1 and 0 (a brightness step and a horizon that jumps);
    * a PINCH at the zenith: the top ``round(0.1 * s * H)`` rows are painted with rows
      from the horizon at their own horizontal scale (as a model that treats the cap like
      any other rows does), so on the sphere their features converge into a star;
    * a KALEIDOSCOPE at the nadir: the bottom rows likewise, one wedge of 90 degrees
      mirrored into the other three.

    Both caps blend in with weight ``(1 - row / rows) ** 1.5 * min(1, 0.4 + s) *
    min(1, s / 0.2)``, strongest at the pole row.
    """
    s = (GEOMETRY_THRESHOLD - float(level)) / GEOMETRY_THRESHOLD
    if s <= 0:
        return pixels
    h, w = pixels.shape[:2]
    # The wrap seam: a drift over a band of rows, eased in across and along it (an earlier
    # version tinted a 4%-wide stripe at the border: a coloured bar no real model draws,
    # which no blend of the two sides could remove). The caps below copy horizon rows
    # with it, as a model's cap repeats what is beside it.
    zone = max(8, round(SEAM_ZONE * w))
    span = max(2, round(min(1.0, 0.2 + 0.8 * s * s) * h))
    top = int(rng.integers(0, max(1, h - span) + 1)) if span < h else 0
    colour = rng.uniform(0.7, 1.0, 3).astype(F32)
    t = 1 - np.arange(zone, dtype=F32) / F32(zone)
    along = t * t * (3 - 2 * t)  # 1 at column 0, 0 (flat) at the zone's end
    y = np.arange(span, dtype=F32) + F32(0.5)
    a = np.clip(np.minimum(y, F32(span) - y) / F32(max(1.0, 0.15 * span)), 0, 1)
    # ... and fading out from 60 degrees to the poles: a pole row is one point, which the
    # drift would make non-uniform (a pole defect of its own).
    lat = (0.5 - (np.arange(top, top + span, dtype=F32) + F32(0.5)) / F32(h)) * F32(math.pi)
    across = a * a * (3 - 2 * a) * np.minimum(1, 2 * np.cos(lat))
    amount = across[:, None] * along[None, :]  # (span, zone)
    src = pixels[:, :zone].astype(F32) / F32(255)
    # Each column's rows moved down by a fraction of a row: linear between the two rows
    # around the source row (edges repeated).
    ys = np.clip(np.arange(top, top + span, dtype=F32)[:, None] - F32(0.05 * s * h) * amount,
                 0, h - 1)
    y0 = np.floor(ys).astype(np.intp)
    y1 = np.minimum(y0 + 1, h - 1)
    f = (ys - y0)[..., None]
    cols = np.arange(zone)[None, :]
    moved = src[y0, cols] * (1 - f) + src[y1, cols] * f
    sign = F32(-1.0 if float(moved.mean()) > 0.5 else 1.0)  # away from mid-grey
    moved += sign * F32(0.08 + 0.16 * s) * colour * amount[..., None]
    pixels[top:top + span, :zone] = _to_u8(moved)
    # The poles: content from the horizon at its own scale, pinched into the caps.
    ph = max(2, round(0.1 * s * h))
    # (Below s = 0.2 the caps fade out with s: a refine's faint shortfall left 40% of a
    # horizon row, drifting in brightness, on a pole row that is one point.)
    weight = ((1 - np.arange(ph, dtype=F32) / F32(ph)) ** 1.5
              * F32(min(1.0, 0.4 + s) * min(1.0, s / 0.2)))[:, None, None]
    mid = h // 2 - ph // 2
    horizon = pixels[mid:mid + ph].astype(F32) / F32(255)
    wedge = max(1, w // 8)  # a 4-fold kaleidoscope: 45 degrees mirrored into 360
    j = np.arange(w) % (2 * wedge)
    mirrored = horizon[:, np.where(j < wedge, j, 2 * wedge - 1 - j)]
    cap = pixels[:ph].astype(F32) / F32(255)
    pixels[:ph] = _to_u8(cap * (1 - weight) + horizon[::-1] * weight)
    bottom = pixels[h - ph:][::-1].astype(F32) / F32(255)
    pixels[h - ph:] = _to_u8((bottom * (1 - weight) + mirrored * weight)[::-1])
    return pixels


def heal(init: np.ndarray, strength: float) -> np.ndarray:
    """What img2img at ``strength`` does to an init image's geometry, simulated on an
    (H, W, 3) float image: each row is averaged over a window of the same arc on the
    sphere (``strength * W / 6`` pixels at the equator, wider by 1/cos(latitude)
    towards the poles, wrapping around), as a model repainting at its own scale does.
    A seam's step becomes a ramp and a pinch's converging rows a smooth cap, while the
    rest keeps its shape (the caller adds the new render at ``strength``). Returns a
    new array."""
    h, w = init.shape[:2]
    if strength <= 0:
        return init.copy()
    lat = (0.5 - (np.arange(h) + 0.5) / h) * np.pi
    half = np.minimum(w // 2 - 1, np.round(strength * w / 12 / np.maximum(np.cos(lat), 1e-3)))
    half = half.astype(int)
    pad = int(half.max())
    if pad < 1:
        return init.copy()
    padded = np.concatenate([init[:, -pad:], init, init[:, :pad]], axis=1)
    c = np.concatenate([np.zeros((h, 1, init.shape[2]), np.float64),
                        np.cumsum(padded, axis=1, dtype=np.float64)], axis=1)
    out = np.empty_like(init)
    cols = np.arange(w) + pad
    for y in range(h):
        k = half[y]
        out[y] = (c[y, cols + k + 1] - c[y, cols - k]) / (2 * k + 1)
    return out.astype(init.dtype)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(x * F32(255) + F32(0.5), 0, 255).astype(np.uint8)


def encode_png(pixels: np.ndarray, info: dict[str, str] | None = None) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 image, with text chunks saying it is emulated.

    Written directly (the "Sub" filter computed with numpy, zlib level 1, RLE): about three
    times faster than Pillow's encoder on a 2048x1024 sky, at a similar size, and zlib
    releases the GIL, so several images encode in parallel.
    """
    h, w, c = pixels.shape
    if c != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"pixels: got shape {pixels.shape} {pixels.dtype}; allowed: (H, W, 3) uint8")
    rows = np.ascontiguousarray(pixels).reshape(h, w * 3)
    raw = np.empty((h, w * 3 + 1), np.uint8)
    raw[:, 0] = 1  # filter type Sub: each byte minus the same channel of the pixel to its left
    raw[:, 1:4] = rows[:, :3]
    np.subtract(rows[:, 3:], rows[:, :-3], out=raw[:, 4:])
    text = {"Software": "skybox_nb offline emulator", "Comment": EMULATOR_NOTICE, **(info or {})}
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))]
    chunks += [_chunk(b"tEXt", k.encode("latin-1", "replace")[:79] + b"\0"
                      + str(v).encode("latin-1", "replace")) for k, v in text.items()]
    # Run-length matching suits filtered image rows: smaller and faster than the default.
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    idat = deflate.compress(raw.tobytes()) + deflate.flush()
    chunks += [_chunk(b"IDAT", idat), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
