"""The client against the real offline emulator on loopback: every method, every error
kind the emulator can produce, the lost-answer case, and a restart mid-job."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from fast import SIZE, fast_poll, fast_retry
from skybox_nb import errors
from skybox_nb.cli import main as cli_main
from skybox_nb.client import AsyncSkyboxClient, SkyboxClient
from skybox_nb.contract import SKYBOX_FLUX, InputSpec, ModelSpec
from skybox_nb.emulator import DEFAULT_JOB_DURATION, Emulator
from skybox_nb.ledger import Ledger
from skybox_nb.request import ModelRequest, SkyboxRequest

def make(emu, lib, **kw):
    kw.setdefault("retry", fast_retry())
    kw.setdefault("poll", fast_poll)
    return SkyboxClient(emulator=emu, library=lib, **kw)


@pytest.fixture
def client(emu, tmp_path):
    c = make(emu, tmp_path / "lib")
    yield c
    c.close()


def test_run_end_to_end_matches_the_official_sdk_models(client, emu):
    from scenario_sdk.types import AssetRetrieveResponse, JobRetrieveResponse

    r = client.run(SkyboxRequest("a sunset beach", num_outputs=3, seed=42, style="fantasy"))
    assert r.job.status == "success" and len(r.files) == 3 and r.cu_cost and r.cu_cost > 0
    for i, (path, asset) in enumerate(zip(r.files, r.assets)):
        with Image.open(path) as im:
            assert im.size == SIZE and im.format == "PNG"
        side = json.loads(path.with_suffix(".json").read_text())
        assert side["seed"] == asset.seed and side["asset"]["id"] == asset.id
        assert side["request"]["style"] == "fantasy" and side["output_index"] == i
        assert asset.output_index == i and asset.width == SIZE[0]
    JobRetrieveResponse.model_validate({"job": dict(r.job.raw)})
    AssetRetrieveResponse.model_validate({"asset": dict(r.assets[0].raw)})
    assert emu.stats()["generate_posts"] == 1
    rec = client.ledger.generations()[0]
    assert rec.status == "done" and rec.job_id == r.job.id and len(rec.files) == 3


def test_every_method(emu, tmp_path):
    slow = Emulator(job_duration=1.0, render_size=SIZE).start()
    try:
        c = make(slow, tmp_path)
        req = SkyboxRequest("misty pine forest", num_outputs=2, num_inference_steps=20)
        assert c.estimate(req) == pytest.approx(2 * (3 + 20 / 10))
        assert slow.stats()["generate_posts"] == 0
        job = c.generate(req)
        assert job.status == "queued" and not job.done
        assert c.job(job.id).id == job.id
        seen = []
        done = c.wait(job, on_progress=lambda j: seen.append((j.status, j.progress)))
        assert done.succeeded and seen[0][0] == "queued" and seen[-1] == ("success", 1.0)
        assert any(s == "in-progress" and 0 < p < 1 for s, p in seen)
        asset = c.asset(done.asset_ids[0])
        assert asset.mime_type == "image/png" and asset.url.startswith("http")
        path = c.download(asset, tmp_path / "out", name="My Sky!")
        assert path.name == "my-sky.png" and Image.open(path).size == SIZE
        init = c.upload(path)
        assert init.startswith("asset_")
        other = c.generate(SkyboxRequest("same place, winter", image=init, strength=0.4,
                                         num_outputs=1))
        with pytest.raises(errors.CancelRefusedError):  # as the service answers
            c.cancel(other)
        assert c.ledger.by_job(other.id).status == "running"  # still followed
        c.emulator.settings.allow_cancel = True  # as for job types one may cancel
        canceled = c.cancel(other)
        assert canceled.status == "canceled"
        assert c.ledger.by_job(other.id).status == "canceled"
        with pytest.raises(errors.DeadlineError):
            c.wait(c.generate(SkyboxRequest("timeout", num_outputs=1)), timeout=0.2)
        # resume() finishes, oldest first, every job whose outputs are not on disk yet:
        # the first one (waited for, never downloaded) and the one that timed out.
        results = c.resume()
        assert [(r.job.id == job.id, len(r.files)) for r in results] == [(True, 2), (False, 1)]
        assert c.resume() == []
        c.close()
    finally:
        slow.stop()


def test_dropped_answer_makes_one_job_and_blocks_identical_until_reconciled(client, emu):
    req = SkyboxRequest("lighthouse in a storm", num_outputs=1, seed=9)
    emu.inject("drop_after_accept")
    with pytest.raises(errors.TransportError) as info:
        client.run(req)
    assert info.value.ambiguous
    assert emu.stats()["jobs_created"] == 1 and emu.stats()["generate_posts"] == 1
    intent = client.ledger.generations()[0]
    assert intent.status == "unknown" and intent.job_id is None
    for _ in range(2):
        with pytest.raises(errors.DuplicateIntentError) as dup:
            client.run(req)
        assert dup.value.intent_id == intent.intent_id
    assert emu.stats()["generate_posts"] == 1  # blocked: never sent again
    out = client.reconcile()
    assert [(o.intent_id, o.candidates) for o in out] == [(intent.intent_id, 1)]
    r = client.run(req)  # the adopted job is resumed, not re-sent
    assert r.job.id == out[0].job_id and len(r.files) == 1
    assert emu.stats()["generate_posts"] == 1 and emu.stats()["jobs_created"] == 1


def test_dropped_before_accept_is_unknown_until_dismissed(client, emu):
    req = SkyboxRequest("desert at noon", num_outputs=1)
    emu.inject("drop_before_accept")
    with pytest.raises(errors.TransportError):
        client.generate(req)
    assert emu.stats()["jobs_created"] == 0
    out = client.reconcile()
    assert out[0].candidates == 0 and out[0].job_id is None
    with pytest.raises(errors.DuplicateIntentError):
        client.generate(req)
    client.ledger.dismiss(out[0].intent_id)
    assert client.run(req).job.succeeded


def test_restart_mid_job_finishes_from_the_ledger_without_a_second_post(tmp_path, caplog):
    with Emulator(job_duration=1.5, render_size=SIZE) as emu:
        req = SkyboxRequest("aurora over a frozen lake", num_outputs=2, seed=5)
        first = make(emu, tmp_path)
        job = first.generate(req)
        first.close()  # the kernel dies: nobody is waiting for the job any more
        with caplog.at_level(logging.WARNING, logger="skybox_nb"):
            again = make(emu, tmp_path)
        assert "1 job(s) of an earlier session" in caplog.text and "resume()" in caplog.text
        r = again.run(req)  # an identical request picks the job up where it was
        assert r.job.id == job.id and len(r.files) == 2
        assert emu.stats()["generate_posts"] == 1
        job2 = again.generate(req.replace(seed=6))
        again.close()
        third = make(emu, tmp_path)
        results = third.resume()
        assert [x.job.id for x in results] == [job2.id]
        assert emu.stats()["generate_posts"] == 2
        assert [g.status for g in third.ledger.generations()] == ["done", "done"]
        third.close()


def test_a_process_that_died_mid_post_leaves_an_unknown_intent(emu, tmp_path, caplog):
    lib = tmp_path / "lib"
    req = SkyboxRequest("castle on a cliff", num_outputs=1)
    code = textwrap.dedent(f"""
        import os
        from skybox_nb.ledger import Ledger
        from skybox_nb.request import SkyboxRequest
        r = SkyboxRequest("castle on a cliff", num_outputs=1)
        Ledger({str(lib)!r}).record_intent(r.model_id, r.to_body(), r.fingerprint)
        os._exit(0)  # dies before the POST is answered
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    with caplog.at_level(logging.WARNING, logger="skybox_nb"):
        c = make(emu, lib)
    assert "1 request(s) in the ledger may have started jobs" in caplog.text
    recs = c.ledger.generations()
    assert [g.status for g in recs] == ["unknown"]
    with pytest.raises(errors.DuplicateIntentError):
        c.run(req)
    assert emu.stats()["generate_posts"] == 0
    c.ledger.dismiss(recs[0].intent_id)
    assert c.run(req).job.succeeded
    c.close()


