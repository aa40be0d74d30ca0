"""What both clients share: construction, the two httpx clients' settings, properties.

Invariant: the ``Authorization`` header is set only on the API client, never on the
download client (asset URLs are presigned CDN links on another host); with an emulator
given, the environment's (real) credentials are never sent to it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import httpx

from ..config import resolve_settings
from ..errors import DeadlineError
from ..ledger import DEFAULT_LIBRARY, Ledger
from ..retry import PollSchedule, RetryPolicy
from . import wire
from .closing import Closing
from .core import Core
from .effects import Clock

__all__ = ["ClientBase", "check_in_flight", "gather_results"]

C = TypeVar("C", bound="ClientBase")


def _from_core(name: str, doc: str) -> Any:
    """A read-only property of the clients that reads the same attribute of their core."""
    return property(lambda self: getattr(self._core, name), doc=doc)


class ClientBase:
    """Construction and the plain properties both clients share."""

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        base_url: str | None = None,
        library: str | Path = DEFAULT_LIBRARY,
        timeout: float = 30.0,
        download_timeout: float = 300.0,
        emulator: Any = None,
        retry: RetryPolicy | None = None,
        poll: Callable[[], PollSchedule] | None = None,
        transport: Any = None,
        clock: Clock | None = None,
    ) -> None:
        """``timeout`` bounds each API call as a whole (a slow or trickling server
        included), ``download_timeout`` each download; ``retry`` and ``poll`` tune the
        backoff and the polling; ``transport`` (an httpx transport, e.g.
        ``MockTransport``) replaces the network and ``clock`` the time the core reads,
        for tests."""
        for name, value in (("timeout", timeout), ("download_timeout", download_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name}: got {value!r}; expected a number of seconds > 0")
        # With an emulator given, the environment's (real) credentials are not sent to it.
        settings = resolve_settings(api_key, api_secret, base_url,
                                    environ={} if emulator is not None else None)
        self._transport = transport
        self._life = Closing()
        self._core = Core(settings, library, emulator, retry, poll, clock)
        self.call_timeout, self.download_timeout = float(timeout), float(download_timeout)
        self._timeout = httpx.Timeout(timeout, connect=min(10.0, timeout))
        self._limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)

    @classmethod
    def offline(
        cls: type[C],
        library: str | Path = DEFAULT_LIBRARY,
        *,
        job_duration: float = 0.0,
        render_size: tuple[int, int] | None = None,
        unless_credentials: bool = False,
        **client_options: Any,
    ) -> C:
        """A client on an offline emulator of its own: started here with ``job_duration``
        seconds per job and ``render_size`` images (width, height; None for the model's
        size), stopped when the client is closed. Its images are procedural stand-ins.

        With ``unless_credentials=True`` and Scenario credentials set in the environment
        (``SCENARIO_SDK_API_KEY`` / ``SCENARIO_SDK_API_SECRET``), the client talks to the
        real API instead (real jobs, real Creative Units): the one call a notebook's
        first cell needs. ``client_options`` go to the client (``retry``, ``poll``,
        ``timeout``...). Returns the client."""
        if unless_credentials and resolve_settings().credentials is not None:
            return cls(library=library, **client_options)
        from ..emulator import Emulator

        emulator = Emulator(job_duration=job_duration, render_size=render_size,
                            quiet=True).start()
        try:
            client = cls(library=library, emulator=emulator, **client_options)
        except BaseException:
            emulator.stop()
            raise
        client._core.where.owns_emulator = True
        return client

    def _http_settings(self, transport: Callable[..., Any], asynchronous: bool = False
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Settings of the two httpx clients, each on a ``transport(limits, given,
        credentials)`` of `wire`, and the environment's proxies (`wire.proxy_mounts`;
        none for a test's transport or the emulator): the API one carries the
        credentials (and has them scrubbed from every answer); the download one never
        does (asset URLs are presigned links on a CDN host)."""
        common = {"timeout": self._timeout, "limits": self._limits}
        creds = self._core.where.credentials
        direct = self._transport is None and not self._core.is_emulator

        def mounts(c: Any) -> dict[str, Any]:
            return wire.proxy_mounts(self._limits, c, asynchronous) if direct else {}

        return ({**common, "base_url": self._core.base_url,
                 "headers": self._core.auth_headers(), "mounts": mounts(creds),
                 "transport": transport(self._limits, self._transport, creds)},
                {**common, "follow_redirects": True, "mounts": mounts(None),
                 "transport": transport(self._limits, self._transport, None)})

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


def batch_deadline(timeout: float | None) -> float | None:
    """The monotonic time a batch of runs must end by (None: no limit)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout: got {timeout!r}; expected a number of seconds > 0")
    return time.monotonic() + timeout


def time_left(until: float | None) -> float | None:
    """Seconds a run of the batch may take; ``DeadlineError`` before anything is sent
    when the batch's time is already up."""
    if until is None:
        return None
    left = until - time.monotonic()
    if left <= 0:
        raise DeadlineError("not sent: the batch's time limit passed before this request's "
                            "turn came", ambiguous=False,
                            hint="nothing was sent or billed for it; run it again")
    return left


def check_in_flight(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"max_in_flight: got {n!r}; expected an integer >= 1")


def gather_results(outcomes: Sequence[Any], return_exceptions: bool) -> list[Any]:
    if not return_exceptions:
        for o in outcomes:
            if isinstance(o, BaseException):
                raise o
    return list(outcomes)
