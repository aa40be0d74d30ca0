"""A clear-sky panorama with a sun, for the HDR and lighting tests (made, not loaded)."""

from __future__ import annotations

import math

import numpy as np


def sunny_sky(width: int = 512, sun_yaw: float = 60.0, sun_pitch: float = 30.0,
              sun_radius: float = 3.0, sun: bool = True) -> np.ndarray:
    """uint8 (W/2, W, 3): a blue gradient sky, a brown striped ground, and (when ``sun``)
    a clipped white disc of ``sun_radius`` degrees with a glow, at (yaw, pitch)."""
    h = width // 2
    lat = (0.5 - (np.arange(h) + 0.5) / h) * math.pi
    lon = ((np.arange(width) + 0.5) / width * 2 - 1) * math.pi
    lon_g, lat_g = np.meshgrid(lon, lat)
    d = np.stack([np.cos(lat_g) * np.sin(lon_g), np.sin(lat_g),
                  np.cos(lat_g) * np.cos(lon_g)], -1)
    sy, sp = math.radians(sun_yaw), math.radians(sun_pitch)
    s = np.array([math.cos(sp) * math.sin(sy), math.sin(sp), math.cos(sp) * math.cos(sy)])
    ang = np.degrees(np.arccos(np.clip(d @ s, -1, 1)))
    up = np.clip(d[..., 1], 0, 1)[..., None]
    sky = np.array([0.35, 0.55, 0.85]) * (1 - up) + np.array([0.15, 0.3, 0.7]) * up
    ground = np.array([0.35, 0.3, 0.22]) * (1 + 0.1 * np.sin(lon_g * 7)[..., None])
    img = np.where(d[..., 1:2] > 0, sky, ground)
    if sun:
        img = img + np.exp(-(ang / 8) ** 2)[..., None] * 0.5
        img = np.where((ang < sun_radius)[..., None], 1.0, img)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    """``n`` random unit vectors (n, 3)."""
    v = np.random.default_rng(seed).normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)