def test_expired_urls_and_cut_downloads_are_survived(client, emu, tmp_path):
    emu.inject("expire_urls", count=2)
    emu.inject("cut_download", count=2)
    r = client.run(SkyboxRequest("coral reef", num_outputs=2))
    assert all(Image.open(p).size == SIZE for p in r.files)
    lib = client.ledger.library
    assert not [p for p in lib.iterdir() if p.name.startswith(".")]
    assert emu.stats()["requests"]["download"] >= 4


def test_error_kinds_from_the_emulator(emu, tmp_path):
    """auth, invalid, not_found, rate_limit, server, moderated/job failure, protocol,
    forbidden, timeout and transport, each from the emulator. (Quota has no emulator
    fault: test_client_unit maps a 402 against a scripted API.)"""
    # auth
    with Emulator(job_duration=0.0, render_size=SIZE, api_key="right", api_secret="pw") as locked:
        bad = SkyboxClient("wrong", "pw", locked.base_url, library=tmp_path / "a")
        with pytest.raises(errors.AuthError) as info:
            bad.estimate(SkyboxRequest("x"))
        assert info.value.status == 401 and "pw" not in str(info.value)
        bad.close()
        good = SkyboxClient("right", "pw", locked.base_url, library=tmp_path / "a")
        assert good.estimate(SkyboxRequest("x")) > 0 and not good.is_emulator
        good.close()
    c = make(emu, tmp_path / "b")
    # invalid: a body the server refuses (our own validation was loosened on purpose)
    loose = ModelSpec(SKYBOX_FLUX.model_id, {**SKYBOX_FLUX.inputs, "numOutputs": InputSpec(
        "numOutputs", "number", default=2, minimum=1, maximum=99, integer=True)})
    with pytest.raises(errors.InvalidError) as info:
        c.generate(ModelRequest(loose, {"prompt": "x", "numOutputs": 9}))
    assert info.value.status == 400 and "numOutputs" in str(info.value)
    assert c.ledger.generations()[0].status == "refused"
    # not found
    with pytest.raises(errors.NotFoundError):
        c.job("job_AAAAAAAAAAAAAAAAAAAAAAAA")
    # rate limit, after the retries are spent
    emu.inject("rate_limit", route="job", retry_after=0.01, count=None)
    with pytest.raises(errors.RateLimitError) as info:
        c.job("job_AAAAAAAAAAAAAAAAAAAAAAAA")
    assert info.value.retry_after == pytest.approx(0.01)
    emu.clear_faults()
    # server
    emu.inject("server_error", route="asset", status=503, count=None)
    with pytest.raises(errors.ServerError) as info:
        c.asset("asset_AAAAAAAAAAAAAAAAAAAAAAAA")
    assert info.value.status == 503 and info.value.retryable
    emu.clear_faults()
    # server error on the paid POST: ambiguous, and the intent is unknown
    emu.inject("server_error", route="generate")
    with pytest.raises(errors.ServerError) as info:
        c.generate(SkyboxRequest("volcano", num_outputs=1))
    assert info.value.ambiguous and c.ledger.generations()[0].status == "unknown"
    # moderated and failed jobs
    emu.inject("job_failure", moderation=True)
    with pytest.raises(errors.ModeratedError) as info:
        c.run(SkyboxRequest("something flagged", num_outputs=1))
    assert info.value.hint
    emu.inject("job_failure")
    with pytest.raises(errors.JobFailedError) as info:
        c.run(SkyboxRequest("unlucky", num_outputs=1))
    assert info.value.job_id and info.value.hint
    # protocol: the "image" URL answers JSON (retried, then reported as what it is)
    ok = c.run(SkyboxRequest("reef", num_outputs=1))
    wrong = dataclasses.replace(ok.assets[0], url=emu.admin_url)
    with pytest.raises(errors.ProtocolError, match="not a complete image"):
        c.download(wrong, tmp_path / "json")
    assert not (tmp_path / "json").exists() or not any((tmp_path / "json").iterdir())
    # forbidden: every URL handed out is already expired, so renewals cannot help
    emu.inject("expire_urls", count=None)
    with pytest.raises(errors.ForbiddenError):
        c.download(ok.assets[0].id, tmp_path / "never")
    emu.clear_faults()
    c.close()
    # timeout: the server answers too slowly, every time
    emu.inject("slow", route="job", delay=0.6, count=None)
    t = make(emu, tmp_path / "c", timeout=0.2)
    with pytest.raises(errors.DeadlineError) as info:
        t.job("job_AAAAAAAAAAAAAAAAAAAAAAAA")
    assert not info.value.ambiguous
    t.close()
    emu.clear_faults()
    # transport: nobody listens any more (connection refused: provably not sent)
    gone = Emulator(render_size=SIZE).start()
    d = make(gone, tmp_path / "d")
    gone.stop()
    with pytest.raises(errors.TransportError) as info:
        d.generate(SkyboxRequest("offline", num_outputs=1))
    assert not info.value.ambiguous
    assert d.ledger.generations()[0].status == "refused"
    d.close()


