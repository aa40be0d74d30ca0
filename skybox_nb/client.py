"""The Scenario client: `SkyboxClient` (blocking) and `AsyncSkyboxClient` over one core.

Invariant: every decision lives in `_Core`, whose operations are generators that *yield*
I/O effects (`_Send` an API call, `_Fetch` a CDN download into a file, `_Call` blocking
local work, `_Sleep`) and get the outcome sent back; the two client classes only perform
those effects, one with ``httpx.Client`` and ``time``, the other with
``httpx.AsyncClient`` and ``asyncio``. So both behave identically by construction. The
paid generate POST is sent only after its intent is committed to the ledger, and resent
only when it provably never reached Scenario. The ``Authorization`` header is set only
on the API client, never on the download client (asset URLs are presigned CDN links on
another host).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import io
import logging
import re
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Mapping, Sequence, TypeVar

import httpx
from PIL import Image

from . import __version__
from .config import Credentials, Settings, resolve_settings
from .contract import SCENARIO_API_URL, SKYBOX_FLUX_MODEL_ID
from .errors import (
    ForbiddenError,
    InvalidError,
    JobFailedError,
    ModeratedError,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    SkyboxError,
    TimeoutError,
    TransportError,
    error_from_response,
    is_moderation_text,
)
from .files import (
    IMAGE_EXTENSIONS,
    finalize_image,
    png_bytes,
    remove_stale_temps,
    safe_id,
    slug,
    temp_path,
    write_json_atomic,
)
from .account import Account, parse_limits, pick_team
from .contract import ModelSpec
from .ledger import DEFAULT_LIBRARY, Generation, Ledger
from .models import (
    Asset,
    Job,
    RunResult,
    parse_asset,
    parse_estimate,
    parse_generate,
    parse_job,
    parse_job_list,
)
from .retry import PollSchedule, RetryPolicy, may_resend_paid

__all__ = ["SkyboxClient", "AsyncSkyboxClient", "RunResult", "Job", "Asset",
           "ReconcileOutcome", "UPLOAD_MAX_SIDE", "UPLOAD_MAX_BYTES"]

log = logging.getLogger("skybox_nb.client")
T = TypeVar("T")
ProgressFn = Callable[[Job], Any]

# Upload limits: the JSON data-URL route is for ordinary images; larger ones would need
# the multipart POST /uploads flow.
UPLOAD_MAX_SIDE = 8192
UPLOAD_MIN_SIDE = 16
UPLOAD_MAX_BYTES = 30 * 1024 * 1024
# How long after an intent a job found in GET /jobs may have been created by it.
RECONCILE_WINDOW = 300.0
# Server clocks may run a little behind ours.
RECONCILE_SKEW = 30.0
_EMULATOR_ANNOUNCED = False


# -- effects: what the core asks the I/O layer to do -----------------------------------

@dataclass(frozen=True)
class _Send:
    """An API call (relative path, with auth). The answer comes back as an
    ``httpx.Response`` that has been read; a transport failure is thrown back in."""

    method: str
    path: str
    json: Any = None
    params: Mapping[str, str] | None = None


@dataclass(frozen=True)
class _Fetch:
    """Stream ``url`` (no auth) into the file ``into``; answers a `_Fetched`."""

    url: str
    into: Path


@dataclass(frozen=True)
class _Fetched:
    status: int
    headers: Mapping[str, str]
    written: int
    body: bytes = b""


@dataclass(frozen=True)
class _Call:
    """Blocking local work (decode, fsync, rename): done inline by the blocking client, in
    a worker thread by the async one so the event loop never stalls on a disk."""

    fn: Callable[..., Any]
    args: tuple = ()


@dataclass(frozen=True)
class _Sleep:
    """Wait ``seconds``, or less once ``wake()`` is true. Honours cancellation."""

    seconds: float
    wake: Callable[[], bool] | None = None


Op = Generator[Any, Any, T]


@dataclass(frozen=True)
class ReconcileOutcome:
    """What ``reconcile()`` concluded for one "unknown" intent."""

    intent_id: str
    job_id: str | None
    candidates: int
    note: str


def _transport_error(exc: httpx.HTTPError, *, paid: bool) -> SkyboxError:
    """Map an httpx failure to our error. Only a refused connection (nothing was sent)
    is unambiguous for the paid call; anything later may have reached Scenario."""
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return TimeoutError(f"could not connect in time ({name})", ambiguous=False)
    if isinstance(exc, httpx.ConnectError):
        return TransportError(f"could not connect: {exc}", ambiguous=False)
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(f"no answer in time ({name})", ambiguous=paid)
    return TransportError(f"the connection failed ({name}: {exc})", ambiguous=paid)


def _json(resp: httpx.Response, what: str) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise ProtocolError(f"{what}: the answer (HTTP {resp.status_code}) is not JSON",
                            status=resp.status_code) from None


def _parse_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


def _iso(ts: float) -> str:
    text = datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _job_id(job: Job | str) -> str:
    return safe_id(job.id if isinstance(job, Job) else job, "job")


def _prompt_of(body: Mapping[str, Any]) -> str:
    p = body.get("prompt")
    return p if isinstance(p, str) else "skybox"


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) < 1e-9
    return a == b


def _image_to_png(image: Any) -> tuple[bytes, str]:
    """Check an upload and encode it as PNG; returns (png bytes, file name).

    Accepts a path, bytes, a PIL image or an array (HxW, HxWx3 or HxWx4; uint8, or
    floats in 0..1). Raises ``InvalidError`` naming the problem before anything is sent.
    """
    name = "image.png"
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise InvalidError(f"image: got {str(path)!r}; expected an existing image file")
        if path.stat().st_size > UPLOAD_MAX_BYTES:
            raise InvalidError(f"image: {path.name} is {path.stat().st_size} bytes; at most "
                               f"{UPLOAD_MAX_BYTES} bytes can be uploaded")
        name = slug(path.stem) + ".png"
        image = path.read_bytes()
    if isinstance(image, (bytes, bytearray, memoryview)):
        try:
            pil = Image.open(io.BytesIO(bytes(image)))
            _check_upload_size(*pil.size)  # from the header: never decode a bomb's pixels
            pil.load()
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise InvalidError(f"image: the bytes are not a readable image ({e}); expected "
                               f"{', '.join(IMAGE_EXTENSIONS)}") from None
        if pil.format not in IMAGE_EXTENSIONS:
            raise InvalidError(f"image: got a {pil.format} image; expected one of "
                               f"{', '.join(IMAGE_EXTENSIONS)}")
    elif isinstance(image, Image.Image):
        pil = image
    elif hasattr(image, "__array_interface__") or type(image).__module__ == "numpy":
        pil = _array_to_pil(image)
    else:
        raise InvalidError(f"image: got {type(image).__name__}; expected a file path, "
                           "bytes, a PIL image or a numpy array")
    _check_upload_size(*pil.size)
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
    return data, name


def _check_upload_size(w: int, h: int) -> None:
    if not (UPLOAD_MIN_SIDE <= w <= UPLOAD_MAX_SIDE and UPLOAD_MIN_SIDE <= h <= UPLOAD_MAX_SIDE):
        raise InvalidError(f"image: got {w}x{h} pixels; each side must be from "
                           f"{UPLOAD_MIN_SIDE} to {UPLOAD_MAX_SIDE}")


def _array_to_pil(arr: Any) -> Image.Image:
    import numpy as np

    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise InvalidError(f"image: got an array of shape {a.shape}; expected HxW, HxWx3 "
                           "or HxWx4")
    # Before any pixel work: an empty array has nothing for min()/max() to reduce, and a
    # huge one should not be scanned only to be refused.
    _check_upload_size(a.shape[1], a.shape[0])
    if a.dtype == np.uint8:
        return Image.fromarray(a)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise InvalidError("image: a float array must hold finite values from 0 to 1")
        return Image.fromarray((a * 255.0 + 0.5).astype(np.uint8))
    raise InvalidError(f"image: got an array of dtype {a.dtype}; expected uint8, or floats "
                       "from 0 to 1")


# -- the core ---------------------------------------------------------------------------

class _Core:
    """Everything but I/O: builds calls, interprets answers, retries, keeps the ledger."""

    def __init__(
        self,
        settings: Settings,
        library: str | Path,
        emulator: Any,
        retry: RetryPolicy | None,
        poll: Callable[[], PollSchedule] | None,
    ) -> None:
        self.emulator = emulator
        self.owns_emulator = False
        creds = settings.credentials
        if emulator is None and creds is None:
            if settings.base_url is not None:
                raise ValueError(
                    f"a base URL is set ({settings.base_url}) but no API key and secret: set "
                    "SCENARIO_SDK_API_KEY and SCENARIO_SDK_API_SECRET, or unset "
                    "SCENARIO_BASE_URL to use the built-in offline emulator")
            from .emulator import DEFAULT_JOB_DURATION, Emulator

            # A few seconds per job, as `skybox-nb emulator` runs it, so progress shows.
            emulator = self.emulator = Emulator(job_duration=DEFAULT_JOB_DURATION,
                                                quiet=True).start()
            self.owns_emulator = True
        if emulator is not None:
            self.base_url = str(emulator.base_url).rstrip("/")
            if creds is None:
                key = getattr(emulator, "api_key", None) or "offline-emulator"
                secret = getattr(emulator, "api_secret", None) or "offline-emulator"
                creds = Credentials(key, secret)
            self.backend = f"offline emulator at {self.base_url.rsplit('/v1', 1)[0]}"
        else:
            self.base_url = settings.base_url or SCENARIO_API_URL
            self.backend = f"Scenario API ({settings.host})"
        self._creds = creds
        self.specs: dict[str, ModelSpec] = {}  # GET /models/{id}, read once per client
        self.is_emulator = emulator is not None
        self.ledger = Ledger(library)
        remove_stale_temps(self.ledger.library)  # a killed process's half downloads
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollSchedule
        self._lock = threading.Lock()
        self._waiters = 0           # generates waiting out a parallel-jobs 429
        self._free_slots = 0        # jobs that ended while someone waited
        self._attached: set[str] = set()   # intents being driven by this client now
        if self.owns_emulator:
            self._announce()
        elif self.is_emulator:
            log.info("skybox_nb: using the %s", self.backend)
        self._report_leftovers()

    def _report_leftovers(self) -> None:
        """Say once, at start, what an earlier session left for this one to settle."""
        active, unknown = len(self.ledger.active()), len(self.ledger.unresolved())
        if active:
            log.warning("skybox_nb: %d job(s) of an earlier session are not downloaded yet: "
                        "client.resume() finishes them (no new request is sent)", active)
        if unknown:
            log.warning("skybox_nb: %d request(s) in the ledger may have started jobs whose "
                        "answers were lost: client.reconcile() matches them to Scenario's "
                        "jobs (identical requests are blocked until then)", unknown)

    def _announce(self) -> None:
        global _EMULATOR_ANNOUNCED
        if not _EMULATOR_ANNOUNCED:  # once per process: one clear line, not a stream
            _EMULATOR_ANNOUNCED = True
            log.warning("skybox_nb: no Scenario credentials set, so requests go to the %s "
                        "(procedural images, not Skybox Flux.1's)", self.backend)

    def auth_headers(self) -> dict[str, str]:
        """The API client's default headers (the only place the credentials go)."""
        assert self._creds is not None
        return {"Authorization": self._creds.authorization(),
                "User-Agent": f"skybox-nb/{__version__}", "Accept": "application/json"}

    # -- calls with retries -------------------------------------------------------------

    def call(self, method: str, path: str, what: str, *, json: Any = None,
             params: Mapping[str, str] | None = None) -> Op[Any]:
        """A non-paid API call, retried with backoff on retryable errors; returns JSON."""
        retry_index = 0
        while True:
            try:
                resp = yield _Send(method, path, json, params)
            except httpx.HTTPError as e:
                err = _transport_error(e, paid=False)
            else:
                log.debug("%s %s -> %s", method, path, resp.status_code)
                if resp.status_code < 300:
                    return _json(resp, what)
                err = error_from_response(resp.status_code, resp.content, resp.headers)
            delay = self.retry.delay(err, retry_index)
            if delay is None:
                raise err
            log.info("%s failed (%s); retrying in %.2fs", what, err.kind, delay)
            yield _Sleep(delay)
            retry_index += 1

    def _post_paid(self, model_id: str, body: Mapping[str, Any]) -> Op[tuple[Job, float | None]]:
        """The paid POST. Resent only after a 429 or a refused connection; a concurrency
        429 waits for one of this client's jobs to finish (or the server's delay)."""
        path = f"/generate/custom/{model_id}"
        retry_index = slot_waits = 0
        while True:
            try:
                resp = yield _Send("POST", path, dict(body))
            except httpx.HTTPError as e:
                err = _transport_error(e, paid=True)
            else:
                log.debug("POST %s -> %s", path, resp.status_code)
                if resp.status_code < 300:
                    try:
                        return parse_generate(_json(resp, "generate"))
                    except ProtocolError as e:
                        # A 2xx means a job was probably created: we just cannot read it.
                        raise ProtocolError(e.message, status=resp.status_code,
                                            ambiguous=True) from None
                err = error_from_response(resp.status_code, resp.content, resp.headers,
                                          paid=True)
            if not may_resend_paid(err):
                raise err
            if isinstance(err, RateLimitError) and err.is_concurrency_limit:
                # Like any 429, a server asking for more than our patience is not waited for.
                if slot_waits >= 400 or (err.retry_after or 0) > self.retry.max_retry_after:
                    raise err
                # Each of our jobs that ends frees a slot for ONE waiter (no stampede);
                # when the slots are held by others' jobs, wait the server's delay or a
                # growing pause.
                pause = err.retry_after or min(10.0, 1.0 * 1.25 ** slot_waits)
                slot_waits += 1
                with self._lock:
                    self._waiters += 1
                try:
                    yield _Sleep(max(pause, 0.5), wake=self._take_slot)
                finally:
                    with self._lock:
                        self._waiters -= 1
                        if self._waiters == 0:
                            self._free_slots = 0
                continue
            delay = self.retry.delay(err, retry_index)
            if delay is None:
                raise err
            log.info("generate was refused before starting (%s); resending in %.2fs",
                     err.kind, delay)
            yield _Sleep(delay)
            retry_index += 1

    # -- the public operations, as generators -----------------------------------------

    def generate(self, request: Any) -> Op[Job]:
        """Record the intent, send the paid POST, record the job; returns the job."""
        job, _ = yield from self._submit(request, claim=False)
        return job

    def _submit(self, request: Any, claim: bool) -> Op[tuple[Job, str]]:
        """`generate`, returning (job, intent id); ``claim`` marks the intent as driven by
        this caller from the moment it exists, so no concurrent run() resumes it too."""
        body, model_id = request.to_body(), request.model_id
        # An fsynced commit: off the event loop for the async client.
        intent_id = yield _Call(self.ledger.record_intent, (model_id, body, request.fingerprint))
        if claim:
            self._claim(intent_id)
        try:
            job, cost = yield from self._post_paid(model_id, body)
        except BaseException as e:
            if isinstance(e, SkyboxError) and not e.ambiguous:
                self.ledger.mark_refused(intent_id, str(e))
            elif isinstance(e, SkyboxError):
                self.ledger.mark_unknown(intent_id, str(e))
            else:  # cancelled or interrupted mid-POST: we cannot know
                self.ledger.mark_unknown(intent_id,
                                         f"interrupted while sending ({type(e).__name__})")
            self._release(intent_id)
            raise
        yield _Call(self.ledger.attach_job, (intent_id, job, cost))
        return job, intent_id

    def _take_slot(self) -> bool:
        """True (once per freed slot) when one of our jobs ended while we waited."""
        with self._lock:
            if self._free_slots > 0:
                self._free_slots -= 1
                return True
            return False

    def _claim(self, intent_id: str) -> bool:
        """Mark an intent as driven by one caller of this client; False if it already is."""
        with self._lock:
            if intent_id in self._attached:
                return False
            self._attached.add(intent_id)
            return True

    def _release(self, intent_id: str) -> None:
        with self._lock:
            self._attached.discard(intent_id)

    def estimate(self, request: Any) -> Op[float]:
        """A dry run (HTTP 269): the CU cost, nothing started or billed."""
        data = yield from self.call("POST", f"/generate/custom/{request.model_id}",
                                    "estimate", json=request.to_body(),
                                    params={"dryRun": "true"})
        return parse_estimate(data)

    def model_spec(self, model_id: str) -> Op[ModelSpec]:
        """``GET /models/{id}``: the model's inputs as a `ModelSpec` (cached per id)."""
        mid = _path_id(model_id, "model_id")
        if mid not in self.specs:
            data = yield from self.call("GET", f"/models/{mid}", "model")
            try:
                self.specs[mid] = ModelSpec.from_api(data)
            except ValueError as e:
                raise ProtocolError(f"GET /models/{mid}: {e}") from None
        return self.specs[mid]

    def account(self, team_id: str | None = None) -> Op[Account]:
        """``GET /teams`` (when no ``team_id``), then ``GET /teams/{id}/limits``."""
        if team_id is None:
            team_id = pick_team((yield from self.call("GET", "/teams", "teams")))
        tid = _path_id(team_id, "team_id")
        data = yield from self.call("GET", f"/teams/{tid}/limits", "limits")
        return parse_limits(tid, data)

    def job(self, job: Job | str) -> Op[Job]:
        """``GET /jobs/{id}``."""
        data = yield from self.call("GET", f"/jobs/{_job_id(job)}", "job")
        return parse_job(data)

    def asset(self, asset_id: Asset | str) -> Op[Asset]:
        """``GET /assets/{id}`` (also how a stale URL is renewed)."""
        aid = safe_id(asset_id.id if isinstance(asset_id, Asset) else asset_id, "asset")
        data = yield from self.call("GET", f"/assets/{aid}", "asset")
        return parse_asset(data)

    def cancel(self, job: Job | str) -> Op[Job]:
        """``POST /jobs/{id}/action {"action": "cancel"}``; records the outcome."""
        data = yield from self.call("POST", f"/jobs/{_job_id(job)}/action", "cancel",
                                    json={"action": "cancel"})
        new = parse_job(data)
        yield _Call(self._record, (new,))
        return new

    def upload(self, image: Any) -> Op[str]:
        """Check and upload an image (PNG data URL to ``POST /assets``); returns its id."""
        data, name = _image_to_png(image)
        url = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        answer = yield from self.call("POST", "/assets", "upload",
                                      json={"image": url, "name": name})
        return parse_asset(answer).id

    def _record(self, job: Job) -> None:
        """Store a job's news in its intent's row (blocking: run it as a `_Call`)."""
        rec = self.ledger.by_job(job.id)
        if rec is not None and rec.status in ("running", "unknown"):
            self.ledger.update_job(rec.intent_id, job)

    def wait(self, job: Job | str, on_progress: ProgressFn | None,
             timeout: float | None) -> Op[Job]:
        """Poll until the job is final; calls ``on_progress`` on every change."""
        current = job if isinstance(job, Job) else (yield from self.job(job))
        schedule = self.poll()
        start = time.monotonic()
        seen: tuple[str, float] | None = None
        while True:
            if (current.status, current.progress) != seen:
                seen = (current.status, current.progress)
                yield _Call(self._record, (current,))
                if on_progress is not None:
                    on_progress(current)
            if current.done:
                with self._lock:
                    if self._waiters:
                        self._free_slots += 1
                return current
            delay = schedule.next_delay(time.monotonic(), current.progress)
            if timeout is not None:
                left = start + timeout - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"job {current.id} is still {current.status} after {timeout:g}s",
                        hint="it keeps running and stays in the ledger: call wait() again "
                             "or client.resume() later", ambiguous=False)
                delay = min(delay, left)
            yield _Sleep(delay)
            current = yield from self.job(current.id)

    @staticmethod
    def download_dest(asset: Asset | str, dest_dir: str | Path, name: str | None) -> Path:
        """Where ``download(asset, dest_dir, name)`` saves (the extension may change)."""
        aid = safe_id(asset.id if isinstance(asset, Asset) else asset, "asset")
        return Path(dest_dir) / f"{slug(name, 80) if name else aid}.png"

    def resumable(self) -> list[Generation]:
        """Active ledger intents no caller of this client is driving now, oldest first."""
        with self._lock:
            return [r for r in self.ledger.active() if r.intent_id not in self._attached]

    def download(self, asset: Asset | str, dest: Path) -> Op[tuple[Path, Asset]]:
        """Stream an asset into a temp file beside ``dest``, prove it decodes, rename it
        to ``dest`` with the right extension. Renews a stale URL; retries a cut transfer.
        Returns (final path, the asset as last fetched)."""
        if not isinstance(asset, Asset):
            asset = yield from self.asset(asset)
        renewals = retry_index = 0
        while True:
            tmp = temp_path(dest)
            try:
                try:
                    got = yield _Fetch(asset.url, tmp)
                    err = self._check_fetch(got)
                    if err is None:
                        return (yield _Call(finalize_image, (tmp, dest))), asset
                except httpx.HTTPError as e:
                    err = _transport_error(e, paid=False)
                except ProtocolError as e:  # not a complete image: worth fetching again
                    err = ProtocolError(f"download of {asset.id}: {e.message}", retryable=True)
            finally:
                tmp.unlink(missing_ok=True)
            if err.status in (401, 403, 410) and renewals < 3:
                # The presigned URL expired: a fresh asset read gives a new one.
                log.info("asset %s URL refused (%s); renewing it", asset.id, err.status)
                renewals += 1
                asset = yield from self.asset(asset.id)
                continue
            delay = self.retry.delay(err, retry_index)
            if delay is None:
                raise err
            log.info("download of %s failed (%s); retrying in %.2fs", asset.id, err.kind, delay)
            yield _Sleep(delay)
            retry_index += 1

    @staticmethod
    def _check_fetch(got: _Fetched) -> SkyboxError | None:
        if got.status >= 300:
            return error_from_response(got.status, got.body, got.headers)
        expected = got.headers.get("content-length")
        if expected is not None and expected.isdigit() and int(expected) != got.written:
            return TransportError(f"download cut short: {got.written} of {expected} bytes")
        return None

    def list_jobs(self, created_after: float) -> Op[list[Job]]:
        """Every job created after ``created_after`` (Unix time), all pages."""
        jobs: list[Job] = []
        token: str | None = None
        for _ in range(50):
            params = {"pageSize": "100", "createdAfter": _iso(created_after)}
            if token:
                params["paginationToken"] = token
            data = yield from self.call("GET", "/jobs", "list jobs", params=params)
            page, token = parse_job_list(data)
            jobs += page
            if token is None:
                break
        return jobs

    def reconcile(self) -> Op[list[ReconcileOutcome]]:
        """Match each "unknown" intent to the one job of its model and inputs created
        within a few minutes after it; adopt it when there is exactly one."""
        unknown = self.ledger.unresolved()
        if not unknown:
            return []
        jobs = yield from self.list_jobs(min(r.created_at for r in unknown) - RECONCILE_SKEW)
        out = []
        for rec in unknown:
            cands = [j for j in jobs if self._could_be(rec, j)]
            if len(cands) == 1:
                self.ledger.attach_job(rec.intent_id, cands[0])
                out.append(ReconcileOutcome(rec.intent_id, cands[0].id, 1,
                                            "adopted: client.resume() fetches its outputs"))
            elif cands:
                ids = ", ".join(j.id for j in cands)
                out.append(ReconcileOutcome(rec.intent_id, None, len(cands),
                                            f"several jobs match ({ids}): pick one with "
                                            "client.adopt(intent_id, job_id), or dismiss"))
            else:
                out.append(ReconcileOutcome(rec.intent_id, None, 0,
                                            "no matching job; if none appears, dismiss it"))
        return out

    def adopt(self, intent_id: str, job: Job | str) -> Op[Job]:
        """Settle an "unknown" intent by hand: it did start ``job``. Returns the job."""
        rec = self.ledger.get(intent_id)
        if rec.status != "unknown":
            raise ValueError(f"intent {intent_id} is {rec.status!r}; only an 'unknown' "
                             "intent can adopt a job")
        found = yield from self.job(job)
        owner = self.ledger.by_job(found.id)
        if owner is not None:
            raise ValueError(f"job {found.id} already belongs to intent {owner.intent_id}")
        self.ledger.attach_job(intent_id, found)
        return found

    def _could_be(self, rec: Generation, job: Job) -> bool:
        created = _parse_time(job.created_at)
        if created is None or not (rec.created_at - RECONCILE_SKEW <= created
                                   <= rec.created_at + RECONCILE_WINDOW):
            return False
        if job.model_id is not None and job.model_id != rec.model_id:
            return False
        jtype = job.raw.get("jobType")
        if jtype is not None and jtype != "custom":
            return False
        inputs = job.inputs
        if not all(_same_value(v, inputs[k]) for k, v in rec.request.items() if k in inputs):
            return False
        # Last, as it is a ledger query: not already the job of another intent.
        return self.ledger.by_job(job.id) is None

    def run(self, request: Any, on_progress: ProgressFn | None) -> Op[RunResult]:
        """Resume an active identical intent, else generate; wait; download; record."""
        rec = next((r for r in self.ledger.active(request.fingerprint)
                    if self._claim(r.intent_id)), None)
        if rec is not None:
            log.info("resuming job %s of an identical request (no new POST)", rec.job_id)
            job: Job | str = rec.job_id or ""
            intent_id = rec.intent_id
        else:
            job, intent_id = yield from self._submit(request, claim=True)
        return (yield from self._follow(intent_id, job, request, on_progress))

    def resume_one(self, rec: Generation, on_progress: ProgressFn | None) -> Op[RunResult | None]:
        """Finish an active ledger intent: poll its job and fetch its outputs. Returns
        None when another caller of this client is already doing so."""
        if not self._claim(rec.intent_id):
            return None
        return (yield from self._follow(rec.intent_id, rec.job_id or "", self._request_of(rec),
                                        on_progress))

    @staticmethod
    def _request_of(rec: Generation) -> Any:
        if rec.model_id == SKYBOX_FLUX_MODEL_ID:
            from .request import SkyboxRequest

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return SkyboxRequest.from_body(rec.request)
            except ValueError:
                pass
        return dict(rec.request)

    def _follow(self, intent_id: str, job: Job | str, request: Any,
                on_progress: ProgressFn | None) -> Op[RunResult]:
        """Wait for a claimed intent's job, fetch its outputs, record; then release it."""
        try:
            job = yield from self.wait(job, on_progress, None)
            if job.status != "success":
                text = f"job {job.id}: " + (job.error or f"the job ended in {job.status}")
                if is_moderation_text(job.error) or is_moderation_text(job.hint):
                    raise ModeratedError(text, hint=job.hint)
                raise JobFailedError(text, job_id=job.id, hint=job.hint)
            body = request.to_body() if hasattr(request, "to_body") else dict(request)
            files, assets = [], []
            stem = slug(_prompt_of(body))
            rec = yield _Call(self.ledger.get, (intent_id,))
            for i, aid in enumerate(job.asset_ids):
                dest = self.ledger.library / f"{job.id}-{i}-{stem}.png"
                path, asset = yield from self.download(aid, dest)
                yield from self._sidecar(path, rec, body, job, asset, i)
                files.append(path)
                assets.append(asset)
            yield _Call(self.ledger.mark_done, (intent_id, files))
            return RunResult(job=job, request=request, files=files, assets=assets,
                             cu_cost=job.cu_cost, intent_id=intent_id)
        except SkyboxError as e:
            yield _Call(self.ledger.set_error, (intent_id, str(e)))
            raise
        finally:
            self._release(intent_id)

    def _sidecar(self, path: Path, rec: Generation, body: Mapping[str, Any], job: Job,
                 asset: Asset, index: int) -> Op[None]:
        raw_job = job.raw
        meta = {k: v for k, v in asset.metadata.items() if "url" not in k.lower()}
        yield _Call(write_json_atomic, (path.with_suffix(".json"), {
            "file": path.name,
            "request": dict(body),
            "model_id": rec.model_id,
            "seed": asset.seed,
            "output_index": index,
            "job": {"id": job.id, "status": job.status, "createdAt": job.created_at,
                    "updatedAt": raw_job.get("updatedAt"),
                    "statusHistory": raw_job.get("statusHistory"),
                    "billing": raw_job.get("billing")},
            "asset": {"id": asset.id, "mimeType": asset.mime_type, "width": asset.width,
                      "height": asset.height, "metadata": meta},
            "cu_cost": job.cu_cost,
            "times": {"intent": _iso(rec.created_at),
                      "job_created": job.created_at, "saved": _iso(time.time())},
            "intent_id": rec.intent_id,
            "backend": self.backend,
            "made_by": f"skybox_nb {__version__}",
        }))


