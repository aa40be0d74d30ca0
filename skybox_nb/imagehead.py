"""What a plain PNG or JPEG file says about itself, read from its bytes without decoding
its pixels and without Pillow: format, size, channels, and the texts a panorama reads.

Invariant: `plain` answers only for a file that `panorama` decodes with OpenCV anyway once
Pillow has read its header, and whose header it reads as Pillow's ``im.info`` holds it
("xmp", "XML:com.adobe.xmp", "Software"): an 8-bit grey, RGB or RGBA PNG without palette, transparency key,
EXIF, compressed texts or animation, whose chunks before the pixels have sound
checksums; an 8-bit baseline or progressive JPEG, grey or YCbCr, without EXIF, extended
XMP, Adobe colour transform or multi-picture index. For anything else, and anything it
cannot parse, it returns None (the caller asks Pillow); it never raises for what a file
holds. `size` reads only the header.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Head", "plain", "size", "png_may_have_exif"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_MODES = {0: "L", 2: "RGB", 6: "RGBA"}  # colour type -> Pillow's mode at 8 bits
# chunks that change what Pillow decodes or reads (palette, colour key, EXIF, animation,
# compressed text): Pillow opens those files
_PNG_PILLOW = {b"PLTE", b"tRNS", b"eXIf", b"acTL", b"zTXt"}
# where a PNG's EXIF may be: its own chunk, or (ImageMagick) a text of hex digits that
# Pillow reads an orientation from too
_PNG_EXIF = (b"eXIf", b"Raw profile type exif")
_TEXT_LIMIT = 1 << 20  # a longer text chunk is Pillow's to judge (its own limits)
_XMP_KEY = b"XML:com.adobe.xmp"
_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_SOF = {0xC0, 0xC1, 0xC2}  # baseline, extended and progressive Huffman frames
_JPEG_NO_LENGTH = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn stand alone


@dataclass(frozen=True)
class Head:
    """A plain image file's facts: ``fmt`` "PNG" or "JPEG" and ``mode`` "L", "RGB" or
    "RGBA" (Pillow's names), its size, and ``info``: the "xmp" (bytes), "Software" and
    "XML:com.adobe.xmp" (str, from a tEXt chunk) entries Pillow's ``im.info`` would
    hold, when the file has them."""

    fmt: str
    mode: str
    width: int
    height: int
    info: dict[str, Any] = field(default_factory=dict)


def plain(raw: bytes) -> Head | None:
    """The `Head` of a whole PNG or JPEG file's bytes, or None when Pillow should open it
    (module docstring)."""
    try:
        if raw.startswith(_PNG_SIGNATURE):
            return _png(raw)
        if raw.startswith(b"\xff\xd8"):
            return _jpeg(raw, whole=True)
    except (struct.error, ValueError, IndexError):  # a malformed header: Pillow says what
        return None
    return None


def size(first: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a PNG or JPEG file (its header), or None
    when they do not say (another format, a JPEG whose frame header comes later, or EXIF
    in them: its orientation may turn the image a quarter, so Pillow reads it)."""
    try:
        if first.startswith(_PNG_SIGNATURE) and first[12:16] == b"IHDR" and len(first) >= 24:
            if png_may_have_exif(first):
                return None
            w, h = struct.unpack(">II", first[16:24])
            return (w, h) if w and h else None
        if first.startswith(b"\xff\xd8"):
            head = _jpeg(first, whole=False)
            return (head.width, head.height) if head else None
    except (struct.error, ValueError, IndexError):
        return None
    return None


def png_may_have_exif(raw: bytes) -> bool:
    """False when a PNG file's bytes (or its first bytes, for what they hold) carry no
    EXIF Pillow would read an orientation from; True when they may."""
    return any(mark in raw for mark in _PNG_EXIF)


def _png(raw: bytes) -> Head | None:
    if png_may_have_exif(raw):  # even after the pixels, EXIF may turn the image
        return None
    pos, ihdr, info = 8, None, {}
    while pos + 12 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        end = pos + 8 + length
        if end + 4 > len(raw):
            return None
        if kind == b"IDAT":
            return None if ihdr is None else Head("PNG", ihdr[2], ihdr[0], ihdr[1], info)
        body = raw[pos + 8:end]
        if zlib.crc32(kind + body) != struct.unpack(">I", raw[end:end + 4])[0]:
            return None  # Pillow refuses a broken chunk: its message is the one to give
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            if ihdr is not None or length != 13 or depth != 8 or colour not in _PNG_MODES \
                    or not (w and h):
                return None
            ihdr = (w, h, _PNG_MODES[colour])
        elif ihdr is None or kind in _PNG_PILLOW or (
                kind in (b"tEXt", b"iTXt") and length > _TEXT_LIMIT):
            return None
        elif kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            if key == b"exif":
                return None
            if key in (b"Software", _XMP_KEY):  # Pillow keeps the text under its key
                info[key.decode("latin-1")] = value.decode("latin-1", "replace")
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            if key == b"Software":
                return None
            if key == _XMP_KEY:
                if len(rest) < 2 or rest[0] != 0:
                    return None  # compressed or malformed: Pillow's care
                parts = rest[2:].split(b"\0", 2)
                if len(parts) != 3:
                    return None
                info["xmp"] = parts[2]
        pos = end + 4
    return None


def _jpeg(raw: bytes, whole: bool) -> Head | None:
    """A JPEG's `Head` from its segments before the scan. With ``whole`` False (the first
    bytes only) the frame header is all that is read, and metadata is not judged."""
    pos, frame, info = 2, None, {}
    while pos + 4 <= len(raw):
        if raw[pos] != 0xFF:
            return None
        marker = raw[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            pos += 2
            continue
        length = struct.unpack(">H", raw[pos + 2:pos + 4])[0]
        body = raw[pos + 4:pos + 2 + length]
        if length < 2 or len(body) != length - 2:
            return None
        if marker == 0xDA:  # start of scan: the header is over
            return None if frame is None else Head("JPEG", frame[2], frame[0], frame[1], info)
        if marker in _JPEG_SOF:
            precision, h, w, n = struct.unpack(">BHHB", body[:6])
            if frame is not None or precision != 8 or n not in (1, 3) or not (w and h):
                return None
            frame = (w, h, "L" if n == 1 else "RGB")
            if not whole:
                return Head("JPEG", frame[2], w, h)
        elif 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # lossless, hierarchical or arithmetic-coded frames
        elif marker == 0xE1 and not whole and body.startswith(b"Exif\0"):
            return None  # an orientation may swap width and height
        elif marker == 0xE1 and whole:  # EXIF (orientation) or XMP
            if not body.startswith(_JPEG_XMP):
                return None
            info["xmp"] = body.split(b"\0", 1)[1]
        elif marker == 0xEE and whole:  # Adobe: CMYK, YCCK or untransformed RGB
            return None
        elif marker == 0xE2 and whole and body.startswith(b"MPF\0"):
            return None  # a multi-picture file: Pillow reads it as MPO
        pos += 2 + length
    return None
