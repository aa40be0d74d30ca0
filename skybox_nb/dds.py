"""DirectDraw Surface files of uncompressed float textures: cube maps and images with mips.

Invariant: `write_dds` writes the ``DDS_HEADER`` plus the ``DDS_HEADER_DXT10`` extension
(Microsoft's documented layout) for ``DXGI_FORMAT_R16G16B16A16_FLOAT`` /
``R32G32B32A32_FLOAT`` (RGB gets alpha 1) or their two-channel forms, and `read_dds`
reads such a file back to the same arrays. Data is face-major, as Direct3D stores it:
every mip of +X, then every mip of -X, ... (KTX 2.0 is level-major; see `ktx2`). Pillow
reads DDS, but not float cube maps, and no maintained package writes them.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

from .files import commit_file, temp_path
from .ktx2 import check_levels, texel_levels

__all__ = ["write_dds", "read_dds", "DXGI_FORMATS"]

DXGI_FORMATS = {("e", 2): 34, ("e", 4): 10, ("f", 2): 16, ("f", 4): 2}
_FORMAT_OF = {v: k for k, v in DXGI_FORMATS.items()}
_DDSD = 0x1 | 0x2 | 0x4 | 0x8 | 0x1000 | 0x20000  # caps height width pitch pixelformat mipcount
_CAPS_COMPLEX, _CAPS_TEXTURE, _CAPS_MIPMAP = 0x8, 0x1000, 0x400000
_CAPS2_CUBE_ALL = 0x200 | 0xFC00  # DDSCAPS2_CUBEMAP and its six faces
_DDPF_FOURCC = 0x4
_MISC_TEXTURECUBE = 0x4
_DIMENSION_TEXTURE2D = 3
_HEADER = struct.Struct("<4s7I44s2I4s5I5I")  # magic, DDS_HEADER (124 bytes)
_DX10 = struct.Struct("<5I")


def write_dds(levels: Sequence[np.ndarray], path: str | os.PathLike,
              dtype: type = np.float16) -> Path:
    """Write a cube map (each level (6, S, S, C), faces +X -X +Y -Y +Z -Z, rows top
    first) or an image (each level (1, H, W, C)) with its mips as a DDS file with the
    DX10 header. Atomic; returns the path."""
    faces, c = check_levels(levels)
    if c not in (2, 3, 4):
        raise ValueError(f"levels: {c} channels; allowed: 2, 3 or 4")
    arrays, stored = texel_levels(levels, dtype)
    char = np.dtype(dtype).char
    _, h, w, _ = np.shape(levels[0])
    n = len(levels)
    caps = _CAPS_TEXTURE | (_CAPS_COMPLEX | _CAPS_MIPMAP if n > 1 else 0)
    caps |= _CAPS_COMPLEX if faces == 6 else 0
    pitch = w * stored * np.dtype(dtype).itemsize
    pixel_format = (32, _DDPF_FOURCC, b"DX10", 0, 0, 0, 0, 0)
    head = _HEADER.pack(b"DDS ", 124, _DDSD, h, w, pitch, 0, n, b"\0" * 44, *pixel_format,
                        caps, _CAPS2_CUBE_ALL if faces == 6 else 0, 0, 0, 0)
    dx10 = _DX10.pack(DXGI_FORMATS[(char, stored)], _DIMENSION_TEXTURE2D,
                      _MISC_TEXTURECUBE if faces == 6 else 0, 1, 0)
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(head + dx10)
            for face in range(faces):
                for a in arrays:
                    f.write(np.ascontiguousarray(a[face]).tobytes())
        return commit_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_dds(path: str | os.PathLike) -> list[np.ndarray]:
    """Read a DX10 float DDS (what `write_dds` writes) back to its levels, each
    (F, H, W, C) float32, checking the header and the file's length."""
    path = Path(path)
    buf = path.read_bytes()
    if len(buf) < _HEADER.size + _DX10.size or not buf.startswith(b"DDS "):
        raise ValueError(f"{path}: not a DDS file (no 'DDS ' magic)")
    fields = _HEADER.unpack_from(buf, 0)
    size, h, w, mips, pf_size, pf_flags, fourcc = (fields[1], fields[3], fields[4], fields[7],
                                                   fields[9], fields[10], fields[11])
    caps2 = fields[18]
    if size != 124 or pf_size != 32 or not pf_flags & _DDPF_FOURCC or fourcc != b"DX10":
        raise ValueError(f"{path}: not a DDS file with the DX10 header this package writes")
    fmt, dim, misc, array_size, _ = _DX10.unpack_from(buf, _HEADER.size)
    if fmt not in _FORMAT_OF or dim != _DIMENSION_TEXTURE2D or array_size != 1:
        raise ValueError(f"{path}: DXGI format {fmt}, dimension {dim}, array size "
                         f"{array_size}; this reader takes float 2D textures and cubes")
    char, c = _FORMAT_OF[fmt]
    cube = bool(misc & _MISC_TEXTURECUBE)
    if cube != ((caps2 & _CAPS2_CUBE_ALL) == _CAPS2_CUBE_ALL):
        raise ValueError(f"{path}: the DX10 cube flag and the DDS cube caps disagree")
    faces, n = (6 if cube else 1), max(1, mips)
    dims = [(max(1, h >> i), max(1, w >> i)) for i in range(n)]
    item = np.dtype(char).itemsize
    want = faces * sum(lh * lw for lh, lw in dims) * c * item
    pos = _HEADER.size + _DX10.size
    if len(buf) - pos != want:
        raise ValueError(f"{path}: {len(buf) - pos} bytes of data; expected {want}")
    levels = [np.empty((faces, lh, lw, c), np.float32) for lh, lw in dims]
    for face in range(faces):
        for i, (lh, lw) in enumerate(dims):
            count = lh * lw * c
            levels[i][face] = np.frombuffer(buf, f"<{char}", count, pos).reshape(lh, lw, c)
            pos += count * item
    return levels