# -- the blocking client ----------------------------------------------------------------

def _advance(op: Op[Any], outcome: tuple[Any, Exception | None]) -> tuple[bool, Any]:
    """Hand the last effect's outcome (value, or failure) to the core operation; returns
    (True, its result) when it has finished, else (False, the next effect to perform)."""
    value, error = outcome
    try:
        return False, (op.throw(error) if error is not None else op.send(value))
    except StopIteration as stop:
        return True, stop.value


def _from_core(name: str, doc: str) -> Any:
    """A read-only property of the clients that reads the same attribute of their core."""
    return property(lambda self: getattr(self._core, name), doc=doc)


class _Base:
    """Construction and the plain properties both clients share."""

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        base_url: str | None = None,
        library: str | Path = DEFAULT_LIBRARY,
        timeout: float = 30.0,
        emulator: Any = None,
        retry: RetryPolicy | None = None,
        poll: Callable[[], PollSchedule] | None = None,
        transport: Any = None,
    ) -> None:
        """``retry`` and ``poll`` tune the backoff and the polling; ``transport`` (an
        httpx transport, e.g. ``MockTransport``) replaces the network, for tests."""
        # With an emulator given, the environment's (real) credentials are not sent to it.
        settings = resolve_settings(api_key, api_secret, base_url,
                                    environ={} if emulator is not None else None)
        self._transport = transport
        self._core = _Core(settings, library, emulator, retry, poll)
        self._timeout = httpx.Timeout(timeout, connect=min(10.0, timeout))
        self._limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)

    def _http_settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Settings of the two httpx clients: the API one carries the credentials; the
        download one never does (asset URLs are presigned links on a CDN host)."""
        common = {"timeout": self._timeout, "limits": self._limits,
                  "transport": self._transport}
        return ({**common, "base_url": self._core.base_url,
                 "headers": self._core.auth_headers()},
                {**common, "follow_redirects": True})

    is_emulator: bool = _from_core("is_emulator", "True when talking to the offline "
                                   "emulator (procedural images).")
    backend: str = _from_core("backend", "One line saying where requests go, for people "
                              "and badges.")
    base_url: str = _from_core("base_url", "The API base URL (``.../v1``).")
    ledger: Ledger = _from_core("ledger", "The durable record of every generation.")
    emulator: Any = _from_core("emulator", "The emulator in use, or None against the "
                               "real API.")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(backend={self.backend!r}, "
                f"library={str(self.ledger.library)!r})")


class SkyboxClient(_Base):
    """Blocking client. Use ``submit()`` (a Future) to keep a notebook kernel free.

    Credentials come from the arguments or ``SCENARIO_SDK_API_KEY`` /
    ``SCENARIO_SDK_API_SECRET`` (``SCENARIO_BASE_URL`` overrides the URL); without any,
    an in-process offline emulator starts. Files and the ledger go to ``library``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        api, cdn = self._http_settings()
        self._http, self._cdn = httpx.Client(**api), httpx.Client(**cdn)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # The driver: perform each effect the core yields, send back the outcome.
    def _drive(self, op: Op[T], cancel: threading.Event | None = None) -> T:
        outcome: tuple[Any, Exception | None] = (None, None)
        while True:
            finished, item = _advance(op, outcome)
            if finished:
                return item
            try:
                outcome = (self._perform(item, cancel), None)
            except Exception as e:  # the core decides what a failure means
                outcome = (None, e)
            except BaseException:
                op.close()
                raise

    def _perform(self, effect: Any, cancel: threading.Event | None) -> Any:
        if isinstance(effect, _Send):
            return self._http.request(effect.method, effect.path, json=effect.json,
                                      params=effect.params)
        if isinstance(effect, _Fetch):
            with self._cdn.stream("GET", effect.url) as r:
                if r.status_code >= 300:
                    return _Fetched(r.status_code, r.headers, 0, r.read())
                n = 0
                with open(effect.into, "wb") as f:
                    for chunk in r.iter_bytes(1 << 16):
                        f.write(chunk)
                        n += len(chunk)
                return _Fetched(r.status_code, r.headers, n)
        if isinstance(effect, _Call):
            return effect.fn(*effect.args)
        if isinstance(effect, _Sleep):
            end = time.monotonic() + effect.seconds
            while True:
                left = end - time.monotonic()
                if cancel is not None and cancel.is_set():
                    raise concurrent.futures.CancelledError("wait cancelled")
                if left <= 0 or (effect.wake is not None and effect.wake()):
                    return None
                step = left if effect.wake is None else min(left, 0.05)
                if cancel is not None:
                    cancel.wait(min(step, 0.1))
                else:
                    time.sleep(step)
        raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover

    # -- public API -----------------------------------------------------------------

    def generate(self, request: Any) -> Job:
        """Start a job (the paid call; its intent is in the ledger first). Returns the job.
        Raises ``DuplicateIntentError`` while an identical request is unresolved."""
        return self._drive(self._core.generate(request))

    def estimate(self, request: Any) -> float:
        """The request's cost in Creative Units (a dry run; nothing is started)."""
        return self._drive(self._core.estimate(request))

    def job(self, job_id: Job | str) -> Job:
        """The job as Scenario reports it now."""
        return self._drive(self._core.job(job_id))

    def wait(self, job: Job | str, on_progress: ProgressFn | None = None,
             timeout: float | None = None, cancel: threading.Event | None = None) -> Job:
        """Poll until the job ends and return it.

        Polls are adaptive: 0.5 s, then slower up to 2.5 s, aimed at the end the progress
        rate predicts. ``on_progress(job)`` is called on every status/progress change.
        Raises ``TimeoutError`` after ``timeout`` seconds and
        ``concurrent.futures.CancelledError`` once ``cancel`` is set; the job itself keeps
        running and stays in the ledger."""
        return self._drive(self._core.wait(job, on_progress, timeout), cancel)

    def cancel(self, job: Job | str) -> Job:
        """Ask Scenario to cancel the job; returns it as the server answered."""
        return self._drive(self._core.cancel(job))

    def asset(self, asset_id: str) -> Asset:
        """The asset, with a fresh temporary URL."""
        return self._drive(self._core.asset(asset_id))

    def download(self, asset: Asset | str, dest_dir: str | Path = ".",
                 name: str | None = None) -> Path:
        """Save an asset into ``dest_dir`` (as ``name`` or its id, extension from the
        image); atomic and verified. Returns the path."""
        dest = self._core.download_dest(asset, dest_dir, name)
        return self._drive(self._core.download(asset, dest))[0]

    def upload(self, image: Any) -> str:
        """Upload a path, bytes, PIL image or array (checked first); returns the asset id,
        ready for ``SkyboxRequest(image=...)``."""
        return self._drive(self._core.upload(image))

    def run(self, request: Any, on_progress: ProgressFn | None = None,
            cancel: threading.Event | None = None) -> RunResult:
        """Generate (or resume an identical active job), wait, download every output.
        Returns the files, ready for ``Panorama.load``. A failed job raises
        ``JobFailedError`` (``ModeratedError`` for moderation)."""
        return self._drive(self._core.run(request, on_progress), cancel)

    def submit(self, request: Any,
               on_progress: ProgressFn | None = None) -> "concurrent.futures.Future[RunResult]":
        """``run()`` in a background thread; returns a Future (the kernel stays free)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="skybox")
            return self._pool.submit(self.run, request, on_progress)

    def model_spec(self, model_id: str) -> ModelSpec:
        """The inputs ``model_id`` accepts, read from ``GET /models/{id}`` (once per
        client), ready for ``ModelRequest(spec, {...})`` and ``ModelForm``."""
        return self._drive(self._core.model_spec(model_id))

    def account(self, team_id: str | None = None, refresh: bool = False) -> Account | None:
        """The team's creative units left and parallel-jobs limit (``GET /teams/{id}/
        limits``; the team from ``GET /teams`` when not given), or None when the key may
        not read them (403/404). Kept once read; ``refresh=True`` reads again. The
        batch runner caps its jobs in flight at the limit once it is known."""
        if refresh or not hasattr(self, "_account"):
            try:
                self._account = self._drive(self._core.account(team_id))
            except (ForbiddenError, NotFoundError, ProtocolError):
                self._account = None
        return self._account

    def upscale(self, source: Any, factor: int = 2, strength: float | None = None,
                **kwargs: Any) -> Any:
        """Upscale a result, panorama, file or asset id with the skybox upscaler: upload
        if needed, quote (a dry run) first, run, download, re-check the seam. See
        `skybox_nb.upscale.upscale` for the options; returns an ``Upscale``."""
        from .upscale import FAITHFUL_STRENGTH, upscale

        return upscale(self, source, factor,
                       FAITHFUL_STRENGTH if strength is None else strength, **kwargs)

    def run_many(self, requests: Iterable[Any], max_in_flight: int = 4,
                 on_progress: ProgressFn | None = None,
                 return_exceptions: bool = False) -> list[RunResult]:
        """Run several requests with at most ``max_in_flight`` at once (fewer when the
        account's parallel-jobs limit is known, see ``account``); results in order.
        Every run is seen to its end before the first error (if any) is raised, unless
        ``return_exceptions`` puts errors in the list instead."""
        reqs = list(requests)
        _check_in_flight(max_in_flight)
        max_in_flight = _within_limit(max_in_flight, getattr(self, "_account", None))
        with concurrent.futures.ThreadPoolExecutor(min(max_in_flight, max(1, len(reqs))),
                                                   thread_name_prefix="skybox-batch") as ex:
            futs = [ex.submit(self.run, r, on_progress) for r in reqs]
            concurrent.futures.wait(futs)
        return _gather_results([f.exception() or f.result() for f in futs], return_exceptions)

    def reconcile(self) -> list[ReconcileOutcome]:
        """Match "unknown" intents to jobs in ``GET /jobs``; adopt exact single matches."""
        return self._drive(self._core.reconcile())

    def adopt(self, intent_id: str, job: Job | str) -> Job:
        """Settle an "unknown" intent by hand: it did start ``job`` (then ``resume()``)."""
        return self._drive(self._core.adopt(intent_id, job))

    def resume(self, on_progress: ProgressFn | None = None) -> list[RunResult]:
        """Finish every active job in the ledger (no new POST): poll, download, record."""
        recs = self._core.resumable()
        done = [self._drive(self._core.resume_one(r, on_progress)) for r in recs]
        return [r for r in done if r is not None]

    def close(self) -> None:
        """Close connections, the ledger and an emulator this client started."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()
        self._cdn.close()
        self._core.ledger.close()
        if self._core.owns_emulator:
            self._core.emulator.stop()

    def __enter__(self) -> "SkyboxClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_PATH_ID = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


def _path_id(value: Any, name: str) -> str:
    """``value`` when it can be one segment of an API path (a model or team id); raises
    ``ValueError`` naming ``name`` otherwise, so no id can add a separator to a URL."""
    if not isinstance(value, str) or not _PATH_ID.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"{name}: got {value!r}; allowed: letters, digits, '_', '-' and '.' "
                         "such as 'model_scenario-skybox-gpt'")
    return value


