"""Texture for a pole's inpainted disc: the fine detail of the panorama's own surroundings,
carried in by turning the sphere, so the disc does not read as a blurred hole.

Invariant: every copy is the panorama seen through a rotation of the sphere that moves
the pole away from the view's centre, so the texture it brings keeps its own scale and
orientation and never converges on the pole (a copy in polar coordinates would pinch it
again); a copy counts only where what it shows lies outside the disc, and copies are
mixed with weights whose squares sum to one, so the mix has the texture's own contrast
rather than an average's fainter one. Only the detail (the image minus a blur of it) is
carried: the disc's shading stays the membrane fill's.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .cubemap import _rotation, perspective
from .panorama import Panorama

__all__ = ["carried_detail", "COPIES"]

COPIES = 6  # views turned away from the pole, 60 degrees apart in azimuth
_TURN = 1.15  # ... by this many disc radii: the view's centre lies just outside the disc
_AZIMUTH0 = 17.0  # degrees: the first turn's azimuth, off the wrap border


def _colatitude(yaw: float, pitch: float, roll: float, fov: float, size: int,
                north: bool) -> np.ndarray:
    """(size, size) angle (degrees) from the pole of what each pixel of the view
    `cubemap.perspective` makes at ``yaw``, ``pitch``, ``roll`` and ``fov`` shows."""
    t = math.tan(math.radians(fov) / 2)
    xs = ((np.arange(size, dtype=np.float64) + 0.5) / size * 2 - 1) * t
    d = np.stack(np.broadcast_arrays(xs[None, :], -xs[:, None], 1.0), -1)
    up = (d @ _rotation(yaw, pitch, roll).T)[..., 1] / np.linalg.norm(d, axis=-1)
    return np.degrees(np.arccos(np.clip(up if north else -up, -1, 1))).astype(np.float32)


def carried_detail(arr: np.ndarray, north: bool, disc_deg: float, fov: float, size: int,
                   sigma: float) -> np.ndarray:
    """(size, size, C) float32 detail for the view straight up (``north``) or down of
    ``arr`` (H, W, C) at ``fov`` degrees: inside the disc of ``disc_deg`` around the pole,
    the detail (the image minus a Gaussian blur of ``sigma`` view pixels) of `COPIES`
    views turned `_TURN` disc radii away from the pole, each weighted by how far outside
    the disc what it shows lies (1 at the rim, 0 at twice the disc), mixed so the weights'
    squares sum to one. Zero where no copy shows the surroundings."""
    H, W, C = arr.shape
    pano = Panorama(arr, ratio="ignore")  # the caller accepted its ratio
    sign = 1.0 if north else -1.0
    turn = min(_TURN * disc_deg, 80.0)
    num = np.zeros((size, size, C), np.float32)
    den = np.zeros((size, size), np.float32)
    for i in range(COPIES):
        yaw = (_AZIMUTH0 + 360.0 * i / COPIES) % 360.0
        yaw = yaw - 360.0 if yaw > 180.0 else yaw
        pitch = sign * (90.0 - turn)
        # A view tilted off the pole always has the pole on the same side (its top): the
        # roll turns that side with the copy, so the copies cover every part of the disc.
        roll = 360.0 * i / COPIES
        view = perspective(pano, yaw=yaw, pitch=pitch, fov=fov, size=(size, size), roll=roll)
        view = view.astype(np.float32).reshape(size, size, -1)[:, :, :C]
        src = _colatitude(yaw, pitch, roll, fov, size, north)
        # 1 where the copy shows the rim's surroundings, falling to 0 at twice the disc
        # and inside the disc (feathered over a tenth of it).
        outside = np.clip((src - disc_deg) / (0.1 * disc_deg), 0, 1)
        near = np.clip(2.0 - src / disc_deg, 0, 1)
        w = (outside * near).astype(np.float32)
        detail = view - cv2.GaussianBlur(view, (0, 0), sigma).reshape(view.shape)
        num += detail * w[..., None]
        den += w * w
    return num / np.sqrt(den + np.float32(1e-6))[..., None]
