"""What every test that runs the client shares: fast retry and poll settings, and the
one factory of test emulators.

Invariant: a test's client waits milliseconds, not seconds, between polls and retries,
and every emulator a test starts is stopped when the test (or module) is done.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from skybox_nb.emulator import Emulator
from skybox_nb.retry import PollSchedule, RetryPolicy

SIZE = (64, 32)  # the default image size of a test emulator: small, so many jobs stay fast


def fast_retry(attempts: int = 4) -> RetryPolicy:
    """Retries after 10 to 50 ms."""
    return RetryPolicy(attempts=attempts, base=0.01, max_delay=0.05)


def fast_poll() -> PollSchedule:
    """Polls every 10 to 50 ms."""
    return PollSchedule(first=0.01, factor=1.5, cap=0.05)


@contextlib.contextmanager
def emulator(**kw: Any) -> Iterator[Emulator]:
    """A started emulator with instant jobs and `SIZE` images unless ``kw`` says
    otherwise; stopped on exit."""
    kw.setdefault("job_duration", 0.0)
    kw.setdefault("render_size", SIZE)
    with Emulator(**kw) as e:
        yield e
