"""Each injected fault does what the reliability tests will rely on, then goes away."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from emulator_support import FLUX, emu, http, run_job, wait_done  # noqa: F401
from skybox_nb.cli import main as cli_main
from skybox_nb.emulator import parse_fault_spec
from skybox_nb.errors import error_from_response, is_moderation_text

pytestmark = pytest.mark.timeout(120)
BODY = {"prompt": "a lake", "numOutputs": 1}


def test_rate_limit_with_retry_after_fires_count_times_on_its_route(emu, http):
    emu.inject("rate_limit", route="generate", retry_after=2.5, count=2)
    assert http.get("/models/model_scenario-skybox-flux").status_code == 200  # other route
    for _ in range(2):
        r = http.post(FLUX, json=BODY)
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "2.5" and r.headers["retry-after-ms"] == "2500"
        err = error_from_response(429, r.content, r.headers, paid=True)
        assert err.kind == "rate_limit" and err.retry_after == 2.5 and not err.is_concurrency_limit
    assert http.post(FLUX, json=BODY).status_code == 200
    assert emu.stats()["generate_posts"] == 3 and emu.stats()["jobs_created"] == 1


def test_server_error_on_any_route_until_cleared(emu, http):
    emu.inject("server_error", route="*", status=502, count=None)
    assert http.get("/jobs").status_code == 502
    r = http.post(FLUX, json=BODY)
    assert r.status_code == 502 and r.json()["message"]
    assert error_from_response(502, r.content, r.headers, paid=True).ambiguous
    assert emu.stats()["jobs_created"] == 0
    emu.clear_faults()
    assert http.get("/jobs").status_code == 200


def test_slow_answers(emu, http):
    emu.inject("slow", route="job", delay=0.5)
    job_id = http.post(FLUX, json=BODY).json()["job"]["jobId"]
    t0 = time.monotonic()
    assert http.get(f"/jobs/{job_id}").status_code == 200
    assert time.monotonic() - t0 >= 0.45
    t0 = time.monotonic()
    http.get(f"/jobs/{job_id}")
    assert time.monotonic() - t0 < 0.45


def test_job_failure_generic_moderated_and_custom(emu, http):
    emu.inject("job_failure")
    job = run_job(http)
    assert job["status"] == "failure" and job["metadata"]["assetIds"] == []
    assert job["metadata"]["error"] and job["metadata"]["hint"]
    assert not is_moderation_text(job["metadata"]["error"])
    emu.inject("job_failure", moderation=True)
    job = run_job(http)
    assert job["status"] == "failure" and is_moderation_text(job["metadata"]["error"])
    emu.inject("job_failure", error="GPU fell over", hint="try later")
    job = run_job(http)
    assert (job["metadata"]["error"], job["metadata"]["hint"]) == ("GPU fell over", "try later")
    assert [h["status"] for h in job["statusHistory"]] == ["queued", "in-progress", "failure"]
    assert run_job(http)["status"] == "success"  # each fired once


def test_drop_before_accept_creates_no_job(emu, http):
    emu.inject("drop_before_accept")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(FLUX, json=BODY)
    stats = emu.stats()
    assert stats["generate_posts"] == 1 and stats["jobs_created"] == 0
    assert http.get("/jobs").json()["jobs"] == []


def test_drop_after_accept_leaves_a_job_to_find(emu, http):
    emu.inject("drop_after_accept")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(FLUX, json=BODY)
    assert emu.stats()["jobs_created"] == 1
    listed = http.get("/jobs").json()["jobs"]
    assert len(listed) == 1 and listed[0]["metadata"]["input"]["prompt"] == "a lake"
    assert wait_done(http, listed[0]["jobId"])["status"] == "success"


def test_expired_urls(emu, http):
    asset_id = run_job(http)["metadata"]["assetIds"][0]
    emu.inject("expire_urls")
    stale = http.get(f"/assets/{asset_id}").json()["asset"]["url"]
    assert httpx.get(stale).status_code == 403
    assert httpx.get(http.get(f"/assets/{asset_id}").json()["asset"]["url"]).status_code == 200


def test_cut_download(emu, http):
    asset_id = run_job(http)["metadata"]["assetIds"][0]
    url = http.get(f"/assets/{asset_id}").json()["asset"]["url"]
    emu.inject("cut_download")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    whole = httpx.get(url)
    assert whole.status_code == 200 and len(whole.content) == int(whole.headers["content-length"])


@pytest.mark.parametrize("spec, message", [
    ("bogus", "fault kind"),
    ("rate_limit:route=nowhere", "fault route"),
    ("server_error:status=404", "500 to 599"),
    ("slow:delay=-1", "delay"),
    ("expire_urls:route=asset", "parameter"),
    ("rate_limit:retry_after", "name=value"),
    ("job_failure:count=0", "count"),
])
def test_bad_fault_specs_are_refused_by_name(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_fault_spec(spec)


def test_fault_spec_parsing():
    assert parse_fault_spec("rate_limit:route=generate,retry_after=2") == (
        "rate_limit", {"route": "generate", "retry_after": 2})
    assert parse_fault_spec("job_failure:moderation=true,count=none") == (
        "job_failure", {"moderation": True, "count": None})
    assert parse_fault_spec("cut_download") == ("cut_download", {})
    assert cli_main(["emulator", "--fault", "rate_limit:route=mars"]) == 2
    assert cli_main(["emulator", "--host", "0.0.0.0"]) == 2


def test_cli_runs_the_emulator_in_the_foreground_with_faults():
    proc = subprocess.Popen(
        [sys.executable, "-m", "skybox_nb.cli", "emulator", "--port", "0", "--job-duration", "0",
         "--fault", "rate_limit:route=model,retry_after=3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        assert "OFFLINE EMULATOR" in line
        base = line.split(" at ")[1].split()[0]
        assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")
        r = httpx.get(base + "/models/model_scenario-skybox-flux", auth=("k", "s"))
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
        assert httpx.get(base + "/models/model_scenario-skybox-flux", auth=("k", "s")).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "[skybox_nb OFFLINE EMULATOR]" in err


def test_bad_original_refuses_an_unknown_mode():
    from skybox_nb.emulator.faults import Faults

    with pytest.raises(ValueError, match="bad_original mode: got 'gone'; allowed: missing, corrupt"):
        Faults().add("bad_original", mode="gone")
