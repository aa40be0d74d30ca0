"""Texture for a large disc around the zenith: a random field with the spectrum, colours
and value distribution of the sky just outside the disc (asymptotic discrete spot noise,
Galerne, Gousseau and Morel 2011), so a mended zenith shows clouds, not a haze.

Invariant: nothing is copied, and nothing comes from the disc. Each exemplar (a square of
the surroundings' detail just outside the disc, on the face the disc is filled in, its
corner pixels that reach into the disc left out) only lends its power spectrum: white
noise filtered by it has the exemplar's autocorrelation and random phases, so no object
of the surroundings (a lamp, a beam, a wardrobe) can reappear in the disc. Every exemplar
filters the same noise, so their syntheses differ only in texture and are mixed by
azimuth without seams; the mix's values are then mapped onto the exemplars' own
distribution (a sky's bright clouds on darker blue are skewed, a Gaussian field is not),
along the colour axis the surroundings vary on, so no colour appears that is not there.
The same inputs and seed give the same texture.

Spot noise suits stochastic textures (clouds, haze, smooth gradients); on a scene of
objects (a floor beside a bed, machinery) its field reads as grime, which is why
`repair` uses it only for the zenith's large discs (see `repair.SPOT_DISC_DEG`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["spot_texture"]

_CANDIDATES = 16  # exemplar squares around the disc; the quieter half lends its spectrum
_GRID = 1024  # the synthesis grid's largest side (a larger face is synthesised coarser)
_AZIMUTH_SPREAD = 1.0  # radians: how far round the disc an exemplar's texture reaches


def spot_texture(face: np.ndarray, radius: float, seed: int = 0) -> np.ndarray:
    """(size, size, C) float32 texture for the disc of ``radius`` pixels at the centre of
    ``face`` (a (size, size, C) float32 view straight up): the detail (the face minus a
    Gaussian blur of a sixth of the radius) synthesised by spot noise from the quieter
    half (ties included) of 16 squares just outside the disc (their pixels inside it left
    out), with their distribution of values along the surroundings' main colour axis.
    Zero beyond the disc's bounding square (and a margin of 3 pixels); to be added to a
    smooth fill of the disc."""
    size, _, C = face.shape
    out = np.zeros_like(face)
    c = (size - 1) / 2
    band = max(3.0, radius / 6)
    detail = face - cv2.GaussianBlur(face, (0, 0), band).reshape(face.shape)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - np.float32(c)
    r = np.hypot(xx, yy)
    ring = (r > 1.02 * radius) & (r < 1.6 * radius)
    if not ring.any() or radius < 4:
        return out
    axis = _colour_axis(detail[ring])
    scalar = np.ascontiguousarray(detail @ axis)
    # Exemplar squares: as large as the ring allows, centred beyond the disc's rim.
    side = int(max(8, min(0.6 * radius, 0.9 * (size / 2 - radius))))
    centre = min(1.1 * radius + side / 2 * math.sqrt(2), size / 2 - side / 2 - 1)
    cands = []
    for k in range(_CANDIDATES):
        a = 2 * math.pi * (k + 0.5) / _CANDIDATES
        x0 = int(min(max(0, round(c + centre * math.cos(a) - side / 2)), size - side))
        y0 = int(min(max(0, round(c + centre * math.sin(a) - side / 2)), size - side))
        ex = scalar[y0:y0 + side, x0:x0 + side]
        # A large disc's squares reach into it at their inner corners: the artefact's
        # pixels there lend nothing (set to the square's mean, left out of its values).
        ring_part = r[y0:y0 + side, x0:x0 + side] > 1.02 * radius
        own = ex[ring_part]
        if own.size == 0:
            continue
        ex = np.where(ring_part, ex, np.float32(own.mean()))
        cands.append((float(own.std()), a, ex, own))
    if not cands:
        return out
    quiet = float(np.median([s for s, *_ in cands]))
    # The quieter half: a square holding an object's edge lends it as a streak.
    chosen = [(a, ex, own) for s, a, ex, own in cands if s <= quiet]
    values = np.sort(np.concatenate([own for *_, own in chosen]))

    # The synthesis grid covers the disc's bounding square, coarser when that is large.
    lo, hi = max(0, int(c - radius) - 2), min(size, int(math.ceil(c + radius)) + 3)
    n = hi - lo
    q = max(1.0, (n + side) / _GRID)
    m = int(math.ceil(n / q))
    ex_side = max(4, int(round(side / q)))
    grid = cv2.getOptimalDFTSize(m + ex_side)
    noise = np.random.default_rng(seed).standard_normal((grid, grid)).astype(np.float32)
    spectrum = np.fft.rfft2(noise)
    window = np.outer(np.hanning(ex_side), np.hanning(ex_side)).astype(np.float32)
    norm = math.sqrt(float((window ** 2).sum()))
    gy, gx = np.mgrid[0:m, 0:m].astype(np.float32)
    az = np.arctan2((gy + 0.5) * q + lo - 0.5 - c, (gx + 0.5) * q + lo - 0.5 - c)
    mix = np.zeros((m, m), np.float32)
    weights = np.zeros((m, m), np.float32)
    for a, ex, _ in chosen:
        if q > 1:
            ex = cv2.resize(ex, (ex_side, ex_side), interpolation=cv2.INTER_AREA)
        kernel = (ex - ex.mean()) * window
        field = np.fft.irfft2(spectrum * np.fft.rfft2(kernel, s=(grid, grid)),
                              s=(grid, grid))[:m, :m].astype(np.float32) / np.float32(norm)
        turn = np.angle(np.exp(1j * (az - a)))
        w = np.exp(-(turn / _AZIMUTH_SPREAD) ** 2).astype(np.float32)
        mix += field * w
        weights += w * w
    mix /= np.sqrt(weights + np.float32(1e-6))
    if q > 1:
        mix = cv2.resize(mix, (n, n), interpolation=cv2.INTER_LINEAR)
    # Each value replaced by the exemplars' value of the same rank: their distribution.
    flat = mix.ravel()
    rank = np.empty(flat.size, np.int64)
    rank[np.argsort(flat, kind="stable")] = np.arange(flat.size)
    mix = values[rank * values.size // flat.size].reshape(mix.shape).astype(np.float32)
    out[lo:hi, lo:hi] = mix[..., None] * axis[None, None, :]
    return out


def _colour_axis(samples: np.ndarray) -> np.ndarray:
    """The unit colour vector (C,) the (N, C) detail ``samples`` vary most along (their
    first principal axis), pointing towards brighter; (1,) for one channel."""
    C = samples.shape[1]
    if C == 1:
        return np.ones(1, np.float32)
    _, vectors = np.linalg.eigh(np.cov(samples.astype(np.float64).T))
    v = vectors[:, -1]
    return (v if v.sum() >= 0 else -v).astype(np.float32)
