"""One exception type per kind of failure, each knowing if a retry can help and if it may
already have cost money.

Invariant: an error never carries a credential. Messages are built from the server's
answer (status, message, hint) and our own words; request headers are never copied in,
and the message, hint and details of every error are passed through `redaction` (a
server that echoes our Authorization header, or a field named like a credential, shows
``<redacted>`` there).

``retryable``: sending the same call again may succeed (after waiting).
``ambiguous``: the paid call may have reached Scenario and started (and billed) a job,
so it must not be sent again blindly; the ledger marks such an intent "unknown".
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from typing import Any, Mapping

from .redaction import redact_value, scrub_text
from .validation import Problem

__all__ = [
    "SkyboxError",
    "AuthError",
    "ForbiddenError",
    "QuotaError",
    "ModeratedError",
    "RateLimitError",
    "InvalidError",
    "ValidationError",
    "Problem",
    "NotFoundError",
    "JobLostError",
    "TransportError",
    "DeadlineError",
    "ServerError",
    "ProtocolError",
    "JobFailedError",
    "CancelRefusedError",
    "DuplicateIntentError",
    "OriginalMissingWarning",
    "ClientClosedError",
    "error_from_response",
    "parse_retry_after",
    "is_moderation_text",
]


class SkyboxError(Exception):
    """Base of every error this package raises about a call or a request.

    Attributes: ``kind`` (a short name), ``status`` (HTTP status or None), ``message``
    (the server's or ours), ``hint`` (how to fix it, when known), ``details`` (the
    server's structured details), ``retryable`` and ``ambiguous`` (see module doc).
    """

    kind = "error"
    retryable = False
    ambiguous = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        hint: str | None = None,
        details: Any = None,
        ambiguous: bool | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.message = scrub_text(message)
        self.status = status
        self.hint = scrub_text(hint) if hint else hint
        self.details = redact_value(details)
        if ambiguous is not None:
            self.ambiguous = ambiguous
        if retryable is not None:
            self.retryable = retryable
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"[{self.kind}" + (f" {self.status}" if self.status else "") + "] "
        text = head + self.message
        if self.hint:
            text += f"\nHint: {self.hint}"
        if self.ambiguous:
            text += (
                "\nThe request may have reached Scenario and started a billed job: it is "
                "recorded as 'unknown' in the ledger; reconcile it before sending it again."
            )
        return text


class AuthError(SkyboxError):
    """401: the key or secret is wrong or missing."""

    kind = "auth"


class ForbiddenError(SkyboxError):
    """403: the key lacks the scope, or the model needs another plan. Retrying never helps."""

    kind = "forbidden"


class QuotaError(SkyboxError):
    """402 or a message about credits: not enough Creative Units."""

    kind = "quota"


class ModeratedError(SkyboxError):
    """The prompt or image was refused by content moderation."""

    kind = "moderated"


class RateLimitError(SkyboxError):
    """429. ``retry_after`` is in seconds when the server said (a header or the body's
    ``remainingSeconds``); ``action_name`` / ``action_limit`` come from the details when
    the answer names an action limit (the team's jobs running at once)."""

    kind = "rate_limit"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        action_name: str | None = None,
        action_limit: int | None = None,
        **kw: Any,
    ) -> None:
        self.retry_after = retry_after
        self.action_name = action_name
        self.action_limit = action_limit
        super().__init__(message, **kw)

    @property
    def is_concurrency_limit(self) -> bool:
        """True when the answer names an action limit (``actionName`` or ``actionLimit``
        in its details): on the paid POST that is the jobs running at once, so wait for
        one to finish. The limit's real name is not public; any name counts."""
        return self.action_name is not None or self.action_limit is not None


class InvalidError(SkyboxError):
    """400/413/422: the server refused the parameters (or a body too large)."""

    kind = "invalid"


class ValidationError(InvalidError, ValueError):
    """A request refused locally, before anything was sent. Lists every problem at once."""

    def __init__(self, problems: list[Problem], *, model_id: str = "") -> None:
        self.problems = list(problems)
        self.model_id = model_id
        n = len(self.problems)
        what = f" for {model_id}" if model_id else ""
        lines = [f"{n} invalid field{'s' if n != 1 else ''}{what}:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines), hint="Fix the fields above; nothing was sent.")

    @property
    def fields(self) -> list[str]:
        return [p.field for p in self.problems]


class NotFoundError(SkyboxError):
    """404: no such job, asset or model (or not visible to this key)."""

    kind = "not_found"


class JobLostError(NotFoundError):
    """The backend no longer knows a job the ledger follows (a 404: an in-process
    emulator's jobs vanish with it; another API key cannot see it). Its ledger row is
    marked "lost": dismiss it (``skybox-nb ledger dismiss ID``) once you have checked."""

    kind = "job_lost"

    def __init__(self, message: str, *, job_id: str | None = None,
                 intent_id: str | None = None, **kw: Any) -> None:
        self.job_id = job_id
        self.intent_id = intent_id
        super().__init__(message, **kw)


class TransportError(SkyboxError):
    """The connection failed. ``ambiguous`` is set when the request may have been sent."""

    kind = "transport"
    retryable = True


class DeadlineError(SkyboxError):
    """No answer in time (a call, or waiting for a job). A timed-out paid call is ambiguous.
    (Named apart from Python's built-in ``TimeoutError``, which it used to shadow.)"""

    kind = "timeout"
    retryable = True


class ServerError(SkyboxError):
    """5xx from Scenario. On the paid call it is ambiguous: the job may exist.
    ``retry_after`` is in seconds when the server said when to come back."""

    kind = "server"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ProtocolError(SkyboxError):
    """The answer did not match the contract (not JSON, missing fields, wrong types)."""

    kind = "protocol"


class CancelRefusedError(SkyboxError):
    """The service refused to cancel a job (it does for custom-model generations): the
    job keeps running and will be billed; its outputs are still fetched when it ends."""

    kind = "cancel_refused"

    def __init__(self, message: str, *, job_id: str | None = None, **kw: Any) -> None:
        self.job_id = job_id
        super().__init__(message, **kw)


class JobFailedError(SkyboxError):
    """A job ended in ``failure`` (or ``canceled``); carries the server's error and hint."""

    kind = "job_failed"

    def __init__(self, message: str, *, job_id: str | None = None, **kw: Any) -> None:
        self.job_id = job_id
        super().__init__(message, **kw)


class DuplicateIntentError(SkyboxError):
    """An identical request is still unresolved in the ledger (status 'unknown'):
    sending it again might pay twice. Reconcile it against GET /jobs or dismiss it."""

    kind = "duplicate_intent"

    def __init__(self, message: str, *, intent_id: str | None = None, **kw: Any) -> None:
        self.intent_id = intent_id
        super().__init__(message, **kw)


class ClientClosedError(SkyboxError):
    """The client was closed: it sends nothing more. Work asked of it after ``close()``
    is refused before anything is sent; a run in flight at the close stops at its next
    step, its job (if Scenario answered the paid POST) kept in the ledger for
    ``resume()`` by another client."""

    kind = "closed"


class OriginalMissingWarning(UserWarning):
    """A paid job's panorama was saved but its original HDR file (an HDRi asset's
    ``originalFileUrl``) could not be fetched (missing, refused or unreadable): the run
    still succeeded, and ``client.download_originals(job_id)`` fetches it later, free.
    ``job_id``, ``asset_id`` and ``image`` (the saved preview) say which."""

    def __init__(self, message: str, *, job_id: str, asset_id: str, image: Any = None) -> None:
        self.job_id = job_id
        self.asset_id = asset_id
        self.image = image
        super().__init__(message)


_MODERATION_WORDS = ("nsfw", "moderat", "content policy", "safety")


def is_moderation_text(text: str | None) -> bool:
    """True when a server message or hint speaks of content moderation."""
    t = (text or "").lower()
    return any(w in t for w in _MODERATION_WORDS)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` (seconds or HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            if math.isfinite(float(ms)):
                return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = lower.get("retry-after")
    if ra is None:
        return None
    try:
        if math.isfinite(float(ra)):
            return max(0.0, float(ra))
        return None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _payload(body: bytes | str | Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The JSON object of an error answer (or {}), and a short text of it (empty when
    the body is JSON: a message is never raw JSON)."""
    if isinstance(body, Mapping):
        return dict(body), ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = (body or "").strip()
    try:
        data = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    if text[:1] in ("{", "["):
        text = ""
    elif text.startswith("<"):
        # S3-style storage (presigned parts, the CDN) answers <Error><Code>..<Message>..;
        # only those two are shown: other elements echo the signature and what was signed.
        code, msg = (re.search(rf"<{t}>([^<]{{1,200}})</{t}>", text) for t in ("Code", "Message"))
        if code is not None and "<Error>" in text:
            text = code.group(1) + (f": {msg.group(1)}" if msg is not None else "")
        else:  # an HTML error page: say so rather than dump it
            text = "the server answered with an HTML page instead of JSON"
    return data, text[:300]


# Where the service (and its own clients) put an error's words, in the order they read.
MESSAGE_FIELDS = ("reason", "message", "error", "detail")


def _message_of(data: Mapping[str, Any]) -> str | None:
    """The first of `MESSAGE_FIELDS` that holds text (an ``error`` object's own
    ``message`` counts), cut to 500 characters; None when none does."""
    for key in MESSAGE_FIELDS:
        value = data.get(key)
        if isinstance(value, Mapping):
            value = value.get("message") or value.get("reason")
        if isinstance(value, str) and value.strip():
            return value.strip()[:500]
    return None


def _remaining(headers: Mapping[str, str], data: Mapping[str, Any],
               details: Mapping[str, Any]) -> float | None:
    """Seconds a 429 asks us to wait: the headers, else ``remainingSeconds`` in the body
    or its details (Scenario's own client waits that); None when nothing says."""
    asked = parse_retry_after(headers)
    if asked is not None:
        return asked
    for src in (data, details):
        v = src.get("remainingSeconds")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e7:
            return float(v)
    return None


def error_from_response(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
    *,
    paid: bool = False,
) -> SkyboxError:
    """Map an HTTP error answer to the right ``SkyboxError`` subclass.

    ``paid`` marks the generate call: a 5xx there is ambiguous (the job may exist),
    whereas a 4xx proves the request was refused and nothing was billed.
    """
    headers = headers or {}
    data, text = _payload(body)
    message = _message_of(data) or text or f"HTTP {status}"
    hint = data.get("hint")
    hint = str(hint)[:500] if isinstance(hint, (str, int, float)) and hint else None
    details = data.get("details")
    kw: dict[str, Any] = {"status": status, "hint": hint, "details": details}
    lowered = message.lower()
    if status == 429:
        d = details if isinstance(details, Mapping) else {}
        limit = d.get("actionLimit")
        return RateLimitError(
            message,
            retry_after=_remaining(headers, data, d),
            action_name=d.get("actionName") if isinstance(d.get("actionName"), str) else None,
            action_limit=int(limit) if isinstance(limit, (int, float)) else None,
            **kw,
        )
    if status == 402 or (status in (400, 403) and ("credit" in lowered or "creative unit" in lowered)):
        return QuotaError(message, **kw)
    if status == 401:
        kw["hint"] = hint or (
            "Check SCENARIO_SDK_API_KEY and SCENARIO_SDK_API_SECRET (Scenario project "
            "settings > API keys)."
        )
        return AuthError(message, **kw)
    if status == 403:
        return ForbiddenError(message, **kw)
    if status == 404:
        return NotFoundError(message, **kw)
    if status in (400, 413, 422):  # 413: the body is too large, a refusal like 400
        if is_moderation_text(message) or is_moderation_text(hint):
            return ModeratedError(message, **kw)
        return InvalidError(message, **kw)
    if status >= 500:
        return ServerError(message, ambiguous=paid, retry_after=parse_retry_after(headers),
                           **kw)
    return ProtocolError(f"unexpected HTTP {status}: {message}", **kw)


def __getattr__(name: str) -> Any:
    """``errors.TimeoutError``: the old name of `DeadlineError`, kept with a warning."""
    if name == "TimeoutError":
        import warnings

        warnings.warn("skybox_nb.errors.TimeoutError is now DeadlineError (the old name "
                      "shadowed the built-in TimeoutError)", DeprecationWarning, stacklevel=2)
        return DeadlineError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
