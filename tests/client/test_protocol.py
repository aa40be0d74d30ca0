"""The client's core stepped without I/O: scripted outcomes for every effect it yields,
and an injected clock that only moves when the core sleeps.

Nothing here opens a socket or waits: a `Send` is answered from a script, a `Sleep`
advances the fake clock by exactly what the core asked for, a `Call` runs inline. So
the rules are checked on the decisions themselves: the paid POST is never resent after
an ambiguous failure, backoff honours Retry-After, a wait polls adaptively.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from skybox_nb import errors
from skybox_nb.client.core import Core
from skybox_nb.client.effects import Call, Clock, Fetch, Send, Sleep, advance
from skybox_nb.config import resolve_settings
from skybox_nb.request import SkyboxRequest
from skybox_nb.retry import PollSchedule, RetryPolicy

API = "https://api.test/v1"
CREATED = "2026-01-01T00:00:00.000Z"
Answer = Any  # an httpx.Response, an exception to throw in, or a callable(Send) -> either


class Script:
    """Performs a core operation's effects from a script, on a clock of its own."""

    def __init__(self, *answers: Answer) -> None:
        self.answers: deque[Answer] = deque(answers)
        self.now = 1000.0
        self.sent: list[Send] = []
        self.slept: list[float] = []
        self.polled_at: list[float] = []
        self.clock = Clock(monotonic=lambda: self.now, wall=lambda: 1.767e9 + self.now)

    def drive(self, op: Any) -> Any:
        outcome: tuple[Any, Exception | None] = (None, None)
        while True:
            finished, effect = advance(op, outcome)
            if finished:
                return effect
            try:
                outcome = (self.perform(effect), None)
            except Exception as e:
                outcome = (None, e)

    def step_until(self, op: Any, stop: Any) -> Any:
        """Perform ``op``'s effects until ``stop(effect)``; returns that effect, unperformed
        (where a test interrupts the operation, as a driver does)."""
        outcome: tuple[Any, Exception | None] = (None, None)
        while True:
            finished, effect = advance(op, outcome)
            assert not finished
            if stop(effect):
                return effect
            outcome = (self.perform(effect), None)

    def perform(self, effect: Any) -> Any:
        if isinstance(effect, Send):
            self.sent.append(effect)
            if effect.method == "GET" and effect.path.startswith("/jobs/"):
                self.polled_at.append(self.now)
            answer = self.answers.popleft()
            if callable(answer) and not isinstance(answer, httpx.Response):
                answer = answer(self)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        if isinstance(effect, Sleep):
            assert effect.seconds >= 0
            self.slept.append(effect.seconds)
            self.now += effect.seconds
            return None
        if isinstance(effect, Call):
            return effect.fn(*effect.args)
        assert not isinstance(effect, Fetch), "no download in these scripts"
        raise AssertionError(f"unexpected effect {effect!r}")

    def posts(self) -> list[Send]:
        return [s for s in self.sent if s.method == "POST" and "/generate/" in s.path]


def job_json(status: str = "queued", progress: float = 0.0, jid: str = "job_1") -> dict:
    return {"jobId": jid, "jobType": "custom", "status": status, "progress": progress,
            "createdAt": CREATED, "updatedAt": CREATED,
            "metadata": {"input": {}, "assetIds": []}}


def accepted() -> httpx.Response:
    return httpx.Response(200, json={"job": job_json(), "creativeUnitsCost": 6.0})


def job_answer(status: str, progress: float) -> httpx.Response:
    return httpx.Response(200, json={"job": job_json(status, progress)})


def core_for(script: Script, tmp_path: Path, **kw: Any) -> Core:
    settings = resolve_settings("key-abcdefgh12345678", "secret", API, environ={})
    kw.setdefault("retry", RetryPolicy(attempts=4, base=0.25, jitter=0.0))
    return Core(settings, tmp_path / "lib", clock=script.clock, **kw)


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    return tmp_path


def request() -> SkyboxRequest:
    return SkyboxRequest("a salt flat at noon", num_outputs=2, seed=7)


# -- the paid POST ------------------------------------------------------------------------

