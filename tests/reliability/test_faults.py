"""Every fault the emulator can inject, survived by the client: no duplicate job, no
partial file, no lost record, and a clear message when it cannot be survived.

Each scenario runs several rounds on one emulator; the counters of the emulator
(``generate_posts``, ``jobs_created``) prove how many paid POSTs and jobs there were.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import threading
import time

import pytest

from reliability_support import (SIZE, check_library, fast_poll, fast_retry, make_client,
                                 wait_until)
from skybox_nb import errors
from skybox_nb.client import AsyncSkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.request import SkyboxRequest

ROUNDS = 3
AREA = "faults"


def req(i: int, outputs: int = 1) -> SkyboxRequest:
    return SkyboxRequest(f"stormy sea at dusk {i}", num_outputs=outputs, seed=1000 + i)


def figs(emu: Emulator) -> dict[str, int]:
    """The emulator's evidence for the RELIABILITY.md table."""
    s = emu.stats()
    return {"paid_POSTs": s["generate_posts"], "jobs": s["jobs_created"]}


def counts(emu: Emulator) -> tuple[int, int]:
    s = emu.stats()
    return s["generate_posts"], s["jobs_created"]


def test_rate_limit_on_generate_is_resent_after_retry_after(client, emu, lib, tally):
    for i in range(ROUNDS):
        posts, jobs = counts(emu)
        emu.inject("rate_limit", route="generate", retry_after=0.1, count=2)
        t0 = time.monotonic()
        r = client.run(req(i))
        assert time.monotonic() - t0 >= 0.2  # both Retry-After waits were honoured
        assert counts(emu) == (posts + 3, jobs + 1)  # two refused, one accepted: one job
        assert r.job.succeeded and len(r.files) == 1
    emu.inject("rate_limit", route="job", retry_after=0.05, count=2)
    assert client.run(req(99)).job.succeeded  # reads are retried the same way
    assert check_library(lib)["done"] == ROUNDS + 1
    tally.add(AREA, "429 with Retry-After on generate (x2) and on job reads", ROUNDS + 1,
              "all succeeded; 1 job each; Retry-After waited", **figs(emu))


def test_rate_limit_beyond_patience_is_refused_clearly(client, emu, lib, tally):
    emu.inject("rate_limit", route="generate", retry_after=600, count=1)
    with pytest.raises(errors.RateLimitError) as info:
        client.run(req(1))
    e = info.value
    assert e.retry_after == 600 and e.status == 429 and not e.ambiguous
    assert "rate limit" in str(e).lower()
    assert counts(emu) == (1, 0)
    assert [g.status for g in client.ledger.generations()] == ["refused"]
    assert client.run(req(1)).job.succeeded  # a refused intent never blocks a retry
    check_library(lib)
    tally.add(AREA, "429 asking to wait 600 s (beyond the 120 s patience)", 1,
              "RateLimitError(retry_after=600); intent 'refused'; resend later works")


def test_parallel_jobs_limit_is_waited_out(tmp_path, tally):
    with Emulator(job_duration=0.2, render_size=SIZE, max_parallel_jobs=2) as emu:
        with make_client(emu, tmp_path) as c:
            results = c.run_many([req(i) for i in range(8)], max_in_flight=8)
        s = emu.stats()
    assert [r.job.succeeded for r in results] == [True] * 8
    assert s["jobs_created"] == 8 and s["max_running_jobs"] <= 2
    refused = s["generate_posts"] - 8
    # A refused POST waits for one of our jobs to end rather than hammering.
    assert refused <= 8 * 4, refused
    check_library(tmp_path)
    tally.add(AREA, "parallel-custom-jobs 429 (limit 2, 8 requests at once)", 8,
              "all succeeded; limit respected", refused_posts=refused,
              peak_running=s["max_running_jobs"])


def test_5xx_bursts_on_reads_are_retried(client, emu, lib, tally):
    for i in range(ROUNDS):
        posts, jobs = counts(emu)
        emu.inject("server_error", route="job", status=503, count=3)
        emu.inject("server_error", route="asset", status=500, count=2)
        emu.inject("server_error", route="download", status=502, count=2)
        r = client.run(req(i, outputs=2))
        assert r.job.succeeded and len(r.files) == 2
        assert counts(emu) == (posts + 1, jobs + 1)
    assert check_library(lib)["files"] == 2 * ROUNDS
    tally.add(AREA, "5xx bursts on job, asset and download reads", ROUNDS,
              "all succeeded after retries; 1 POST and 1 job each", **figs(emu))


def test_endless_5xx_on_reads_keeps_the_record_and_resumes(client, emu, lib, tally):
    emu.inject("server_error", route="job", count=None)
    with pytest.raises(errors.ServerError) as info:
        client.run(req(1))
    assert info.value.retryable and info.value.status == 500
    assert "Internal server error" in str(info.value)
    rec = client.ledger.generations()[0]
    assert rec.status == "running" and rec.job_id and "server" in (rec.error or "")
    emu.clear_faults()
    done = client.resume()
    assert [r.job.id for r in done] == [rec.job_id]
    assert counts(emu) == (1, 1)
    assert check_library(lib)["done"] == 1
    tally.add(AREA, "5xx on every job read (retries exhausted)", 1,
              "ServerError; row stays 'running'; resume() finished it with no new POST",
              **figs(emu))


