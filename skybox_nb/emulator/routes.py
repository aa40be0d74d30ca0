"""The Scenario API contract under /v1, as the emulator answers it, plus the CDN download.

Invariant: every JSON answer has the shape of the official SDK's response models
(``scenario_sdk.types``: JobRetrieveResponse, JobListResponse items, GenerateRunModelResponse,
AssetRetrieveResponse, AssetUploadResponse, ModelRetrieveResponse, JobTriggerActionResponse;
the multipart upload routes live in `multipart.py`)
and every error is JSON with a ``reason`` (as the service's recorded error body) and a
``message`` (lean mode: ``reason`` only), ``details`` where they help, status-coded
like the real API: 400 naming the field, 401, 403, 404, 413, 429 with Retry-After, 5xx.
This module decides answers; it does no socket I/O (server.py does), and it never echoes a
credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import math
import re
import secrets
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import parse_qs

from PIL import Image

from . import catalog
from ..formats import API_FORMATS, by_pillow, listed
from ..isotime import iso, parse_iso
from ..validation import Problem, validate_inputs
from .faults import Fault, Faults
from .ids import ID_LENGTH
from .render import EMULATOR_NOTICE
from .runner import cu_cost, random_seed
from .store import AssetRecord, JobRecord, Store

__all__ = ["Response", "Api", "ApiSettings", "EMULATOR_HEADER", "route_of",
           "DEFAULT_UPLOAD_LIMIT", "MAX_UPLOAD_PIXELS"]

EMULATOR_HEADER = ("X-Scenario-Emulator", "offline")
AUTHOR_ID = "emulator0000000000000000000000000"
OWNER_ID = "team_emulator000000000000000"
GENERATE_BODY_LIMIT = 1 << 20  # a generate body is a few hundred bytes; 1 MiB is generous
# Bytes of JSON body on POST /v1/assets (413 beyond). An assumption: Scenario documents no
# limit, and the evidence hints at a gateway refusing JSON bodies near 10 MB (the facts
# file's "What the real service does"); larger files go through POST /v1/uploads.
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
# Decoded pixels of an uploaded image: a 640 KB PNG can announce 13000x13000 (169 Mpx,
# 2.9 GB at the job's peak). 8192x4096 is twice the largest panorama the model returns.
MAX_UPLOAD_PIXELS = 8192 * 4096

_MODELS = catalog.MODELS
# What the limits route reports as the plan's parallel-jobs figure when no
# max_parallel_jobs is configured (then nothing is enforced).
PLAN_PARALLEL_JOBS = 10
_ID = r"[A-Za-z0-9_.\-]{1,200}"
CANCEL_REFUSED = "Cannot cancel this type of job. Action not permitted."
# What a CloudFront-like CDN answers a bad or expired signature.
ACCESS_DENIED_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied'
                     b'</Code><Message>Access Denied</Message></Error>')
# What S3 answers for a key it does not hold (the `bad_original` fault's "missing").
NO_SUCH_KEY_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
                   b'<Message>The specified key does not exist.</Message></Error>')
# Fields no client knows, added to every lean answer: a client must ignore them.
UNKNOWN_EXTRA = {"xEmulatorUnknownField": {"nested": [1, "two", None]}}
_PATTERNS = [
    ("POST", re.compile(rf"^/v1/generate/custom/(?P<model>{_ID})$"), "generate"),
    ("GET", re.compile(r"^/v1/jobs/?$"), "jobs"),
    ("GET", re.compile(rf"^/v1/jobs/(?P<id>{_ID})$"), "job"),
    ("POST", re.compile(rf"^/v1/jobs/(?P<id>{_ID})/action$"), "cancel"),
    ("GET", re.compile(rf"^/v1/assets/(?P<id>{_ID})$"), "asset"),
    ("POST", re.compile(r"^/v1/assets/?$"), "upload"),
    ("POST", re.compile(r"^/v1/uploads/?$"), "upload_create"),
    ("GET", re.compile(rf"^/v1/uploads/(?P<id>{_ID})$"), "upload_status"),
    ("POST", re.compile(rf"^/v1/uploads/(?P<id>{_ID})/action$"), "upload_complete"),
    ("GET", re.compile(rf"^/v1/models/(?P<id>{_ID})$"), "model"),
    ("GET", re.compile(r"^/v1/teams/?$"), "teams"),
    ("GET", re.compile(rf"^/v1/teams/(?P<id>{_ID})/limits$"), "limits"),
    # the image at ``url``, and an HDRi's original file at ``originalFileUrl``
    ("GET", re.compile(r"^/_cdn/(?P<where>assets-transform|assets-original)/"
                       rf"(?P<id>asset_[A-Za-z0-9]{{{ID_LENGTH}}})$"), "download"),
    # a presigned upload part, standing in for the storage host (see multipart.py)
    ("PUT", re.compile(r"^/_storage/uploads/(?P<id>upload_[A-Za-z0-9]{1,64})/"
                       r"(?P<number>[1-9][0-9]{0,4})$"), "upload_part"),
]
_DATA_URL = re.compile(rf"^data:(?P<mime>{'|'.join(re.escape(f.mime) for f in API_FORMATS)});"
                       r"base64,(?P<data>.*)$", re.S)


@dataclass
class Response:
    """An answer: status, body, headers; ``action`` "drop" closes without answering and
    "cut" sends half the body under the full Content-Length; ``delay`` waits first."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str | None = None
    delay: float = 0.0


