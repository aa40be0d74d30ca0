"""The sign of Unity's skybox Rotation, as notebook 04 states it, checked against our
Unity convention: Skybox/6 Sided and Skybox/Panoramic both draw the sky mesh turned by
Rotation degrees about +Y (x' = x cos a - z sin a, z' = x sin a + z cos a: from +X towards
+Z) and look the texture up at the unturned vertex. So a positive Rotation brings what
was on the camera's right round to the front, the view moves right across the panorama,
and Rotation 90 shows the panorama's centre ahead; Rotation r equals our export's
``yaw=r`` at Rotation 0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skybox_nb.conventions import get_convention
from skybox_nb.cubemap import to_faces

UNITY = get_convention("unity")


def _seen_by_unity(rotation: float, world: tuple[float, float, float]) -> float:
    """Panorama longitude (degrees, + = right of the centre) that Unity shows in world
    direction ``world`` with the material's Rotation set to ``rotation``."""
    a = math.radians(rotation)
    x, y, z = world
    # the vertex drawn at ``world`` is the mesh vertex turned by +a: undo the turn
    vertex = np.array([x * math.cos(a) + z * math.sin(a), y, -x * math.sin(a) + z * math.cos(a)])
    p = np.asarray(UNITY.matrix, dtype=float) @ vertex  # cube space -> panorama frame
    return math.degrees(math.atan2(p[0], p[2]))


def _lon(d: np.ndarray) -> float:
    return math.degrees(math.atan2(d[0], d[2]))


@pytest.mark.parametrize("rotation", [0, 30, 90, 135, 180, 270])
def test_a_positive_rotation_moves_the_view_right_across_the_panorama(rotation):
    front_at_0 = _lon(UNITY.basis("front")[0])  # where Front [+Z] looks in our export
    assert front_at_0 == pytest.approx(-90)  # a quarter turn left of the centre
    ahead = _seen_by_unity(rotation, (0, 0, 1))
    assert (ahead - (front_at_0 + rotation) + 180) % 360 - 180 == pytest.approx(0, abs=1e-9)
    right = _seen_by_unity(rotation, (1, 0, 0))  # the camera's right-hand side
    assert (right - (ahead + 90) + 180) % 360 - 180 == pytest.approx(0, abs=1e-9)


def test_rotation_90_puts_the_panoramas_centre_ahead():
    assert _seen_by_unity(90, (0, 0, 1)) == pytest.approx(0, abs=1e-9)


def test_rotation_r_is_our_export_turned_by_yaw_r():
    # a panorama whose columns say their longitude: the face ahead at yaw 90 is the
    # generic front (the centre), as Unity shows it at Rotation 90
    w, h = 256, 128
    lon = (np.arange(w) + 0.5) / w * 360 - 180
    pano = np.repeat(np.round((lon + 180) / 360 * 255).astype(np.uint8)[None, :, None], h, 0)
    pano = np.repeat(pano, 3, axis=2)
    turned = to_faces(pano, convention="unity", yaw=90)["front"].astype(int)
    centre = to_faces(pano)["F"].astype(int)
    assert np.abs(turned - centre).max() <= 1