def _within_limit(n: int, account: Account | None) -> int:
    """``n`` jobs in flight, at most the account's parallel-jobs limit when known."""
    limit = account.parallel_jobs if account is not None else None
    return n if limit is None else max(1, min(n, limit))


def _check_in_flight(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"max_in_flight: got {n!r}; expected an integer >= 1")


def _gather_results(outcomes: Sequence[Any], return_exceptions: bool) -> list[Any]:
    if not return_exceptions:
        for o in outcomes:
            if isinstance(o, BaseException):
                raise o
    return list(outcomes)


# -- the async client -------------------------------------------------------------------

class AsyncSkyboxClient(_Base):
    """The same client for ``asyncio``: every method is a coroutine. Cancelling the task
    stops waiting (the job keeps running and stays in the ledger)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        api, cdn = self._http_settings()
        self._http, self._cdn = httpx.AsyncClient(**api), httpx.AsyncClient(**cdn)
        # Disk work of many concurrent runs (decode, fsync): asyncio's default pool has
        # only cpu+4 threads, which made a 16-job batch queue its downloads behind it.
        self._disk = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="skybox-disk")

    async def _drive(self, op: Op[T]) -> T:
        outcome: tuple[Any, Exception | None] = (None, None)
        while True:
            finished, item = _advance(op, outcome)
            if finished:
                return item
            try:
                outcome = (await self._perform(item), None)
            except Exception as e:  # the core decides what a failure means
                outcome = (None, e)
            except BaseException:  # cancelled: let the core clean up, then stop
                op.close()
                raise

    async def _perform(self, effect: Any) -> Any:
        if isinstance(effect, _Send):
            return await self._http.request(effect.method, effect.path, json=effect.json,
                                            params=effect.params)
        if isinstance(effect, _Fetch):
            async with self._cdn.stream("GET", effect.url) as r:
                if r.status_code >= 300:
                    return _Fetched(r.status_code, r.headers, 0, await r.aread())
                n = 0
                with open(effect.into, "wb") as f:
                    async for chunk in r.aiter_bytes(1 << 16):
                        f.write(chunk)
                        n += len(chunk)
                return _Fetched(r.status_code, r.headers, n)
        if isinstance(effect, _Call):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._disk, lambda: effect.fn(*effect.args))
        if isinstance(effect, _Sleep):
            if effect.wake is None:
                await asyncio.sleep(effect.seconds)
                return None
            end = time.monotonic() + effect.seconds
            while time.monotonic() < end and not effect.wake():
                await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))
            return None
        raise TypeError(f"unknown effect {effect!r}")  # pragma: no cover

    async def generate(self, request: Any) -> Job:
        """See ``SkyboxClient.generate``."""
        return await self._drive(self._core.generate(request))

    async def estimate(self, request: Any) -> float:
        """See ``SkyboxClient.estimate``."""
        return await self._drive(self._core.estimate(request))

    async def job(self, job_id: Job | str) -> Job:
        """See ``SkyboxClient.job``."""
        return await self._drive(self._core.job(job_id))

    async def wait(self, job: Job | str, on_progress: ProgressFn | None = None,
                   timeout: float | None = None) -> Job:
        """See ``SkyboxClient.wait``; cancel the task to stop waiting."""
        return await self._drive(self._core.wait(job, on_progress, timeout))

    async def cancel(self, job: Job | str) -> Job:
        """See ``SkyboxClient.cancel``."""
        return await self._drive(self._core.cancel(job))

    async def asset(self, asset_id: str) -> Asset:
        """See ``SkyboxClient.asset``."""
        return await self._drive(self._core.asset(asset_id))

    async def download(self, asset: Asset | str, dest_dir: str | Path = ".",
                       name: str | None = None) -> Path:
        """See ``SkyboxClient.download``."""
        dest = self._core.download_dest(asset, dest_dir, name)
        return (await self._drive(self._core.download(asset, dest)))[0]

    async def upload(self, image: Any) -> str:
        """See ``SkyboxClient.upload``."""
        return await self._drive(self._core.upload(image))

    async def run(self, request: Any, on_progress: ProgressFn | None = None) -> RunResult:
        """See ``SkyboxClient.run``."""
        return await self._drive(self._core.run(request, on_progress))

    async def run_many(self, requests: Iterable[Any], max_in_flight: int = 4,
                       on_progress: ProgressFn | None = None,
                       return_exceptions: bool = False) -> list[RunResult]:
        """See ``SkyboxClient.run_many``."""
        _check_in_flight(max_in_flight)
        gate = asyncio.Semaphore(max_in_flight)

        async def one(r: Any) -> RunResult:
            async with gate:
                return await self.run(r, on_progress)

        outcomes = await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)
        return _gather_results(outcomes, return_exceptions)

    async def reconcile(self) -> list[ReconcileOutcome]:
        """See ``SkyboxClient.reconcile``."""
        return await self._drive(self._core.reconcile())

    async def adopt(self, intent_id: str, job: Job | str) -> Job:
        """See ``SkyboxClient.adopt``."""
        return await self._drive(self._core.adopt(intent_id, job))

    async def resume(self, on_progress: ProgressFn | None = None) -> list[RunResult]:
        """See ``SkyboxClient.resume``."""
        recs = self._core.resumable()
        done = [await self._drive(self._core.resume_one(r, on_progress)) for r in recs]
        return [r for r in done if r is not None]

    async def aclose(self) -> None:
        """Close connections, the ledger and an emulator this client started."""
        await self._http.aclose()
        await self._cdn.aclose()
        self._disk.shutdown(wait=True)
        self._core.ledger.close()
        if self._core.owns_emulator:
            self._core.emulator.stop()

    close = aclose

    async def __aenter__(self) -> "AsyncSkyboxClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