def test_5xx_on_the_paid_post_is_ambiguous_and_blocks(client, emu, lib, tally):
    emu.inject("server_error", route="generate", status=500)
    with pytest.raises(errors.ServerError) as info:
        client.run(req(1))
    assert info.value.ambiguous and "reconcile" in str(info.value)
    assert counts(emu) == (1, 0)
    with pytest.raises(errors.DuplicateIntentError):
        client.run(req(1))
    assert counts(emu) == (1, 0)  # blocked: not sent again
    [out] = client.reconcile()
    assert out.candidates == 0
    client.ledger.dismiss(out.intent_id)
    assert client.run(req(1)).job.succeeded and counts(emu) == (2, 1)
    check_library(lib)
    tally.add(AREA, "5xx on the paid generate", 1,
              "ServerError(ambiguous); intent 'unknown' blocked a resend until dismissed",
              **figs(emu))


def test_slow_answers_past_the_timeout(emu, lib, tally):
    c = make_client(emu, lib, timeout=0.6)
    try:
        for i in range(ROUNDS):
            emu.inject("slow", route="job", delay=1.5)
            emu.inject("slow", route="asset", delay=1.5)
            assert c.run(req(i)).job.succeeded  # reads time out and are retried
        assert counts(emu) == (ROUNDS, ROUNDS)
        # A slow answer to the paid POST: the job was created, the answer came too late.
        emu.inject("slow", route="generate", delay=1.5)
        with pytest.raises(errors.DeadlineError) as info:
            c.run(req(50))
        assert info.value.ambiguous
        assert counts(emu) == (ROUNDS + 1, ROUNDS + 1)
        with pytest.raises(errors.DuplicateIntentError):
            c.run(req(50))
        [out] = c.reconcile()
        assert out.job_id is not None and out.candidates == 1
        r = c.run(req(50))
        assert r.job.id == out.job_id and counts(emu) == (ROUNDS + 1, ROUNDS + 1)
    finally:
        c.close()
    assert check_library(lib)["done"] == ROUNDS + 1
    tally.add(AREA, "slow reads (1.5 s) past a 0.6 s timeout", ROUNDS,
              "all succeeded after retries")
    tally.add(AREA, "slow answer to the paid generate (past the timeout)", 1,
              "DeadlineError(ambiguous); blocked; reconcile adopted the one job; no 2nd POST")


def test_dropped_connections_before_and_after_accept(client, emu, lib, tally):
    for i in range(ROUNDS):
        posts, jobs = counts(emu)
        emu.inject("drop_after_accept")
        with pytest.raises(errors.TransportError) as info:
            client.run(req(i))
        assert info.value.ambiguous
        with pytest.raises(errors.DuplicateIntentError) as dup:
            client.run(req(i))
        assert "reconcile" in str(dup.value)
        [out] = client.reconcile()
        assert out.candidates == 1
        r = client.run(req(i))
        assert r.job.id == out.job_id and counts(emu) == (posts + 1, jobs + 1)
    for i in range(ROUNDS):
        posts, jobs = counts(emu)
        emu.inject("drop_before_accept")
        with pytest.raises(errors.TransportError):
            client.run(req(10 + i))
        [out] = client.reconcile()
        assert out.candidates == 0 and counts(emu) == (posts + 1, jobs)
        client.ledger.dismiss(out.intent_id)
        assert client.run(req(10 + i)).job.succeeded
        assert counts(emu) == (posts + 2, jobs + 1)
    assert check_library(lib)["done"] == 2 * ROUNDS
    tally.add(AREA, "connection dropped after the job was accepted", ROUNDS,
              "TransportError(ambiguous); resend blocked; reconcile adopted it; 1 job each")
    tally.add(AREA, "connection dropped before a job was created", ROUNDS,
              "TransportError; reconcile found none; dismissed; resend made 1 job")


@pytest.mark.parametrize("moderation", [False, True])
def test_failed_and_moderated_jobs_bring_the_hint(client, emu, lib, moderation, tally):
    kind = errors.ModeratedError if moderation else errors.JobFailedError
    for i in range(ROUNDS):
        hint = f"try a calmer prompt (round {i})"
        emu.inject("job_failure", moderation=moderation, hint=hint)
        with pytest.raises(kind) as info:
            client.run(req(i))
        assert info.value.hint == hint and f"Hint: {hint}" in str(info.value)
        rec = client.ledger.generations()[0]
        assert rec.status == "failed" and hint in (rec.error or "")
    assert counts(emu) == (ROUNDS, ROUNDS)
    assert check_library(lib)["files"] == 0
    name = "moderation failure" if moderation else "job failure"
    tally.add(AREA, f"{name} with a hint", ROUNDS,
              f"{kind.__name__} carrying the hint; row 'failed'; no file", **figs(emu))