AMBIGUOUS: dict[str, Callable[[], Answer]] = {
    "read timeout": lambda: httpx.ReadTimeout("no answer"),
    "connection dropped": lambda: httpx.RemoteProtocolError("peer closed"),
    "write failed": lambda: httpx.WriteError("broken pipe"),
    "HTTP 500": lambda: httpx.Response(500, json={"message": "internal"}),
    "HTTP 503": lambda: httpx.Response(503, json={"message": "unavailable"}),
    "2xx not JSON": lambda: httpx.Response(200, content=b"<html>ok</html>"),
}


@pytest.mark.parametrize("failure", list(AMBIGUOUS))
def test_paid_post_is_never_resent_after_an_ambiguous_failure(failure, lib):
    script = Script(AMBIGUOUS[failure](), accepted(), accepted())
    core = core_for(script, lib)
    with pytest.raises(errors.SkyboxError) as info:
        script.drive(core.generate(request()))
    assert info.value.ambiguous
    assert len(script.posts()) == 1 and script.slept == []  # no second POST, no wait
    [rec] = core.ledger.generations()
    assert rec.status == "unknown" and rec.job_id is None
    # The identical request is blocked until the unknown intent is settled.
    with pytest.raises(errors.DuplicateIntentError):
        script.drive(core.generate(request()))
    assert len(script.posts()) == 1
    core.close()


@pytest.mark.parametrize("refusal", ["connect refused", "HTTP 429"])
def test_paid_post_is_resent_only_when_it_provably_never_arrived(refusal, lib):
    first = {"connect refused": httpx.ConnectError("refused"),
             "HTTP 429": httpx.Response(429, json={"message": "Too many requests"})}[refusal]
    script = Script(first, accepted())
    core = core_for(script, lib)
    job = script.drive(core.generate(request()))
    assert job.id == "job_1" and len(script.posts()) == 2
    assert core.ledger.generations()[0].status == "running"
    core.close()


@pytest.mark.parametrize("refusal", ["HTTP 400", "connect timeout"])
def test_a_refused_paid_post_is_recorded_as_refused_and_not_retried(refusal, lib):
    first = {"HTTP 400": httpx.Response(400, json={"message": "prompt: too long"}),
             "connect timeout": httpx.ConnectTimeout("no route")}[refusal]
    script = Script(first, accepted())
    core = core_for(script, lib)
    with pytest.raises(errors.SkyboxError) as info:
        script.drive(core.generate(request()))
    assert not info.value.ambiguous and len(script.posts()) == 1
    assert core.ledger.generations()[0].status == "refused"
    core.close()


# -- backoff --------------------------------------------------------------------------------

def test_backoff_honours_retry_after(lib):
    busy = httpx.Response(429, headers={"Retry-After": "7"},
                          json={"message": "Too many requests"})
    script = Script(busy, busy, job_answer("queued", 0.0))
    core = core_for(script, lib)
    script.drive(core.job("job_1"))
    # The policy alone would wait 0.25 s then 0.5 s; the server asked for 7 s each time.
    assert script.slept == [7.0, 7.0] and script.now == 1014.0
    # retry-after-ms is read too; a server asking less than the backoff gets the backoff.
    quick = httpx.Response(429, headers={"retry-after-ms": "100"},
                           json={"message": "Too many requests"})
    script = Script(quick, job_answer("queued", 0.0))
    core = core_for(script, lib)
    script.drive(core.job("job_1"))
    assert script.slept == [0.25]


def test_backoff_honours_retry_after_on_a_5xx(lib):
    """A 503 saying when to come back (maintenance, overload) is waited as told, as the
    official SDK does; it was retried after the plain backoff (0.25 s, 0.5 s, ...)."""
    busy = httpx.Response(503, headers={"Retry-After": "7"},
                          json={"reason": "Service unavailable"})
    script = Script(busy, busy, job_answer("queued", 0.0))
    core = core_for(script, lib)
    script.drive(core.job("job_1"))
    assert script.slept == [7.0, 7.0]
    err = errors.error_from_response(503, b'{"reason": "down"}', {"retry-after-ms": "1500"})
    assert isinstance(err, errors.ServerError) and err.retry_after == 1.5