def test_concurrency_limit_is_waited_out_not_hammered(tmp_path):
    with Emulator(job_duration=0.4, render_size=SIZE, max_parallel_jobs=2) as emu:
        c = make(emu, tmp_path)
        rs = c.run_many([SkyboxRequest(f"scene {i}", num_outputs=1) for i in range(6)],
                        max_in_flight=6)
        st = emu.stats()
        assert [len(r.files) for r in rs] == [1] * 6
        assert st["max_running_jobs"] <= 2 and st["jobs_created"] == 6
        refused = st["requests"]["generate"] - 6
        # Each job that ends lets one waiter retry: about one refusal per waiting request
        # (4 here), where a stampede would refuse every waiter at every slot.
        assert refused <= 8, st
        c.close()


def test_async_client_against_the_emulator(emu, tmp_path):
    async def main():
        async with AsyncSkyboxClient(emulator=emu, library=tmp_path, poll=fast_poll,
                                     retry=fast_retry()) as ac:
            assert ac.is_emulator
            one = await ac.run(SkyboxRequest("night city", num_outputs=2))
            many = await ac.run_many([SkyboxRequest(f"sky {i}", num_outputs=1)
                                      for i in range(4)], max_in_flight=4)
            est = await ac.estimate(SkyboxRequest("x", num_outputs=1))
            return one, many, est

    one, many, est = asyncio.run(main())
    assert len(one.files) == 2 and [len(r.files) for r in many] == [1] * 4 and est > 0
    assert emu.stats()["generate_posts"] == 5


