"""When to try a call again, and how long to wait first.

Invariant: a delay is never shorter than what the server asked for (``Retry-After``),
never longer than ``max_delay`` unless the server asked for more, and reads are the
only calls retried on an ambiguous failure: whether the paid generate may be sent again
is decided by `may_resend_paid`, which only allows it when the request provably never
reached Scenario.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .errors import RateLimitError, SkyboxError, TransportError

__all__ = ["RetryPolicy", "PollSchedule", "may_resend_paid"]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for retryable errors.

    ``attempts`` counts every try (the first one included). The n-th wait (n from 0) is
    ``base * factor**n`` capped at ``max_delay``, then scaled by a random factor in
    ``[1 - jitter, 1]`` so that many clients do not retry in lock step.
    """

    attempts: int = 5
    base: float = 0.25
    factor: float = 2.0
    max_delay: float = 8.0
    jitter: float = 0.5
    # A server asking for more than this is not waited for: the error is raised instead.
    max_retry_after: float = 120.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts: got {self.attempts}; expected an integer >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter: got {self.jitter}; expected a number from 0 to 1")

    def backoff(self, retry_index: int) -> float:
        """The jittered exponential wait before retry number ``retry_index`` (0-based)."""
        raw = min(self.max_delay, self.base * self.factor ** max(0, retry_index))
        return raw * (1.0 - self.jitter * self.rng.random())

    def delay(self, error: SkyboxError, retry_index: int) -> float | None:
        """Seconds to wait before retrying after ``error``, or None to give up.

        Gives up when the error is not retryable, when the attempts are spent, or when
        the server's Retry-After exceeds ``max_retry_after``.
        """
        if not error.retryable or retry_index + 1 >= self.attempts:
            return None
        wait = self.backoff(retry_index)
        asked = getattr(error, "retry_after", None)
        if asked is not None:
            if asked > self.max_retry_after:
                return None
            wait = max(wait, asked)
        return wait


def may_resend_paid(error: SkyboxError) -> bool:
    """True when a failed paid POST provably did not start a job, so resending is safe:
    a 429 (refused before any work) or a connection that was never established."""
    if isinstance(error, RateLimitError):
        return True
    return isinstance(error, TransportError) and not error.ambiguous


@dataclass
class PollSchedule:
    """Adaptive polling of one job: short at first, then x``factor`` up to ``cap``.

    Once the job has reported progress twice, the rate gives an expected end: the next
    poll is aimed just past it (never later than ``cap``, never sooner than a third of
    ``first``), so a finished job is noticed promptly while a long job costs about
    1/``cap`` requests per second.
    """

    first: float = 0.5
    factor: float = 1.6
    cap: float = 2.5
    _next: float = field(default=0.0, init=False)
    _start: tuple[float, float] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap:
            raise ValueError(f"poll intervals: got first={self.first}, cap={self.cap}; "
                             "expected 0 < first <= cap")
        self._next = self.first

    def next_delay(self, now: float, progress: float | None) -> float:
        """Seconds until the next poll, given the time now and the job's progress (0..1)."""
        delay = self._next
        self._next = min(self.cap, self._next * self.factor)
        if progress is None or not 0.0 < progress < 1.0:
            return delay
        if self._start is None:
            self._start = (now, progress)
            return delay
        t0, p0 = self._start
        rate = (progress - p0) / (now - t0) if now > t0 else 0.0
        if rate <= 0:  # stalled or not moving yet: plain backoff
            return delay
        eta = (1.0 - progress) / rate
        # Aim slightly past the expected end so that one poll usually suffices.
        return min(self.cap, max(self.first / 3, eta * 1.05 + 0.02))