def test_cancel_mid_run(tmp_path, tally):
    with Emulator(job_duration=1.5, render_size=SIZE) as emu, make_client(emu, tmp_path) as c:
        # 0. as the service does, the emulator refuses to cancel a custom-model job.
        fut = c.submit(req(0))
        rec = wait_until(lambda: next((g for g in c.ledger.generations() if g.job_id), None),
                         what="a job id in the ledger")
        with pytest.raises(errors.CancelRefusedError, match="billed"):
            c.cancel(rec.job_id)
        assert fut.result(timeout=10).job.succeeded  # followed to its end and downloaded
        emu.settings.allow_cancel = True  # as for job types the service lets one cancel
        # 1. cancel the job itself: the run ends in a clear 'canceled' error.
        fut = c.submit(req(1))
        rec = wait_until(lambda: next((g for g in c.ledger.generations()
                                       if g.job_id and g.status == "running"), None),
                         what="a job id in the ledger")
        job = c.cancel(rec.job_id)
        assert job.status == "canceled"
        with pytest.raises(errors.JobFailedError) as info:
            fut.result(timeout=10)
        assert "canceled" in str(info.value)
        assert c.ledger.get(rec.intent_id).status == "canceled"
        # 2. stop waiting (the job keeps running): resume() later fetches it, no new POST.
        stop = threading.Event()
        fut = concurrent.futures.ThreadPoolExecutor(1).submit(c.run, req(2), None, stop)
        wait_until(lambda: c.ledger.active(), what="a running job")
        stop.set()
        with pytest.raises(concurrent.futures.CancelledError):
            fut.result(timeout=10)
        assert [g.status for g in c.ledger.generations()][0] == "running"
        done = c.resume()
        assert len(done) == 1 and done[0].job.succeeded
        assert counts(emu) == (3, 3)
    assert check_library(tmp_path)["done"] == 2
    tally.add(AREA, "cancel mid-run (refused / job canceled / waiting stopped)", 3,
              "CancelRefusedError, the job followed and downloaded; JobFailedError "
              "'canceled', row 'canceled'; stopped wait resumed with no new POST")


def test_expired_urls_and_cut_downloads(client, emu, lib, tally):
    for i in range(ROUNDS):
        before = emu.stats()["requests"]
        emu.inject("expire_urls", count=2)
        emu.inject("cut_download", count=2)
        r = client.run(req(i, outputs=2))
        assert len(r.files) == 2
        after = emu.stats()["requests"]
        # 2 expired URLs renewed by 2 more asset reads; 2 cut transfers fetched again.
        assert after["asset"] - before.get("asset", 0) >= 4
        assert after["download"] - before.get("download", 0) >= 4
    assert counts(emu) == (ROUNDS, ROUNDS)
    # Cut on every try: a clear error, no partial file, and the record waits for resume().
    emu.inject("cut_download", count=None)
    with pytest.raises(errors.TransportError) as info:
        client.run(req(9))
    # httpx notices the short body first ("received N bytes, expected M"); a stream
    # that ends cleanly but short is caught by the client's own length check.
    assert re.search(r"received \d+ bytes, expected \d+|cut short", str(info.value))
    assert check_library(lib)["done"] == ROUNDS
    assert client.ledger.generations()[0].status == "running"
    emu.clear_faults()
    assert [r.job.succeeded for r in client.resume()] == [True]
    assert counts(emu) == (ROUNDS + 1, ROUNDS + 1)
    assert check_library(lib)["done"] == ROUNDS + 1
    tally.add(AREA, "expired asset URLs and downloads cut halfway (x2 each per job)", ROUNDS,
              "URLs renewed, cut transfers refetched; every file decodes")
    tally.add(AREA, "download cut on every try", 1,
              "TransportError naming the bytes received; no partial file; resume() finished it")


def test_async_client_under_mixed_faults(emu, lib, tally):
    async def batch() -> list:
        async with AsyncSkyboxClient(emulator=emu, library=lib, retry=fast_retry(),
                                     poll=fast_poll) as c:
            emu.inject("rate_limit", route="generate", retry_after=0.05, count=2)
            emu.inject("server_error", route="job", count=3)
            emu.inject("expire_urls", count=2)
            emu.inject("cut_download", count=2)
            return await c.run_many([req(i, outputs=2) for i in range(6)], max_in_flight=3)

    results = asyncio.run(batch())
    assert [len(r.files) for r in results] == [2] * 6
    posts, jobs = counts(emu)
    assert jobs == 6 and posts == 8  # the two 429s were refused before any job existed
    assert check_library(lib) == {"rows": 6, "done": 6, "files": 12}
    tally.add(AREA, "async client, 6 runs at once under 429 + 5xx + expired + cut faults", 6,
              "all succeeded; 6 jobs for 8 POSTs (2 refused by 429)", **figs(emu))
