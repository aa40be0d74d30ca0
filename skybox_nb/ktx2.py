"""KTX 2.0 files of uncompressed float textures: 2D images and cube maps with mip levels.

Invariant: `write_ktx2` lays out exactly what the Khronos KTX 2.0 specification
(sections 3-4: header, index, level index, data format descriptor, key/value data, mip
level array) asks for an uncompressed, not supercompressed texture, and `read_ktx2`
reads such a file back to the same arrays, checking every offset and length it meets;
a file that `read_ktx2` accepts is one the writer could have written.

Why written here: no package on PyPI writes uncompressed float cube maps with mips
without libktx (``pyktx`` binds libktx, which no registry here ships; ``alktx2`` makes
Basis Universal textures; ``pyktx2`` only parses). The format is small: 80 bytes of
header and index, 24 bytes a level, a 92-byte descriptor.

Layout choices: half floats (``VK_FORMAT_R16G16B16A16_SFLOAT`` for RGB(A), alpha 1;
``R16G16_SFLOAT`` for two channels) or 32-bit floats with ``dtype=np.float32``; linear
BT.709 colour; cube faces in the specification's order +X, -X, +Y, -Y, +Z, -Z, rows top
first (``KTXorientation`` "rd"); levels stored smallest first, each aligned to 8 bytes.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .files import commit_file, temp_path

__all__ = ["write_ktx2", "read_ktx2", "Ktx2Texture", "IDENTIFIER", "VK_FORMATS",
           "check_levels", "texel_levels"]

IDENTIFIER = b"\xabKTX 20\xbb\r\n\x1a\n"
# (dtype char, channels) -> vkFormat
VK_FORMATS = {("e", 1): 76, ("e", 2): 83, ("e", 4): 97,
              ("f", 1): 100, ("f", 2): 103, ("f", 4): 109}
_FORMAT_OF = {v: k for k, v in VK_FORMATS.items()}
_CHANNEL_IDS = {1: (0,), 2: (0, 1), 4: (0, 1, 2, 15)}  # KHR_DF_CHANNEL_RGBSDA_R, G, B, ALPHA
_FLOAT_LOWER, _FLOAT_UPPER = 0xBF800000, 0x3F800000  # -1.0f and 1.0f, as the spec's tables
_HEADER = struct.Struct("<12s9I")
_INDEX = struct.Struct("<4I2Q")
_LEVEL = struct.Struct("<3Q")


def check_levels(levels: Sequence[np.ndarray], what: str = "levels") -> tuple[int, int]:
    """Check a mip chain: each level (F, S, S, C) or (S, W, C) for one image, level i
    exactly half level i-1 (rounded down, at least 1). Returns (faces, channels)."""
    if not levels:
        raise ValueError(f"{what}: got no level; allowed: one array per mip level")
    first = np.asarray(levels[0])
    if first.ndim != 4 or first.shape[0] not in (1, 6) or first.shape[3] not in (1, 2, 3, 4):
        raise ValueError(f"{what}[0]: shape {first.shape}; allowed: (6, S, S, C) for a cube "
                         "or (1, H, W, C) for an image, C = 1, 2, 3 or 4")
    faces, h, w, c = first.shape
    for i, lv in enumerate(levels):
        want = (faces, max(1, h >> i), max(1, w >> i), c)
        if np.shape(lv) != want:
            raise ValueError(f"{what}[{i}]: shape {np.shape(lv)}; expected {want} (each level "
                             "half the one before)")
    return faces, c


def texel_levels(levels: Sequence[np.ndarray], dtype: type) -> tuple[list[np.ndarray], int]:
    """The checked mip chain as little-endian ``dtype`` arrays (float16 or float32), RGB
    given alpha 1 (GPUs have no 3-channel float formats worth using); returns (arrays,
    stored channels). Shared by the KTX2 and DDS writers."""
    _, c = check_levels(levels)
    char = np.dtype(dtype).char
    if char not in ("e", "f"):
        raise ValueError(f"dtype: got {dtype!r}; allowed: numpy.float16 or numpy.float32")
    out = []
    for lv in levels:
        a = np.asarray(lv, np.float32)
        if c == 3:
            a = np.concatenate([a, np.ones((*a.shape[:3], 1), np.float32)], axis=3)
        if not np.isfinite(a).all():
            raise ValueError("levels: NaN or infinite values; allowed: finite numbers")
        out.append(np.ascontiguousarray(a.astype(f"<{char}")))
    return out, out[0].shape[3]


def _dfd(bytes_per_texel: int, channels: int, bits: int) -> bytes:
    samples = b"".join(
        struct.pack("<HBBI2I", i * bits, bits - 1, ch | 0x80 | 0x40, 0, _FLOAT_LOWER,
                    _FLOAT_UPPER)  # channel | KHR_DF_SAMPLE_DATATYPE_FLOAT | _SIGNED
        for i, ch in enumerate(_CHANNEL_IDS[channels]))
    block_size = 24 + len(samples)
    block = struct.pack("<II4B4B8B", 0, 2 | (block_size << 16),
                        1, 1, 1, 0,  # RGBSDA model, BT.709 primaries, linear, straight alpha
                        0, 0, 0, 0,  # texel block 1x1x1x1
                        bytes_per_texel, 0, 0, 0, 0, 0, 0, 0) + samples
    return struct.pack("<I", 4 + len(block)) + block


def _kvd(pairs: dict[str, str]) -> bytes:
    out = b""
    for key in sorted(pairs):  # the specification orders keys by their bytes
        kv = key.encode() + b"\0" + pairs[key].encode() + b"\0"
        out += struct.pack("<I", len(kv)) + kv + b"\0" * (-len(kv) % 4)
    return out


def write_ktx2(levels: Sequence[np.ndarray], path: str | os.PathLike,
               dtype: type = np.float16, writer: str = "skybox-nb") -> Path:
    """Write a cube map (each level (6, S, S, C), faces +X -X +Y -Y +Z -Z) or an image
    (each level (1, H, W, C)) with its mip levels to a KTX 2.0 file; RGB gets alpha 1.
    ``dtype`` np.float16 (default) or np.float32. Atomic; returns the path."""
    faces, _ = check_levels(levels)
    arrays, stored = texel_levels(levels, dtype)
    char = np.dtype(dtype).char
    vk = VK_FORMATS[(char, stored)]
    size = np.dtype(dtype).itemsize
    texel = size * stored
    data = [a.tobytes() for a in arrays]
    n = len(levels)
    dfd = _dfd(texel, stored, 8 * size)
    kvd = _kvd({"KTXwriter": writer, "KTXorientation": "rd"})
    dfd_off = _HEADER.size + _INDEX.size + _LEVEL.size * n
    kvd_off = dfd_off + len(dfd)
    end = kvd_off + len(kvd)
    align = texel * 4 // np.gcd(texel, 4)  # lcm(texel size, 4)
    offsets = [0] * n
    for i in reversed(range(n)):  # smallest level first in the file
        end += -end % align
        offsets[i] = end
        end += len(data[i])
    _, h, w, _ = np.shape(levels[0])
    head = _HEADER.pack(IDENTIFIER, vk, size, w, h, 0, 0, faces, n, 0)
    index = _INDEX.pack(dfd_off, len(dfd), kvd_off, len(kvd), 0, 0)
    level_index = b"".join(_LEVEL.pack(offsets[i], len(data[i]), len(data[i])) for i in range(n))
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(head + index + level_index + dfd + kvd)
            for i in reversed(range(n)):
                f.write(b"\0" * (offsets[i] - f.tell()))
                f.write(data[i])
        return commit_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Ktx2Texture:
    """What `read_ktx2` found: ``levels`` as float32 arrays shaped like the writer's
    input (alpha kept), plus the header fields and key/value pairs."""

    levels: list[np.ndarray]
    vk_format: int
    faces: int
    width: int
    height: int
    metadata: dict[str, str]


def _fail(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: not a KTX 2.0 file this package reads: {why}")


def read_ktx2(path: str | os.PathLike) -> Ktx2Texture:
    """Read an uncompressed float KTX 2.0 texture (what `write_ktx2` writes), checking the
    identifier, header, every offset and length, and the data format descriptor."""
    path = Path(path)
    buf = path.read_bytes()
    if len(buf) < _HEADER.size + _INDEX.size or not buf.startswith(IDENTIFIER):
        raise _fail(path, "no KTX 2.0 identifier")
    _, vk, type_size, w, h, depth, layers, faces, n, scheme = _HEADER.unpack_from(buf, 0)
    if vk not in _FORMAT_OF:
        raise _fail(path, f"vkFormat {vk} is not an uncompressed float format")
    char, c = _FORMAT_OF[vk]
    if type_size != np.dtype(char).itemsize or depth or layers or scheme or faces not in (1, 6):
        raise _fail(path, f"typeSize {type_size}, depth {depth}, layers {layers}, "
                    f"supercompression {scheme}, faces {faces}")
    if faces == 6 and w != h:
        raise _fail(path, f"a cube map of {w}x{h} faces")
    dfd_off, dfd_len, kvd_off, kvd_len, sgd_off, sgd_len = _INDEX.unpack_from(buf, _HEADER.size)
    n = max(1, n)
    if dfd_off + dfd_len > len(buf) or kvd_off + kvd_len > len(buf) or sgd_len:
        raise _fail(path, "index points past the end")
    (total,) = struct.unpack_from("<I", buf, dfd_off)
    model, primaries, transfer = buf[dfd_off + 12], buf[dfd_off + 13], buf[dfd_off + 14]
    texel = buf[dfd_off + 20]
    if total != dfd_len or (model, primaries, transfer) != (1, 1, 1) \
            or texel != c * type_size:
        raise _fail(path, f"data format descriptor (size {total}, model {model}, "
                    f"transfer {transfer}, texel {texel} bytes)")
    meta: dict[str, str] = {}
    pos = kvd_off
    while pos < kvd_off + kvd_len:
        (ln,) = struct.unpack_from("<I", buf, pos)
        key, _, value = buf[pos + 4:pos + 4 + ln].partition(b"\0")
        meta[key.decode()] = value.rstrip(b"\0").decode()
        pos += 4 + ln + (-ln % 4)
    levels = []
    for i in range(n):
        off, length, raw = _LEVEL.unpack_from(buf, _HEADER.size + _INDEX.size + i * _LEVEL.size)
        lw, lh = max(1, w >> i), max(1, h >> i)
        want = faces * lh * lw * c * type_size
        if length != want or raw != want or off % 4 or off + length > len(buf):
            raise _fail(path, f"level {i}: offset {off}, {length} bytes; expected {want}")
        a = np.frombuffer(buf, f"<{char}", faces * lh * lw * c, off)
        levels.append(a.reshape(faces, lh, lw, c).astype(np.float32))
    return Ktx2Texture(levels, vk, faces, w, h, meta)