def json_response(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer."""
    body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    return Response(status, body, {"Content-Type": "application/json", **(headers or {})})


def error(status: int, message: str, details: Any = None, hint: str | None = None,
          headers: Mapping[str, str] | None = None) -> Response:
    """An error answer shaped like Scenario's: ``{"reason", "message", "details"?,
    "hint"?}`` (the service's recorded error says ``reason``; lean mode keeps only it)."""
    obj: dict[str, Any] = {"reason": message, "message": message}
    if details is not None:
        obj["details"] = details
    if hint:
        obj["hint"] = hint
    return json_response(status, obj, headers)


def route_of(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    """The route name of a request (one of faults.ROUTES) and its path parameters."""
    for m, pattern, name in _PATTERNS:
        hit = pattern.match(path)
        if hit and m == method:
            return name, hit.groupdict()
    return None, {}


def _query(qs: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(qs, keep_blank_values=True).items()}


class JobStarter(Protocol):
    """What the Api needs of a runner: start a created job (``failure``: end it so)."""

    def start(self, job: JobRecord, failure: Fault | None = None) -> None: ...


@dataclass
class ApiSettings:
    """The configuration the Api answers by. ``origin`` is where CDN URLs point (the
    server sets it once bound); ``price`` turns resolved inputs into Creative Units."""

    origin: str = "http://127.0.0.1"
    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    max_parallel_jobs: int | None = None
    url_ttl: float = 86400.0  # the facts file: signed asset URLs last at least 24 hours
    upload_limit: int = DEFAULT_UPLOAD_LIMIT
    max_upload_pixels: int = MAX_UPLOAD_PIXELS
    job_duration: float = 0.0
    started_at: float = field(default_factory=time.time)
    price: Callable[[Mapping[str, Any]], float] = cu_cost
    creative_units: float = 10000.0  # the plan's allowance per period (402 once spent)
    # Scenario refuses to cancel custom-model jobs (400 "Cannot cancel this type of
    # job."): so does the emulator, unless this allows it (as for other job types).
    allow_cancel: bool = False
    # Answer with only the fields the model's reference documents, plus fields no
    # client knows, and a dry run as recorded (``{"job": {}, "creativeUnitsCost"}``,
    # which the SDK's model rejects): a client must need no more than the evidence shows.
    lean: bool = False


class Api:
    """Answers requests from its collaborators alone: the ``store`` of jobs and assets,
    the armed ``faults``, the ``runner`` that moves created jobs on, the ``settings``
    and a ``log`` for one-line notes. It knows no socket: `server.py` and the in-process
    `transport.py` both hand it requests."""

    def __init__(self, store: Store, faults: Faults, runner: JobStarter,
                 settings: ApiSettings, log: Callable[[str], None] = lambda _: None) -> None:
        self.store = store
        self.faults = faults
        self.runner = runner
        self.settings = settings
        self.log = log
        self._url_key = secrets.token_bytes(32)  # signs this run's CDN URLs
        from .multipart import MultipartUploads  # it builds on this module's shapes

        self.multipart = MultipartUploads(self)

    # ------------------------------------------------------------------ entry
    def body_limit(self, route: str | None) -> int:
        """The largest body accepted on ``route`` (413 beyond)."""
        if route == "upload_part":
            from .multipart import PART_BODY_LIMIT

            return PART_BODY_LIMIT
        return self.settings.upload_limit if route == "upload" else GENERATE_BODY_LIMIT

    def too_large(self, method: str, path: str, length: int) -> Response | None:
        """The 413 for a body of ``length`` bytes on this route, or None when it fits.
        Asked before the body is read, so an announced 8 GiB is never reserved."""
        limit = self.body_limit(route_of(method, path)[0])
        if length <= limit:
            return None
        return error(413, f"Payload too large: {length} bytes; the limit is {limit} bytes.",
                     details={"limit": limit, "received": length})

    def handle(self, method: str, path: str, qs: str, headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one request. ``headers`` keys are lower-case."""
        answer = self._answer(method, path, qs, headers, body)
        return _as_recorded(answer) if self.settings.lean else answer

    def _answer(self, method: str, path: str, qs: str, headers: Mapping[str, str],
                body: bytes) -> Response:
        if path in ("/_emulator", "/_emulator/") and method == "GET":
            return self._admin(method, path, body)  # says what it is; changes and shows nothing
        if path.startswith("/_emulator/"):  # faults and stats: the same Basic auth as /v1
            return self._check_auth(headers.get("authorization")) or self._admin(method, path, body)
        route, params = route_of(method, path)
        if route is None:
            return error(404, f"Not found: {method} {path}",
                         hint="The offline emulator serves the Scenario API under /v1.")
        refused = self.too_large(method, path, len(body))
        if refused is not None:
            return refused
        store = self.store
        store.count_request(route)
        if route not in ("download", "upload_part"):  # presigned URLs: their own signature
            denied = self._check_auth(headers.get("authorization"))
            if denied is not None:
                return denied
        query = _query(qs)
        dry_run = route == "generate" and query.get("dryRun", "").lower() in ("true", "api")
        if route == "generate" and not dry_run:
            store.count_generate_post()
        delay = 0.0
        slow = self.faults.take("slow", route)
        if slow is not None:
            delay = slow.params["delay"]
        answer = self._injected(route, dry_run, headers)
        if answer is None:
            try:
                if route == "upload_part":  # the one route that reads a request header
                    answer = self.multipart.part(params, query, headers, body)
                else:
                    answer = getattr(self, f"_{route}")(params, query, body, dry_run)
            except RecursionError:  # a value nested too deeply to describe: refused, not a 500
                answer = error(400, "The request body nests too deeply to be a request.")
        answer.delay += delay
        return answer

    def _check_auth(self, value: str | None) -> Response | None:
        denied = error(401, "Unauthorized: send HTTP Basic credentials (API key and secret).",
                       headers={"WWW-Authenticate": 'Basic realm="Scenario API (offline emulator)"'})
        if not value or not value.startswith("Basic "):
            return denied
        try:  # ValueError too: a header with non-ASCII characters is no base64
            key, sep, secret = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return denied
        if not sep or not key or not secret:
            return denied
        want_key, want_secret = self.settings.api_key, self.settings.api_secret
        if want_key is not None and not hmac.compare_digest(key.encode(), want_key.encode()):
            return denied
        if want_secret is not None and not hmac.compare_digest(secret.encode(), want_secret.encode()):
            return denied
        return None

    def stats(self) -> dict[str, Any]:
        """The store's counters and the armed faults."""
        return {**self.store.stats(), "faults": self.faults.active()}

    def inject(self, kind: str, **params: Any) -> dict[str, Any]:
        """Arm a fault (see `faults.py`); returns it as a dict. Raises ValueError."""
        fault = self.faults.add(kind, **params)
        self.log(f"fault armed: {fault.to_dict()}")
        return fault.to_dict()

    def _admin(self, method: str, path: str, body: bytes) -> Response:
        """The emulator's own routes (not Scenario's): faults and stats."""
        if path in ("/_emulator", "/_emulator/") and method == "GET":
            return json_response(200, {"emulator": "skybox_nb offline emulator",
                                       "baseUrl": self.settings.origin + "/v1",
                                       "jobDuration": self.settings.job_duration})
        if path == "/_emulator/stats" and method == "GET":
            return json_response(200, self.stats())
        if path == "/_emulator/faults":
            if method == "GET":
                return json_response(200, {"faults": self.faults.active()})
            if method == "DELETE":
                self.faults.clear()
                return json_response(200, {"faults": []})
            if method == "POST":
                spec = _json_object(body)
                if isinstance(spec, Response) or not isinstance(spec.get("kind"), str):
                    return error(400, "The fault must be a JSON object with a string 'kind': "
                                 "{\"kind\": ..., ...}.")
                kind = spec.pop("kind")
                try:
                    return json_response(200, {"fault": self.inject(kind, **spec)})
                except (TypeError, ValueError) as exc:
                    return error(400, str(exc))
        return error(404, f"Not found: {method} {path}",
                     hint="Emulator routes: GET /_emulator/stats, GET|POST|DELETE /_emulator/faults.")

    def _injected(self, route: str, dry_run: bool,
                  headers: Mapping[str, str] | None = None) -> Response | None:
        """The answer an armed fault imposes on this request, if any (``headers``: the
        request's, repeated by an echoing ``server_error``)."""
        faults = self.faults
        f = faults.take("rate_limit", route)
        if f is not None:
            ra = f.params["retry_after"]
            # A plain rate limit names no action: an actionName/actionLimit in a 429's
            # details is how the service names the parallel-jobs limit.
            return error(429, "Too many requests: rate limit exceeded (emulated).",
                         headers={"Retry-After": f"{ra:g}", "retry-after-ms": str(int(ra * 1000))})
        f = faults.take("server_error", route)
        if f is not None:
            st = f.params["status"]
            if f.params.get("echo"):  # a gateway's debug answer: the headers, verbatim
                seen = dict(headers or {})
                shown = "; ".join(f"{k}: {v}" for k, v in seen.items())
                return error(st, f"Internal server error (emulated {st}); request headers "
                             f"were {shown}", details={"headers": seen})
            return error(st, f"Internal server error (emulated {st}).",
                         hint="A transient failure of the offline emulator's injected kind.")
        if route == "generate" and not dry_run and faults.take("drop_before_accept", route):
            return Response(0, action="drop")
        return None

    # ------------------------------------------------------------------ shapes
    def job_json(self, job: JobRecord) -> dict[str, Any]:
        """A Job as the API returns it (lean: only what the model's reference prints,
        ``jobId``, ``status``, ``metadata.assetIds``, plus unknown extra fields)."""
        if self.settings.lean:
            return {"jobId": job.id, "status": job.status,
                    "metadata": {"assetIds": list(job.asset_ids), **UNKNOWN_EXTRA},
                    **UNKNOWN_EXTRA}
        meta: dict[str, Any] = {"assetIds": list(job.asset_ids), "input": dict(job.input)}
        if job.error:
            meta["error"] = job.error
        if job.hint:
            meta["hint"] = job.hint
        return {
            "jobId": job.id,
            "jobType": "custom",
            "status": job.status,
            "progress": round(job.progress, 4),
            "statusHistory": [{"status": s, "date": iso(t)} for s, t in job.history],
            "createdAt": iso(job.created),
            "updatedAt": iso(job.updated),
            "metadata": meta,
            "billing": {"cuCost": job.cu_cost, "cuDiscount": 0},
            "authorId": AUTHOR_ID,
            "ownerId": OWNER_ID,
        }

    def asset_url(self, rec: AssetRecord, expired: bool = False, original: bool = False) -> str:
        """A URL shaped like Scenario's signed CDN URLs (no file extension: the format is
        in ``mimeType``, or ``originalMimeType`` for ``original``; ``Policy``,
        ``Key-Pair-Id``, ``Signature`` in the query) that stops working after ``url_ttl``
        seconds. ``original``: the URL of an HDRi's original file (``originalFileUrl``)."""
        # Whole seconds, as CDNs write them, rounded up so a URL works at least url_ttl.
        expires = int(time.time() - 60) if expired else math.ceil(time.time() + self.settings.url_ttl)
        policy = _b64(json.dumps({"Statement": [{"Resource": f"*/{rec.id}*", "Condition": {
            "DateLessThan": {"AWS:EpochTime": expires}}}]}, separators=(",", ":")).encode())
        where, query = ("assets-original", "") if original else ("assets-transform", "p=100&")
        return (f"{self.settings.origin}/_cdn/{where}/{rec.id}?{query}Policy={policy}"
                f"&Key-Pair-Id=KEMULATOR0FFLINE&Signature={self._sign(rec.id, policy, original)}")

    def _sign(self, asset_id: str, policy: str, original: bool = False) -> str:
        key = f"{asset_id}:original:{policy}" if original else f"{asset_id}:{policy}"
        return _b64(hmac.new(self._url_key, key.encode(), hashlib.sha256).digest()[:24])

    def _original_fields(self, rec: AssetRecord, expired: bool) -> dict[str, Any]:
        """An HDRi's ``originalFileUrl`` and ``originalMimeType`` ({} for other assets)."""
        if rec.original is None:
            return {}
        return {"originalFileUrl": self.asset_url(rec, expired, original=True),
                "originalMimeType": rec.original_mime}

    def asset_json(self, rec: AssetRecord, expired: bool = False) -> dict[str, Any]:
        """An Asset as the API returns it, with a fresh temporary URL."""
        generated = rec.origin == "generated"
        meta = dict(rec.metadata)
        meta.setdefault("kind", "image")
        meta.setdefault("type", "skybox-base-360" if generated else "uploaded")
        meta.setdefault("width", rec.width)
        meta.setdefault("height", rec.height)
        meta.setdefault("size", rec.size)
        meta.setdefault("emulator", "offline")
        original = self._original_fields(rec, expired)
        if self.settings.lean:  # what clients need: id, url, its format; and the unknown
            return {"id": rec.id, "url": self.asset_url(rec, expired), "mimeType": rec.mime_type,
                    **original, **UNKNOWN_EXTRA}
        return {
            "id": rec.id,
            "url": self.asset_url(rec, expired),
            "mimeType": rec.mime_type,
            **original,
            "kind": meta["kind"],
            "source": meta["type"] if generated else "uploaded",
            "status": "success",
            "privacy": "private",
            "tags": [],
            "collectionIds": [],
            "editCapabilities": ["UPSCALE_360"] if generated else [],
            "metadata": meta,
            "properties": {"size": rec.size, "width": rec.width, "height": rec.height,
                           "format": rec.mime_type.split("/")[-1]},
            "authorId": AUTHOR_ID,
            "ownerId": OWNER_ID,
            "createdAt": iso(rec.created),
            "updatedAt": iso(rec.created),
            "description": EMULATOR_NOTICE if generated else "Uploaded to the skybox_nb offline emulator.",
            **({"outputIndex": meta["outputIndex"]} if "outputIndex" in meta else {}),
        }

    def model_json(self, model_id: str) -> dict[str, Any]:
        """A Model with its inputs, as ``GET /models/{id}`` returns it."""
        return _MODELS[model_id].record(iso(self.settings.started_at))

    # ------------------------------------------------------------------ routes
    def _generate(self, params: dict[str, str], query: dict[str, str], body: bytes,
                  dry_run: bool) -> Response:
        model_id = params["model"]
        model = _MODELS.get(model_id)
        if model is None:
            return error(404, f"Model not found: {model_id}",
                         hint=f"The offline emulator knows {', '.join(_MODELS)}.")
        spec = model.spec
        data = _json_object(body)
        if isinstance(data, Response):
            return data
        values, problems, _notes = validate_inputs(spec, data)
        problems += self._asset_problems(model_id, values)
        if problems:
            return _invalid(problems)
        resolved = {**spec.defaults(), **values}
        resolved.setdefault("seed", random_seed())
        cost = catalog.price(model_id, resolved, self.settings.price)
        outputs = catalog.num_outputs(model_id, resolved)
        store = self.store
        if dry_run:
            if self.settings.lean:  # as recorded from the service: an empty job, the cost
                return json_response(269, {"job": {}, "creativeUnitsCost": cost,
                                           "creativeUnitsDiscount": 0})
            now = time.time()  # the SDK's model of it (which requires a whole job)
            job = JobRecord(id="job_" + "0" * ID_LENGTH, model_id=model_id, input=resolved,
                            num_outputs=outputs, cu_cost=cost, created=now,
                            updated=now, history=[("queued", now)])
            return json_response(269, self.generate_json(job, cost))
        limit = self.settings.max_parallel_jobs
        with store.lock:  # the check and the creation are one step
            if limit is not None and store.running_jobs() >= limit:
                return error(429, f"Too many parallel custom jobs: the limit is {limit}. Wait "
                             "for running jobs to finish.",
                             details={"actionName": "parallel-custom-jobs", "actionLimit": limit})
            left = self.settings.creative_units - store.spent_creative_units()
            if cost > left:
                return error(402, f"Not enough creative units: this job costs {cost:g}, "
                             f"{max(0.0, left):g} are left in this period.",
                             details={"creativeUnitsCost": cost, "creativeUnitsLeft": max(0.0, left)})
            job = store.add_job(model_id, resolved, outputs, cost)
            answer = json_response(200, self.generate_json(job, cost))  # as created: queued
        self.runner.start(job, self.faults.take("job_failure", None))
        self.log(f"job {job.id} created ({job.num_outputs} outputs, {cost:g} CU)")
        if self.faults.take("drop_after_accept", "generate"):
            answer.action = "drop"
        return answer

    def _asset_problems(self, model_id: str, values: Mapping[str, Any]) -> list[Problem]:
        """Every asset id of the body must exist (a dry run too: the upscaler's works only
        once its input is uploaded), and the image to draw must fit the emulator."""
        problems = []
        spec = _MODELS[model_id].spec
        for name, value in values.items():
            kind = spec[name].type
            ids = [value] if kind == "file" else list(value) if kind == "file_array" else []
            missing = [i for i in ids if self.store.get_asset(i) is None]
            if missing:
                shown = value if kind == "file" else missing
                problems.append(Problem(name, shown, "existing asset ids (upload each image "
                                        "first with POST /v1/assets)", "no such asset"))
        rec = self.store.get_asset(values["image"]) if "image" in values else None
        size = catalog.output_size(model_id, {**spec.defaults(), **values},
                                   (rec.width, rec.height) if rec else None, (0, 0))
        if size[0] * size[1] > catalog.MAX_OUTPUT_PIXELS:
            field_ = "upscaleFactor" if model_id == catalog.UPSCALER_ID else "width"
            problems.append(Problem(field_, values.get(field_, spec[field_].default),
                                    "an output of at most 8192x4096 pixels on the offline "
                                    "emulator", f"the output would be {size[0]}x{size[1]}"))
        return problems

    def generate_json(self, job: JobRecord, cost: float) -> dict[str, Any]:
        """The answer to a generate: the job as created, and its cost."""
        if self.settings.lean:
            return {"job": self.job_json(job), "creativeUnitsCost": cost, **UNKNOWN_EXTRA}
        return {"job": self.job_json(job), "creativeUnitsCost": cost, "creativeUnitsDiscount": 0,
                "costDetails": {"custom-generation": cost}}

    def _job(self, params: dict[str, str], query: dict[str, str], body: bytes, dry: bool) -> Response:
        job = self.store.get_job(params["id"])
        if job is None:
            return error(404, f"Job not found: {params['id']}")
        with self.store.lock:
            return json_response(200, {"job": self.job_json(job)})

    def _jobs(self, params: dict[str, str], query: dict[str, str], body: bytes, dry: bool) -> Response:
        size_text = query.get("pageSize", "50")
        try:
            size = int(size_text)
        except ValueError:
            size = -1
        if not 1 <= size <= 100:
            return _bad_field(Problem("pageSize", size_text, "an integer from 1 to 100"))
        token = query.get("paginationToken")
        start = 0
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode())
            except (binascii.Error, ValueError, UnicodeDecodeError):
                return _bad_field(Problem("paginationToken", token, "a token from a previous page"))
        with self.store.lock:
            jobs = self.store.list_jobs()
            if "status" in query:
                jobs = [j for j in jobs if j.status == query["status"]]
            if query.get("type") not in (None, "custom"):
                jobs = []
            if "createdAfter" in query:
                after = parse_iso(query["createdAfter"].strip())
                if after is None:
                    return _bad_field(Problem("createdAfter", query["createdAfter"], "an ISO 8601 "
                                              "date such as 2024-01-31T12:00:00.000Z"))
                # compared as clients see createdAt: written, then read back
                jobs = [j for j in jobs if (parse_iso(iso(j.created)) or 0.0) > after]
            page = jobs[start:start + size]
            out: dict[str, Any] = {"jobs": [self.job_json(j) for j in page]}
        if start + size < len(jobs):
            out["nextPaginationToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return json_response(200, out)

    def _cancel(self, params: dict[str, str], query: dict[str, str], body: bytes, dry: bool) -> Response:
        store = self.store
        job = store.get_job(params["id"])
        if job is None:
            return error(404, f"Job not found: {params['id']}")
        data = _json_object(body)
        if isinstance(data, Response):
            return data
        action = data.get("action")
        if action != "cancel":
            return _bad_field(Problem("action", action, "'cancel'"))
        if not self.settings.allow_cancel:  # as the service answers for custom models
            return json_response(400, {"reason": CANCEL_REFUSED})
        with store.lock:
            if job.done:
                return error(400, f"Job {job.id} is already {job.status}; only a queued or "
                             "running job can be canceled.", details={"status": job.status})
            store.advance(job, "canceled")
            self.log(f"job {job.id} canceled")
            return json_response(200, {"job": self.job_json(job)})

    def _asset(self, params: dict[str, str], query: dict[str, str], body: bytes, dry: bool) -> Response:
        rec = self.store.get_asset(params["id"])
        if rec is None:
            return error(404, f"Asset not found: {params['id']}")
        expired = self.faults.take("expire_urls", "asset") is not None
        return json_response(200, {"asset": self.asset_json(rec, expired)})

    def _download(self, params: dict[str, str], query: dict[str, str], body: bytes,
                  dry: bool) -> Response:
        original = params.get("where") == "assets-original"
        rec = self.store.get_asset(params["id"])  # a dict lookup; never a path join
        policy = query.get("Policy", "")
        good = hmac.compare_digest(query.get("Signature", ""),
                                   self._sign(params["id"], policy, original))
        if rec is None or not good or time.time() > _policy_expiry(policy) \
                or (original and rec.original is None):
            # A CDN says no more than this, whether the signature is bad or expired.
            return Response(403, ACCESS_DENIED_XML, {"Content-Type": "text/xml"})
        bad = self.faults.take("bad_original", "download") if original else None
        if bad is not None and bad.params["mode"] == "missing":  # the store lost the file
            return Response(404, NO_SUCH_KEY_XML, {"Content-Type": "text/xml"})
        path, mime = (rec.original, rec.original_mime) if original else (rec.path, rec.mime_type)
        data = path.read_bytes()
        if bad is not None:  # "corrupt": the right length, no image in it
            data = bytes((i * 37 + 11) % 256 for i in range(len(data)))
        answer = Response(200, data, {"Content-Type": mime or "application/octet-stream",
                                      "Cache-Control": "private, max-age=60"})
        if self.faults.take("cut_download", "download"):
            answer.action = "cut"
        return answer

    def _upload_create(self, params: dict[str, str], query: dict[str, str], body: bytes,
                       dry: bool) -> Response:
        return self.multipart.create(body)

    def _upload_status(self, params: dict[str, str], query: dict[str, str], body: bytes,
                       dry: bool) -> Response:
        return self.multipart.status(params["id"])

    def _upload_complete(self, params: dict[str, str], query: dict[str, str], body: bytes,
                         dry: bool) -> Response:
        return self.multipart.complete(params["id"], body)

    def _upload(self, params: dict[str, str], query: dict[str, str], body: bytes, dry: bool) -> Response:
        data = _json_object(body)
        if isinstance(data, Response):
            return data
        name, image = data.get("name"), data.get("image")
        problems = []
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem("name", name, "a file name such as 'init.png'", "required"))
        if not isinstance(image, str) or not image:
            shown = image if not isinstance(image, str) else image[:40]
            problems.append(Problem("image", shown, "a data URL 'data:image/png;base64,...' "
                                    "(PNG, JPEG or WebP)", "required"))
        if problems:
            return _invalid(problems)
        hit = _DATA_URL.match(image)
        raw_b64 = hit.group("data") if hit else image
        try:
            raw = base64.b64decode(raw_b64, validate=True)
        except binascii.Error:
            raw = b""  # refused below as no image, in the same words
        rec = self._image_asset(raw, name, f"{image[:40]!r}...", "a base64 data URL of a")
        if isinstance(rec, Response):
            return rec
        return json_response(200, {"asset": self.asset_json(rec)})

    def _image_asset(self, raw: bytes, name: str, shown: str, sent_as: str = "a",
                     announced: str | None = None) -> AssetRecord | Response:
        """Store the bytes of an uploaded image as an asset, or the 400 saying why not
        (not an image, too many pixels, a format the API does not serve, not the type
        ``announced``); ``shown`` is what the request sent, as its error quotes it, and
        ``sent_as`` how it should have come."""
        cap = self.settings.max_upload_pixels
        try:
            with warnings.catch_warnings():  # Pillow's bomb warning: the cap below decides
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(raw)) as im:
                    width, height, fmt = im.width, im.height, im.format or ""
                    if width * height <= cap:  # the header is read; decode only what fits
                        im.load()
        except Image.DecompressionBombError:  # beyond twice Pillow's own limit
            return error(400, f"image: got more than {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels; "
                         f"allowed: at most {cap} pixels (8192x4096); downscale it first",
                         details={"field": "image", "limit": cap})
        except Exception:  # PIL.UnidentifiedImageError, truncated files...
            return error(400, f"image: got {shown}; allowed: {sent_as} PNG, JPEG or WebP "
                         "image", details={"field": "image"})
        if width * height > cap:
            return error(400, f"image: got {width}x{height} pixels; allowed: at most {cap} "
                         "pixels (8192x4096); downscale it first",
                         details={"field": "image", "limit": cap, "received": width * height})
        kind = by_pillow(fmt)
        if kind is None or not kind.api:
            return error(400, f"image: got a {fmt.lower() or 'unknown'} image; allowed: {listed()}",
                         details={"field": "image"})
        mime = kind.mime
        if announced is not None and announced != mime:
            return error(400, f"contentType: got {announced!r}; the file is {mime}",
                         details={"field": "contentType"})
        rec = self.store.add_asset(raw, mime_type=mime, width=width, height=height,
                                       origin="uploaded", metadata={"name": name, "type": "uploaded", "kind": "image"})
        self.log(f"asset {rec.id} uploaded ({width}x{height}, {len(raw)} bytes)")
        return rec

    def team_json(self) -> dict[str, Any]:
        """The emulator's one team, as ``GET /teams`` lists it."""
        when = iso(self.settings.started_at)
        return {"id": OWNER_ID, "name": "Offline emulator", "plan": "pro", "type": "personal",
                "createdAt": when, "updatedAt": when, "projects": [],
                "context": {"invitationsCount": 0, "keysCount": 1, "userRole": "key",
                            "usersCount": 1}}

    def limits_json(self) -> dict[str, Any]:
        """``GET /teams/{teamId}/limits``: the plan's allowance, what this period used, and
        the parallel-jobs limit (the configured one, else `PLAN_PARALLEL_JOBS`)."""
        start = self.settings.started_at
        parallel = self.settings.max_parallel_jobs or PLAN_PARALLEL_JOBS
        limits = {k: 0 for k in (
            "apiKeys", "canvasAssetLayers", "canvasAssets", "collections", "defaultSeats",
            "downloadAssets", "downloadModel", "inferenceBatchSize", "maxCooldown",
            "maxTrainingDatasets", "minCooldown", "models", "OTPSessions",
            "parallelInferences", "parallelTraining", "parallelWorkflowRuns",
            "premiumGenerationSamples", "projects", "scalingFactor", "seats",
            "snapshotsRetention", "upload")}
        limits.update(apiKeys=10, projects=10, seats=1, inferenceBatchSize=4,
                      creativeUnits=self.settings.creative_units, parallelCustomJobs=parallel)
        return {
            "plan": "pro",
            "period": {"start": iso(start), "end": iso(start + 30 * 86400)},
            "limits": limits,
            "values": {"apiKeys": 1, "canvasAssets": 0, "collections": 0, "projects": 1,
                       "seats": 1, "creativeUnits": self.store.spent_creative_units()},
            "oneShotCreativeUnits": [],
        }

    def _teams(self, params: dict[str, str], query: dict[str, str], body: bytes, dry: bool) -> Response:
        return json_response(200, {"teams": [self.team_json()]})

    def _limits(self, params: dict[str, str], query: dict[str, str], body: bytes, dry: bool) -> Response:
        if params["id"] != OWNER_ID:
            return error(404, f"Team not found: {params['id']}",
                         hint=f"The offline emulator's team is {OWNER_ID} (GET /v1/teams).")
        return json_response(200, self.limits_json())

    def _model(self, params: dict[str, str], query: dict[str, str], body: bytes, dry: bool) -> Response:
        if params["id"] not in _MODELS:
            return error(404, f"Model not found: {params['id']}",
                         hint=f"The offline emulator knows {', '.join(_MODELS)}.")
        return json_response(200, {"model": self.model_json(params["id"])})


def _b64(raw: bytes) -> str:
    """CloudFront's URL-safe base64: '+' '=' '/' written as '-' '_' '~'."""
    return base64.b64encode(raw).decode().translate(str.maketrans("+=/", "-_~"))


def _policy_expiry(policy: str) -> float:
    """The expiry time a signed URL's ``Policy`` states (0 when it cannot be read)."""
    try:
        raw = base64.b64decode(policy.translate(str.maketrans("-_~", "+=/")), validate=True)
        return float(json.loads(raw)["Statement"][0]["Condition"]["DateLessThan"]["AWS:EpochTime"])
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
        return 0.0


def _json_object(body: bytes) -> dict[str, Any] | Response:
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        return error(400, "The request body is not valid JSON.")
    except RecursionError:  # thousands of nested brackets: refused, not a 500
        return error(400, "The request body nests too deeply to be a request.")
    if not isinstance(data, dict):
        return error(400, f"The request body must be a JSON object, got {type(data).__name__}.")
    return data


def _as_recorded(answer: Response) -> Response:
    """An error as the service's one recorded error body: its words under ``reason``
    only (the SDK-style ``message`` left out)."""
    if answer.status < 400 or not answer.body.startswith(b"{"):
        return answer
    data = json.loads(answer.body)
    if "reason" in data:
        data.pop("message", None)
        answer.body = json.dumps(data, separators=(",", ":")).encode("utf-8")
    return answer


def _bad_field(p: Problem) -> Response:
    """400 naming one field (of the query or body), in `Problem`'s words."""
    return error(400, str(p), details={"field": p.field})


def _invalid(problems: list[Problem]) -> Response:
    """400 listing every problem of a body, the first one's field on top."""
    return error(400, "Invalid parameters: " + "; ".join(str(p) for p in problems),
                 details={"problems": [_problem_dict(p) for p in problems],
                          "field": problems[0].field})


def _problem_dict(p: Problem) -> dict[str, Any]:
    value = p.value if isinstance(p.value, (str, int, float, bool, type(None))) else repr(p.value)
    return {"field": p.field, "value": value, "allowed": p.allowed, "message": p.message}
