"""Image files to arrays and back, with the fastest reader and writer at hand.

Invariant: ``encode`` turns an 8-bit (H, W), (H, W, 1|3|4) RGB(A) array into the bytes of
one complete file and ``decode_opencv`` turns a file back into the same RGB(A) array, or
says it cannot (returns None) so the caller uses Pillow. Both run through OpenCV (a core
dependency; its calls release the GIL, so faces encode in parallel on threads) and fall
back to Pillow only where OpenCV has no writer or the file needs Pillow's care (palette,
CMYK, grey+alpha). An XMP packet, when given, is carried in the file exactly as Pillow
would put it: an iTXt chunk in PNG, an APP1 segment in JPEG, Pillow's own writer for WebP.

Why OpenCV's PNG writer with one filter (Paeth) and the run-length strategy: six 1536
faces of a real 6144x3072 panorama, 2 threads, on the project's loaded 2-core machine:
OpenCV level 1 (libpng's adaptive filters, default strategy) 1.69 s, 14.5 MB; level 1
with Paeth + run-length 0.72 s, 12.5 MB (as small as Pillow's default level 6, which
takes about 10x as long); imagecodecs level 1 1.35 s, 14.5 MB, and a 30 MB wheel; fpng
0.33 s but 16.8 MB, 8-bit RGB(A) only, one 0.1.0 release of its binding. JPEG: OpenCV,
Pillow and simplejpeg all wrap libjpeg-turbo (0.06-0.16 s for six 2048 faces at quality
95); OpenCV is already here.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

from .formats import FORMATS, by_suffix

try:
    import cv2 as _cv2
except ImportError:  # pragma: no cover - platforms without OpenCV wheels
    _cv2 = None

__all__ = ["DEFAULT_QUALITY", "DEFAULT_COMPRESSION", "encode", "decode_opencv",
           "check_quality", "check_compression"]

DEFAULT_QUALITY = 95  # jpg and webp: visually lossless for skies
DEFAULT_COMPRESSION = 1  # png: fast (run-length deflate, see the module docstring)
_XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


def check_quality(value: Any) -> int:
    """``value`` when it is an integer 1..100 (JPEG/WebP quality); a clear error else."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 1 <= value <= 100:
        raise ValueError(f"quality: got {value!r}; allowed: an integer from 1 to 100 "
                         "(jpg, webp)")
    return int(value)


def check_compression(value: Any) -> int:
    """``value`` when it is an integer 0..9 (PNG zlib effort); a clear error else."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 0 <= value <= 9:
        raise ValueError(f"compression: got {value!r}; allowed: an integer from 0 (none, "
                         "fastest) to 9 (smallest, slowest) (png)")
    return int(value)


def _bgr(a: np.ndarray) -> np.ndarray:
    """OpenCV's channel order (BGR/BGRA) of an RGB(A) array; grey is unchanged."""
    if a.ndim == 3 and a.shape[2] == 1:
        return a[:, :, 0]
    if a.ndim == 2:
        return a
    code = _cv2.COLOR_RGB2BGR if a.shape[2] == 3 else _cv2.COLOR_RGBA2BGRA
    return _cv2.cvtColor(np.ascontiguousarray(a), code)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with_xmp(png: bytes, xmp: str) -> bytes:
    """The PNG with an iTXt chunk "XML:com.adobe.xmp" right after IHDR."""
    itxt = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp.encode("utf-8")
    end_ihdr = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return png[:end_ihdr] + _png_chunk(b"iTXt", itxt) + png[end_ihdr:]


def _jpeg_with_xmp(jpg: bytes, xmp: str) -> bytes:
    """The JPEG with an XMP APP1 segment after SOI and the JFIF APP0 segment."""
    payload = _XMP_JPEG_HEADER + xmp.encode("utf-8")
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("xmp: the packet is too long for one JPEG segment (64 KB)")
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    pos = 2
    if jpg[2:4] == b"\xff\xe0":  # keep JFIF first, as readers expect
        pos = 4 + struct.unpack(">H", jpg[4:6])[0]
    return jpg[:pos] + seg + jpg[pos:]


