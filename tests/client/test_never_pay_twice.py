"""Never pay twice, in each case found by trying (issue: the real Scenario API), counted
by the paid POSTs the emulator received: a dead writer's PID reused by a new process, two
identical seeded requests at once (one batch, two threads, two clients as two kernels
would be), Ctrl-C during a blocking batch, and an async task cancelled while its intent
is being written."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from fast import emulator, fast_poll
from skybox_nb import errors
from skybox_nb.client import AsyncSkyboxClient, SkyboxClient
from skybox_nb.ledger import Ledger
from skybox_nb.request import SkyboxRequest


def seeded(prompt: str = "a glacier at dusk") -> SkyboxRequest:
    return SkyboxRequest(prompt, num_outputs=1, seed=1234)


def test_a_new_process_with_a_dead_writers_pid_does_not_pay_again(tmp_path):
    lib = tmp_path / "lib"
    req = seeded()
    led = Ledger(lib)  # a process killed during its paid POST left this row
    iid = led.record_intent(req.model_id, req.to_body(), req.fingerprint)
    # ...and the new process got the same PID (PID 1 in a restarted container): same pid
    # column, another start time.
    led._conn.execute("UPDATE intents SET writer = 'another-boot:1' WHERE intent_id = ?",
                      (iid,))
    led.close()
    with emulator() as emu, SkyboxClient(emulator=emu, library=lib, poll=fast_poll) as c:
        assert c.ledger.get(iid).status == "unknown"  # its writer is gone: the answer too
        with pytest.raises(errors.DuplicateIntentError):
            c.run(req)
        assert emu.stats()["generate_posts"] == 0


def test_the_live_writer_keeps_its_row(tmp_path):
    req = seeded()
    led = Ledger(tmp_path / "lib")
    iid = led.record_intent(req.model_id, req.to_body(), req.fingerprint)
    assert led.sweep_stale() == 0 and led.get(iid).status == "submitting"
    led.close()


def test_two_identical_seeded_requests_in_one_batch_pay_once(tmp_path):
    with emulator(job_duration=0.2) as emu, \
            SkyboxClient(emulator=emu, library=tmp_path / "lib", poll=fast_poll) as c:
        a, b = c.run_many([seeded(), seeded()], max_in_flight=2)
        assert emu.stats()["generate_posts"] == 1
        assert a.job.id == b.job.id and a.files == b.files and all(p.exists() for p in a.files)
        # Without a seed each is a new image: both are sent.
        c.run_many([SkyboxRequest("x", num_outputs=1), SkyboxRequest("x", num_outputs=1)],
                   max_in_flight=2)
        assert emu.stats()["generate_posts"] == 3


def test_two_kernels_sending_the_same_seeded_request_pay_once(tmp_path):
    lib = tmp_path / "lib"
    with emulator(job_duration=0.3) as emu:
        emu.inject("slow", route="generate", delay=0.3)  # both start while the POST is out
        clients = [SkyboxClient(emulator=emu, library=lib, poll=fast_poll) for _ in range(2)]
        results: list = [None, None]

        def go(i: int) -> None:
            results[i] = clients[i].run(seeded())

        threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for c in clients:
            c.close()
        assert emu.stats()["generate_posts"] == 1
        assert results[0].job.id == results[1].job.id


def test_ctrl_c_during_a_batch_drops_the_unsent_requests_at_once(tmp_path):
    with emulator(job_duration=2.0) as emu, \
            SkyboxClient(emulator=emu, library=tmp_path / "lib", poll=fast_poll) as c:
        reqs = [SkyboxRequest(f"scene {i}", num_outputs=1, seed=i) for i in range(8)]
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))  # Ctrl-C
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            c.run_many(reqs, max_in_flight=2)
        assert time.monotonic() - t0 < 1.5  # raised at once, not after the batch
        time.sleep(0.5)  # nothing more goes out afterwards
        assert emu.stats()["generate_posts"] == 2
        # The two sent are in the ledger, followed to their end later.
        assert len(c.resume()) == 2 and emu.stats()["generate_posts"] == 2


def test_an_async_task_cancelled_while_its_intent_is_written_leaves_no_phantom(tmp_path):
    lib = tmp_path / "lib"

    async def main() -> int:
        with emulator() as emu:
            async with AsyncSkyboxClient(emulator=emu, library=lib, poll=fast_poll) as ac:
                ledger = ac.ledger
                real = ledger.record_intent

                def slow_record(*a, **kw):  # an fsync on a slow disk
                    time.sleep(0.3)
                    return real(*a, **kw)

                ledger.record_intent = slow_record  # type: ignore[method-assign]
                task = asyncio.create_task(ac.run(seeded()))
                await asyncio.sleep(0.1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                await asyncio.sleep(0.5)  # the worker thread has finished its write
                assert len(ledger) == 0  # no phantom intent
                ledger.record_intent = real  # type: ignore[method-assign]
                res = await ac.run(seeded())  # an identical request is not blocked
                assert res.job.succeeded
                return emu.stats()["generate_posts"]

    assert asyncio.run(main()) == 1


_PID1_CHILD = """
import os, sys
from skybox_nb.client import SkyboxClient
from skybox_nb.request import SkyboxRequest
assert os.getpid() == 1, os.getpid()  # a container's first process
c = SkyboxClient("ns-key-0123456789", "ns-secret", sys.argv[1], library=sys.argv[2])
print("START", flush=True)
try:
    c.run(SkyboxRequest("a salt cave", num_outputs=1, seed=99))
    print("PAID AGAIN", flush=True)
except Exception as e:
    print("REFUSED", type(e).__name__, flush=True)
"""


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0,
                    reason="a PID namespace needs unshare as root (the simulated case above "
                    "runs everywhere)")
def test_pid_1_killed_mid_post_then_a_new_pid_1_does_not_pay_again(tmp_path):
    lib = tmp_path / "lib"
    cmd = ["unshare", "-p", "-f", "--mount-proc", sys.executable, "-c", _PID1_CHILD]
    with emulator(job_duration=0.2) as emu:
        emu.inject("slow", route="generate", delay=5.0)  # the POST's answer held back
        first = subprocess.Popen(cmd + [emu.base_url, str(lib)], stdout=subprocess.PIPE,
                                 text=True, start_new_session=True)
        end = time.monotonic() + 20
        while emu.stats()["generate_posts"] < 1 and time.monotonic() < end:
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)  # the container dies mid-POST
        first.wait(10)
        emu.clear_faults()
        again = subprocess.run(cmd + [emu.base_url, str(lib)], capture_output=True, text=True,
                               timeout=60)
        assert "REFUSED DuplicateIntentError" in again.stdout, again.stdout + again.stderr
        assert emu.stats()["generate_posts"] == 1
