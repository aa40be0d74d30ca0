"""The emulator's HDRi skybox: a JPEG preview at ``url``, the linear EXR at ``originalFileUrl``.

Invariant: what this module makes has the documented shape of a Scenario HDRi asset (the
SDK's asset model: ``url`` a JPEG preview, the ``.exr`` at ``originalFileUrl``, its type in
``originalMimeType``; asset type ``skybox-hdri``, kind ``image-hdr``), and the two files
disagree on purpose: the preview is tone-mapped 8-bit, the original holds light the
preview cannot (a sun hundreds of times brighter than the sky). A client that reads the
preview where it should read the original gets visibly wrong light. The light itself is a
stand-in: the input skybox decoded from sRGB, with a small sun disc added at its
brightest point above the horizon; nothing here claims to be Scenario's converter.

Kept independent of the client's HDR module (`skybox_nb.hdr`) on purpose, like the
emulator's other helpers: the emulator must not share the code it is used to test.
"""

from __future__ import annotations

import io
import math
import os
import tempfile

import numpy as np
from PIL import Image

__all__ = ["HDRI_TYPE", "HDRI_KIND", "EXR_MIME", "PREVIEW_MIME", "SUN_RADIANCE", "hdri",
           "exr_bytes", "preview_jpeg"]

HDRI_TYPE = "skybox-hdri"  # the SDK's asset metadata type and job type
HDRI_KIND = "image-hdr"  # the SDK's asset kind
EXR_MIME = "image/x-exr"  # one of the SDK's originalMimeType values (also image/vnd.radiance)
PREVIEW_MIME = "image/jpeg"
# Linear radiance of the stand-in sun (the sky's white is 1): far beyond what 8 bits keep.
SUN_RADIANCE = 400.0
_SUN_RADIUS_DEG = 1.5


def _linear(rgb: np.ndarray) -> np.ndarray:
    v = rgb.astype(np.float32) / np.float32(255.0)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def hdri(skybox: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """(linear float32 (H, W, 3) HDR panorama, (yaw, pitch) of its sun in degrees) from
    an 8-bit (H, W, 3) skybox: sRGB decoded, then a sun disc of `SUN_RADIANCE` at the
    brightest point of the upper half (yaw 0 at the centre column, pitch up)."""
    lin = _linear(skybox)
    h, w = lin.shape[:2]
    lum = lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    upper = lum[: max(1, h // 2 - h // 36)]  # at least 5 degrees above the horizon
    row, col = np.unravel_index(int(np.argmax(upper)), upper.shape)
    lat = math.radians(90.0 - (row + 0.5) * 180.0 / h)
    lon = math.radians((col + 0.5) * 360.0 / w - 180.0)
    rows = np.radians(90.0 - (np.arange(h) + 0.5) * 180.0 / h)[:, None]
    cols = np.radians((np.arange(w) + 0.5) * 360.0 / w - 180.0)[None, :]
    cos_d = (np.sin(rows) * math.sin(lat)
             + np.cos(rows) * math.cos(lat) * np.cos(cols - lon))
    # a soft-edged disc: full radiance inside the radius, falling off over half a degree
    d = np.degrees(np.arccos(np.clip(cos_d, -1.0, 1.0)))
    disc = np.clip((_SUN_RADIUS_DEG + 0.5 - d) / 0.5, 0.0, 1.0).astype(np.float32)
    lin += (SUN_RADIANCE * disc)[..., None] * np.array([1.0, 0.95, 0.85], np.float32)
    return lin, (math.degrees(lon), math.degrees(lat))


def exr_bytes(lin: np.ndarray) -> bytes:
    """An OpenEXR file (half float RGB, ZIP) of linear float (H, W, 3)."""
    import OpenEXR

    half = np.minimum(np.maximum(lin, 0.0), 65504.0).astype(np.float16)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    fd, name = tempfile.mkstemp(suffix=".exr", prefix="skybox-emulator-hdri-")
    os.close(fd)
    try:  # the bindings write to a path only
        with OpenEXR.File(header, {"RGB": half}) as f:
            f.write(name)
        with open(name, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(name)


def preview_jpeg(lin: np.ndarray, quality: int = 90) -> bytes:
    """The 8-bit preview a person sees: Reinhard tone mapping, sRGB, JPEG."""
    x = lin / (1.0 + lin)  # the sun saturates to white, as in any preview
    v = np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    rgb = (np.clip(v * 1.6, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)  # 1.6: mid-grey stays mid
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality,
                              comment=b"skybox_nb offline emulator: a stand-in HDRi preview")
    return buf.getvalue()
