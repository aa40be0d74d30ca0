"""Client rules checked one by one against a scripted fake API (httpx.MockTransport):
when the paid POST may be resent, what the ledger records, downloads, uploads, waiting,
and that credentials go nowhere but the API's Authorization header."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import gzip
import json
import logging
import threading

import httpx
import numpy as np
import pytest
from PIL import Image

from fake_scenario import API, FakeScenario, after_accept
from fast import fast_poll, fast_retry
from skybox_nb import errors
from skybox_nb.client import AsyncSkyboxClient, SkyboxClient
from skybox_nb.config import Credentials, resolve_settings
from skybox_nb.request import SkyboxRequest

KEY, SECRET = "key-abcdefgh12345678", "s3cr3t-VERY-private-value"
TOKEN = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()


@pytest.fixture
def fake():
    return FakeScenario(polls=2)


@pytest.fixture
def client(fake, tmp_path):
    c = SkyboxClient(KEY, SECRET, API, library=tmp_path / "lib", transport=fake.transport(),
                     retry=fast_retry(), poll=fast_poll)
    yield c
    c.close()


def req(prompt="a quiet harbour at dusk", **kw):
    return SkyboxRequest(prompt, **kw)


# -- settings and credentials -------------------------------------------------------------

def test_settings_come_from_arguments_then_environment():
    env = {"SCENARIO_SDK_API_KEY": "ek", "SCENARIO_SDK_API_SECRET": "es",
           "SCENARIO_BASE_URL": "http://localhost:9/v1/"}
    s = resolve_settings(environ=env)
    assert s.credentials == Credentials("ek", "es") and s.base_url == "http://localhost:9/v1"
    s = resolve_settings("ak", "as", environ=env)
    assert s.credentials == Credentials("ak", "as")
    assert resolve_settings(environ={}).credentials is None
    with pytest.raises(ValueError, match="SCENARIO_SDK_API_SECRET is not set"):
        resolve_settings(environ={"SCENARIO_SDK_API_KEY": "k"})
    with pytest.raises(ValueError, match=r"base_url \(SCENARIO_BASE_URL\): got 'ftp://x'"):
        resolve_settings(environ={"SCENARIO_BASE_URL": "ftp://x"})


def test_base_url_without_credentials_is_refused(monkeypatch, tmp_path):
    for v in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(ValueError, match="no API key and secret"):
        SkyboxClient(base_url="https://api.test/v1", library=tmp_path)


def test_credentials_never_shown(client, fake, tmp_path, caplog):
    c = Credentials(KEY, SECRET)
    for text in (repr(c), str(c), repr(client), client.backend, str(resolve_settings(KEY, SECRET))):
        assert SECRET not in text and TOKEN not in text
    assert "5678" in repr(c) and client.backend == "Scenario API (api.test)"
    with pytest.raises(TypeError, match="cannot be pickled"):
        __import__("pickle").dumps(c)
    assert not client.is_emulator
    caplog.set_level(logging.DEBUG)
    fake.queue("generate", httpx.Response(500, json={"message": "boom"}))
    with pytest.raises(errors.ServerError) as info:
        client.generate(req())
    result = client.run(req("another"))
    everything = [caplog.text, str(info.value), repr(info.value)]
    for p in (tmp_path / "lib").rglob("*"):
        everything.append(p.read_bytes().decode("latin-1"))
    for blob in everything:
        assert SECRET not in blob and TOKEN not in blob and KEY not in blob
    assert result.files and "GET /jobs/" in caplog.text  # the logs did record calls
    api = [r for r in fake.log if r.url.host == "api.test"]
    cdn = [r for r in fake.log if r.url.host == "cdn.test"]
    assert api and all(r.headers["authorization"] == f"Basic {TOKEN}" for r in api)
    assert cdn and all("authorization" not in r.headers for r in cdn)


# -- the paid POST -------------------------------------------------------------------------

def test_generate_records_the_intent_before_posting(client, fake):
    seen = []

    def check(request):
        seen.append([g.status for g in client.ledger.generations()])
        return fake.answer(request)

    fake.queue("generate", check)
    job = client.generate(req(seed=3))
    assert seen == [["submitting"]]
    rec = client.ledger.generations()[0]
    assert rec.status == "running" and rec.job_id == job.id and rec.request["seed"] == 3
    assert rec.fingerprint == req(seed=3).fingerprint and rec.cu_cost == 6.0


@pytest.mark.parametrize("first", [
    httpx.Response(429, json={"message": "slow down"}, headers={"retry-after-ms": "10"}),
    httpx.ConnectError("connection refused"),
])
def test_paid_post_resent_only_when_it_never_reached_scenario(client, fake, first):
    fake.queue("generate", first)
    job = client.generate(req())
    assert fake.generate_posts == 1 and job.id in fake.jobs
    posts = [r.url.path for r in fake.log]
    assert posts.count("/v1/generate/custom/model_scenario-skybox-flux") == 2
    assert client.ledger.generations()[0].status == "running"


@pytest.mark.parametrize("failure,kind", [
    (httpx.Response(500, json={"message": "internal"}), errors.ServerError),
    (httpx.Response(503, text="<html>bad gateway</html>"), errors.ServerError),
    (httpx.ReadTimeout("read timed out"), errors.DeadlineError),
    (after_accept(httpx.RemoteProtocolError("server disconnected")), errors.TransportError),
    (httpx.Response(200, json={"job": {"jobId": "nope"}}), errors.ProtocolError),
])
def test_ambiguous_paid_failure_marks_unknown_and_blocks_identical(client, fake, failure, kind):
    fake.queue("generate", failure)
    with pytest.raises(kind) as info:
        client.generate(req(seed=11))
    err = info.value
    assert err.ambiguous and "unknown" in str(err)
    assert len([r for r in fake.log if r.url.path.startswith("/v1/generate")]) == 1
    rec = client.ledger.generations()[0]
    assert rec.status == "unknown" and rec.error
    with pytest.raises(errors.DuplicateIntentError) as dup:
        client.run(req(seed=11))
    assert dup.value.intent_id == rec.intent_id
    assert "client.reconcile()" in str(dup.value) and "dismiss" in str(dup.value)
    client.generate(req(seed=12))  # a different request is not blocked
    client.ledger.dismiss(rec.intent_id)
    client.generate(req(seed=11))  # dismissed: allowed again


@pytest.mark.parametrize("status,body,kind", [
    (400, {"message": "numOutputs must be <= 4"}, errors.InvalidError),
    (400, {"message": "prompt refused by moderation (nsfw)"}, errors.ModeratedError),
    (401, {"message": "unauthorized"}, errors.AuthError),
    (402, {"message": "not enough creative units"}, errors.QuotaError),
    (403, {"message": "this model needs the Pro plan"}, errors.ForbiddenError),
    (404, {"message": "model not found"}, errors.NotFoundError),
])
def test_refused_paid_post_is_not_retried_and_not_blocking(client, fake, status, body, kind):
    fake.queue("generate", httpx.Response(status, json=body))
    with pytest.raises(kind) as info:
        client.generate(req())
    assert not info.value.ambiguous and info.value.status == status
    assert len(fake.log) == 1
    assert client.ledger.generations()[0].status == "refused"
    client.generate(req())  # nothing billed, nothing blocks


def test_concurrency_limit_waits_for_a_job_to_finish(client, fake):
    limit = httpx.Response(429, json={"message": "too many jobs", "details": {
        "actionName": "parallel-custom-jobs", "actionLimit": 1}}, headers={"retry-after": "30"})
    first = client.generate(req("one"))
    fake.queue("generate", limit)
    t0 = __import__("time").monotonic()
    fut = concurrent.futures.ThreadPoolExecutor(1).submit(client.generate, req("two"))
    client.wait(first)  # our job ends: the blocked generate wakes at once, not after 30 s
    second = fut.result(timeout=5)
    assert __import__("time").monotonic() - t0 < 5 and second.id != first.id
    assert fake.generate_posts == 2


# -- reads, waiting, downloads ------------------------------------------------------------

def test_reads_retry_5xx_and_transport_errors_then_give_up(client, fake):
    job = client.generate(req())
    fake.queue("job", httpx.Response(502, json={"message": "bad gateway"}),
               httpx.ReadError("reset"), httpx.Response(429, json={}, headers={"retry-after": "0"}))
    assert client.job(job.id).id == job.id
    fake.queue("job", *[httpx.Response(500, json={"message": "down"})] * 4)
    with pytest.raises(errors.ServerError) as info:
        client.job(job.id)
    assert info.value.retryable and not info.value.ambiguous
    with pytest.raises(errors.NotFoundError):
        client.job("job_doesnotexist")
    with pytest.raises(errors.ProtocolError):
        client.job("../../etc/passwd")


def test_wait_reports_progress_and_honours_timeout_and_cancel(client, fake):
    fake.polls = 4
    job = client.generate(req())
    events = []
    done = client.wait(job, on_progress=lambda j: events.append((j.status, j.progress)))
    assert done.done and done.status == "success"
    assert events[0] == ("queued", 0.0) and events[-1] == ("success", 1.0)
    assert [p for _, p in events] == sorted(p for _, p in events)
    fake.polls = 10**6
    slow = client.generate(req("slow"))
    with pytest.raises(errors.DeadlineError) as info:
        client.wait(slow, timeout=0.1)
    assert not info.value.ambiguous
    assert client.ledger.by_job(slow.id).status == "running"  # job left intact
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    with pytest.raises(concurrent.futures.CancelledError):
        client.wait(slow, cancel=stop)


def _fail_next_poll(fake, error, hint):
    """The next GET /jobs/{id} finds the job ended in failure with this error and hint."""
    def answer(request):
        fake.finish(request.url.path.rsplit("/", 1)[1], "failure", error, hint)
        return fake.answer(request)

    fake.queue("job", answer)


def test_failed_and_moderated_jobs_raise_with_hint(client, fake):
    fake.polls = 1
    _fail_next_poll(fake, "GPU exploded", "try again")
    with pytest.raises(errors.JobFailedError) as info:
        client.run(req())
    assert info.value.hint == "try again" and info.value.job_id
    assert client.ledger.generations()[0].status == "failed"
    _fail_next_poll(fake, "content flagged as nsfw", "rephrase")
    with pytest.raises(errors.ModeratedError):
        client.run(req("other"))


def test_run_downloads_every_output_with_sidecars(client, fake, tmp_path):
    r = client.run(req("Café at night / ../../x", num_outputs=3, seed=5))
    assert [p.name for p in r.files] == [f"{r.job.id}-{i}-cafe-at-night-x.png" for i in range(3)]
    for i, p in enumerate(r.files):
        assert p.parent == tmp_path / "lib" and Image.open(p).size == (64, 32)
        side = json.loads(p.with_suffix(".json").read_text())
        assert side["request"]["seed"] == 5 and side["seed"] == str(1000 + i)
        assert side["job"]["id"] == r.job.id and side["cu_cost"] == 9.0
        assert "sig=" not in json.dumps(side)  # no presigned URL kept
    rec = client.ledger.generations()[0]
    assert rec.status == "done" and list(rec.files) == r.files and rec.cu_cost == 9.0
    assert not list((tmp_path / "lib").glob(".*part"))


def test_download_renews_expired_url_and_retries_cut_transfer(client, fake, tmp_path):
    job = client.wait(client.generate(req(num_outputs=1)))
    aid = job.asset_ids[0]
    fake.queue("cdn", httpx.Response(403, text="Request has expired"))
    fake.queue("cdn", httpx.Response(200, content=fake.asset_bytes(aid)[:50],
                                     headers={"content-length": "4000"}))
    fake.queue("cdn", httpx.Response(200, content=b"not an image at all"))
    path = client.download(client.asset(aid), tmp_path / "dl")
    assert path == tmp_path / "dl" / f"{aid}.png" and Image.open(path).size == (64, 32)
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == [f"{aid}.png"]
    gets = [r.url.path for r in fake.log if r.url.path == f"/v1/assets/{aid}"]
    assert len(gets) == 2  # one read, one renewal after the 403
    fake.queue("cdn", *[httpx.Response(500, text="cdn down")] * 4)
    with pytest.raises(errors.ServerError):
        client.download(aid, tmp_path / "dl2")
    assert not (tmp_path / "dl2").exists() or not any((tmp_path / "dl2").iterdir())


@pytest.mark.parametrize("kind", ["blocking", "async"])
def test_a_compressed_download_is_not_taken_for_a_cut_one(kind, fake, tmp_path):
    """A CDN may answer with Content-Encoding (httpx asks for it): Content-Length then
    counts the compressed bytes, not the decoded ones written, and is no sign of a cut
    transfer. Compared with the decoded size, every attempt failed as "cut short"."""
    fake.finish(jid := fake.add_job({"prompt": "x", "numOutputs": 1}))
    aid = fake.jobs[jid].asset_ids[0]
    raw = fake.asset_bytes(aid)

    def gzipped(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=gzip.compress(raw),
                              headers={"Content-Encoding": "gzip", "Content-Type": "image/png"})

    fake.queue("cdn", *[gzipped] * 5)
    if kind == "blocking":
        with SkyboxClient(KEY, SECRET, API, library=tmp_path / "lib", transport=fake.transport(),
                          retry=fast_retry(), poll=fast_poll) as c:
            path = c.download(aid, tmp_path / "dl")
    else:
        async def main():
            async with AsyncSkyboxClient(KEY, SECRET, API, library=tmp_path / "lib",
                                         transport=fake.transport(), retry=fast_retry(),
                                         poll=fast_poll) as ac:
                return await ac.download(aid, tmp_path / "dl")
        path = asyncio.run(main())
    assert path.read_bytes() == raw
    assert len(fake.script["cdn"]) == 4  # the first answer was taken


# -- upload ---------------------------------------------------------------------------------

def test_upload_accepts_path_bytes_pil_and_array(client, fake, tmp_path):
    f = tmp_path / "init image.jpg"
    Image.new("RGB", (128, 64), (10, 20, 30)).save(f)
    ids = [client.upload(x) for x in (f, f.read_bytes(), Image.new("RGBA", (40, 20)),
                                      np.zeros((32, 64, 3), np.uint8),
                                      np.full((32, 64), 0.5))]
    assert len(set(ids)) == 5
    bodies = [json.loads(r.content) for r in fake.log if r.url.path == "/v1/assets"]
    # A JPEG file or its bytes go as they are (its own bytes, its own type), never
    # re-encoded as a larger PNG; images in memory are encoded as PNG.
    assert [b["name"] for b in bodies[:2]] == ["init-image.jpg", "image.jpg"]
    for b in bodies[:2]:
        assert b["image"] == "data:image/jpeg;base64," + base64.b64encode(f.read_bytes()).decode()
    for b in bodies[2:]:
        assert b["image"].startswith("data:image/png;base64,")
        im = Image.open(__import__("io").BytesIO(base64.b64decode(b["image"].split(",", 1)[1])))
        assert im.format == "PNG"


@pytest.mark.parametrize("bad,match", [
    ("/no/such/file.png", "expected an existing image file"),
    (b"GIF89a not really", "not a readable image"),
    (Image.new("RGB", (8, 8)), "8x8 pixels"),
    (np.zeros((10, 20, 2), np.uint8), "shape"),
    (np.full((32, 32), 2.0), "from 0 to 1"),
    (np.zeros((32, 32), np.int32), "dtype int32"),
    (12, "got int"),
])
def test_upload_refuses_bad_images_before_sending(client, fake, bad, match):
    with pytest.raises(errors.InvalidError, match=match):
        client.upload(bad)
    assert fake.log == []


def test_upload_of_a_non_image_names_the_file_or_the_bytes_and_the_formats(client, fake,
                                                                            tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    anim = tmp_path / "anim.gif"
    Image.new("RGB", (32, 32)).save(anim)
    cases = [
        (notes, f"image: got {str(notes)!r}, which is not a readable image"),
        (str(notes), f"image: got {str(notes)!r}, which is not a readable image"),
        (b"not a picture", "image: the bytes given are not a readable image"),
        (anim, f"image: got {str(anim)!r}, a GIF image"),
        (anim.read_bytes(), "image: the bytes given are a GIF image"),
    ]
    for bad, said in cases:
        with pytest.raises(errors.InvalidError) as e:
            client.upload(bad)
        message = e.value.message
        assert message.startswith(said), message
        assert "allowed: " in message and "PNG, JPEG or WebP" in message, message
        assert "BytesIO" not in message and " at 0x" not in message, message
    assert fake.log == []


def test_estimate_and_cancel(client, fake):
    assert client.estimate(req(num_outputs=4)) == 12.0
    assert fake.generate_posts == 0 and len(client.ledger) == 0
    fake.polls = 10**6
    job = client.generate(req())
    canceled = client.cancel(job)
    assert canceled.status == "canceled" and canceled.done
    assert client.ledger.by_job(job.id).status == "canceled"


def test_reconcile_adopts_the_single_matching_job(client, fake):
    fake.queue("generate", after_accept(httpx.RemoteProtocolError("dropped")))
    with pytest.raises(errors.TransportError):
        client.generate(req(seed=77))
    other = client.generate(req(seed=78))  # known to the ledger: never a candidate
    out = client.reconcile()
    assert len(out) == 1 and out[0].candidates == 1
    adopted = [j for j in fake.jobs if j != other.id][0]
    assert out[0].job_id == adopted
    rec = client.ledger.get(out[0].intent_id)
    assert rec.status == "running" and rec.job_id == adopted
    results = {r.job.id for r in client.resume()}
    assert adopted in results and fake.generate_posts == 2


def test_many_in_flight_and_async_client(fake, tmp_path):
    async def main():
        async with AsyncSkyboxClient(KEY, SECRET, API, library=tmp_path, retry=fast_retry(),
                                     poll=fast_poll, transport=fake.transport()) as ac:
            assert await ac.estimate(req(num_outputs=1)) == 3.0
            rs = await ac.run_many([req(f"scene {i}", num_outputs=1) for i in range(5)],
                                   max_in_flight=2)
            up = await ac.upload(Image.new("RGB", (32, 32)))
            job = await ac.wait(await ac.generate(req("w")))
            path = await ac.download(job.asset_ids[0], tmp_path / "a")
            fake.polls = 10**6
            slow = await ac.generate(req("slow"))
            task = asyncio.ensure_future(ac.wait(slow))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return rs, up, path, await ac.cancel(slow)

    rs, up, path, canceled = asyncio.run(main())
    assert [r.job.status for r in rs] == ["success"] * 5
    assert len({r.files[0] for r in rs}) == 5 and path.is_file() and up.startswith("asset_")
    assert canceled.status == "canceled" and fake.generate_posts == 7


def test_cancelling_a_wait_is_not_lost_when_a_poll_has_just_been_answered(fake, tmp_path):
    # The cancel comes after the poll's answer is complete but before the waiting task
    # resumes: the wait must still stop (asyncio.wait_for of Python < 3.12 returned the
    # answer there and dropped the cancel, so the wait went on polling for ever).
    async def main():
        async with AsyncSkyboxClient(KEY, SECRET, API, library=tmp_path, retry=fast_retry(),
                                     poll=fast_poll, transport=fake.transport()) as ac:
            fake.polls = 10**6
            task = asyncio.ensure_future(ac.wait(await ac.generate(req("slow"))))

            def answer_then_cancel(request):
                asyncio.get_running_loop().call_soon(task.cancel)
                return fake.answer(request)

            fake.queue("job", answer_then_cancel)
            await asyncio.wait({task}, timeout=2)
            stopped = task.cancelled()
            while not task.done():  # before the fix: stop it so the client can close
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            return stopped

    assert asyncio.run(main()), "the cancelled wait kept polling"


def test_identical_requests_in_one_batch_are_separate_jobs(client, fake):
    # One client drives both: neither run may adopt the other's job (each claims its own).
    rs = client.run_many([req("twin"), req("twin")], max_in_flight=2)
    assert rs[0].job.id != rs[1].job.id and fake.generate_posts == 2
    assert set(rs[0].files).isdisjoint(rs[1].files)
    with pytest.raises(ValueError, match="max_in_flight: got 0"):
        client.run_many([req()], max_in_flight=0)


def test_several_candidates_are_left_to_the_user_then_adopted(client, fake):
    for seed in (31, 32):
        fake.queue("generate", after_accept(httpx.RemoteProtocolError("dropped")))
        with pytest.raises(errors.TransportError):
            client.generate(req("same", num_outputs=1 if seed == 31 else 2))
    # Make both lost jobs look like the first intent's inputs: two candidates for it.
    for j in fake.jobs.values():
        j.input = {"prompt": "same", "numOutputs": 1}
    first, second = client.ledger.unresolved()
    out = {o.intent_id: o for o in client.reconcile()}
    assert out[first.intent_id].candidates == 2 and out[first.intent_id].job_id is None
    assert "client.adopt(" in out[first.intent_id].note
    chosen = sorted(fake.jobs)[0]
    assert client.adopt(first.intent_id, chosen).id == chosen
    assert client.ledger.get(first.intent_id).status == "running"
    with pytest.raises(ValueError, match="already belongs"):
        client.adopt(second.intent_id, chosen)
    with pytest.raises(ValueError, match="only an 'unknown' intent"):
        client.adopt(first.intent_id, chosen)


def test_submit_runs_in_the_background(client, fake):
    seen = []
    fut = client.submit(req("background"),
                        on_progress=lambda j: seen.append(threading.current_thread().name))
    result = fut.result(timeout=10)
    assert len(result.files) == 2 and result.job.succeeded
    assert seen and all(name.startswith("skybox") for name in seen)  # not the caller's thread
