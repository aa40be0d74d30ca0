"""Closing a client while runs are in flight: new work is refused with
`ClientClosedError`, queued runs are cancelled before their paid POST, a paid POST
already sent is waited for so its job id reaches the ledger, and a run waiting for its
job stops at once, its row left for ``resume()`` (no paid job is ever lost)."""

from __future__ import annotations

import asyncio
import time

import pytest

from fast import emulator, fast_poll, fast_retry
from skybox_nb.client import AsyncSkyboxClient, SkyboxClient
from skybox_nb.errors import ClientClosedError
from skybox_nb.ledger import Ledger
from skybox_nb.request import SkyboxRequest


def req(i: int = 0) -> SkyboxRequest:
    return SkyboxRequest(f"a harbour at dusk, take {i}", num_outputs=1)


def wait_until(cond, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def rows(library) -> list:
    led = Ledger(library)
    try:
        return led.generations()
    finally:
        led.close()


def test_close_waits_for_paid_posts_in_flight_and_cancels_queued_runs(tmp_path):
    with emulator(job_duration=30.0) as emu:
        emu.inject("slow", route="generate", delay=1.0, count=None)
        c = SkyboxClient(emulator=emu, library=tmp_path, poll=fast_poll, retry=fast_retry())
        runs = [c.submit(req(i)) for i in range(10)]  # 8 workers: 2 stay queued
        wait_until(lambda: emu.stats()["generate_posts"] == 8)
        t0 = time.monotonic()
        c.close()
        took = time.monotonic() - t0
        assert took < 5.0
        queued = [r for r in runs if r.cancelled()]
        assert len(queued) == 2 and all(r.status == "canceled" for r in queued)
        for r in runs:
            if not r.cancelled():
                with pytest.raises(ClientClosedError, match="closed"):
                    r.result(timeout=10)
        assert emu.stats()["generate_posts"] == 8  # the queued never paid
        recorded = rows(tmp_path)
        assert len(recorded) == 8
        assert all(g.job_id and g.status == "running" for g in recorded), \
            [(g.status, g.job_id, g.error) for g in recorded]
        # another client finishes them later, without paying again
        emu.faults.clear()
    with emulator(job_duration=0.0) as emu2:
        with SkyboxClient(emulator=emu2, library=tmp_path / "other", poll=fast_poll) as c2:
            with pytest.raises(ClientClosedError):
                c.run(req(99))
            with pytest.raises(ClientClosedError):
                c.submit(req(98))
            with pytest.raises(ClientClosedError):
                c.estimate(req(97))
            assert c2.estimate(req(97)) > 0


def test_a_run_waiting_for_its_job_stops_at_close_and_resumes_later(tmp_path):
    with emulator(job_duration=1.5) as emu:
        c = SkyboxClient(emulator=emu, library=tmp_path, poll=fast_poll)
        run = c.submit(req())
        wait_until(lambda: run.job is not None)
        t0 = time.monotonic()
        c.close()
        assert time.monotonic() - t0 < 2.0
        with pytest.raises(ClientClosedError):
            run.result(timeout=5)
        [g] = rows(tmp_path)
        assert g.status == "running" and g.job_id == run.job.id
        with SkyboxClient(emulator=emu, library=tmp_path, poll=fast_poll) as again:
            [done] = again.resume()
        assert done.job.id == run.job.id and done.files[0].is_file()
        assert emu.stats()["generate_posts"] == 1


def test_aclose_waits_for_a_paid_post_and_refuses_new_work(tmp_path):
    async def go(emu):
        c = AsyncSkyboxClient(emulator=emu, library=tmp_path, poll=fast_poll)
        task = asyncio.ensure_future(c.run(req()))
        while emu.stats()["generate_posts"] < 1:
            await asyncio.sleep(0.01)
        await c.aclose()
        with pytest.raises(ClientClosedError):
            await task
        with pytest.raises(ClientClosedError):
            await c.run(req(1))

    with emulator(job_duration=30.0) as emu:
        emu.inject("slow", route="generate", delay=1.0, count=None)
        asyncio.run(go(emu))
        [g] = rows(tmp_path)
        assert g.job_id and g.status == "running"
        assert emu.stats()["generate_posts"] == 1
