"""A tiny scripted Scenario API for client unit tests (httpx.MockTransport).

It answers the documented shapes (the official SDK's JobRetrieveResponse etc.) and lets a
test queue answers or exceptions per route, so each client rule can be checked in
isolation. The full behaviour is tested against the real emulator elsewhere.
"""

from __future__ import annotations

import io
import itertools
import json
import time
from collections import defaultdict, deque
from datetime import datetime, timezone
from typing import Any, Callable

import httpx
import numpy as np
from PIL import Image

API = "https://api.test/v1"
CDN = "https://cdn.test"
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):024d}".replace("0", "A")


def png(w: int = 64, h: int = 32, value: int = 90) -> bytes:
    arr = np.full((h, w, 3), value, np.uint8)
    arr[:, : w // 2, 0] = 200
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeScenario:
    """Jobs finish after ``polls`` GETs. ``queue(route, answer)`` scripts the next answer
    of a route: an ``httpx.Response``, an exception instance to raise, or a callable
    taking the request. Routes: generate, job, jobs, cancel, asset, upload, cdn."""

    def __init__(self, polls: int = 2) -> None:
        self.polls = polls
        self.jobs: dict[str, dict[str, Any]] = {}
        self.gets: dict[str, int] = defaultdict(int)
        self.assets: dict[str, dict[str, Any]] = {}
        self.script: dict[str, deque] = defaultdict(deque)
        self.log: list[httpx.Request] = []
        self.generate_posts = 0
        self.url_version = 0

    def queue(self, route: str, *answers: Any) -> None:
        self.script[route].extend(answers)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def route_of(self, req: httpx.Request) -> str:
        p = req.url.path
        if req.url.host == "cdn.test":
            return "cdn"
        if p.startswith("/v1/generate/custom/"):
            return "generate"
        if p.endswith("/action"):
            return "cancel"
        if p == "/v1/jobs":
            return "jobs"
        if p.startswith("/v1/jobs/"):
            return "job"
        if p == "/v1/assets" and req.method == "POST":
            return "upload"
        if p.startswith("/v1/assets/"):
            return "asset"
        return "other"

    def handle(self, req: httpx.Request) -> httpx.Response:
        self.log.append(req)
        route = self.route_of(req)
        if self.script[route]:
            ans = self.script[route].popleft()
            if isinstance(ans, Exception):
                if route == "generate" and getattr(ans, "_after_accept", False):
                    self._generate(req)
                raise ans
            if callable(ans):
                return ans(req)
            return ans
        return getattr(self, "_" + route)(req)

    # -- default behaviour ------------------------------------------------------------

    def job_json(self, jid: str) -> dict[str, Any]:
        return self.jobs[jid]

    def _generate(self, req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        n = int(body.get("numOutputs", 2))
        if req.url.params.get("dryRun") == "true":
            return httpx.Response(269, json={"creativeUnitsCost": 3.0 * n})
        self.generate_posts += 1
        jid = new_id("job")
        t = now_iso()
        self.jobs[jid] = {
            "jobId": jid, "jobType": "custom", "status": "queued", "progress": 0,
            "statusHistory": [{"status": "queued", "date": t}], "createdAt": t,
            "updatedAt": t, "metadata": {"input": body, "assetIds": []},
            "billing": {"cuCost": 3.0 * n, "cuDiscount": 0}, "_n": n,
        }
        return httpx.Response(200, json={"job": self._public(jid), "creativeUnitsCost": 3.0 * n})

    def _public(self, jid: str) -> dict[str, Any]:
        return {k: v for k, v in self.jobs[jid].items() if not k.startswith("_")}

    def _job(self, req: httpx.Request) -> httpx.Response:
        jid = req.url.path.rsplit("/", 1)[1]
        if jid not in self.jobs:
            return httpx.Response(404, json={"message": f"job {jid} not found"})
        self.gets[jid] += 1
        j = self.jobs[jid]
        if j["status"] not in ("success", "failure", "canceled"):
            k = self.gets[jid]
            if k >= self.polls:
                self.finish(jid)
            else:
                j["status"], j["progress"] = "in-progress", k / self.polls
        return httpx.Response(200, json={"job": self._public(jid)})

    def finish(self, jid: str, status: str = "success", error: str | None = None,
               hint: str | None = None) -> None:
        j = self.jobs[jid]
        j["status"], j["progress"] = status, 1.0
        if status == "success":
            ids = []
            for i in range(j["_n"]):
                aid = new_id("asset")
                self.assets[aid] = {"index": i, "seed": str(1000 + i), "bytes": png(value=20 * i)}
                ids.append(aid)
            j["metadata"]["assetIds"] = ids
        else:
            j["metadata"]["error"], j["metadata"]["hint"] = error, hint

    def _jobs(self, req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"jobs": [self._public(j) for j in self.jobs]})

    def _cancel(self, req: httpx.Request) -> httpx.Response:
        jid = req.url.path.split("/")[3]
        self.jobs[jid]["status"] = "canceled"
        return httpx.Response(200, json={"job": self._public(jid)})

    def asset_json(self, aid: str) -> dict[str, Any]:
        a = self.assets[aid]
        return {"id": aid, "url": f"{CDN}/{aid}.png?sig=v{self.url_version}",
                "mimeType": "image/png", "kind": "image",
                "metadata": {"kind": "image", "type": "inference-txt2img", "width": 64,
                             "height": 32, "seed": a["seed"], "outputIndex": a["index"]}}

    def _asset(self, req: httpx.Request) -> httpx.Response:
        aid = req.url.path.rsplit("/", 1)[1]
        if aid not in self.assets:
            return httpx.Response(404, json={"message": "asset not found"})
        return httpx.Response(200, json={"asset": self.asset_json(aid)})

    def _upload(self, req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        aid = new_id("asset")
        self.assets[aid] = {"index": 0, "seed": None, "bytes": b"", "upload": body}
        return httpx.Response(200, json={"asset": self.asset_json(aid)})

    def _cdn(self, req: httpx.Request) -> httpx.Response:
        aid = req.url.path.strip("/").split(".")[0]
        return httpx.Response(200, content=self.assets[aid]["bytes"],
                              headers={"content-type": "image/png"})

    def _other(self, req: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"message": "no such route"})


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
