"""The emulator's job runner waits for renders without spinning.

A spin (waiting on futures that are already done) starved the render threads of the GIL
and made a 4-output job 20x slower; this counts the runner's progress updates instead of
timing it, so it fails on the spin whatever the machine's speed.
"""

import time

import httpx

from skybox_nb.emulator import Emulator
from skybox_nb.emulator.store import Store


def test_a_job_updates_its_progress_a_bounded_number_of_times(monkeypatch):
    calls = []
    original = Store.advance

    def counting(self, job, *args, **kwargs):
        calls.append(time.perf_counter())
        return original(self, job, *args, **kwargs)

    monkeypatch.setattr(Store, "advance", counting)
    with Emulator(job_duration=1.0, render_size=(256, 128)) as emu:
        http = httpx.Client(base_url=emu.base_url, auth=("k", "s"))
        job = http.post("/generate/custom/model_scenario-skybox-flux",
                        json={"prompt": "a beach", "numOutputs": 4, "seed": 1}).json()["job"]
        deadline = time.time() + 30
        while http.get(f"/jobs/{job['jobId']}").json()["job"]["status"] != "success":
            assert time.time() < deadline, "job never finished"
            time.sleep(0.1)
        http.close()
    # One update per 50 ms tick over a 1 s job is about 20; a spin makes thousands.
    assert 3 <= len(calls) <= 60, f"{len(calls)} progress updates for a 1 s job"


def test_a_job_whose_outputs_cannot_be_stored_fails_instead_of_running_for_ever(monkeypatch):
    """Only the render was guarded: an error storing the images (a full temp disk) left
    the job "in-progress" for good, and a client without a timeout polled it for ever."""
    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Store, "add_asset", disk_full)
    with Emulator(job_duration=0, render_size=(64, 32)) as emu:
        http = httpx.Client(base_url=emu.base_url, auth=("k", "s"))
        job = http.post("/generate/custom/model_scenario-skybox-flux",
                        json={"prompt": "a beach", "numOutputs": 1, "seed": 1}).json()["job"]
        deadline = time.time() + 20
        while (got := http.get(f"/jobs/{job['jobId']}").json()["job"])["status"] != "failure":
            assert got["status"] != "success"
            assert time.time() < deadline, f"job still {got['status']} after 20 s"
            time.sleep(0.05)
        http.close()
    assert "No space left" in got["metadata"]["error"]