def test_without_credentials_an_emulator_starts_and_says_so(monkeypatch, tmp_path, caplog):
    import skybox_nb.client.backend as mod

    for v in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET", "SCENARIO_BASE_URL"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(mod, "_EMULATOR_ANNOUNCED", False)
    caplog.set_level(logging.INFO, logger="skybox_nb")
    c = SkyboxClient(library=tmp_path)
    c2 = SkyboxClient(library=tmp_path / "2")
    try:
        assert c.is_emulator and c.backend.startswith("offline emulator at http://127.0.0.1:")
        assert c.emulator.job_duration == DEFAULT_JOB_DURATION > 0  # progress shows
        lines = [r.getMessage() for r in caplog.records
                 if "no Scenario credentials" in r.getMessage()]
        assert len(lines) == 1 and c.backend in lines[0]
        assert c.estimate(SkyboxRequest("x", num_outputs=1)) > 0
    finally:
        c.close()
        c2.close()
    assert c.emulator._thread is None or not c.emulator._thread.is_alive()


def test_cli_generate_dry_run_image_and_files(emu, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCENARIO_SDK_API_KEY", "cli-key")
    monkeypatch.setenv("SCENARIO_SDK_API_SECRET", "cli-secret-value")
    monkeypatch.setenv("SCENARIO_BASE_URL", emu.base_url)
    out = tmp_path / "lib"
    assert cli_main(["generate", "a red canyon", "--num-outputs", "3", "--dry-run",
                     "--out", str(out)]) == 0
    assert "estimated cost: 18 CU" in capsys.readouterr().out
    assert emu.stats()["generate_posts"] == 0
    init = tmp_path / "init.png"
    Image.new("RGB", (128, 64), (200, 100, 50)).save(init)
    assert cli_main(["generate", "a red canyon", "--num-outputs", "2", "--seed", "4",
                     "--image", str(init), "--strength", "0.5", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    files = [line.strip() for line in cap.out.splitlines() if line.startswith("  ")]
    assert len(files) == 2 and all(Image.open(f).size == SIZE for f in files)
    assert "uploaded" in cap.err and "generating" in cap.err and "cli-secret-value" not in cap.err
    body = Ledger(out).generations()[0].request
    assert body["image"].startswith("asset_") and body["seed"] == 4
    assert cli_main(["generate", "x", "--num-outputs", "9", "--out", str(out)]) == 1
    assert "numOutputs" in capsys.readouterr().err
    assert cli_main(["generate", "x", "--image", str(tmp_path / "typo.png"),
                     "--out", str(out)]) == 2
    assert "--image: got" in capsys.readouterr().err
    monkeypatch.delenv("SCENARIO_SDK_API_SECRET")
    assert cli_main(["generate", "x", "--out", str(out)]) == 1
    assert "SCENARIO_SDK_API_SECRET is not set" in capsys.readouterr().err


def test_real_credentials_in_the_environment_never_go_to_an_emulator(monkeypatch, tmp_path):
    monkeypatch.setenv("SCENARIO_SDK_API_KEY", "real-key")
    monkeypatch.setenv("SCENARIO_SDK_API_SECRET", "real-secret")
    with Emulator(render_size=SIZE, api_key="emu-key", api_secret="emu-secret") as emu:
        c = make(emu, tmp_path)  # uses the emulator's own credentials, not the env's
        assert c.is_emulator and c.estimate(SkyboxRequest("x", num_outputs=1)) > 0
        c.close()