def test_backoff_without_retry_after_grows_and_gives_up(lib):
    busy = httpx.Response(503, json={"message": "busy"})
    script = Script(busy, busy, busy, busy, busy)
    core = core_for(script, lib)
    with pytest.raises(errors.SkyboxError):
        script.drive(core.job("job_1"))
    assert script.slept == [0.25, 0.5, 1.0] and len(script.sent) == 4  # 4 attempts


def test_a_retry_after_beyond_patience_is_not_waited_for(lib):
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"},
                                   json={"message": "Too many requests"}))
    core = core_for(script, lib, retry=RetryPolicy(max_retry_after=120, jitter=0.0))
    with pytest.raises(errors.RateLimitError):
        script.drive(core.job("job_1"))
    assert script.slept == []


def test_a_paid_post_429_waits_the_servers_delay_before_resending(lib):
    script = Script(httpx.Response(429, headers={"Retry-After": "4"},
                                   json={"message": "Too many requests"}), accepted())
    core = core_for(script, lib)
    script.drive(core.generate(request()))
    assert script.slept == [4.0] and len(script.posts()) == 2


# -- waiting ---------------------------------------------------------------------------------

def test_wait_polls_adaptively_aiming_at_the_predicted_end(lib):
    """Progress 10% a second: after two progress reports the next poll is aimed just
    past the predicted end instead of the plain backoff."""
    def progress(s: Script) -> httpx.Response:
        p = min(1.0, (s.now - 1000.0) / 10.0)
        return job_answer("success" if p >= 1.0 else "in-progress", p)

    script = Script(*[progress] * 40)
    core = core_for(script, lib, poll=lambda: PollSchedule(first=0.5, factor=1.6, cap=2.5))
    seen: list[float] = []
    job = script.drive(core.wait("job_1", lambda j: seen.append(j.progress), None))
    assert job.status == "success" and seen[-1] == 1.0
    # Short polls first, then slower (x1.6), never longer than the cap.
    assert script.slept[:2] == [0.5, pytest.approx(0.8)]
    assert max(script.slept) <= 2.5
    # A 10 s job with a 2.5 s cap needs about 6 polls, not the 20 of a fixed 0.5 s.
    assert 5 <= len(script.polled_at) <= 9
    # The job is noticed promptly: the last poll comes within a cap of its end.
    assert script.polled_at[-1] - 1010.0 <= 2.5


def test_wait_times_out_on_the_injected_clock(lib):
    script = Script(*[job_answer("in-progress", 0.1)] * 50)
    core = core_for(script, lib, poll=lambda: PollSchedule(first=1.0, factor=2.0, cap=4.0))
    with pytest.raises(errors.DeadlineError) as info:
        script.drive(core.wait("job_1", None, 10.0))
    assert not info.value.ambiguous
    assert script.now == pytest.approx(1010.0)  # the last sleep is cut to the deadline
    assert script.slept == [1.0, 2.0, 4.0, 3.0]


@pytest.mark.parametrize("name", ["core", "intents", "calls", "reconcile", "transfer",
                                  "backend"])
def test_the_core_reads_no_clock_but_its_own(name):
    """The decision modules cannot read the system clock: they import no ``time`` and
    never ask ``datetime`` for now (the timeout test above shows the clock they do use)."""
    import importlib
    import inspect

    module = importlib.import_module(f"skybox_nb.client.{name}")
    assert "time" not in vars(module) and "monotonic" not in vars(module)
    source = inspect.getsource(module)
    assert "time.monotonic" not in source and "time.time" not in source
    assert ".now(" not in source and "utcnow" not in source


# -- the run's own deadline over the paid POST ---------------------------------------------

def parallel_jobs_429() -> httpx.Response:
    return httpx.Response(429, json={"message": "Too many parallel custom jobs",
                                     "details": {"actionName": "parallel-custom-jobs",
                                                 "actionLimit": 1}})


