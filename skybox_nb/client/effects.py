"""The effects the client core yields, the clock it reads, and how an operation advances.

Invariant: the core performs no I/O and reads no clock of its own. An operation is a
generator that yields one of these effects (`Send` an API call, `Fetch` a download into
a file, `Put` bytes to a presigned URL, `Call` blocking local work, `Sleep`) and is sent back the outcome, or has the
failure thrown in; the time comes from the `Clock` it was given. Whoever drives an
operation (the blocking client, the asyncio one, a test with scripted outcomes) only
performs effects and decides nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generator, Mapping, TypeVar

__all__ = ["Send", "Fetch", "Fetched", "Put", "Call", "Sleep", "Op", "Clock", "SYSTEM_CLOCK",
           "advance"]

T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    """An API call (relative path, with auth). The answer comes back as an
    ``httpx.Response`` that has been read; a transport failure is thrown back in.
    ``paid`` marks the generate POST (see `closing`)."""

    method: str
    path: str
    json: Any = None
    params: Mapping[str, str] | None = None
    paid: bool = False  # the generate POST: a close waits for it rather than cut it


@dataclass(frozen=True)
class Fetch:
    """Stream ``url`` (no auth) into the file ``into``; answers a `Fetched`."""

    url: str
    into: Path


@dataclass(frozen=True)
class Fetched:
    """What a `Fetch` got: the status, headers, bytes written (or an error's body)."""

    status: int
    headers: Mapping[str, str]
    written: int
    body: bytes = b""


@dataclass(frozen=True)
class Put:
    """PUT ``content`` to a presigned ``url`` (an upload part) through the download
    client, which never carries the credentials: the URL is its own signature. Answers
    a `Fetched` (``written`` = bytes sent, ``body`` = the answer's)."""

    url: str
    content: bytes = field(repr=False)
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Call:
    """Blocking local work (a ledger commit, an image encode, a decode, an fsync): done
    inline by the blocking client, in a worker thread by the async one, so the event
    loop never stalls on a disk or a CPU-bound step."""

    fn: Callable[..., Any]
    args: tuple = ()


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds``, or less once ``wake()`` is true. Honours cancellation."""

    seconds: float
    wake: Callable[[], bool] | None = None


Op = Generator[Any, Any, T]


@dataclass(frozen=True)
class Clock:
    """Where the core reads the time: ``monotonic`` for durations and poll pacing,
    ``wall`` (Unix seconds) for the timestamps it records."""

    monotonic: Callable[[], float] = field(default=time.monotonic)
    wall: Callable[[], float] = field(default=time.time)


SYSTEM_CLOCK = Clock()


def advance(op: Op[Any], outcome: tuple[Any, Exception | None]) -> tuple[bool, Any]:
    """Hand the last effect's outcome (value, or failure) to the operation; returns
    (True, its result) when it has finished, else (False, the next effect to perform)."""
    value, error = outcome
    try:
        return False, (op.throw(error) if error is not None else op.send(value))
    except StopIteration as stop:
        return True, stop.value
