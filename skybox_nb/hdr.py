"""High dynamic range from a low dynamic range skybox: an estimate, and its files.

Invariant: `to_hdr` never claims to recover light the 8-bit image did not record. It
decodes sRGB to linear light, expands only the near-white highlights by a smooth curve,
finds the sun as the brightest compact region (by energy, each pixel weighted by the
solid angle it covers on the sphere) and scales that region so that its energy stands in
a ratio to the rest of the sky that the caller chose (default 4, a clear day). Every
number it assumed is returned with the result (`HdrPanorama.assumptions`), so a person
can see what is measured and what is made up. Where Scenario kept the original HDR file
of an asset (``originalFileUrl``), the client downloads it beside the preview and
`to_hdr` reads that file instead of estimating (`original_of` finds it).

Files: Radiance ``.hdr`` through OpenCV's writer (RLE RGBE, what every engine reads) and
OpenEXR ``.exr`` as half floats through the Academy Software Foundation's own ``OpenEXR``
bindings; both are written beside the target and renamed into place.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .files import commit_file, temp_path
from .panorama import PanoramaError, _resize, _validate_array, as_array, check_ratio

__all__ = ["to_hdr", "HdrPanorama", "SunEstimate", "srgb_to_linear", "linear_to_srgb",
           "linear_rgb",
           "luminance", "solid_angles", "tonemap", "write_hdr", "read_hdr",
           "original_suffix", "original_of", "finalize_original", "HDR_SUFFIXES",
           "ORIGINAL_MIME_SUFFIX"]

HDR_SUFFIXES = (".hdr", ".exr")
_REC709 = np.array([0.2126, 0.7152, 0.0722], np.float32)
# The sun search runs on a copy this wide: 0.7 degrees a pixel, plenty for a region of
# a few degrees, and it keeps the search under 50 ms for any input size.
_SEARCH_WIDTH = 512


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """Linear light of sRGB-encoded values in 0..1 (IEC 61966-2-1), float32."""
    v = np.asarray(v, np.float32)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """sRGB encoding of linear values, clipped to 0..1, float32."""
    v = np.clip(np.asarray(v, np.float32), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92,
                    1.055 * np.power(v, 1 / 2.4) - 0.055).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 relative luminance of linear RGB (..., 3)."""
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.flags.c_contiguous:
        import cv2  # one multithreaded pass instead of numpy's matmul temporaries

        return cv2.transform(rgb, _REC709[None, :])
    return rgb[..., :3] @ _REC709


def solid_angles(height: int, width: int) -> np.ndarray:
    """(height, 1) solid angle in steradians of one pixel of each row of an
    equirectangular image; the rows sum to 4*pi over the whole image."""
    edges = np.linspace(math.pi / 2, -math.pi / 2, height + 1)
    band = np.sin(edges[:-1]) - np.sin(edges[1:])  # exact area of each latitude band
    return (band * (2 * math.pi / width)).astype(np.float32)[:, None]


