"""`submit()` returns a `Run`: a Future of the result that reports the job, its status
and progress, and cancels: before it starts (no POST at all), before the job id is known
(the job is cancelled as soon as it is), or while the job runs."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from fake_scenario import API, FakeScenario, wait_until
from fast import fast_poll, fast_retry
from skybox_nb import errors
from skybox_nb.client import Run, SkyboxClient
from skybox_nb.request import SkyboxRequest


@pytest.fixture
def fake():
    return FakeScenario(polls=3)


@pytest.fixture
def client(fake, tmp_path):
    c = SkyboxClient("key-abcdefgh12345678", "secret", API, library=tmp_path / "lib",
                     transport=fake.transport(), retry=fast_retry(), poll=fast_poll)
    yield c
    c.close()


def req(prompt: str = "a glacier lagoon") -> SkyboxRequest:
    return SkyboxRequest(prompt, num_outputs=1)


def test_submit_returns_a_run_that_reports_status_and_progress(client):
    seen: list[tuple[str, float]] = []
    run = client.submit(req(), on_progress=lambda job: seen.append((job.status, job.progress)))
    assert isinstance(run, Run) and isinstance(run, concurrent.futures.Future)
    done, _ = concurrent.futures.wait([run], timeout=10)
    assert run in done
    result = run.result()
    assert run.status == "success" and run.progress == 1.0 and run.job.id == result.job.id
    assert [s for s, _ in seen][-1] == "success" and len(seen) >= 3
    assert not run.canceled and run.cancel() is False  # ended: nothing to cancel


def test_a_run_cancelled_before_it_starts_never_sends_the_paid_post(client, fake):
    run = Run(client, req())
    assert run.status == "waiting"
    assert run.cancel() is True and run.status == "canceled" and run.canceled
    run.run_to_end()  # the worker finds it cancelled
    with pytest.raises(concurrent.futures.CancelledError):
        run.result(timeout=1)
    assert fake.generate_posts == 0 and client.ledger.generations() == []


def test_a_run_cancelled_before_its_job_id_is_known_cancels_the_job_once_known(client, fake):
    release = threading.Event()

    def slow_generate(request):
        release.wait(10)  # Scenario has not answered yet: the job id is unknown
        return fake.answer(request)

    fake.queue("generate", slow_generate)
    run = client.submit(req())
    assert wait_until(lambda: run.running() and fake.log), "the POST is on its way"
    assert run.status == "submitting" and run.job is None
    assert run.cancel() is True
    release.set()
    with pytest.raises(errors.JobFailedError, match="canceled"):
        run.result(timeout=10)
    assert run.canceled and run.status == "canceled"
    assert [fake.route_of(r) for r in fake.log].count("cancel") == 1
    assert client.ledger.by_job(run.job.id).status == "canceled"


def test_a_run_cancelled_while_its_job_runs(client, fake):
    run = client.submit(req())
    assert wait_until(lambda: run.job is not None)
    assert run.cancel() is True
    with pytest.raises(errors.JobFailedError, match="canceled"):
        run.result(timeout=10)
    assert run.canceled and fake.jobs[run.job.id].status == "canceled"


def test_a_cancel_the_server_refuses_is_reported_not_raised(client, fake):
    import httpx

    fake.polls = 10**6  # the job runs until the test ends it
    fake.queue("cancel", httpx.Response(409, json={"message": "job already finished"}))
    events: list[str] = []
    run = client.submit(req())
    run.add_listener(lambda r, what: events.append(what))
    assert wait_until(lambda: run.job is not None)
    assert run.cancel() is True and run.cancel_asked
    assert run.cancel_sent.wait(10)  # sent in the background: cancel() did not wait
    assert run.cancel_error is not None and run.cancel_error.status == 409
    assert events.count("cancel") == 1 and events.count("cancel_error") == 1
    fake.finish(run.job.id)
    assert run.result(timeout=10).job.succeeded and not run.canceled
