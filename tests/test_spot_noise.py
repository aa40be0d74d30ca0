"""The zenith's spot-noise texture: a large disc in a sky gets clouds with the sky's own
spectrum, colours and value distribution, nothing of the surroundings is copied in, and
nadirs keep the fine grain (spot noise reads as grime on a floor of objects)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import skybox_nb.repair as repair_mod
from skybox_nb.cubemap import perspective
from skybox_nb.repair import SPOT_DISC_DEG, disc_degrees, repair
from skybox_nb.spot_noise import spot_texture

from synthetic import clouds, radial_streaks, render

W, H = 1024, 512


@pytest.fixture(scope="module")
def sky() -> np.ndarray:
    return render(clouds, W, H)


def _face(img: np.ndarray, size: int = 384, fov: float = 110.0) -> tuple[np.ndarray, float]:
    """The view straight up of ``img`` and its focal length in pixels."""
    face = perspective(img, pitch=90.0, fov=fov, size=(size, size)).astype(np.float32)
    return face, size / 2 / math.tan(math.radians(fov / 2))


def _radius_map(size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    return np.hypot(xx, yy)


def _mid_scale(img: np.ndarray, lo: float, hi: float, north: bool = True) -> float:
    """RMS mid-scale detail (a difference of Gaussians, sigma 1 and 8 view pixels) of the
    100-degree view straight up or down, between ``lo`` and ``hi`` degrees from the pole."""
    n = 256
    v = perspective(img, pitch=90.0 if north else -90.0, fov=100.0, size=(n, n))
    v = v.astype(np.float32).mean(axis=2)
    d = cv2.GaussianBlur(v, (0, 0), 1.0) - cv2.GaussianBlur(v, (0, 0), 8.0)
    deg = np.degrees(np.arctan(_radius_map(n) / (n / 2 / math.tan(math.radians(50.0)))))
    sel = (deg >= lo) & (deg < hi)
    return float(np.sqrt(np.mean(d[sel] ** 2)))


def test_the_texture_has_the_skys_contrast_colours_and_skew(sky):
    face, f = _face(sky)
    radius = f * math.tan(math.radians(30.0))
    tex = spot_texture(face, radius)
    r = _radius_map(face.shape[0])
    disc, ring = r < radius, (r > 1.05 * radius) & (r < 1.5 * radius)
    detail = face - cv2.GaussianBlur(face, (0, 0), radius / 6)
    own, made = detail[ring], tex[disc]
    # contrast within a factor 1.5 of the sky's (the quieter exemplars lend it)
    ratio = made.std() / own.std()
    assert 0.45 < ratio < 1.5, ratio
    # skewed as clouds are: bright excursions larger than dark ones, as around it
    lum = made.mean(axis=1)
    assert np.percentile(lum, 99) > -1.2 * np.percentile(lum, 1), np.percentile(lum, [1, 99])
    # colours only along the sky's own axis (pink-blue): red and blue move against
    # green's smaller share the way they do around the disc, never in a new direction
    axis = np.linalg.svd(own - own.mean(axis=0), full_matrices=False)[2][0]
    off = made - np.outer(made @ axis, axis)
    assert np.sqrt((off ** 2).sum(axis=1)).max() < 1e-3 * max(1.0, np.abs(made).max())
    # nothing outside the disc's bounding square, and the same texture again
    c = (face.shape[0] - 1) / 2
    lo, hi = int(c - radius) - 3, int(c + radius) + 4
    assert not tex[:lo].any() and not tex[hi:].any()
    assert not tex[:, :lo].any() and not tex[:, hi:].any()
    assert np.array_equal(tex, spot_texture(face, radius))


def test_an_object_beside_the_disc_is_not_copied_into_it(sky):
    face, f = _face(sky)
    radius = f * math.tan(math.radians(30.0))
    size = face.shape[0]
    c = (size - 1) / 2
    # a lamp: a small bright square just outside the disc, far brighter than any cloud
    x0 = int(c + 1.25 * radius)
    lit = face.copy()
    lit[int(c) - 6:int(c) + 6, x0:x0 + 12] = 255.0
    tex = spot_texture(lit, radius)
    detail = face - cv2.GaussianBlur(face, (0, 0), radius / 6)
    disc = _radius_map(size) < radius
    # what the disc gets is within the sky's own range, not the lamp's
    assert tex[disc].max() <= detail[_radius_map(size) < 1.6 * radius].max() + 1.0
    assert tex[disc].max() < 100.0


def test_a_large_zenith_disc_in_a_sky_gets_clouds_not_a_haze(sky, monkeypatch):
    bad = radial_streaks(sky, north=True, cap_deg=36.0, amount=40.0)
    r = repair(bad, wrap=False)
    pole = r.before.poles.north
    assert not pole.ok and disc_degrees(pole) >= SPOT_DISC_DEG
    assert r.after.poles.ok, r.after.defects
    assert any("spot noise" in s for s in r.steps), r.steps
    assert np.array_equal(r.panorama.array[~r.mask], bad[~r.mask])
    spot = _mid_scale(r.panorama.array, 5.0, 30.0)
    clean = _mid_scale(sky, 5.0, 30.0)
    # without spot noise the same disc is a haze: next to no mid-scale detail
    monkeypatch.setattr(repair_mod, "SPOT_DISC_DEG", 1000.0)
    haze = _mid_scale(repair(bad, wrap=False).panorama.array, 5.0, 30.0)
    assert spot > 0.35 * clean and spot > 4 * haze, (spot, clean, haze)


def test_a_large_nadir_disc_keeps_the_fine_grain(sky):
    bad = radial_streaks(sky, north=False, cap_deg=36.0, amount=40.0)
    r = repair(bad, wrap=False)
    assert disc_degrees(r.before.poles.south) >= SPOT_DISC_DEG
    assert r.after.poles.ok, r.after.defects
    assert not any("spot noise" in s for s in r.steps), r.steps
    assert any("texture carried in" in s for s in r.steps), r.steps


def test_the_damaged_disc_lends_nothing_to_its_texture(sky):
    # A large disc's exemplar squares reach into it at their inner corners (found by
    # review: a saturated star in the disc widened the texture's range fourfold).
    fov = 2 * (40.0 + 14.0)  # the face `repair` fills a 40-degree disc in
    face, f = _face(sky, size=352, fov=fov)
    radius = f * math.tan(math.radians(40.0))
    size = face.shape[0]
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    r = np.hypot(xx, yy)
    star = (np.sin(24 * np.arctan2(yy, xx)) > 0) * 255.0
    bad = face.copy()
    rim = (r > 0.9 * radius) & (r <= radius)
    bad[rim] = star[rim][:, None]
    disc = r < radius
    clean_tex, bad_tex = spot_texture(face, radius)[disc], spot_texture(bad, radius)[disc]
    assert np.abs(bad_tex).max() < 1.5 * np.abs(clean_tex).max(), (
        np.abs(bad_tex).max(), np.abs(clean_tex).max())