def tonemap(rgb: np.ndarray, exposure: float = 0.0) -> np.ndarray:
    """uint8 sRGB picture of linear HDR values: exposure in stops, then the Reinhard
    curve x / (1 + x) scaled so that 1.0 stays near 0.8 (for showing, not for files)."""
    x = np.asarray(rgb, np.float32)[..., :3] * np.float32(2.0 ** exposure)
    x = x * 1.25 / (1.0 + x * 0.25)  # keeps mid-tones, rolls off highlights
    return (linear_to_srgb(x) * 255 + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class SunEstimate:
    """Where the sun was found and how it was scaled. ``direction`` is a unit vector of
    the panorama frame (x right of the centre, y up, z the centre column); ``yaw`` and
    ``pitch`` the same in degrees (as `cubemap.perspective` takes them)."""

    direction: tuple[float, float, float]
    yaw: float
    pitch: float
    solid_angle: float  # steradians of the region scaled
    scale: float  # the factor its pixels were multiplied by (at the region's core)
    sun_to_sky: float  # energy in the region / energy of the rest, after scaling


@dataclass
class HdrPanorama:
    """A linear-light float32 (H, W, 3) panorama with how it was made.

    ``sun`` is None when no compact bright region stood out (overcast, night, interior);
    ``assumptions`` lists every parameter the estimate used, ``source`` is "estimate"
    or the original file's path.
    """

    array: np.ndarray
    sun: SunEstimate | None = None
    assumptions: dict[str, Any] = field(default_factory=dict)
    source: str = "estimate"

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.hdr`` (Radiance RGBE) or ``.exr`` (half float); returns the path."""
        return write_hdr(self.array, path)

    def preview(self, exposure: float = 0.0, max_width: int = 1024) -> np.ndarray:
        """A tone-mapped uint8 picture, at most ``max_width`` wide."""
        a = self.array
        if a.shape[1] > max_width:
            a = _resize(a, max_width, max_width // 2)
        return tonemap(a, exposure)

    def _repr_png_(self) -> bytes:
        from PIL import Image

        from .files import png_bytes

        return png_bytes(Image.fromarray(self.preview(max_width=768)))

    def __repr__(self) -> str:
        sun = "no sun found" if self.sun is None else (
            f"sun at yaw {self.sun.yaw:.1f}, pitch {self.sun.pitch:.1f} deg, "
            f"x{self.sun.scale:.1f}")
        return (f"HdrPanorama({self.width}x{self.height} linear float32, {self.source}, "
                f"{sun}, peak {float(self.array.max()):.3g})")


def _check_number(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{name}: got {value!r}; allowed: a number from {lo:g} to {hi:g}")
    return float(value)


def _as_linear(pano: Any, ratio: str = "check") -> tuple[np.ndarray, bool]:
    """(linear float32 RGB, was_already_linear). 8/16-bit and 0..1 float input is sRGB."""
    if isinstance(pano, HdrPanorama):
        return pano.array, True
    arr = as_array(pano, ratio)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[:, :, :3]
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:  # a table: 10x faster than the curve
        top = 255 if arr.dtype == np.uint8 else 65535
        table = srgb_to_linear(np.arange(top + 1, dtype=np.float32) / np.float32(top))
        if arr.dtype == np.uint8:
            import cv2

            return cv2.LUT(np.ascontiguousarray(arr), table[:, None]), False
        return table[arr], False
    else:
        if float(arr.max(initial=0.0)) > 1.0 or float(arr.min(initial=0.0)) < 0.0:
            raise PanoramaError(
                "pano: a float image outside 0..1 is already HDR; pass it as "
                "HdrPanorama(array) or read it with read_hdr, not through to_hdr")
        v = arr.astype(np.float32)
    return srgb_to_linear(v), False


def linear_rgb(pano: Any, ratio: str = "check") -> np.ndarray:
    """Linear-light float32 (H, W, 3) of a panorama: an `HdrPanorama` as it is; 8/16-bit
    and 0..1 float images decoded from sRGB (IEC 61966-2-1), nothing else changed (no
    highlight expansion, no sun: that is `to_hdr`'s estimate). A fresh array.
    ``ratio``: as `panorama.as_array` ("ignore" for a cube face)."""
    lin, already = _as_linear(pano, ratio)
    return np.array(lin, np.float32, copy=True) if already else np.ascontiguousarray(lin)


def _expand_highlights(lin: np.ndarray, threshold: float, boost: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Multiply each pixel by 1 + (boost - 1) * s^2, s = how far its luminance is from
    ``threshold`` to white (0..1): continuous and flat where the expansion starts, so no
    contour appears; hue kept (all channels scaled alike). In place; returns (lin, its
    luminance)."""
    lum = luminance(lin)
    if boost == 1.0:
        return lin, lum
    hot = lum > threshold  # only these change: a few percent of a sky
    s = (lum[hot] - threshold) / (1.0 - threshold)
    f = (1.0 + (boost - 1.0) * s * s).astype(np.float32)
    lin[hot] *= f[:, None]
    lum[hot] *= f
    return lin, lum


def _find_sun(lum: np.ndarray, max_solid_angle: float, min_contrast: float,
              above_horizon: bool = True) -> tuple[np.ndarray, float] | None:
    """(soft mask of the sun region at ``lum``'s size, its solid angle) or None.

    Candidates are the connected regions at >= 90% of the peak of a slightly blurred
    luminance; a region counts when it covers at most ``max_solid_angle`` and its peak
    is ``min_contrast`` times the sky's median. The one with the most energy (sum of
    luminance x solid angle) wins, if it holds half the area of all the candidates."""
    import cv2

    h, w = lum.shape
    sw = min(_SEARCH_WIDTH, w)
    small = _resize(lum[:, :, None], sw, sw // 2)[..., 0] if sw < w else lum
    sh = small.shape[0]
    blur = cv2.GaussianBlur(small, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    if above_horizon:  # a white roof or sand below the horizon is not the sun
        blur[sh // 2 + 1:] = 0.0
    peak_col = int(np.argmax(blur.max(axis=0)))
    shift = sw // 2 - peak_col  # roll the peak to the middle: no region is cut by the wrap
    blur = np.roll(blur, shift, axis=1)
    peak = float(blur.max())
    median = float(np.median(blur[: sh // 2] if above_horizon else blur))
    if peak <= 0 or peak < min_contrast * max(median, 1e-6):
        return None
    n, labels = cv2.connectedComponents((blur >= 0.9 * peak).astype(np.uint8), connectivity=8)
    dom = solid_angles(sh, sw)
    energy_map = blur * dom
    best: tuple[float, int, float] | None = None
    for lab in range(1, n):
        sel = labels == lab
        area = float(np.broadcast_to(dom, sel.shape)[sel].sum())
        if area > max_solid_angle:
            continue
        energy = float(energy_map[sel].sum())
        if best is None or energy > best[0]:
            best = (energy, lab, area)
    hot_area = float((np.broadcast_to(dom, labels.shape)[labels > 0]).sum())
    if best is None or best[2] < 0.5 * hot_area:
        return None  # no single region stands out: many similar patches (clipped clouds)
    mask = (labels == best[1]).astype(np.float32)
    # a soft edge two search pixels wide, so the scaled region has no hard rim
    mask = cv2.GaussianBlur(cv2.dilate(mask, np.ones((3, 3), np.uint8)), (0, 0), 1.0)
    mask = np.roll(mask, -shift, axis=1)
    if (sh, sw) != (h, w):
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0), best[2]


def _sun(wgt: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int],
         area: float, scale: float, ratio: float) -> SunEstimate:
    """The sun at the energy-weighted mean direction of ``wgt`` (energy of the pixels at
    ``rows`` x ``cols`` of an image of ``shape``)."""
    h, w = shape
    lat = (0.5 - (rows + 0.5) / h) * math.pi
    lon = ((cols + 0.5) / w * 2 - 1) * math.pi
    cl = np.cos(lat)[:, None]
    v = np.array([(wgt * cl * np.sin(lon)[None, :]).sum(), (wgt * np.sin(lat)[:, None]).sum(),
                  (wgt * cl * np.cos(lon)[None, :]).sum()])
    v = v / (np.linalg.norm(v) or 1.0)
    return SunEstimate(direction=(float(v[0]), float(v[1]), float(v[2])),
                       yaw=math.degrees(math.atan2(v[0], v[2])),
                       pitch=math.degrees(math.asin(max(-1.0, min(1.0, v[1])))),
                       solid_angle=area, scale=scale, sun_to_sky=ratio)


def to_hdr(pano: Any, sun_to_sky: float | None = 4.0, exposure: float = 0.0,
           highlight_threshold: float = 0.8, highlight_boost: float = 4.0,
           max_sun_solid_angle: float = 0.1, min_sun_contrast: float = 2.0,
           sun_above_horizon: bool = True, use_original: bool = True) -> HdrPanorama:
    """Estimate a linear HDR panorama from an 8-bit (sRGB) skybox.

    Steps, each an assumption written into the result's ``assumptions``:

    1. the pixels are sRGB-encoded display values (decoded with the IEC 61966-2-1 curve);
    2. near-white pixels were clipped: luminance above ``highlight_threshold`` (linear,
       0..1) is expanded smoothly, up to ``highlight_boost`` times at pure white;
    3. the sun is the brightest compact region: at most ``max_sun_solid_angle``
       steradians (0.1 sr is a disc about 10 degrees across, glow included), at
       least ``min_sun_contrast`` times the median sky, and (``sun_above_horizon``)
       in the upper half of the image; its energy is each pixel's luminance times its
       solid angle. Indoors the "sun" is the brightest window or lamp;
    4. that region is scaled so that (its energy) / (the rest's energy) = ``sun_to_sky``
       (None keeps it as expanded). Clear days give about 3 to 8 (direct sun against
       the sky's radiance integrated over the sphere); a hazy sun 1 to 2;
    5. everything is multiplied by 2**``exposure``.

    A real HDR file measures what steps 2 to 4 guess: when ``pano`` is a panorama the
    client downloaded from an HDRi asset (its original ``.exr``/``.hdr`` from
    ``originalFileUrl`` beside it, see `original_of`) and ``use_original`` is true, that
    file is read instead and only ``exposure`` applies (``source`` is its path, and the
    sun is found but not scaled). Returns an `HdrPanorama` (sun None when no region
    qualified).
    """
    if sun_to_sky is not None:
        sun_to_sky = _check_number("sun_to_sky", sun_to_sky, 0.0, 1e6)
    exposure = _check_number("exposure", exposure, -20.0, 20.0)
    highlight_threshold = _check_number("highlight_threshold", highlight_threshold, 0.0, 0.99)
    highlight_boost = _check_number("highlight_boost", highlight_boost, 1.0, 1e4)
    max_sun_solid_angle = _check_number("max_sun_solid_angle", max_sun_solid_angle, 1e-6,
                                        2 * math.pi)
    min_sun_contrast = _check_number("min_sun_contrast", min_sun_contrast, 1.0, 1e6)
    original = original_of(pano) if use_original else None
    if original is not None:
        return _from_original(original, exposure, max_sun_solid_angle, min_sun_contrast,
                              bool(sun_above_horizon))
    lin, already = _as_linear(pano)
    if already:
        lin = lin.astype(np.float32, copy=True)  # scaled in place below: never the caller's
        lum = luminance(lin)
    else:
        lin, lum = _expand_highlights(lin, highlight_threshold, highlight_boost)
    found = _find_sun(lum, max_sun_solid_angle, min_sun_contrast, bool(sun_above_horizon))
    sun = None
    if found is not None:
        mask, area = found
        h, w = lum.shape
        dom = solid_angles(h, w)
        # the mask is compact: work on the rows and columns it touches (wrap-aware)
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        m, sub = mask[np.ix_(rows, cols)], lum[np.ix_(rows, cols)]
        e_sun = float((sub * m * dom[rows]).sum())
        e_all = float((lum * dom).sum())
        e_sky = e_all - e_sun
        scale = 1.0 if sun_to_sky is None or e_sun <= 0 else sun_to_sky * e_sky / e_sun
        if scale != 1.0:
            lin[np.ix_(rows, cols)] *= (1.0 + (scale - 1.0) * m)[..., None]
        sun = _sun(sub * m * dom[rows], rows, cols, (h, w), area, scale,
                   e_sun * scale / e_sky if e_sky > 0 else math.inf)
    if exposure:
        lin *= np.float32(2.0 ** exposure)
    assumptions = {
        "input": "already linear HDR" if already else "sRGB display values",
        "highlight_threshold": highlight_threshold, "highlight_boost": highlight_boost,
        "max_sun_solid_angle_sr": max_sun_solid_angle, "min_sun_contrast": min_sun_contrast,
        "sun_above_horizon": bool(sun_above_horizon),
        "sun_to_sky": sun_to_sky, "exposure_stops": exposure,
        "note": "an estimate from an 8-bit image: the sun's true brightness was not recorded",
    }
    return HdrPanorama(np.ascontiguousarray(lin, np.float32), sun, assumptions)


def _from_original(path: Path, exposure: float, max_sun_solid_angle: float,
                   min_sun_contrast: float, above_horizon: bool) -> HdrPanorama:
    """Scenario's original HDR file as the result: measured light, nothing estimated."""
    hdr = read_hdr(path)
    lin = hdr.array
    if exposure:
        lin *= np.float32(2.0 ** exposure)
    lum = luminance(lin)
    found = _find_sun(lum, max_sun_solid_angle, min_sun_contrast, above_horizon)
    sun = None
    if found is not None:  # where the sun is, for the preview and the report; not scaled
        mask, area = found
        h, w = lum.shape
        dom = solid_angles(h, w)
        wgt = lum * mask * dom
        e_sun, e_all = float(wgt.sum()), float((lum * dom).sum())
        sun = _sun(wgt, np.arange(h), np.arange(w), (h, w), area, 1.0,
                   e_sun / (e_all - e_sun) if e_all > e_sun else math.inf)
    assumptions = {"input": f"Scenario's original HDR file {path.name} (originalFileUrl): "
                            "measured light, not an estimate",
                   "original": True, "exposure_stops": exposure}
    return HdrPanorama(lin, sun, assumptions, source=str(path))


# ---------------------------------------------------------------- files

def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in HDR_SUFFIXES:
        raise PanoramaError(f"path: suffix {path.suffix!r} is not an HDR format; allowed: "
                            + ", ".join(HDR_SUFFIXES))
    return suffix


def _rgb_float(array: np.ndarray) -> np.ndarray:
    a = array.array if isinstance(array, HdrPanorama) else array
    if not isinstance(a, np.ndarray):
        raise PanoramaError(f"array: expected a numpy array, got {type(a).__name__}")
    if a.dtype != np.float32 and a.dtype != np.float64 and a.dtype != np.float16:
        raise PanoramaError(f"array: dtype {a.dtype} is not linear light; allowed: float "
                            "(use to_hdr to estimate linear light from an 8-bit image)")
    a = _validate_array(a)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3], np.float32)


def write_hdr(array: Any, path: str | os.PathLike) -> Path:
    """Write linear float RGB (H, W, 3) to ``.hdr`` (Radiance RGBE, run-length encoded,
    via OpenCV) or ``.exr`` (OpenEXR, half float, ZIP compressed, via the OpenEXR
    bindings). Negative values are clipped to 0. Atomic; returns the path."""
    path = Path(path)
    suffix = _check_suffix(path)
    rgb = np.maximum(_rgb_float(array), 0.0)
    tmp = temp_path(path)
    try:
        if suffix == ".hdr":
            import cv2

            ok, buf = cv2.imencode(".hdr", np.ascontiguousarray(rgb[:, :, ::-1]))
            if not ok:
                raise OSError(f"OpenCV could not encode {path.name}")
            tmp.write_bytes(buf.tobytes())
        else:
            import OpenEXR

            half = np.minimum(rgb, 65504.0).astype(np.float16)  # half's largest value
            header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
            with OpenEXR.File(header, {"RGB": half}) as f:
                f.write(str(tmp))
        return commit_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_hdr(path: str | os.PathLike) -> HdrPanorama:
    """Read a ``.hdr`` or ``.exr`` file as a linear float32 `HdrPanorama`."""
    path = Path(path)
    suffix = _check_suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: {path} does not exist")
    if suffix == ".hdr":
        import cv2

        raw = np.fromfile(path, np.uint8)
        # OpenCV decodes by content, not suffix: a PNG or JPEG named .hdr would read as
        # 8-bit "linear light". A Radiance file opens with "#?" (#?RADIANCE, #?RGBE).
        bgr = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw[:2].tobytes() == b"#?" else None
        if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.float32:
            raise PanoramaError(f"path: {path} is not a readable Radiance .hdr file")
        rgb = bgr[:, :, ::-1].astype(np.float32)
    else:
        import OpenEXR

        try:
            with OpenEXR.File(str(path), separate_channels=False) as f:
                ch = f.channels()
                if "RGB" in ch:
                    rgb = ch["RGB"].pixels
                elif "RGBA" in ch:
                    rgb = ch["RGBA"].pixels[:, :, :3]
                else:
                    raise PanoramaError(f"path: {path} has channels {sorted(ch)}; expected "
                                        "R, G and B")
        except PanoramaError:
            raise
        except Exception as e:  # the bindings raise plain exceptions for bad files
            raise PanoramaError(f"path: {path} is not a readable OpenEXR file ({e})") from None
        rgb = np.asarray(rgb, np.float32)
    check_ratio(rgb.shape[1], rgb.shape[0], "warn")
    return HdrPanorama(np.ascontiguousarray(rgb), None, {"input": f"read from {path.name}"},
                       source=str(path))


# MIME types Scenario gives an HDR original (the SDK's originalMimeType values) -> suffix
ORIGINAL_MIME_SUFFIX = {"image/x-exr": ".exr", "image/aces": ".exr",
                        "image/vnd.radiance": ".hdr"}


def original_suffix(asset_json: Any) -> str | None:
    """``.exr`` or ``.hdr`` when an asset (its JSON mapping) has an HDR original at
    ``originalFileUrl``, else None. The type comes from ``originalMimeType`` (the stored
    key has no extension); without one, from a suffix the URL's path may carry."""
    if not hasattr(asset_json, "get") or not asset_json.get("originalFileUrl"):
        return None
    mime = str(asset_json.get("originalMimeType") or "").lower()
    if mime:
        return ORIGINAL_MIME_SUFFIX.get(mime)  # a PNG or a video original: not HDR
    path = str(asset_json["originalFileUrl"]).split("?")[0].lower()
    return next((x for x in HDR_SUFFIXES if path.endswith(x)), None)


def finalize_original(tmp: Path, dest: Path) -> Path:
    """Prove the downloaded ``tmp`` is a whole HDR image of ``dest``'s format (read to the
    last pixel), then move it to ``dest``; returns ``dest``. Raises `PanoramaError` (as
    a ``ProtocolError`` for the client's retries) when it does not read."""
    from .errors import ProtocolError

    check = tmp.with_name(tmp.name + dest.suffix)  # the readers go by suffix
    os.replace(tmp, check)
    try:
        read_hdr(check)
    except (PanoramaError, OSError) as e:
        check.unlink(missing_ok=True)
        raise ProtocolError(f"the original file is not a readable {dest.suffix} image ({e})") \
            from None
    except BaseException:  # interrupted, out of memory: the caller removes only ``tmp``
        check.unlink(missing_ok=True)
        raise
    return commit_file(check, dest)


def original_of(pano: Any) -> Path | None:
    """The original HDR file kept beside a downloaded panorama (the client saves an HDRi
    asset's ``originalFileUrl`` next to its preview and names it in the sidecar), when
    ``pano`` is a `Panorama` loaded from such a file or the path of one; else None."""
    from .panorama import Panorama

    if isinstance(pano, (str, os.PathLike)):
        from . import sidecar

        path, meta = Path(pano), sidecar.read(Path(pano))
    elif isinstance(pano, Panorama) and pano.path is not None:
        path, meta = pano.path, pano.metadata
    else:
        return None
    name = meta.get("original_file")
    if not isinstance(name, str) or Path(name).name != name:
        return None  # only a plain file name beside the panorama, never a path elsewhere
    found = path.parent / name
    return found if found.suffix.lower() in HDR_SUFFIXES and found.is_file() else None
