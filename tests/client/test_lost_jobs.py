"""Jobs that are gone: ledger rows record their backend; a job the backend answers 404
for is marked lost, resume() carries on with the other rows, and a lost row can be
dismissed; offline, an interrupted command run again finishes (its emulator's jobs
ended with it) instead of failing with a 404 forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from fake_scenario import FakeScenario, wait_until
from fast import fast_poll, fast_retry
from skybox_nb import errors
from skybox_nb.client import SkyboxClient
from skybox_nb.ledger import Ledger
from skybox_nb.request import SkyboxRequest


def seeded(prompt: str = "a basalt coast") -> SkyboxRequest:
    return SkyboxRequest(prompt, num_outputs=1, seed=77)


def test_rows_record_their_backend(tmp_path):
    with SkyboxClient.offline(tmp_path / "lib") as c:
        c.run(seeded())
        [rec] = c.ledger.generations()
        assert rec.backend is not None and rec.backend.startswith("emulator http://127.0.0.1")
    fake = FakeScenario()
    with SkyboxClient("key-abcdefgh12345678", "secret", "https://api.test/v1",
                      library=tmp_path / "real", transport=fake.transport(),
                      poll=fast_poll, retry=fast_retry()) as c:
        c.generate(seeded())
        [rec] = c.ledger.generations()
        assert rec.backend.startswith("https://api.test/v1 key#")
        assert "key-abcdefgh12345678" not in rec.backend  # a digest, never the key


def test_a_404_marks_the_row_lost_and_resume_carries_on(tmp_path):
    fake = FakeScenario(polls=10**6)
    with SkyboxClient("key-abcdefgh12345678", "secret", "https://api.test/v1",
                      library=tmp_path / "lib", transport=fake.transport(),
                      poll=fast_poll, retry=fast_retry()) as c:
        gone = c.generate(seeded("gone"))
        kept = c.generate(seeded("kept"))
        del fake.store.jobs[gone.id]  # the backend forgot it (another key, say)
        fake.polls = 1
        results = c.resume()
        assert [r.job.id for r in results] == [kept.id]
        rec = c.ledger.by_job(gone.id)
        assert rec.status == "lost" and rec.lost and "404" in (rec.error or "")
        assert c.ledger.dismiss(rec.intent_id).status == "dismissed"
        assert fake.generate_posts == 2


def test_follow_raises_a_dedicated_error_for_a_lost_job(tmp_path):
    fake = FakeScenario(polls=10**6)
    with SkyboxClient("key-abcdefgh12345678", "secret", "https://api.test/v1",
                      library=tmp_path / "lib", transport=fake.transport(),
                      poll=fast_poll, retry=fast_retry()) as c:
        job = c.generate(seeded())
        fake.queue("job", httpx.Response(404, json={"reason": "Job not found"}))
        [rec] = c.ledger.active()
        with pytest.raises(errors.JobLostError, match="dismiss"):
            c._drive(_follow(c, rec))
        assert c.ledger.by_job(job.id).status == "lost"


def _follow(c, rec):
    from skybox_nb.client import intents

    c._core.claims.claim(rec.intent_id)
    return intents.follow(c._core, rec.intent_id, rec.job_id, seeded(), None)


def test_offline_the_same_request_after_its_emulator_stopped_finishes(tmp_path):
    lib = tmp_path / "lib"
    c1 = SkyboxClient.offline(lib, job_duration=30.0)
    c1.generate(seeded())  # then the user stops waiting (Ctrl-C) and the emulator ends
    c1.close()
    with SkyboxClient.offline(lib, poll=fast_poll) as c2:
        res = c2.run(seeded())
        assert res.job.succeeded and res.files[0].exists()
        assert c2.emulator.stats()["generate_posts"] == 1
        assert [r.status for r in c2.ledger.generations()] == ["done", "lost"]


def test_offline_ctrl_c_while_waiting_then_the_same_command_finishes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    cmd = [sys.executable, "-m", "skybox_nb.cli", "generate", "an ice cave", "--seed", "5",
           "--num-outputs", "1", "--out", str(tmp_path / "lib")]
    first = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    ledger = tmp_path / "lib" / "ledger.sqlite"

    def running() -> bool:
        if not ledger.exists():
            return False
        led = Ledger(tmp_path / "lib")
        try:
            return bool(led.active())
        finally:
            led.close()

    assert wait_until(running, timeout=60), first.communicate()[0]
    first.send_signal(signal.SIGINT)  # Ctrl-C while waiting
    first.wait(30)
    t0 = time.monotonic()
    again = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert time.monotonic() - t0 < 60
    statuses = sorted(r.status for r in Ledger(tmp_path / "lib").generations())
    assert statuses == ["done", "lost"]
