"""A scripted Scenario API for client unit tests: the emulator's answers, in-process.

Every answer a test does not script comes from the emulator's own `Api` through its
in-process httpx transport, so its JSON has the shapes the official SDK's models are
checked against (tests/test_sdk_contract.py). What this module adds is only scripting:
jobs move on when they are polled (finished after ``polls`` GETs) rather than with time,
each route's next answers can be queued, and prices are a round 3 CU per output.
"""

from __future__ import annotations

import io
import time
from collections import defaultdict, deque
from typing import Any, Callable

import httpx
import numpy as np
from PIL import Image

from skybox_nb.contract import SKYBOX_FLUX_MODEL_ID
from skybox_nb.emulator.faults import Faults
from skybox_nb.emulator.routes import Api, ApiSettings, route_of
from skybox_nb.emulator.store import JobRecord, Store
from skybox_nb.emulator.transport import InProcessTransport

API = "https://api.test/v1"
CDN = "https://cdn.test"


def png(w: int = 64, h: int = 32, value: int = 90) -> bytes:
    arr = np.full((h, w, 3), value, np.uint8)
    arr[:, : w // 2, 0] = 200
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


class _Polled:
    """The runner of a scripted API: a created job stays queued until it is polled."""

    def start(self, job: JobRecord, failure: Any = None) -> None:
        pass


class FakeScenario:
    """Jobs finish after ``polls`` GETs. ``queue(route, answer)`` scripts the next answer
    of a route: an ``httpx.Response``, an exception instance to raise, or a callable
    taking the request. Routes: generate, job, jobs, cancel, asset, upload, cdn."""

    def __init__(self, polls: int = 2, allow_cancel: bool = True) -> None:
        self.polls = polls
        self.store = Store()
        # Cancels are allowed here (the run handle's cancel paths are what is tested);
        # the emulator itself refuses them by default, as the service does.
        self.api = Api(self.store, Faults(), _Polled(),
                       ApiSettings(origin=CDN, price=lambda inputs: 3.0 * int(inputs["numOutputs"]),
                                   allow_cancel=allow_cancel))
        self.emulator = InProcessTransport(self.api)
        self.gets: dict[str, int] = defaultdict(int)
        self.script: dict[str, deque] = defaultdict(deque)
        self.log: list[httpx.Request] = []

    @property
    def jobs(self) -> dict[str, JobRecord]:
        """The emulator's jobs by id."""
        return self.store.jobs

    @property
    def generate_posts(self) -> int:
        """Paid generate POSTs the emulator received (scripted answers excluded)."""
        return self.store.generate_posts

    def queue(self, route: str, *answers: Any) -> None:
        self.script[route].extend(answers)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    @staticmethod
    def route_of(req: httpx.Request) -> str:
        route = route_of(req.method, req.url.path)[0]
        return "cdn" if route == "download" else route or "other"

    def handle(self, req: httpx.Request) -> httpx.Response:
        self.log.append(req)
        route = self.route_of(req)
        if self.script[route]:
            ans = self.script[route].popleft()
            if isinstance(ans, Exception):
                if route == "generate" and getattr(ans, "_after_accept", False):
                    self.answer(req)  # the job exists; the answer is lost
                raise ans
            if callable(ans):
                return ans(req)
            return ans
        return self.answer(req)

    def answer(self, req: httpx.Request) -> httpx.Response:
        """The emulator's answer; a poll of a job first moves it one step on."""
        if self.route_of(req) == "job":
            job = self.store.get_job(req.url.path.rsplit("/", 1)[1])
            if job is not None and not job.done:
                self.gets[job.id] += 1
                k = self.gets[job.id]
                if k >= self.polls:
                    self.finish(job.id)
                else:
                    self.store.advance(job, "in-progress", progress=k / self.polls)
        return self.emulator.handle_request(req)

    # -- scripting ------------------------------------------------------------------------

    def add_job(self, inputs: dict[str, Any]) -> str:
        """A queued job with exactly these inputs (no defaults filled in); its id."""
        n = int(inputs.get("numOutputs", 2))
        return self.store.add_job(SKYBOX_FLUX_MODEL_ID, inputs, n, 3.0 * n).id

    def finish(self, jid: str, status: str = "success", error: str | None = None,
               hint: str | None = None) -> None:
        """End a job: ``success`` with 64x32 outputs seeded 1000, 1001, ...; or ``status``
        with the server's ``error`` and ``hint``."""
        job = self.store.jobs[jid]
        if status != "success":
            self.store.advance(job, status, progress=1.0, error=error, hint=hint)
            return
        ids = [self.store.add_asset(png(value=20 * i), mime_type="image/png", width=64, height=32,
                                    origin="generated",
                                    metadata={"type": "inference-txt2img", "seed": str(1000 + i),
                                              "outputIndex": i}).id
               for i in range(job.num_outputs)]
        self.store.advance(job, "success", progress=1.0, asset_ids=ids)

    def asset_bytes(self, aid: str) -> bytes:
        return self.store.assets[aid].path.read_bytes()

    # -- the emulator's shapes --------------------------------------------------------------

    def generate_json(self, jid: str) -> dict[str, Any]:
        job = self.store.jobs[jid]
        return self.api.generate_json(job, job.cu_cost)

    def job_json(self, jid: str) -> dict[str, Any]:
        return self.api.job_json(self.store.jobs[jid])

    def asset_json(self, aid: str) -> dict[str, Any]:
        return self.api.asset_json(self.store.assets[aid])


def after_accept(exc: Exception) -> Exception:
    """Mark a generate exception as happening after the job was created."""
    exc._after_accept = True  # type: ignore[attr-defined]
    return exc


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()
