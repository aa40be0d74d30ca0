"""The emulator's routes, auth, errors, job lifecycle, URL expiry and safety."""

from __future__ import annotations

import base64
import socket
import time

import httpx
import numpy as np
import pytest

from emulator_support import FLUX, SMALL, download, emu, http, png_data_url, run_job, wait_done  # noqa: F401
from skybox_nb.emulator import Emulator
from skybox_nb.emulator.ids import BASE62
from skybox_nb.errors import error_from_response

pytestmark = pytest.mark.timeout(120)
ADMIN = ("k", "s")  # the emulator's own routes take the same Basic credentials


def test_generate_poll_download(http, emu):
    r = http.post(FLUX, json={"prompt": "a beach at sunset", "numOutputs": 3, "seed": 7,
                              "style": "comic", "geometryEnforcement": 80})
    assert r.status_code == 200
    assert r.headers["x-scenario-emulator"] == "offline"
    job = r.json()["job"]
    assert job["status"] == "queued" and job["jobId"].startswith("job_")
    assert all(c in BASE62 for c in job["jobId"][4:]) and len(job["jobId"]) == 28
    assert r.json()["creativeUnitsCost"] == job["billing"]["cuCost"] == 18.0
    done = wait_done(http, job["jobId"])
    assert done["status"] == "success" and done["progress"] == 1.0
    assert done["metadata"]["input"]["seed"] == 7 and done["metadata"]["input"]["style"] == "comic"
    assert done["metadata"]["input"]["numInferenceSteps"] == 30  # defaults filled in as run
    ids = done["metadata"]["assetIds"]
    assert len(ids) == 3 and len(set(ids)) == 3
    metas = [http.get(f"/assets/{i}").json()["asset"]["metadata"] for i in ids]
    assert [m["outputIndex"] for m in metas] == [0, 1, 2]
    assert [m["seed"] for m in metas] == ["7", "8", "9"]
    assert all(m["width"] == SMALL[0] and m["height"] == SMALL[1] for m in metas)
    assert all(m["parentJobId"] == job["jobId"] and m["modelId"] == "model_scenario-skybox-flux"
               for m in metas)
    assert all("OFFLINE EMULATOR" in m["generatedBy"] and m["geometryEnforcement"] == 80 for m in metas)
    images = [download(http, i) for i in ids]
    assert all(im.shape == (SMALL[1], SMALL[0], 3) for im in images)
    assert not np.array_equal(images[0], images[1])  # different seeds, different skies


def test_same_inputs_same_pixels_and_a_random_seed_when_none(http):
    a = run_job(http, seed=123, prompt="mountains at dawn")
    b = run_job(http, seed=123, prompt="mountains at dawn")
    pa = download(http, a["metadata"]["assetIds"][0])
    pb = download(http, b["metadata"]["assetIds"][0])
    assert np.array_equal(pa, pb)
    c = run_job(http, prompt="mountains at dawn")
    d = run_job(http, prompt="mountains at dawn")
    assert c["metadata"]["input"]["seed"] != d["metadata"]["input"]["seed"]


def test_lifecycle_has_rising_progress_and_respects_the_duration(emu, http):
    emu.runner.job_duration = 0.8
    t0 = time.monotonic()
    job_id = http.post(FLUX, json={"prompt": "x", "numOutputs": 1}).json()["job"]["jobId"]
    statuses, progress = [], []
    while True:
        job = http.get(f"/jobs/{job_id}").json()["job"]
        statuses.append(job["status"])
        progress.append(job["progress"])
        if job["status"] == "success":
            break
        time.sleep(0.03)
    assert time.monotonic() - t0 >= 0.75
    assert statuses[0] == "queued" and "in-progress" in statuses
    assert progress == sorted(progress) and len(set(progress)) >= 4
    history = [h["status"] for h in job["statusHistory"]]
    assert history == ["queued", "in-progress", "success"]
    dates = [h["date"] for h in job["statusHistory"]]
    assert dates == sorted(dates) and all(d.endswith("Z") and len(d) == 24 for d in dates)
    assert job["updatedAt"] >= job["createdAt"]


def test_success_only_once_the_files_exist(emu, http):
    job = run_job(http)
    for asset_id in job["metadata"]["assetIds"]:
        rec = emu.store.get_asset(asset_id)
        assert rec.path.is_file() and rec.path.stat().st_size == rec.size > 0


