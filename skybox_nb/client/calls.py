"""One API call with retries, the paid POST, and the gate of parallel-job slots.

Invariant: a read is retried on a retryable failure after the policy's backoff, never
sooner than the server's ``Retry-After``; the paid generate POST is resent only when
`may_resend_paid` proves it never reached Scenario (a 429, or a connection that was
never made), never after an ambiguous failure, and never after its run's time limit; a job of this client that ends while
generates wait out a parallel-jobs 429 wakes exactly one of them (no stampede).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Mapping

import httpx

from ..errors import (
    DeadlineError,
    ProtocolError,
    RateLimitError,
    SkyboxError,
    TransportError,
    error_from_response,
)
from ..models import Job, parse_generate
from ..retry import RetryPolicy, may_resend_paid
from .effects import Op, Send, Sleep

__all__ = ["call", "post_paid", "PaidPost", "SlotGate", "transport_error", "read_json"]

log = logging.getLogger("skybox_nb.client")


def transport_error(exc: httpx.HTTPError, *, paid: bool) -> SkyboxError:
    """Map an httpx failure to our error. Only a refused connection (nothing was sent)
    is unambiguous for the paid call; anything later may have reached Scenario."""
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return DeadlineError(f"could not connect in time ({name})", ambiguous=False)
    if isinstance(exc, httpx.ConnectError):
        return TransportError(f"could not connect: {exc}", ambiguous=False)
    if isinstance(exc, httpx.TimeoutException):
        return DeadlineError(f"no answer in time ({name})", ambiguous=paid)
    return TransportError(f"the connection failed ({name}: {exc})", ambiguous=paid)


# No answer of the API nests deeper than a handful of levels; far deeper is refused.
MAX_DEPTH = 64


def _depth(data: Any) -> int:
    """How deeply ``data`` nests lists and objects (counted without recursion)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                break
            stack.extend((child, level + 1) for child in node)
    return deepest


def read_json(resp: httpx.Response, what: str) -> Any:
    """The answer's JSON; a ``ProtocolError`` naming ``what`` when it is not JSON or
    nests deeper than `MAX_DEPTH` (read without recursing into it)."""
    try:
        data = resp.json()
    except (ValueError, RecursionError):
        raise ProtocolError(f"{what}: the answer (HTTP {resp.status_code}) is not JSON "
                            "that can be read", status=resp.status_code) from None
    if _depth(data) > MAX_DEPTH:
        raise ProtocolError(f"{what}: the answer (HTTP {resp.status_code}) nests deeper "
                            f"than {MAX_DEPTH} levels; refused", status=resp.status_code)
    return data


def call(retry: RetryPolicy, method: str, path: str, what: str, *, json: Any = None,
         params: Mapping[str, str] | None = None) -> Op[Any]:
    """A non-paid API call, retried with backoff on retryable errors; returns JSON."""
    retry_index = 0
    while True:
        try:
            resp = yield Send(method, path, json, params)
        except httpx.HTTPError as e:
            err = transport_error(e, paid=False)
        else:
            log.debug("%s %s -> %s", method, path, resp.status_code)
            if resp.status_code < 300:
                return read_json(resp, what)
            err = error_from_response(resp.status_code, resp.content, resp.headers)
        delay = retry.delay(err, retry_index)
        if delay is None:
            raise err
        log.info("%s failed (%s); retrying in %.2fs", what, err.kind, delay)
        yield Sleep(delay)
        retry_index += 1


class SlotGate:
    """Generates waiting out a parallel-jobs 429, and the slots this client's ending
    jobs free for them: each ended job wakes ONE waiter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters = 0
        self._free_slots = 0

    def enter(self) -> None:
        """One more generate waits for a slot."""
        with self._lock:
            self._waiters += 1

    def leave(self) -> None:
        """A waiter stops waiting; with none left, unclaimed slots are forgotten."""
        with self._lock:
            self._waiters -= 1
            if self._waiters == 0:
                self._free_slots = 0

    def take(self) -> bool:
        """True (once per freed slot) when one of our jobs ended while we waited."""
        with self._lock:
            if self._free_slots > 0:
                self._free_slots -= 1
                return True
            return False

    def job_ended(self) -> None:
        """One of this client's jobs ended: a slot is free for one waiter, if any."""
        with self._lock:
            if self._waiters:
                self._free_slots += 1


class PaidPost:
    """Where a paid POST stands, for a caller that must record it when stopped:
    ``waiting`` is True while it waits to resend a POST that was refused (a 429 or a
    connection never made), so a stop then leaves no job behind."""

    waiting = False


def post_paid(retry: RetryPolicy, gate: SlotGate, model_id: str,
              body: Mapping[str, Any], until: float | None = None,
              now: Callable[[], float] | None = None,
              state: PaidPost | None = None) -> Op[tuple[Job, float | None]]:
    """The paid POST; returns (job, cost). Resent only after a 429 or a refused
    connection; a concurrency 429 waits for one of this client's jobs to end (or the
    server's delay). With ``until`` (a time of the ``now`` clock) no wait goes past it
    and nothing is sent after it: a `DeadlineError` says nothing was started. ``state``
    says, if the operation is stopped, whether it was waiting after a refusal."""
    state = state or PaidPost()
    path = f"/generate/custom/{model_id}"
    retry_index = slot_waits = 0
    while True:
        _time_left(until, now)
        try:
            resp = yield Send("POST", path, dict(body), paid=True)
        except httpx.HTTPError as e:
            err = transport_error(e, paid=True)
        else:
            log.debug("POST %s -> %s", path, resp.status_code)
            if resp.status_code < 300:
                try:
                    return parse_generate(read_json(resp, "generate"))
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
            if slot_waits >= 400 or (err.retry_after or 0) > retry.max_retry_after:
                raise err
            # When the slots are held by others' jobs, wait the server's delay or a
            # growing pause.
            pause = err.retry_after or min(10.0, 1.0 * 1.25 ** slot_waits)
            slot_waits += 1
            left = _time_left(until, now)
            gate.enter()
            try:
                state.waiting = True  # stays so if the sleep is stopped
                yield Sleep(min(max(pause, 0.5), left), wake=gate.take)
                state.waiting = False
            finally:
                gate.leave()
            continue
        delay = retry.delay(err, retry_index)
        if delay is None:
            raise err
        if delay >= _time_left(until, now):  # the resend would come too late
            raise _not_sent(f"the last try was refused ({err.kind}), and the next could "
                            f"only be sent after the run's time limit")
        log.info("generate was refused before starting (%s); resending in %.2fs",
                 err.kind, delay)
        state.waiting = True
        yield Sleep(delay)
        state.waiting = False
        retry_index += 1


def _not_sent(why: str) -> DeadlineError:
    return DeadlineError(f"generate not sent: {why}", ambiguous=False,
                         hint="nothing was started or billed for it; send it again later")


def _time_left(until: float | None, now: Callable[[], float] | None) -> float:
    """Seconds before ``until`` (infinity without one); the `DeadlineError` of a POST
    that was not sent when that time has passed."""
    if until is None or now is None:
        return float("inf")
    left = until - now()
    if left <= 0:
        raise _not_sent("the run's time limit passed while Scenario refused it (HTTP 429)"
                        " or could not be reached")
    return left
