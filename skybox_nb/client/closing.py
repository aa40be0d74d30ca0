"""A client's close while operations are in flight: nothing new starts, nothing paid is
lost.

Invariant: once closing begins, no operation starts (`enter` raises `ClientClosedError`)
and no operation in flight starts new I/O: each effect that would send, fetch or sleep
is answered with a `ClientClosedError` instead (a paid POST not yet sent is thus never
sent and is recorded as refused), while ledger work (`Call` effects) still runs so every
row says what is known. A paid POST already being sent is waited for (up to its own
deadline), and so is the ledger work right after it, so its job id reaches the ledger
before the connections and the ledger are closed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from ..errors import ClientClosedError
from .effects import Call, Send

__all__ = ["Closing", "GRACE"]

# How long a close waits for operations in flight without a paid POST to wind down (each
# stops at its next effect; one in the middle of a download is left to fail on its own).
GRACE = 2.0


def _closed_error() -> ClientClosedError:
    return ClientClosedError("the client is closed: nothing more is sent",
                             hint="create a new client; a job that was running stays in "
                                  "the ledger and client.resume() fetches its outputs "
                                  "without paying again")


class Closing:
    """The client's life: the operations in flight, the paid POSTs among them, and
    whether it is closing. Thread-safe; shared by a client's threads or tasks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.closing = False
        self.closed = False
        self.woken = threading.Event()  # set at close: sleepers of the blocking client wake
        self._active = 0
        self._paying = 0

    def enter(self) -> None:
        """An operation starts; `ClientClosedError` once closing has begun."""
        with self._lock:
            if self.closing:
                raise _closed_error()
            self._active += 1

    def leave(self, paying: bool) -> None:
        """An operation ends (``paying``: it was still recording a paid POST)."""
        with self._lock:
            self._active -= 1
            if paying:
                self._paying -= 1

    def step(self, effect: Any, paying: bool) -> tuple[ClientClosedError | None, bool]:
        """Before performing ``effect`` of an operation that is ``paying`` (its paid POST
        sent, the ledger not yet told): returns (the refusal to throw in instead, or
        None; whether the operation is paying from now on). Checked and counted under one
        lock, so a close never misses a paid POST that is about to be sent."""
        with self._lock:
            if paying and not isinstance(effect, Call):  # its job is recorded by now
                self._paying -= 1
                paying = False
            if self.closing and not isinstance(effect, Call):
                return _closed_error(), paying
            if isinstance(effect, Send) and effect.paid:
                self._paying += 1
                paying = True
            return None, paying

    def begin(self) -> bool:
        """Start closing; False when it had already begun."""
        with self._lock:
            first, self.closing = not self.closing, True
        self.woken.set()
        return first

    def _settled(self, paid_until: float, rest_until: float) -> bool:
        """Whether a close may go on: no paid POST in flight (or its deadline passed),
        and no other operation (or the grace passed)."""
        with self._lock:
            paying, active = self._paying, self._active
        now = time.monotonic()
        return (paying == 0 or now >= paid_until) and (active == 0 or now >= rest_until)

    def _deadline(self, call_timeout: float) -> tuple[float, float]:
        now = time.monotonic()
        return now + call_timeout + GRACE, now + GRACE

    def settle(self, call_timeout: float) -> None:
        """Block until no paid POST is in flight (at most ``call_timeout`` and a grace:
        a POST ends by its own deadline), then up to `GRACE` for the other operations."""
        until = self._deadline(call_timeout)
        while not self._settled(*until):
            time.sleep(0.01)

    async def asettle(self, call_timeout: float) -> None:
        """`settle` for the asyncio client: yields to the loop while it waits."""
        until = self._deadline(call_timeout)
        while not self._settled(*until):
            await asyncio.sleep(0.01)

    def finish(self) -> None:
        """The connections and the ledger are closed."""
        self.closed = True

    def refusal(self) -> ClientClosedError | None:
        """The error a waiting operation raises once closing has begun, else None."""
        return _closed_error() if self.closing else None

    def after_close(self, error: BaseException) -> BaseException:
        """What a failure of an operation that outlived the close is reported as: a
        `ClientClosedError` (its cause kept) rather than a closed connection's or
        ledger's own error."""
        from ..errors import SkyboxError

        if self.closed and not isinstance(error, SkyboxError) and isinstance(error, Exception):
            return _closed_error()
        return error
