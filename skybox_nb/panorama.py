"""`Panorama`: an equirectangular image with its metadata, loaded from anything.

Invariant: a `Panorama` holds a read-only (H, W, C) array, C in {1, 3, 4}, of dtype
uint8, uint16 or float32 (finite values), at least 8 x 16 pixels and at most
`MAX_PIXELS`, whose width is twice its height unless the caller chose otherwise
(``ratio=`` of `Panorama.load`). Arrays passed in are wrapped, not copied. Its Jupyter
display is a downscaled JPEG/PNG, never the full-size image. ``save`` writes GPano XMP so
photo apps and 360 viewers recognise the file as a panorama.
"""

from __future__ import annotations

import base64
import html
import io
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Union

import numpy as np

from . import imagehead
from . import sidecar as sidecars
from .codec import DEFAULT_COMPRESSION, DEFAULT_QUALITY, decode_opencv, encode
from .formats import FORMATS, by_suffix

if TYPE_CHECKING:  # Pillow is imported where it is used: a plain PNG or JPEG needs none
    from PIL import Image

__all__ = ["Panorama", "PanoramaError", "as_array", "check_ratio", "to_uint8", "write_image",
           "gpano_xmp", "image_size", "MAX_PIXELS", "MIN_HEIGHT"]

MIN_HEIGHT = 8
MAX_PIXELS = 16384 * 8192  # 16K panoramas are the largest any viewer takes
_RATIO_TOLERANCE = 0.02  # within 2% of 2:1 is accepted with a warning (e.g. 2048x1023)
_RATIO_MODES = ("check", "warn", "pad", "crop", "stretch", "ignore")

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, "Image.Image", np.ndarray,
               "Panorama"]


class PanoramaError(ValueError):
    """An image that cannot be used as an equirectangular panorama; says what to do."""


# ---------------------------------------------------------------- arrays and checks

