"""The emulator in-process: the same answers as over its socket, with no socket, and the
socket-level faults as httpx raises them."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from emulator_support import FLUX, SMALL
from skybox_nb.emulator import Emulator

AUTH = ("test-key", "test-secret")


def _done(c: httpx.Client, job_id: str) -> dict:
    deadline = time.monotonic() + 20
    while True:
        job = c.get(f"/jobs/{job_id}").json()["job"]
        if job["status"] in ("success", "failure", "canceled") or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def test_in_process_answers_are_the_served_ones_without_a_socket():
    emu = Emulator(render_size=SMALL)  # never started: no socket is ever opened
    try:
        with httpx.Client(transport=emu.transport(), base_url="http://emulator/v1", auth=AUTH) as c:
            r = c.post(FLUX, json={"prompt": "a quiet harbour", "numOutputs": 1, "seed": 3})
            assert r.status_code == 200 and r.headers["x-scenario-emulator"] == "offline"
            job = _done(c, r.json()["job"]["jobId"])
            asset = c.get(f"/assets/{job['metadata']['assetIds'][0]}").json()["asset"]
            image = c.get(asset["url"])
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
            assert c.post(FLUX, json={"prompt": ""}).json()["details"]["field"] == "prompt"
            assert httpx.Client(transport=emu.transport()).get(
                "http://emulator/v1/jobs").status_code == 401
        assert emu._server is None
        with emu:  # the same job, read over the socket, has the same shape
            served = httpx.get(f"{emu.base_url}/jobs/{job['jobId']}", auth=AUTH).json()["job"]
        assert served.keys() == job.keys() and served["metadata"] == job["metadata"]
    finally:
        emu.stop()


def test_socket_faults_become_what_httpx_raises():
    emu = Emulator(render_size=SMALL)
    try:
        with httpx.Client(transport=emu.transport(), base_url="http://emulator/v1", auth=AUTH) as c:
            emu.inject("drop_before_accept")
            with pytest.raises(httpx.RemoteProtocolError):
                c.post(FLUX, json={"prompt": "x", "numOutputs": 1})
            assert emu.stats()["jobs_created"] == 0
            job = _done(c, c.post(FLUX, json={"prompt": "x", "numOutputs": 1}).json()["job"]["jobId"])
            url = c.get(f"/assets/{job['metadata']['assetIds'][0]}").json()["asset"]["url"]
            full = c.get(url).content
            emu.inject("cut_download")
            cut = c.get(url)
            assert int(cut.headers["content-length"]) == len(full)
            assert cut.content == full[: len(full) // 2]
            emu.inject("slow", route="jobs", delay=0.2)
            t0 = time.monotonic()
            assert c.get("/jobs").status_code == 200 and time.monotonic() - t0 >= 0.2
    finally:
        emu.stop()


def test_the_async_path_answers_too():
    async def main(emu: Emulator) -> tuple[int, int]:
        async with httpx.AsyncClient(transport=emu.transport(), base_url="http://emulator/v1",
                                     auth=AUTH) as c:
            emu.inject("rate_limit", route="model", retry_after=0.5)
            limited = await c.get("/models/model_scenario-skybox-flux")
            ok = await c.get("/models/model_scenario-skybox-flux")
            assert limited.headers["retry-after"] == "0.5"
            return limited.status_code, ok.status_code

    emu = Emulator(render_size=SMALL)
    try:
        assert asyncio.run(main(emu)) == (429, 200)
    finally:
        emu.stop()