def test_dry_run_answers_269_and_creates_nothing(http, emu):
    r = http.post(FLUX, params={"dryRun": "true"}, json={"prompt": "x", "numOutputs": 4,
                                                          "numInferenceSteps": 50})
    assert r.status_code == 269
    assert r.json()["creativeUnitsCost"] == 4 * (3 + 5)
    stats = emu.stats()
    assert stats["jobs_created"] == 0 and stats["generate_posts"] == 0
    assert http.get("/jobs").json()["jobs"] == []


def test_validation_errors_name_every_field(http, emu):
    r = http.post(FLUX, json={"prompt": "", "style": "cinematc", "numOutputs": 2.5, "seed": True,
                              "colour": "red"})
    assert r.status_code == 400
    body = r.json()
    fields = {p["field"] for p in body["details"]["problems"]}
    assert fields == {"prompt", "style", "numOutputs", "seed", "colour"}
    assert "did you mean 'cinematic'" in body["message"]
    err = error_from_response(r.status_code, r.content, r.headers, paid=True)
    assert err.kind == "invalid" and not err.ambiguous
    assert emu.stats()["jobs_created"] == 0
    r = http.post(FLUX, json={"prompt": "x", "image": "asset_" + "a" * 24})
    assert r.status_code == 400 and r.json()["details"]["field"] == "image"
    assert http.post(FLUX, content=b"{not json").status_code == 400
    assert http.post(FLUX, json=["prompt"]).status_code == 400


def test_not_found_answers(http):
    assert http.get("/jobs/job_" + "z" * 24).status_code == 404
    assert http.get("/assets/asset_" + "z" * 24).status_code == 404
    r = http.get("/models/model_nope")
    assert r.status_code == 404 and "model_nope" in r.json()["message"]
    assert http.post("/generate/custom/model_nope", json={"prompt": "x"}).status_code == 404
    assert http.get("/no/such/route").status_code == 404


@pytest.mark.parametrize("auth", [None, "Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"only-key").decode(),
                                  "Basic " + base64.b64encode(b":secret").decode()])
def test_v1_needs_basic_auth(emu, auth):
    headers = {"Authorization": auth} if auth else {}
    r = httpx.get(emu.base_url + "/models/model_scenario-skybox-flux", headers=headers)
    assert r.status_code == 401
    assert "WWW-Authenticate" in r.headers and r.json()["message"]


def test_configured_credentials_are_enforced_and_never_echoed():
    with Emulator(api_key="key-123", api_secret="s3cr3t-value", render_size=SMALL) as locked:
        url = locked.base_url + "/models/model_scenario-skybox-flux"
        assert httpx.get(url, auth=("key-123", "s3cr3t-value")).status_code == 200
        bad = httpx.get(url, auth=("key-123", "wrong-secret"))
        assert bad.status_code == 401 and "wrong-secret" not in bad.text
        assert httpx.get(url, auth=("other", "s3cr3t-value")).status_code == 401
        assert locked.api_key == "key-123" and locked.api_secret == "s3cr3t-value"
        assert "s3cr3t" not in repr(locked) and "key-123" not in repr(locked)
        assert "s3cr3t" not in str(locked.stats())


def test_jobs_list_is_paginated_newest_first(http):
    ids = [http.post(FLUX, json={"prompt": f"p{i}", "numOutputs": 1}).json()["job"]["jobId"]
           for i in range(5)]
    seen, token = [], None
    while True:
        params = {"pageSize": 2, **({"paginationToken": token} if token else {})}
        page = http.get("/jobs", params=params).json()
        seen += [j["jobId"] for j in page["jobs"]]
        token = page.get("nextPaginationToken")
        if not token:
            break
    assert seen == ids[::-1]
    assert http.get("/jobs", params={"pageSize": 0}).status_code == 400
    assert http.get("/jobs", params={"paginationToken": "%%%"}).status_code == 400
    for j in ids:
        wait_done(http, j)
    assert len(http.get("/jobs", params={"status": "success"}).json()["jobs"]) == 5
    assert http.get("/jobs", params={"status": "failure"}).json()["jobs"] == []
    first = http.get(f"/jobs/{ids[0]}").json()["job"]["createdAt"]
    after = http.get("/jobs", params={"createdAfter": first}).json()["jobs"]
    assert [j["jobId"] for j in after] == ids[:0:-1]  # strictly after the first one
    whole_second = first[:19] + "Z"  # no milliseconds: still compared as a date
    assert len(http.get("/jobs", params={"createdAfter": whole_second}).json()["jobs"]) >= 4
    assert http.get("/jobs", params={"createdAfter": "yesterday"}).status_code == 400