def _validate_array(arr: np.ndarray, what: str = "image") -> np.ndarray:
    """The (H, W, C) view of ``arr`` after checking dtype, shape, size and finiteness."""
    if not isinstance(arr, np.ndarray):
        raise PanoramaError(f"{what}: expected a numpy array, got {type(arr).__name__}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.float64 or arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype not in (np.uint8, np.uint16, np.float32):
        raise PanoramaError(
            f"{what}: dtype {arr.dtype} is not supported; allowed: uint8, uint16, float32/64 "
            "(floats are read as 0..1) or bool")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise PanoramaError(
            f"{what}: shape {arr.shape} is not an image; allowed: (H, W), (H, W, 1), "
            "(H, W, 3) or (H, W, 4)")
    h, w = arr.shape[:2]
    if h < MIN_HEIGHT or w < 2 * MIN_HEIGHT:
        raise PanoramaError(
            f"{what}: {w}x{h} pixels is too small; a panorama needs at least "
            f"{2 * MIN_HEIGHT}x{MIN_HEIGHT}")
    if h * w > MAX_PIXELS:
        raise PanoramaError(
            f"{what}: {w}x{h} pixels is too large; at most {MAX_PIXELS:,} pixels "
            "(16384x8192). Downscale it first.")
    if arr.dtype == np.float32 and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise PanoramaError(
            f"{what}: {bad} NaN or infinite value(s) in a float image; allowed: finite "
            "values (use np.nan_to_num to replace them)")
    return arr


def check_ratio(width: int, height: int, mode: str = "check") -> None:
    """Check that width:height is 2:1. ``mode``: "check" raises `PanoramaError` when it is
    more than 2% off and warns when slightly off; "warn" only warns; anything else passes.
    The message says what the image looks like and what to do."""
    if mode not in ("check", "warn"):
        return
    ratio = width / height
    if ratio == 2.0:
        return
    what = f"{width}x{height} is {ratio:.3g}:1, an equirectangular panorama is 2:1"
    if abs(ratio - 2.0) / 2.0 <= _RATIO_TOLERANCE:
        warnings.warn(f"{what}; this one is close enough and is used as it is. "
                      f"Resize to {2 * height}x{height} to silence this.", stacklevel=4)
        return
    if ratio < 2.0:
        looks = ("this looks like a regular photo, not an equirectangular panorama"
                 if 0.5 <= ratio <= 1.8 else "it is too tall for a 360x180 panorama")
        todo = ("If it really covers 360 degrees, pass ratio='stretch' to resize it to 2:1 "
                "or ratio='crop' to cut rows off top and bottom; ratio='ignore' uses it "
                "as it is.")
    else:
        looks = "it is wider than 2:1, like a panorama that does not reach the poles"
        todo = ("Pass ratio='pad' to add rows at the top and bottom (the poles become "
                "flat colour), ratio='crop' to cut columns, ratio='stretch' to resize, or "
                "ratio='ignore' to use it as it is.")
    msg = f"{what}: {looks}. {todo}"
    if mode == "check":
        raise PanoramaError(msg)
    warnings.warn(msg, stacklevel=4)


def _fit_ratio(arr: np.ndarray, mode: str) -> np.ndarray:
    """Make ``arr`` 2:1 by padding, cropping or resizing (``mode``), or return it."""
    h, w = arr.shape[:2]
    if mode not in ("pad", "crop", "stretch") or w == 2 * h:
        return arr
    if mode == "stretch":
        return _resize(arr, 2 * h if w < 2 * h else w, h if w < 2 * h else w // 2)
    if mode == "crop":
        if w > 2 * h:
            x0 = (w - 2 * h) // 2
            return arr[:, x0:x0 + 2 * h]
        h2 = w // 2
        y0 = (h - h2) // 2
        return arr[y0:y0 + h2]
    if w > 2 * h:  # pad rows with each edge row's mean colour: uniform poles
        extra = w // 2 - h
        top = extra // 2
        cap_n = np.broadcast_to(arr[0].mean(axis=0).astype(arr.dtype), (top, w, arr.shape[2]))
        cap_s = np.broadcast_to(arr[-1].mean(axis=0).astype(arr.dtype),
                                (extra - top, w, arr.shape[2]))
        return np.concatenate([cap_n, arr, cap_s], axis=0)
    raise PanoramaError(
        f"ratio='pad': {w}x{h} is narrower than 2:1 and padding columns would break the "
        "wrap seam; use ratio='crop' or ratio='stretch'")


def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    try:
        import cv2

        out = cv2.resize(arr, (width, height), interpolation=cv2.INTER_AREA)
        return out.reshape(height, width, arr.shape[2])
    except ImportError:  # pragma: no cover - depends on the environment
        from PIL import Image

        chans = [np.asarray(Image.fromarray(arr[:, :, c]).resize((width, height),
                                                                 Image.BOX))
                 for c in range(arr.shape[2])]
        return np.stack(chans, axis=2).astype(arr.dtype)


def as_array(src: Any, ratio: str = "check") -> np.ndarray:
    """The pixel array of a `Panorama` or anything `Panorama.load` takes, checked."""
    if isinstance(src, Panorama):
        return src.array
    if isinstance(src, np.ndarray):
        arr = _validate_array(src)
        check_ratio(arr.shape[1], arr.shape[0], ratio)
        return arr
    return Panorama.load(src, ratio=ratio).array


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """An 8-bit copy (or the array itself when already uint8): uint16 scaled, floats
    clipped to 0..1."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------- decoding

def _decode(im: Image.Image) -> np.ndarray:
    """Array of a PIL image after honouring EXIF orientation; keeps 16-bit and float."""
    from PIL import ImageOps

    im = ImageOps.exif_transpose(im)
    mode = im.mode
    if mode in ("RGB", "RGBA", "L"):
        return np.asarray(im)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(im).astype(np.uint16)
    if mode == "I":
        a = np.asarray(im)
        return np.clip(a, 0, 65535).astype(np.uint16)
    if mode == "F":
        return np.asarray(im, dtype=np.float32)
    if mode == "1":
        return np.asarray(im.convert("L"))
    if mode in ("LA", "PA") or (mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA"))
    return np.asarray(im.convert("RGB"))


def _is_16bit_rgb(im: Image.Image) -> bool:
    """True for 48/64-bit PNG/TIFF, which Pillow would decode to 8 bits per channel."""
    tile = getattr(im, "tile", None) or []
    return im.mode in ("RGB", "RGBA") and any(";16" in str(t[3]) for t in tile if len(t) > 3)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file as `Panorama.load` gives it (EXIF orientation
    applied), read from its header (by Pillow when it is not a PNG or JPEG whose first
    64 KB say it); raises OSError when it is not an image."""
    with open(path, "rb") as f:
        first = f.read(1 << 16)
    size = imagehead.size(first)
    if size is not None:
        return size
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size  # a TIFF's is already turned (`_turn_after_opencv`)
        turned = im.format != "TIFF" and _orientation(Path(path), im) in (5, 6, 7, 8)
        return (h, w) if turned else (w, h)


def _is_pil_image(obj: Any) -> bool:
    """True for a PIL image, without importing Pillow: only a loaded Pillow makes one."""
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(obj, pil.Image)


def _too_large(w: int, h: int) -> None:
    if w * h > MAX_PIXELS:
        raise PanoramaError(f"image: {w}x{h} pixels is too large; at most {MAX_PIXELS:,} "
                            "pixels (16384x8192). Downscale it first.")


def _open(data: bytes | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode a file or bytes; returns the array and what the file says about itself."""
    plain = _open_plain(data)
    if plain is not None:
        return plain
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
            _too_large(*im.size)
            info = _file_info(im)
            if _is_16bit_rgb(im):
                arr = _decode_16bit(data, im)
            else:
                arr = _decode_fast(data, im)
                if arr is None:
                    im.load()
                    arr = _decode(im)
            im.close()
    except PanoramaError:
        raise
    except Image.DecompressionBombError as e:
        raise PanoramaError(
            f"image: too large; at most {MAX_PIXELS:,} pixels (16384x8192), and Pillow "
            f"refused it as a possible decompression bomb: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        name = data if isinstance(data, Path) else f"{len(data)} bytes"
        why = str(e)
        if isinstance(e, Image.UnidentifiedImageError):  # its text names a BytesIO's address
            why = ("not an image in a format this reads; allowed: an image file such as "
                   "PNG, JPEG, WebP or TIFF")
        raise PanoramaError(f"image: cannot decode {name}: {why}") from None
    return arr, info


def _open_plain(data: bytes | Path) -> tuple[np.ndarray, dict[str, Any]] | None:
    """`_open` of a plain PNG or JPEG (`imagehead.plain`: its header read here, its pixels
    by OpenCV, no Pillow import: a tenth of a cold check), or None when Pillow should
    open it (and then says what is wrong with a broken file)."""
    try:
        raw = data if isinstance(data, bytes) else data.read_bytes()
    except OSError:
        return None
    head = imagehead.plain(raw)
    if head is None or (head.fmt == "JPEG" and not _ends_with_eoi(raw)):
        return None  # truncated JPEG: OpenCV would grey the rest, Pillow raises
    _too_large(head.width, head.height)
    arr = decode_opencv(raw, head.mode, head.fmt)
    if arr is None or arr.shape[:2] != (head.height, head.width):
        return None
    return (arr if arr.ndim == 3 else arr[:, :, None]), _facts(head.info)


def _decode_fast(data: bytes | Path, im: Image.Image) -> np.ndarray | None:
    """The pixels decoded by OpenCV (`codec.decode_opencv`: faster than Pillow for
    JPEG, and without Pillow's second copy of the image) with EXIF orientation applied,
    or None when Pillow should decode this file."""
    if im.format == "JPEG" and not _ends_with_eoi(data):
        return None  # truncated: OpenCV would return a partly grey image, Pillow raises
    arr = decode_opencv(data if isinstance(data, bytes) else str(data), im.mode, im.format)
    if arr is None:
        return None
    return _orient(arr if arr.ndim == 3 else arr[:, :, None], _turn_after_opencv(data, im))


def _turn_after_opencv(data: bytes | Path, im: Image.Image) -> int:
    """The EXIF orientation still to apply to OpenCV's pixels of a file: 1 for a TIFF,
    whose orientation tag OpenCV's reader (like Pillow's) has applied already."""
    return 1 if im.format == "TIFF" else _orientation(data, im)


def _orientation(data: bytes | Path, im: Image.Image) -> int:
    """The EXIF orientation (1..8; 1 when none). Pillow's ``getexif`` on a PNG decodes
    the whole image to look for an eXIf chunk after the pixels (as long again as the
    decode itself): a PNG without those four bytes (nor ImageMagick's EXIF text) has none."""
    if im.format == "PNG":
        raw = data if isinstance(data, bytes) else Path(data).read_bytes()
        if not imagehead.png_may_have_exif(raw):
            return 1
    return im.getexif().get(0x0112, 1)


def _ends_with_eoi(data: bytes | Path) -> bool:
    """True when a JPEG's last bytes (trailing padding allowed) hold its EOI marker."""
    if isinstance(data, bytes):
        tail = data[-4096:]
    else:
        with open(data, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read()
    return b"\xff\xd9" in tail


def _decode_16bit(data: bytes | Path, im: Image.Image) -> np.ndarray:
    try:
        import cv2
    except ImportError:  # pragma: no cover
        im.load()
        return _decode(im)
    raw = np.frombuffer(data if isinstance(data, bytes) else data.read_bytes(), np.uint8)
    arr = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.ndim != 3:
        im.load()
        return _decode(im)
    arr = arr[:, :, [2, 1, 0, 3][: arr.shape[2]]]  # BGR(A) -> RGB(A)
    return _orient(arr, _turn_after_opencv(data, im))


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an array, as ImageOps.exif_transpose does."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: np.rot90(a.transpose(1, 0, 2), 2), 8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(ops[orientation](arr)) if orientation in ops else arr


def _file_info(im: Image.Image) -> dict[str, Any]:
    """What the file says about itself: XMP projection, and a Software text naming the
    offline emulator."""
    return _facts(im.info)


def _facts(info: Mapping[str, Any]) -> dict[str, Any]:
    """`_file_info` of a Pillow ``im.info`` (or what `imagehead` read of it)."""
    out: dict[str, Any] = {}
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, bytes):
        xmp = xmp.decode("utf-8", "replace")
    if "equirectangular" in xmp:
        out["projection"] = "equirectangular"
    software = str(info.get("Software", ""))
    if "emulator" in software.lower():
        out["source"] = "emulator"
    return out


# ---------------------------------------------------------------- metadata

# ---------------------------------------------------------------- XMP

def gpano_xmp(width: int, height: int) -> str:
    """The XMP packet (GPano namespace) that marks a full 360x180 equirect image."""
    fields = {
        "ProjectionType": "equirectangular",
        "UsePanoramaViewer": "True",
        "FullPanoWidthPixels": width,
        "FullPanoHeightPixels": height,
        "CroppedAreaImageWidthPixels": width,
        "CroppedAreaImageHeightPixels": height,
        "CroppedAreaLeftPixels": 0,
        "CroppedAreaTopPixels": 0,
    }
    attrs = "\n".join(f'   GPano:{k}="{v}"' for k, v in fields.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '   xmlns:GPano="http://ns.google.com/photos/1.0/panorama/"\n'
        f"{attrs}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


def write_image(arr: np.ndarray, path: str | os.PathLike, xmp: str | None = None,
                quality: int = DEFAULT_QUALITY, compression: int = DEFAULT_COMPRESSION) -> Path:
    """Write ``arr`` to ``path`` (format from the suffix: png, jpg, webp, tif), with the
    XMP packet when given (not in tif). 16-bit and float images are written as 8 bits.
    ``quality`` 1..100 is for jpg and webp, ``compression`` 0..9 for png (`codec.encode`:
    OpenCV's encoders; the default PNG level is fast and small). Returns the path."""
    path = Path(path)
    kind = by_suffix(path.suffix)
    if kind is None:
        raise PanoramaError(
            f"path: suffix {path.suffix!r} is not supported; allowed: "
            + ", ".join(s for f in FORMATS for s in f.suffixes))
    a = to_uint8(_validate_array(arr, "array")) if arr.dtype != np.uint8 else arr
    data = encode(a, kind.suffix, quality=quality, compression=compression,
                  xmp=xmp if kind.xmp else None)
    # Written beside the target and renamed into place: an export interrupted halfway
    # (full disk, killed kernel) never leaves a half-written image under the real name.
    from .files import commit_file, temp_path  # here: reading a panorama needs no writer

    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        return commit_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- the class

class Panorama:
    """An equirectangular panorama: ``array`` (H, W, C) plus ``metadata``.

    Build it with `Panorama.load` (path, bytes, PIL image, array or Panorama) or directly
    from an array. ``metadata`` holds what is known about the image: from the client's
    JSON sidecar (prompt, style, seed, job_id, asset_id, source "emulator" or
    "scenario"), from the file itself, and anything passed in.
    """

    def __init__(self, array: np.ndarray, metadata: Mapping[str, Any] | None = None,
                 *, path: str | os.PathLike | None = None, ratio: str = "check") -> None:
        if ratio not in _RATIO_MODES:
            raise PanoramaError(f"ratio: got {ratio!r}; allowed: {', '.join(_RATIO_MODES)}")
        arr = _fit_ratio(_validate_array(array), ratio)
        check_ratio(arr.shape[1], arr.shape[0], ratio)
        view = arr.view()
        view.setflags(write=False)  # shared with the caller: never written through
        self._array = view
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.path: Path | None = Path(path) if path is not None else None

    @classmethod
    def load(cls, src: Source, *, metadata: Mapping[str, Any] | None = None,
             ratio: str = "check") -> "Panorama":
        """Load a panorama from a path, bytes, a PIL image, an array or a Panorama.

        RGB, RGBA, L, palette, 16-bit (I;16, 48-bit PNG with OpenCV, uint16 arrays) and
        float images are kept at their depth; EXIF orientation is applied. ``ratio``
        says what to do when the image is not 2:1: "check" (raise, with advice), "warn",
        "pad", "crop", "stretch" or "ignore". Raises `PanoramaError` for anything that
        is not a usable image, and FileNotFoundError for a missing file.
        """
        meta: dict[str, Any] = {}
        path = None
        if isinstance(src, Panorama):
            arr, meta, path = src.array, dict(src.metadata), src.path
        elif isinstance(src, np.ndarray):
            arr = src
        elif _is_pil_image(src):
            arr = _decode(src)
            meta.update(_file_info(src))
        elif isinstance(src, (bytes, bytearray, memoryview)):
            arr, info = _open(bytes(src))
            meta.update(info)
        elif isinstance(src, (str, os.PathLike)):
            path = Path(src)
            if not path.is_file():
                raise FileNotFoundError(f"panorama: no such file: {path}")
            arr, info = _open(path)
            meta.update(info)
            meta.update(sidecars.read(path))
            meta.setdefault("file", path.name)
        else:
            raise PanoramaError(
                f"src: got {type(src).__name__}; allowed: a path, bytes, a PIL image, a "
                "numpy array or a Panorama")
        meta.update(metadata or {})
        return cls(arr, meta, path=path, ratio=ratio)

    # -- plain properties

    @property
    def array(self) -> np.ndarray:
        """The pixels, (H, W, C), read-only."""
        return self._array

    @property
    def width(self) -> int:
        return int(self._array.shape[1])

    @property
    def height(self) -> int:
        return int(self._array.shape[0])

    @property
    def channels(self) -> int:
        return int(self._array.shape[2])

    @property
    def source(self) -> str | None:
        """Where the image came from, when known: "emulator" or "scenario"."""
        return self.metadata.get("source")

    def __repr__(self) -> str:
        bits = f"{self.width}x{self.height}x{self.channels} {self._array.dtype}"
        extra = "".join(f", {k}={self.metadata[k]!r}" for k in ("source", "seed", "style")
                        if k in self.metadata)
        return f"Panorama({bits}{extra})"

    # -- pictures

    def thumbnail(self, max_width: int = 512) -> Image.Image:
        """A downscaled 8-bit PIL image at most ``max_width`` wide (area-averaged)."""
        from PIL import Image

        if max_width < 2:
            raise PanoramaError(f"max_width: got {max_width!r}; allowed: an integer >= 2")
        w = min(self.width, int(max_width))
        h = max(1, round(w * self.height / self.width))
        a = self._array
        if w != self.width:
            a = _resize(np.ascontiguousarray(a), w, h)
        a = to_uint8(a)
        return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.thumbnail(1024).save(buf, format="PNG", compress_level=1)
        return buf.getvalue()

    def _repr_html_(self) -> str:
        im = self.thumbnail(1024)
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=85)
        b64 = base64.b64encode(buf.getvalue()).decode("ascii")
        caption = html.escape(repr(self))
        prompt = self.metadata.get("prompt")
        if prompt:
            caption += "<br>" + html.escape(str(prompt)[:200])
        return (f'<figure style="margin:0"><img src="data:image/jpeg;base64,{b64}" '
                f'style="max-width:100%" alt="panorama"/><figcaption style="font-size:'
                f'small">{caption}</figcaption></figure>')

    # -- saving

    def save(self, path: str | os.PathLike, quality: int = 95,
             sidecar: bool = True) -> Path:
        """Write the image with GPano XMP (png, jpg, webp; tif without XMP) and, when
        there is metadata and ``sidecar``, a ``<stem>.json`` next to it, replacing the
        one of a file saved there before (an old sidecar with no metadata to replace it
        is removed: it described the old image). Returns the image path."""
        out = write_image(self._array, path, xmp=gpano_xmp(self.width, self.height),
                          quality=quality)
        if sidecar and self.metadata:
            sidecars.write_metadata(out, self.metadata)
        else:
            sidecars.remove_if_describes(out)
        return out
