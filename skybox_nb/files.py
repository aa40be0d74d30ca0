"""Files in the library: safe names, and writes that are all or nothing.

Invariant: a path under the library is built only from validated ids (`safe_id`), output
indexes and `slug()` text, never from a raw server string; a file appears at its final
name only after it was fully written, fsynced and (for images) decoded by Pillow, so a
crash or a cut download never leaves a partial file under a real name. A file written
this way gets the permissions the umask allows, as ``open()`` would give it (``mkstemp``
alone makes it private, 0600).
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import ProtocolError
from .formats import API_FORMATS
from .processes import pid_alive

__all__ = [
    "safe_id",
    "slug",
    "temp_path",
    "remove_stale_temps",
    "pid_alive",
    "verify_image",
    "commit_file",
    "finalize_image",
    "write_json_atomic",
    "png_bytes",
    "IMAGE_EXTENSIONS",
]

_ID_RE = re.compile(r"(job|asset)_[A-Za-z0-9]+")
# Pillow format name -> file extension, of the formats Scenario serves.
IMAGE_EXTENSIONS = {f.pillow: f.suffix for f in API_FORMATS}


def safe_id(value: Any, kind: str | None = None) -> str:
    """Return ``value`` when it is a Scenario id (``job_...``/``asset_...``, base62).

    ``kind`` ("job" or "asset") narrows the prefix. Raises ``ProtocolError`` otherwise, so
    a server string can never smuggle ``../`` or a separator into a path or a URL.
    """
    if not isinstance(value, str) or not _ID_RE.fullmatch(value) or len(value) > 100:
        raise ProtocolError(f"not a valid {kind or 'job/asset'} id: {str(value)[:60]!r}; "
                            "expected 'job_' or 'asset_' followed by letters and digits")
    if kind is not None and not value.startswith(kind + "_"):
        raise ProtocolError(f"expected a {kind} id, got {value[:60]!r}")
    return value


def slug(text: str, max_len: int = 40) -> str:
    """A file-name-safe slug of ``text``: ASCII letters, digits and single dashes.

    Returns ``"skybox"`` when nothing usable remains.
    """
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    s = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()
    s = s[:max_len].rstrip("-")
    return s or "skybox"


def temp_path(dest: Path) -> Path:
    """A fresh hidden temporary file beside ``dest`` (same directory, so the final
    ``os.replace`` is an atomic rename on the same file system). Its name carries our
    process id, so `remove_stale_temps` can tell a dead writer's leftovers apart."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=".part",
                                dir=dest.parent)
    try:  # mkstemp makes it 0600; the final file gets what open() would have given it
        if hasattr(os, "fchmod"):  # POSIX (Windows has ACLs, not these bits)
            os.fchmod(fd, 0o666 & ~_umask())
    except OSError:  # a file system without modes (some network mounts): keep mkstemp's
        pass
    finally:
        os.close(fd)
    return Path(name)


def _umask() -> int:
    """The process umask, read where the kernel shows it (Linux); elsewhere by setting
    it and setting it back at once (a thread creating a file in that instant would get
    0o077, stricter, never looser)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


_TEMP_RE = re.compile(r"\.(\d+)\.[A-Za-z0-9_]+\.part$")


def remove_stale_temps(directory: Path) -> int:
    """Delete the temporary files in ``directory`` whose writing process died (killed
    mid-download, say); live writers' files are left alone. Returns how many went."""
    removed = 0
    for p in Path(directory).glob(".*.part"):
        hit = _TEMP_RE.search(p.name)
        if hit and not pid_alive(int(hit.group(1))):
            p.unlink(missing_ok=True)
            removed += 1
    return removed


def verify_image(path: Path) -> tuple[str, int, int]:
    """Decode the image at ``path`` fully once; return (Pillow format, width, height).

    Raises ``ProtocolError`` when it is not a complete image in a known format.
    """
    try:
        with Image.open(path) as im:
            im.load()
            fmt, (w, h) = im.format or "", im.size
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ProtocolError(f"the downloaded file is not a complete image ({e})") from None
    if fmt not in IMAGE_EXTENSIONS:
        raise ProtocolError(f"the downloaded image is {fmt or 'of unknown format'}; expected "
                            f"one of {', '.join(IMAGE_EXTENSIONS)}")
    return fmt, w, h


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the rename still happened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit_file(tmp: Path, dest: Path) -> Path:
    """fsync ``tmp`` and atomically rename it to ``dest``; returns ``dest``."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)
    return dest


def finalize_image(tmp: Path, dest: Path) -> Path:
    """Prove ``tmp`` is a complete image, then move it to ``dest`` with the extension of
    its real format (``.png``, ``.jpg``, ``.webp``); returns the final path. Raises
    ``ProtocolError`` (leaving ``tmp`` for the caller to delete) when it does not decode."""
    fmt, _, _ = verify_image(tmp)
    return commit_file(tmp, dest.with_suffix(IMAGE_EXTENSIONS[fmt]))


def write_json_atomic(dest: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``dest`` atomically; returns ``dest``."""
    tmp = temp_path(dest)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False, default=str)
            f.write("\n")
        return commit_file(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def png_bytes(image: Image.Image) -> bytes:
    """Encode a PIL image as PNG bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
