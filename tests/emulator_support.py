"""Shared helpers for the emulator tests: a small, fast emulator and an HTTP client on it."""

from __future__ import annotations

import base64
import io
import time
from typing import Any, Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from fast import emulator
from skybox_nb.emulator import Emulator
from skybox_nb.files import png_bytes

FLUX = "/generate/custom/model_scenario-skybox-flux"
SMALL = (128, 64)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with emulator(render_size=SMALL) as e:
        yield e


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, auth=("test-key", "test-secret"), timeout=20) as c:
        yield c


def wait_done(http: httpx.Client, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll a job until it is final; returns the job JSON."""
    deadline = time.monotonic() + timeout
    while True:
        job = http.get(f"/jobs/{job_id}").json()["job"]
        if job["status"] in ("success", "failure", "canceled"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.02)


def run_job(http: httpx.Client, **body: Any) -> dict[str, Any]:
    """POST a generate and wait for the job; returns the final job JSON."""
    r = http.post(FLUX, json={"prompt": "a meadow under a clear sky", "numOutputs": 1, **body})
    assert r.status_code == 200, r.text
    return wait_done(http, r.json()["job"]["jobId"])


def png_data_url(width: int = 64, height: int = 32, colour: tuple[int, int, int] = (200, 30, 30)) -> str:
    """A data URL of a plain PNG image."""
    png = png_bytes(Image.fromarray(np.full((height, width, 3), colour, np.uint8)))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def download(http: httpx.Client, asset_id: str) -> np.ndarray:
    """Fetch an asset's temporary URL and decode the image."""
    url = http.get(f"/assets/{asset_id}").json()["asset"]["url"]
    r = httpx.get(url, timeout=20)
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
