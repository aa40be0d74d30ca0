"""A large upload through ``POST /uploads``: presigned parts, the complete action, the asset.

Invariant: the upload is created once, each part goes to its own presigned URL with no
credentials (a `Put` rides the download client, which never carries them), a part that
fails is sent again alone (parts already accepted are never resent), and an asset id is
returned only once Scenario says the file was validated; a refused file is an
``InvalidError`` carrying Scenario's words.

The shapes follow the official Python SDK (``scenario_sdk`` 2.4, generated from Scenario's
OpenAPI spec): ``resources/uploads.py`` for the routes (``POST /uploads``, ``GET
/uploads/{id}``, ``POST /uploads/{id}/action``), ``types/upload_create_params.py`` for the
body, ``types/upload_create_response.py`` for the answer.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import httpx

from ..errors import DeadlineError, InvalidError, ProtocolError, SkyboxError, error_from_response
from ..files import safe_id
from ..formats import listed
from ..retry import RetryPolicy
from .calls import call, transport_error
from .effects import Op, Put, Sleep

__all__ = ["PART_SIZE", "VALIDATION_WAIT", "upload_multipart", "part_count"]

log = logging.getLogger("skybox_nb.client")

# Presigned multipart parts follow S3's rule: every part but the last holds at least
# 5 MiB. The smallest legal part keeps a retried part cheap.
PART_SIZE = 5 * 1024 * 1024
# Seconds to wait for Scenario to validate a completed upload before giving up.
VALIDATION_WAIT = 300.0
# Upload.status values (upload_create_response.Upload.status): still working, and done.
_WORKING = ("pending", "validating")
_DONE = ("complete", "imported", "validated")
_UPLOAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def part_count(size: int) -> int:
    """How many parts of `PART_SIZE` a file of ``size`` bytes is sent in (at least 1)."""
    return max(1, math.ceil(size / PART_SIZE))


def upload_multipart(retry: RetryPolicy, data: bytes, name: str, mime: str) -> Op[str]:
    """Upload ``data`` (an image file of type ``mime``, named ``name``) in parts; returns
    the new asset's id."""
    n = part_count(len(data))
    # UploadCreateParams: fileName, contentType, fileSize, kind, parts ("required for
    # multipart upload"); kind "image": the file becomes an image asset.
    created = yield from call(retry, "POST", "/uploads", "upload", json={
        "fileName": name, "contentType": mime, "fileSize": len(data), "kind": "image",
        "parts": n})
    upload = _upload_of(created)
    uid = _upload_id(upload.get("id"))
    urls = _part_urls(upload, n, uid)
    for number in range(1, n + 1):
        chunk = data[(number - 1) * PART_SIZE: number * PART_SIZE]
        yield from _put_part(retry, uid, number, urls[number], chunk, mime)
    # UploadTriggerActionParams: {"action": "complete"} on POST /uploads/{id}/action.
    done = yield from call(retry, "POST", f"/uploads/{uid}/action", "upload",
                           json={"action": "complete"})
    return (yield from _validated(retry, uid, _upload_of(done), f"{name!r} ({mime})"))


def _upload_id(value: Any) -> str:
    """The upload's id, refused unless it is letters, digits, '_' and '-' (it goes into
    a URL path)."""
    if not isinstance(value, str) or not _UPLOAD_ID.fullmatch(value):
        raise ProtocolError(f"upload: not a valid upload id: {str(value)[:60]!r}")
    return value


def _upload_of(answer: Any) -> dict[str, Any]:
    """The ``upload`` object of an answer (UploadCreateResponse and its siblings)."""
    upload = answer.get("upload") if isinstance(answer, dict) else None
    if not isinstance(upload, dict):
        raise ProtocolError("upload: the answer has no 'upload' object")
    return upload


def _part_urls(upload: dict[str, Any], n: int, uid: str) -> dict[int, str]:
    """Part number -> presigned URL (UploadPart: number, url, expires), all 1..n present."""
    urls: dict[int, str] = {}
    for part in upload.get("parts") or []:
        if isinstance(part, dict) and isinstance(part.get("url"), str) \
                and isinstance(part.get("number"), (int, float)):
            urls[int(part["number"])] = part["url"]
    missing = [i for i in range(1, n + 1) if i not in urls]
    if missing:
        raise ProtocolError(f"upload {uid}: asked for {n} part URLs; the answer lacks "
                            f"part(s) {', '.join(map(str, missing))}")
    return urls


def _put_part(retry: RetryPolicy, uid: str, number: int, url: str, chunk: bytes,
              mime: str) -> Op[None]:
    """PUT one part to its presigned URL, retrying it alone on a retryable failure."""
    retry_index = 0
    while True:
        err: SkyboxError | None = None
        try:
            got = yield Put(url, chunk, {"Content-Type": mime})
            if got.status >= 300:
                err = error_from_response(got.status, got.body, got.headers)
        except httpx.HTTPError as e:
            err = transport_error(e, paid=False)
        if err is None:
            return
        delay = retry.delay(err, retry_index)
        if delay is None:
            log.warning("upload %s part %d failed (%s); giving up", uid, number, err.kind)
            raise err
        log.info("upload %s part %d failed (%s); sending it again in %.2fs", uid, number,
                 err.kind, delay)
        yield Sleep(delay)
        retry_index += 1


def _validated(retry: RetryPolicy, uid: str, upload: dict[str, Any], what: str) -> Op[str]:
    """Poll ``GET /uploads/{id}`` until the upload is validated; its ``entityId`` is the
    new asset's id (the SDK's Upload model says no more: read from the emulator's
    reading of it and the upload's purpose, kind "image"). ``what`` names the file in
    a refusal."""
    waited, pause = 0.0, 0.25
    while True:
        status, entity = upload.get("status"), upload.get("entityId")
        if status == "failed":
            why = upload.get("errorMessage") or "no reason given"
            raise InvalidError(f"image: Scenario refused the uploaded file {what}: {why}; "
                               f"allowed: a {listed()} image")
        if status in _DONE and isinstance(entity, str) and entity:
            return safe_id(entity, "asset")
        if status not in _WORKING and status not in _DONE:
            raise ProtocolError(f"upload {uid}: unexpected status {status!r}")
        if waited >= VALIDATION_WAIT:
            raise DeadlineError(f"upload {uid}: still {status} after {waited:.0f}s",
                                ambiguous=False)
        yield Sleep(pause)
        waited += pause
        pause = min(pause * 1.5, 5.0)
        upload = _upload_of((yield from call(retry, "GET", f"/uploads/{uid}", "upload")))
