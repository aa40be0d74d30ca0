"""``POST /v1/uploads`` and its presigned part URLs, as the emulator answers them.

Invariant: every answer has the shape of the official SDK's upload models
(``scenario_sdk.types``: UploadCreateResponse, UploadRetrieveResponse,
UploadTriggerActionResponse; lean mode: only what a client needs, plus unknown fields); a
part URL is presigned (its signature and expiry in the query) on the emulator's loopback
origin, standing in for the storage host, and, as S3 does, it refuses a request that also
carries an ``Authorization`` header (counted in the stats, so a test can prove our client
never sends one); completing joins the parts in order, applies S3's part-size rule,
proves the file is the image its ``contentType`` says the way ``POST /v1/assets`` does,
and makes one asset, once (completing again answers the same upload).

Assumptions (Scenario documents none of it): the created upload answers ``pending``; the
complete action answers ``validating``; a later ``GET /v1/uploads/{id}`` answers
``imported`` with the asset id in ``entityId`` (or ``failed`` with ``errorMessage``).
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any, Mapping

from ..formats import API_FORMATS
from ..isotime import iso
from ..validation import Problem
from .routes import AUTHOR_ID, OWNER_ID, UNKNOWN_EXTRA, Response, _bad_field, _invalid, \
    _json_object, error, json_response
from .store import UploadRecord

if TYPE_CHECKING:
    from .routes import Api

__all__ = ["MultipartUploads", "MIN_PART_SIZE", "MAX_PARTS", "MAX_FILE_SIZE",
           "PART_BODY_LIMIT"]

MIN_PART_SIZE = 5 * 1024 * 1024  # S3: every part but the last holds at least 5 MiB
MAX_PARTS = 10000  # S3's limit of parts per upload
MAX_FILE_SIZE = 64 * 1024 * 1024  # the emulator keeps parts in memory: a generous cap
PART_BODY_LIMIT = 32 * 1024 * 1024  # bytes of one PUT (413 beyond)
# What S3 answers a presigned request that also sends an Authorization header.
CREDENTIALS_REFUSED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code><Message>'
    b'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature '
    b'query string parameter or the Authorization header should be specified</Message></Error>')
_MIMES = tuple(f.mime for f in API_FORMATS)
_KINDS = ("3d", "asset", "audio", "avatar", "image", "model", "text", "video")


class MultipartUploads:
    """The upload routes of one `Api` (its store, settings, signing key and log)."""

    def __init__(self, api: "Api") -> None:
        self.api = api

    # ------------------------------------------------------------------ shapes
    def part_url(self, rec: UploadRecord, number: int) -> tuple[str, float]:
        """A presigned URL of part ``number`` and when it expires (Unix seconds)."""
        expires = math.ceil(time.time() + self.api.settings.url_ttl)
        sig = self.api._sign(f"{rec.id}/{number}", str(expires))
        return (f"{self.api.settings.origin}/_storage/uploads/{rec.id}/{number}"
                f"?X-Amz-Expires={expires}&X-Amz-Signature={sig}"), expires

    def upload_json(self, rec: UploadRecord, status: str | None = None) -> dict[str, Any]:
        """An Upload as the SDK's model has it (``status`` overrides the record's, for
        the answer of the complete action); pending uploads carry their part URLs."""
        status = status or rec.status
        parts = []
        if rec.status == "pending":
            for n in range(1, rec.parts_count + 1):
                url, expires = self.part_url(rec, n)
                parts.append({"number": n, "url": url, "expires": iso(expires)})
        done = status == rec.status
        extra: dict[str, Any] = {}
        if done and rec.entity_id:
            extra["entityId"] = rec.entity_id
        if done and rec.error:
            extra["errorMessage"] = rec.error
        if self.api.settings.lean:
            return {"id": rec.id, "status": status, **({"parts": parts} if parts else {}),
                    **extra, **UNKNOWN_EXTRA}
        return {"id": rec.id, "authorId": AUTHOR_ID, "ownerId": OWNER_ID,
                "createdAt": iso(rec.created), "updatedAt": iso(rec.updated),
                "fileName": rec.file_name, "originalFileName": rec.file_name,
                "contentType": rec.content_type, "fileSize": rec.file_size,
                "kind": rec.kind, "source": "multipart", "status": status,
                "partsCount": rec.parts_count, **({"parts": parts} if parts else {}),
                **extra}

    # ------------------------------------------------------------------ routes
    def create(self, body: bytes) -> Response:
        """``POST /v1/uploads``: a pending upload with one presigned URL per part."""
        data = _json_object(body)
        if isinstance(data, Response):
            return data
        name, mime, size = data.get("fileName"), data.get("contentType"), data.get("fileSize")
        kind, parts = data.get("kind"), data.get("parts")
        problems = []
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem("fileName", name, "a file name such as 'init.png'",
                                    "required for a multipart upload"))
        if mime not in _MIMES:
            problems.append(Problem("contentType", mime, " or ".join(_MIMES)))
        if not _whole(size) or not 1 <= size <= MAX_FILE_SIZE:
            problems.append(Problem("fileSize", size, f"bytes from 1 to {MAX_FILE_SIZE} "
                                    "on the offline emulator"))
        if kind != "image":
            allowed = "'image' (the offline emulator takes images only)"
            problems.append(Problem("kind", kind, allowed, "" if kind in _KINDS else
                                    f"Scenario's kinds: {', '.join(_KINDS)}"))
        if not _whole(parts) or not 1 <= parts <= MAX_PARTS:
            problems.append(Problem("parts", parts, f"an integer from 1 to {MAX_PARTS}"))
        if problems:
            return _invalid(problems)
        rec = self.api.store.add_upload(file_name=name, content_type=mime,
                                        file_size=int(size), kind=kind, parts_count=int(parts))
        self.api.log(f"upload {rec.id} created ({int(size)} bytes in {int(parts)} parts)")
        return json_response(200, {"upload": self.upload_json(rec)})

    def status(self, upload_id: str) -> Response:
        """``GET /v1/uploads/{id}``."""
        rec = self.api.store.get_upload(upload_id)
        if rec is None:
            return error(404, f"Upload not found: {upload_id}")
        return json_response(200, {"upload": self.upload_json(rec)})

    def part(self, params: Mapping[str, str], query: Mapping[str, str],
             headers: Mapping[str, str], body: bytes) -> Response:
        """A PUT of one part to its presigned URL (no credentials: the URL is signed)."""
        store = self.api.store
        if "authorization" in headers:
            with store.lock:
                store.parts_with_credentials += 1
            self.api.log("upload part refused: it carried an Authorization header")
            return Response(400, CREDENTIALS_REFUSED_XML, {"Content-Type": "application/xml"})
        rec = store.get_upload(params["id"])
        number = int(params["number"])
        expires = query.get("X-Amz-Expires", "")
        good = self.api._sign(f"{params['id']}/{number}", expires) \
            == query.get("X-Amz-Signature", "")
        if rec is None or not good or not expires.isdigit() or time.time() > int(expires) \
                or number > rec.parts_count or rec.status != "pending":
            return Response(403, _ACCESS_DENIED, {"Content-Type": "application/xml"})
        with store.lock:
            rec.parts[number] = bytes(body)
            rec.updated = time.time()
            store.parts_received += 1
        return Response(200, b"", {"ETag": f'"{self.api._sign(rec.id, str(len(body)))}"'})

    def complete(self, upload_id: str, body: bytes) -> Response:
        """``POST /v1/uploads/{id}/action`` with ``{"action": "complete"}``: join the
        parts, check them and make the asset. Completing again answers the same upload."""
        rec = self.api.store.get_upload(upload_id)
        if rec is None:
            return error(404, f"Upload not found: {upload_id}")
        data = _json_object(body)
        if isinstance(data, Response):
            return data
        if data.get("action") != "complete":
            return _bad_field(Problem("action", data.get("action"), "'complete'"))
        with self.api.store.lock:  # one complete at a time: one asset per upload
            if rec.status != "pending":
                return json_response(200, {"upload": self.upload_json(rec)})
            missing = [n for n in range(1, rec.parts_count + 1) if n not in rec.parts]
            if missing:
                return error(400, f"Upload {rec.id}: part(s) {', '.join(map(str, missing))} "
                             f"of {rec.parts_count} were not uploaded.",
                             details={"missingParts": missing})
            small = [n for n in range(1, rec.parts_count) if len(rec.parts[n]) < MIN_PART_SIZE]
            if small:
                return error(400, f"EntityTooSmall: part(s) {', '.join(map(str, small))} hold "
                             f"less than {MIN_PART_SIZE} bytes; only the last part may.",
                             details={"parts": small, "minPartSize": MIN_PART_SIZE})
            raw = b"".join(rec.parts[n] for n in range(1, rec.parts_count + 1))
            rec.parts.clear()
            rec.updated = time.time()
            if len(raw) != rec.file_size:
                rec.status = "failed"
                rec.error = f"received {len(raw)} bytes; fileSize announced {rec.file_size}"
            else:
                made = self.api._image_asset(raw, rec.file_name, f"{rec.file_name!r}",
                                             announced=rec.content_type)
                if isinstance(made, Response):
                    rec.status, rec.error = "failed", _reason(made)
                else:
                    rec.status, rec.entity_id = "imported", made.id
            self.api.log(f"upload {rec.id} completed: {rec.status}"
                         + (f" ({rec.error})" if rec.error else f" as {rec.entity_id}"))
            # The action answers before validation; GET /v1/uploads/{id} tells the end.
            return json_response(200, {"upload": self.upload_json(rec, status="validating")})


_ACCESS_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied'
                  b'</Code><Message>Request has expired or the signature does not match'
                  b'</Message></Error>')


def _whole(value: Any) -> bool:
    """True for a whole number (an int, or a float such as 3.0: the SDK types it float)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value == int(value))


def _reason(answer: Response) -> str:
    """The words of an error answer."""
    try:
        return str(json.loads(answer.body)["reason"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {answer.status}"