def test_cancel_is_refused_by_default_as_the_service_does(emu, http):
    emu.runner.job_duration = 5.0
    job_id = http.post(FLUX, json={"prompt": "x", "numOutputs": 1}).json()["job"]["jobId"]
    r = http.post(f"/jobs/{job_id}/action", json={"action": "cancel"})
    assert r.status_code == 400
    assert r.json() == {"reason": "Cannot cancel this type of job. Action not permitted."}
    assert http.get(f"/jobs/{job_id}").json()["job"]["status"] != "canceled"


def test_cancel(emu, http):
    emu.settings.allow_cancel = True  # as for job types the service lets one cancel
    emu.runner.job_duration = 5.0
    job_id = http.post(FLUX, json={"prompt": "x", "numOutputs": 1}).json()["job"]["jobId"]
    assert http.post(f"/jobs/{job_id}/action", json={"action": "pause"}).status_code == 400
    r = http.post(f"/jobs/{job_id}/action", json={"action": "cancel"})
    assert r.status_code == 200 and r.json()["job"]["status"] == "canceled"
    time.sleep(0.3)
    job = http.get(f"/jobs/{job_id}").json()["job"]
    assert job["status"] == "canceled" and job["metadata"]["assetIds"] == []
    again = http.post(f"/jobs/{job_id}/action", json={"action": "cancel"})
    assert again.status_code == 400 and "already canceled" in again.json()["message"]
    assert http.post("/jobs/job_" + "q" * 24 + "/action", json={"action": "cancel"}).status_code == 404


def test_asset_urls_expire_and_are_renewed_by_fetching_again():
    with Emulator(render_size=SMALL, url_ttl=0.6) as emu, \
            httpx.Client(base_url=emu.base_url, auth=("k", "s")) as http:
        asset_id = run_job(http)["metadata"]["assetIds"][0]
        url = http.get(f"/assets/{asset_id}").json()["asset"]["url"]
        # Shaped like Scenario's signed CDN URLs: no extension, Policy/Signature/Key-Pair-Id.
        path, _, query = url.partition("?")
        assert url.startswith(emu.origin + "/_cdn/") and "." not in path.rsplit("/", 1)[1]
        assert {k.split("=")[0] for k in query.split("&")} >= {"Policy", "Signature", "Key-Pair-Id"}
        assert httpx.get(url).status_code == 200  # no auth needed on the CDN
        time.sleep(1.7)
        stale = httpx.get(url)
        assert stale.status_code == 403 and b"<Code>AccessDenied</Code>" in stale.content
        assert stale.headers["content-type"] == "text/xml"
        fresh = http.get(f"/assets/{asset_id}").json()["asset"]["url"]
        assert httpx.get(fresh).status_code == 200


def test_cdn_refuses_forged_urls_and_never_reads_outside_its_store(emu, http):
    asset_id = run_job(http)["metadata"]["assetIds"][0]
    url = http.get(f"/assets/{asset_id}").json()["asset"]["url"]
    forged = url.split("&Signature=")[0] + "&Signature=" + "A" * 32
    assert httpx.get(forged).status_code == 403
    other = url.replace(asset_id, "asset_" + "A" * 24)
    assert httpx.get(other).status_code == 403
    for path in ("/_cdn/../../etc/passwd", "/_cdn/%2e%2e/%2e%2e/etc/passwd", "/_cdn/asset_x.png",
                 "/v1/assets/..%2f..%2fetc%2fpasswd"):
        with socket.create_connection(("127.0.0.1", emu.port)) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic azpz\r\n"
                      "Connection: close\r\n\r\n".encode())
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert answer.split(b" ")[1] in (b"403", b"404"), path
        assert b"root:" not in answer


def test_upload_then_img2img_blends_the_init_image(http):
    r = http.post("/assets", json={"image": png_data_url(colour=(220, 20, 20)), "name": "red.png"})
    assert r.status_code == 200
    asset = r.json()["asset"]
    assert asset["id"].startswith("asset_") and asset["metadata"]["type"] == "uploaded"
    assert asset["properties"]["width"] == 64 and asset["mimeType"] == "image/png"
    near = download(http, run_job(http, image=asset["id"], strength=0.1, seed=1,
                                  style="standard")["metadata"]["assetIds"][0])
    far = download(http, run_job(http, image=asset["id"], strength=1.0, seed=1,
                                 style="standard")["metadata"]["assetIds"][0])
    red = np.array([220, 20, 20])
    assert np.abs(near - red).mean() < 30 < np.abs(far - red).mean()


