"""Moving images: checking and encoding an upload, downloading an asset into a file.

Invariant: an upload is checked (kind, size, pixel values) before a byte is sent and is
refused with an ``InvalidError`` naming the problem; a PNG, JPEG or WebP file goes as its
own bytes (only other images are encoded, as PNG); a ``POST /assets`` JSON body stays
under `DATA_URL_MAX_BODY`, and a larger file (or one the gateway refuses with a 413) goes
through ``POST /uploads`` in presigned parts (`multipart`); a download lands at its final path
only complete and decodable (streamed to a temp file beside it, verified, renamed), with
a stale presigned URL renewed and a cut transfer fetched again. An HDRi asset's original
file (``originalFileUrl``) is fetched the same way and proved by reading it as HDR.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, UnidentifiedImageError

from ..errors import InvalidError, ProtocolError, SkyboxError, TransportError, error_from_response
from ..files import IMAGE_EXTENSIONS, finalize_image, png_bytes, safe_id, slug, temp_path
from ..formats import by_pillow, listed
from ..models import Asset, parse_asset
from ..retry import RetryPolicy
from .calls import call, transport_error
from .effects import Call, Fetch, Fetched, Op, Sleep
from .multipart import upload_multipart

__all__ = ["UPLOAD_MAX_SIDE", "UPLOAD_MIN_SIDE", "UPLOAD_MAX_BYTES", "DATA_URL_MAX_BODY",
           "encode_upload", "data_url_body", "data_url_body_size", "get_asset", "download",
           "download_original", "download_dest", "check_fetch"]

log = logging.getLogger("skybox_nb.client")

# Upload limits: the sides and the file size we send at all.
UPLOAD_MAX_SIDE = 8192
UPLOAD_MIN_SIDE = 16
UPLOAD_MAX_BYTES = 30 * 1024 * 1024
# The largest JSON body of a data-URL ``POST /assets``. Scenario documents no limit, but
# the evidence hints at a gateway refusing JSON bodies near 10 MB (the facts file's "What
# the real service does"); 8 MiB keeps well under it. Beyond: ``POST /uploads``.
DATA_URL_MAX_BODY = 8 * 1024 * 1024
# Image modes a file may keep when sent as its own bytes; others are encoded as PNG.
_SENDABLE_MODES = ("RGB", "RGBA", "L")


def encode_upload(image: Any) -> tuple[bytes, str, str]:
    """Check an upload and give the bytes to send; returns (bytes, file name, MIME type).

    A path or bytes of a PNG, JPEG or WebP image in RGB, RGBA or L are sent as they are
    (a JPEG re-encoded as PNG would grow several times); anything else is encoded as PNG.
    Accepts a path, bytes, a PIL image or an array (HxW, HxWx3 or HxWx4; uint8, or
    floats in 0..1). Raises ``InvalidError`` naming the problem before anything is sent.
    """
    stem = "image"
    source: str | None = None  # the file as given, named in messages (else "the bytes")
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise InvalidError(f"image: got {str(path)!r}; expected an existing image file")
        if path.stat().st_size > UPLOAD_MAX_BYTES:
            raise InvalidError(f"image: {path.name} is {path.stat().st_size} bytes; at most "
                               f"{UPLOAD_MAX_BYTES} bytes can be uploaded")
        stem = slug(path.stem)
        source, image = str(image), path.read_bytes()
    raw = bytes(image) if isinstance(image, (bytes, bytearray, memoryview)) else None
    if raw is not None:
        allowed = (f"allowed: a {listed()} file" if source
                   else f"allowed: the bytes of a {listed()} image")
        unread = f"got {source!r}, which is" if source else "the bytes given are"
        try:
            pil = Image.open(io.BytesIO(raw))
            check_upload_size(*pil.size)  # from the header: never decode a bomb's pixels
            pil.load()
        except UnidentifiedImageError:  # Pillow's own message names only its BytesIO
            raise InvalidError(f"image: {unread} not a readable image (no image format "
                               f"recognised); {allowed}") from None
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise InvalidError(f"image: {unread} not a readable image ({e}); "
                               f"{allowed}") from None
        if pil.format not in IMAGE_EXTENSIONS:
            found = f"got {source!r}, a" if source else "the bytes given are a"
            raise InvalidError(f"image: {found} {pil.format} image; {allowed}")
    elif isinstance(image, Image.Image):
        pil = image
    elif hasattr(image, "__array_interface__") or type(image).__module__ == "numpy":
        pil = array_to_pil(image)
    else:
        raise InvalidError(f"image: got {type(image).__name__}; expected a file path, "
                           "bytes, a PIL image or a numpy array")
    check_upload_size(*pil.size)
    fmt = by_pillow(pil.format) if raw is not None else None
    if fmt is not None and pil.mode in _SENDABLE_MODES and len(raw) <= UPLOAD_MAX_BYTES:
        return raw, stem + fmt.suffix, fmt.mime  # a file's own bytes, unchanged
    if pil.mode not in ("RGB", "RGBA", "L"):
        try:
            pil = pil.convert("RGBA" if "A" in pil.getbands() else "RGB")
        except ValueError as e:  # modes Pillow cannot convert, e.g. "La"
            raise InvalidError(f"image: got a {pil.mode!r} image, which cannot be "
                               f"converted to RGB ({e}); expected RGB, RGBA or L") from None
    data = png_bytes(pil)
    if len(data) > UPLOAD_MAX_BYTES:
        raise InvalidError(f"image: {len(data)} bytes as PNG; at most {UPLOAD_MAX_BYTES} "
                           "(downscale it first)")
    return data, stem + ".png", "image/png"


def check_upload_size(w: int, h: int) -> None:
    if not (UPLOAD_MIN_SIDE <= w <= UPLOAD_MAX_SIDE and UPLOAD_MIN_SIDE <= h <= UPLOAD_MAX_SIDE):
        raise InvalidError(f"image: got {w}x{h} pixels; each side must be from "
                           f"{UPLOAD_MIN_SIDE} to {UPLOAD_MAX_SIDE}")


def array_to_pil(arr: Any) -> Image.Image:
    import numpy as np

    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise InvalidError(f"image: got an array of shape {a.shape}; expected HxW, HxWx3 "
                           "or HxWx4")
    # Before any pixel work: an empty array has nothing for min()/max() to reduce, and a
    # huge one should not be scanned only to be refused.
    check_upload_size(a.shape[1], a.shape[0])
    if a.dtype == np.uint8:
        return Image.fromarray(a)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise InvalidError("image: a float array must hold finite values from 0 to 1")
        return Image.fromarray((a * 255.0 + 0.5).astype(np.uint8))
    raise InvalidError(f"image: got an array of dtype {a.dtype}; expected uint8, or floats "
                       "from 0 to 1")


def data_url_body(data: bytes, name: str, mime: str) -> dict[str, str]:
    """The JSON body of ``POST /assets`` carrying ``data`` as a data URL."""
    return {"image": f"data:{mime};base64," + base64.b64encode(data).decode("ascii"),
            "name": name}


def data_url_body_size(data: bytes, name: str, mime: str) -> int:
    """Bytes of `data_url_body` as JSON (an upper bound: base64 needs no escaping),
    counted without building it."""
    frame = json.dumps({"image": f"data:{mime};base64,", "name": name})
    return len(frame.encode("utf-8")) + 4 * ((len(data) + 2) // 3)


def upload(retry: RetryPolicy, image: Any) -> Op[str]:
    """Check and upload an image; returns its asset id. Up to `DATA_URL_MAX_BODY` of
    JSON it is a data URL to ``POST /assets``; beyond, or when the gateway answers 413,
    it goes through ``POST /uploads`` in presigned parts. The check and any encode are
    blocking work, so they run as a `Call` (off the event loop in the async client)."""
    data, name, mime = yield Call(encode_upload, (image,))
    if data_url_body_size(data, name, mime) <= DATA_URL_MAX_BODY:
        body = yield Call(data_url_body, (data, name, mime))
        try:
            answer = yield from call(retry, "POST", "/assets", "upload", json=body)
            return parse_asset(answer).id
        except SkyboxError as e:
            if e.status != 413:  # a gateway's limit lower than ours: parts will pass
                raise
            log.info("upload of %s refused as too large (413); sending it in parts", name)
    return (yield from upload_multipart(retry, data, name, mime))


def get_asset(retry: RetryPolicy, asset_id: Asset | str) -> Op[Asset]:
    """``GET /assets/{id}`` (also how a stale URL is renewed)."""
    aid = safe_id(asset_id.id if isinstance(asset_id, Asset) else asset_id, "asset")
    data = yield from call(retry, "GET", f"/assets/{aid}", "asset")
    return parse_asset(data)


def download_dest(asset: Asset | str, dest_dir: str | Path, name: str | None) -> Path:
    """Where ``download(asset, dest_dir, name)`` saves (the extension may change)."""
    aid = safe_id(asset.id if isinstance(asset, Asset) else asset, "asset")
    return Path(dest_dir) / f"{slug(name, 80) if name else aid}.png"


def download(retry: RetryPolicy, asset: Asset | str, dest: Path) -> Op[tuple[Path, Asset]]:
    """Stream an asset into a temp file beside ``dest``, prove it decodes, rename it
    to ``dest`` with the right extension. Renews a stale URL; retries a cut transfer.
    Returns (final path, the asset as last fetched)."""
    if not isinstance(asset, Asset):
        asset = yield from get_asset(retry, asset)
    return (yield from _fetch(retry, asset, dest, lambda a: a.url, finalize_image))


def download_original(retry: RetryPolicy, asset: Asset, dest: Path
                      ) -> Op[tuple[Path | None, Asset]]:
    """Fetch the original HDR file of an HDRi asset (``originalFileUrl``: its ``url`` is
    only a JPEG preview) to ``dest`` with the suffix its ``originalMimeType`` names (.exr
    or .hdr), read it whole to prove it, and return (its path, the asset as last
    fetched); (None, asset) when the asset has no HDR original. Same renewals and
    retries as `download`."""
    from ..hdr import finalize_original, original_suffix

    suffix = original_suffix(asset.raw)
    if suffix is None:
        return None, asset
    return (yield from _fetch(retry, asset, dest.with_suffix(suffix),
                              lambda a: a.raw.get("originalFileUrl"), finalize_original))


def _fetch(retry: RetryPolicy, asset: Asset, dest: Path, url_of: Any,
           finalize: Any) -> Op[tuple[Path, Asset]]:
    """Fetch ``url_of(asset)`` into a temp file beside ``dest``; ``finalize(tmp, dest)``
    proves it and moves it into place (raising ``ProtocolError`` when it does not read).
    A refused URL is renewed by reading the asset again; other failures follow ``retry``."""
    renewals = retry_index = 0
    while True:
        tmp = temp_path(dest)
        try:
            try:
                url = url_of(asset)
                if not isinstance(url, str) or not url:
                    raise ProtocolError(f"asset {asset.id}: the answer has no download URL")
                got = yield Fetch(url, tmp)
                err = check_fetch(got)
                if err is None:
                    return (yield Call(finalize, (tmp, dest))), asset
            except httpx.HTTPError as e:
                err = transport_error(e, paid=False)
            except ProtocolError as e:  # not a complete file: worth fetching again
                err = ProtocolError(f"download of {asset.id}: {e.message}", retryable=True)
        finally:
            tmp.unlink(missing_ok=True)
        if err.status in (401, 403, 410) and renewals < 3:
            # The presigned URL expired: a fresh asset read gives a new one.
            log.info("asset %s URL refused (%s); renewing it", asset.id, err.status)
            renewals += 1
            asset = yield from get_asset(retry, asset.id)
            continue
        delay = retry.delay(err, retry_index)
        if delay is None:
            raise err
        log.info("download of %s failed (%s); retrying in %.2fs", asset.id, err.kind, delay)
        yield Sleep(delay)
        retry_index += 1


def check_fetch(got: Fetched) -> SkyboxError | None:
    """The error a fetch's answer amounts to (an HTTP error, or fewer bytes than its
    ``Content-Length`` announced), or None."""
    if got.status >= 300:
        return error_from_response(got.status, got.body, got.headers)
    expected = got.headers.get("content-length")
    if got.headers.get("content-encoding", "identity").lower() != "identity":
        expected = None  # it counts the encoded bytes; a cut is caught by the decode check
    if expected is not None and expected.isdigit() and int(expected) != got.written:
        return TransportError(f"download cut short: {got.written} of {expected} bytes")
    return None