@pytest.mark.parametrize("refusal", ["parallel jobs", "plain 429"])
def test_run_timeout_bounds_the_wait_for_a_slot(refusal, lib):
    """run(timeout=) holds while the paid POST is refused with a 429: the request is not
    sent after the time limit, and, being provably refused, is recorded as refused."""
    busy = {"parallel jobs": parallel_jobs_429,
            "plain 429": lambda: httpx.Response(429, headers={"Retry-After": "6"},
                                                json={"message": "Too many requests"})}[refusal]
    script = Script(*[busy() for _ in range(200)])
    core = core_for(script, lib, retry=RetryPolicy(attempts=50, jitter=0.0))
    with pytest.raises(errors.DeadlineError) as info:
        script.drive(core.run(request(), None, timeout=20.0))
    assert not info.value.ambiguous
    assert script.now <= 1020.0 + 1e-9  # no sleep past the run's limit
    assert len(script.posts()) < 20
    [rec] = core.ledger.generations()
    assert rec.status == "refused" and rec.job_id is None
    core.close()


def test_interrupted_while_the_job_is_recorded_the_ledger_keeps_the_job(lib):
    """Ctrl-C, or a cancelled task, just after Scenario accepted the paid POST: the job
    exists and is billed, so its id must reach the ledger (for resume()) and the intent
    must not stay claimed; left "submitting", it later turned "unknown" and blocked
    identical requests until a reconcile."""
    script = Script(accepted(), job_answer("in-progress", 0.5))
    core = core_for(script, lib)
    op = core.run(request(), None)
    script.step_until(op, lambda e: isinstance(e, Call)
                      and getattr(e.fn, "__name__", "") == "attach_job")
    op.close()  # what both drivers do when interrupted or cancelled here
    [rec] = core.ledger.generations()
    assert rec.status == "running" and rec.job_id == "job_1"
    assert [r.intent_id for r in script.drive(core.resumable())] == [rec.intent_id]
    assert len(script.posts()) == 1
    core.close()


@pytest.mark.parametrize("how", ["cancel event", "closed"])
def test_stopped_while_waiting_to_resend_after_a_429_is_recorded_refused(how, lib):
    """A batch stopped (Ctrl-C, a cancelled task, run_many's stop event) while a paid
    POST waits out a 429: Scenario refused it, nothing was started, so the intent is
    "refused", not "unknown" (which blocks the identical request until dismissed)."""
    import concurrent.futures

    script = Script(parallel_jobs_429())
    core = core_for(script, lib)
    op = core.run(request(), None)
    script.step_until(op, lambda e: isinstance(e, Sleep))
    if how == "closed":  # the async driver when its task is cancelled; Ctrl-C
        op.close()
    else:  # the blocking driver when run_many's stop event is set
        outcome = (None, concurrent.futures.CancelledError("wait cancelled"))
        with pytest.raises(concurrent.futures.CancelledError):
            while True:
                finished, effect = advance(op, outcome)
                assert not finished
                outcome = (script.perform(effect), None)
    [rec] = core.ledger.generations()
    assert rec.status == "refused" and len(script.posts()) == 1
    core.close()


@pytest.mark.parametrize("answer", ["HTTP 400", "HTTP 500", "accepted"])
def test_a_task_cancelled_while_its_worker_records_the_post_ends_cancelled(answer, lib):
    """The async client runs ledger writes on a worker thread, which goes on when the
    task awaiting it is cancelled: the core then records again inline. That second
    record must not fail (the row has moved on already), or closing the operation
    raises a LedgerStateError in place of the task's CancelledError."""
    first = {"HTTP 400": httpx.Response(400, json={"reason": "Invalid style"}),
             "HTTP 500": httpx.Response(500, json={"reason": "internal"}),
             "accepted": accepted()}[answer]
    script = Script(first)
    core = core_for(script, lib)
    op = core.generate(request())
    writes = ("_settle_failed_post", "attach_job")
    effect = script.step_until(op, lambda e: isinstance(e, Call)
                               and getattr(e.fn, "__name__", "") in writes)
    effect.fn(*effect.args)  # the worker thread finishes its write...
    op.close()  # ...while the cancelled task closes the operation: no raise
    [rec] = core.ledger.generations()
    assert rec.status == {"HTTP 400": "refused", "HTTP 500": "unknown",
                          "accepted": "running"}[answer]
    core.close()