def test_upload_errors(emu, http):
    r = http.post("/assets", json={"image": png_data_url()})
    assert r.status_code == 400 and r.json()["details"]["field"] == "name"
    r = http.post("/assets", json={"name": "x.png", "image": "data:image/png;base64,bm90IGFuIGltYWdl"})
    assert r.status_code == 400 and r.json()["details"]["field"] == "image"
    big = "data:image/png;base64," + "A" * (emu.upload_limit + 10)
    r = http.post("/assets", json={"name": "big.png", "image": big})
    assert r.status_code == 413 and r.json()["details"]["limit"] == emu.upload_limit
    assert http.get("/models/model_scenario-skybox-flux").status_code == 200  # still serving


def test_concurrency_limit_answers_429_parallel_custom_jobs():
    with Emulator(render_size=SMALL, job_duration=1.0, max_parallel_jobs=2) as emu, \
            httpx.Client(base_url=emu.base_url, auth=("k", "s")) as http:
        ok = [http.post(FLUX, json={"prompt": "x", "numOutputs": 1}) for _ in range(2)]
        assert [r.status_code for r in ok] == [200, 200]
        r = http.post(FLUX, json={"prompt": "x", "numOutputs": 1})
        assert r.status_code == 429
        assert r.json()["details"] == {"actionName": "parallel-custom-jobs", "actionLimit": 2}
        err = error_from_response(429, r.content, r.headers, paid=True)
        assert err.kind == "rate_limit" and err.is_concurrency_limit
        for x in ok:
            wait_done(http, x.json()["job"]["jobId"])
        assert http.post(FLUX, json={"prompt": "x", "numOutputs": 1}).status_code == 200
        stats = emu.stats()
        assert stats["max_running_jobs"] == 2 and stats["jobs_created"] == 3
        assert stats["generate_posts"] == 4


def test_loopback_only_unless_allowed():
    with pytest.raises(ValueError, match="allow_remote"):
        Emulator(host="0.0.0.0")
    with pytest.raises(ValueError, match="host"):
        Emulator(host="192.168.1.10")
    for bad in (dict(job_duration=-1), dict(port=70000), dict(max_parallel_jobs=0),
                dict(url_ttl=0), dict(render_size=(4, 2))):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Emulator(**bad)
    with Emulator(host="0.0.0.0", allow_remote=True, render_size=SMALL) as emu:
        assert httpx.get(emu.base_url + "/models/model_scenario-skybox-flux",
                         auth=("k", "s")).status_code == 200


def test_admin_routes_and_stats(emu, http):
    r = httpx.post(emu.admin_url + "/faults", auth=ADMIN, json={"kind": "server_error", "route": "model", "status": 503})
    assert r.status_code == 200 and r.json()["fault"]["status"] == 503
    assert http.get("/models/model_scenario-skybox-flux").status_code == 503
    assert http.get("/models/model_scenario-skybox-flux").status_code == 200  # count was 1
    bad = httpx.post(emu.admin_url + "/faults", auth=ADMIN, json={"kind": "server_error", "status": 404})
    assert bad.status_code == 400 and "500 to 599" in bad.json()["message"]
    httpx.post(emu.admin_url + "/faults", auth=ADMIN, json={"kind": "rate_limit", "count": None})
    assert len(httpx.get(emu.admin_url + "/faults", auth=ADMIN).json()["faults"]) == 1
    assert httpx.delete(emu.admin_url + "/faults", auth=ADMIN).json() == {"faults": []}
    stats = httpx.get(emu.admin_url + "/stats", auth=ADMIN).json()
    assert stats["requests"]["model"] == 2 and stats["faults"] == []
    assert httpx.get(emu.admin_url + "/nope", auth=ADMIN).status_code == 404


def test_an_internal_error_answers_500_rather_than_hanging_up(emu, http, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(emu.api, "_model", broken)
    r = http.get("/models/model_scenario-skybox-flux")
    assert r.status_code == 500 and "internal error" in r.json()["message"]
    assert http.get("/jobs").status_code == 200  # the server keeps serving