def encode(arr: np.ndarray, fmt: str, *, quality: int = DEFAULT_QUALITY,
           compression: int = DEFAULT_COMPRESSION, xmp: str | None = None) -> bytes:
    """The bytes of a ``fmt`` file ("png", "jpg", "webp", "tif") of the 8-bit RGB(A) or
    grey array ``arr``, with the XMP packet when given. ``quality`` (1..100) is for jpg
    and webp, ``compression`` (0..9) for png: 1..5 use the Paeth filter on every row and
    deflate's run-length strategy (fast, and smaller than level 1 of the default
    strategy on skies), 6..9 libpng's adaptive filters and the default strategy
    (smallest, slowest). JPEG drops an alpha channel."""
    kind = by_suffix(fmt)
    if kind is None:
        raise ValueError(f"fmt: got {fmt!r}; allowed: "
                         + ", ".join(f.suffix[1:] for f in FORMATS))
    fmt = kind.suffix[1:]  # png, jpg, webp, tif
    if arr.dtype != np.uint8:
        raise ValueError(f"array: dtype {arr.dtype}; the encoder takes uint8")
    if fmt == "jpg" and arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if _cv2 is None or fmt == "tif" or (fmt == "webp" and xmp):
        return _encode_pillow(arr, fmt, quality, compression, xmp)
    img = _bgr(arr)
    if fmt == "png":
        level = check_compression(compression)
        params = [_cv2.IMWRITE_PNG_COMPRESSION, level]
        if 1 <= level <= 5:  # one filter for every row, run-length deflate
            params += [_cv2.IMWRITE_PNG_STRATEGY, _cv2.IMWRITE_PNG_STRATEGY_RLE,
                       _cv2.IMWRITE_PNG_FILTER, _cv2.IMWRITE_PNG_FILTER_PAETH]
        ok, buf = _cv2.imencode(".png", img, params)
        data = buf.tobytes() if ok else b""
        return _png_with_xmp(data, xmp) if xmp and ok else data
    if fmt == "jpg":
        ok, buf = _cv2.imencode(".jpg", img, [_cv2.IMWRITE_JPEG_QUALITY, check_quality(quality)])
        data = buf.tobytes() if ok else b""
        return _jpeg_with_xmp(data, xmp) if xmp and ok else data
    if fmt == "webp":
        ok, buf = _cv2.imencode(".webp", img, [_cv2.IMWRITE_WEBP_QUALITY,
                                               check_quality(quality)])
        if ok:
            return buf.tobytes()
        return _encode_pillow(arr, fmt, quality, compression, xmp)
    raise AssertionError(f"no encoder for {fmt}")  # pragma: no cover - formats.py grew


def _encode_pillow(arr: np.ndarray, fmt: str, quality: int, compression: int,
                   xmp: str | None) -> bytes:
    import io

    from PIL import Image, PngImagePlugin

    a = arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
    im = Image.fromarray(np.ascontiguousarray(a))
    kw: dict[str, Any] = {}
    name = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "tif": "TIFF"}[fmt]
    if name in ("JPEG", "WEBP"):
        kw["quality"] = check_quality(quality)
        if xmp:
            kw["xmp"] = xmp.encode("utf-8")
    if name == "PNG":
        kw["compress_level"] = check_compression(compression)
        if xmp:  # Pillow's PNG writer ignores xmp=; XMP goes in an iTXt chunk
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp)
            kw["pnginfo"] = info
    buf = io.BytesIO()
    im.save(buf, format=name, **kw)
    return buf.getvalue()


_IEND = b"IEND\xaeB`\x82"  # a PNG's last chunk: its type and its (fixed) CRC


def _ends_with_iend(source: "bytes | str") -> bool:
    """Whether a PNG (path or bytes) ends with its IEND chunk, as a whole file does."""
    if isinstance(source, bytes):
        return source.endswith(_IEND)
    try:
        with open(source, "rb") as f:
            f.seek(0, 2)
            if f.tell() < len(_IEND):
                return False
            f.seek(-len(_IEND), 2)
            return f.read() == _IEND
    except OSError:
        return False


# Pillow's mode -> channels OpenCV must return for the same pixels
_CHANNELS = {"L": 1, "RGB": 3, "RGBA": 4}


def decode_opencv(source: "bytes | str", mode: str, fmt: str | None) -> np.ndarray | None:
    """The RGB(A) or grey (H, W[, C]) uint8 array of a file (path or bytes) whose Pillow
    mode is ``mode`` and format ``fmt``, decoded by OpenCV (no Pillow copy: half the
    memory of a 16K panorama, and faster for JPEG); None when OpenCV is not the right
    reader for it (then the caller decodes with Pillow). EXIF orientation is NOT applied.
    """
    if _cv2 is None or mode not in _CHANNELS or fmt not in ("JPEG", "PNG", "WEBP", "TIFF"):
        return None
    if fmt == "PNG" and not _ends_with_iend(source):
        # A cut-off PNG: libpng would print its own errors on stderr before ours; Pillow
        # reports it (or reads what a stray tail after IEND leaves readable) in one line.
        return None
    flags = _cv2.IMREAD_UNCHANGED
    try:
        if isinstance(source, bytes):
            arr = _cv2.imdecode(np.frombuffer(source, np.uint8), flags)
        else:
            arr = _cv2.imread(source, flags)
    except _cv2.error:
        return None
    want = _CHANNELS[mode]
    if arr is None or arr.dtype != np.uint8:
        return None
    got = 1 if arr.ndim == 2 else arr.shape[2]
    if got != want:  # e.g. a tRNS colour key turned into alpha: Pillow decides
        return None
    if got >= 3:  # in place: no second copy of a 16K panorama
        code = _cv2.COLOR_BGR2RGB if got == 3 else _cv2.COLOR_BGRA2RGBA
        _cv2.cvtColor(arr, code, dst=arr)
    return arr
