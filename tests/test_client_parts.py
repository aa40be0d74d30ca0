"""The client's small parts: backoff and polling schedules, safe names and atomic files,
and the parsing of API answers (checked against the official SDK's models)."""

from __future__ import annotations

import random

import pytest
from PIL import Image

from fake_scenario import FakeScenario, png
from skybox_nb import errors
from skybox_nb.files import commit_file, safe_id, slug, temp_path, verify_image, write_json_atomic
from skybox_nb.models import parse_asset, parse_estimate, parse_generate, parse_job, parse_job_list
from skybox_nb.retry import PollSchedule, RetryPolicy, may_resend_paid


# -- retry ---------------------------------------------------------------------------------

def test_backoff_grows_caps_and_jitters():
    p = RetryPolicy(attempts=10, base=0.5, factor=2, max_delay=3.0, jitter=0.5,
                    rng=random.Random(1))
    for n, full in enumerate([0.5, 1.0, 2.0, 3.0, 3.0]):
        d = p.backoff(n)
        assert full * 0.5 <= d <= full
    exact = RetryPolicy(jitter=0.0, base=0.25, max_delay=8.0)
    assert [exact.backoff(n) for n in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_delay_honours_retry_after_and_gives_up():
    p = RetryPolicy(attempts=3, jitter=0.0, base=0.1, max_retry_after=60)
    rl = errors.RateLimitError("slow down", retry_after=7.5, status=429)
    assert p.delay(rl, 0) == 7.5
    assert p.delay(errors.RateLimitError("x", retry_after=0.0), 0) == 0.1
    assert p.delay(rl, 2) is None  # the third try was the last
    assert p.delay(errors.RateLimitError("x", retry_after=600), 0) is None
    assert p.delay(errors.AuthError("bad key", status=401), 0) is None
    assert p.delay(errors.ServerError("x", status=500), 1) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="attempts: got 0"):
        RetryPolicy(attempts=0)


def test_only_a_429_or_a_refused_connection_may_resend_the_paid_post():
    assert may_resend_paid(errors.RateLimitError("x", status=429))
    assert may_resend_paid(errors.TransportError("refused", ambiguous=False))
    assert not may_resend_paid(errors.TransportError("dropped", ambiguous=True))
    assert not may_resend_paid(errors.ServerError("x", status=500, ambiguous=True))
    assert not may_resend_paid(errors.DeadlineError("x", ambiguous=True))
    assert not may_resend_paid(errors.InvalidError("x", status=400))


def test_polling_backs_off_to_the_cap_without_progress():
    s = PollSchedule(first=0.25, factor=2.0, cap=2.0)
    assert [s.next_delay(t, None) for t in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="first=3"):
        PollSchedule(first=3, cap=2)


def test_polling_aims_at_the_end_the_progress_rate_predicts():
    s = PollSchedule(first=0.3, factor=1.6, cap=2.5)
    assert s.next_delay(0.3, 0.1) == 0.3  # one sample: no rate yet
    d = s.next_delay(0.8, 0.2)  # 0.2/s -> 4 s left: capped
    assert d == 2.5
    d = s.next_delay(4.3, 0.9)  # 0.5 s left: aim just past it
    assert 0.5 < d < 0.6
    assert s.next_delay(4.8, 0.999) == pytest.approx(0.1)  # never below first/3
    stalled = PollSchedule(first=0.3, factor=2, cap=2.5)
    stalled.next_delay(0, 0.5)
    assert stalled.next_delay(1, 0.5) == 0.6  # no movement: plain backoff


# -- files -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("A sunset beach", "a-sunset-beach"), ("../../etc/passwd", "etc-passwd"),
    ("Café — Zürich!", "cafe-zurich"), ("   ", "skybox"), ("日本の空", "skybox"),
    ("x" * 100, "x" * 40), ("a/b\\c:d*e?f", "a-b-c-d-e-f"),
])
def test_slug(text, expected):
    assert slug(text) == expected


@pytest.mark.parametrize("bad", ["job_../x", "asset_", "job_abc/def", "jobs_abc", "", None, 5,
                                 "job_abc\n", "asset_" + "a" * 200])
def test_safe_id_refuses_anything_but_plain_ids(bad):
    with pytest.raises(errors.ProtocolError):
        safe_id(bad)


def test_safe_id_kind():
    assert safe_id("job_Abc123", "job") == "job_Abc123"
    with pytest.raises(errors.ProtocolError, match="expected a asset id|expected an? asset"):
        safe_id("job_Abc123", "asset")


def test_atomic_files(tmp_path):
    dest = tmp_path / "sub" / "pano.png"
    tmp = temp_path(dest)
    assert tmp.parent == dest.parent and tmp.name.startswith(".pano.png.")
    tmp.write_bytes(png())
    assert verify_image(tmp) == ("PNG", 64, 32)
    commit_file(tmp, dest)
    assert dest.is_file() and not tmp.exists()
    cut = tmp_path / "cut.png"
    cut.write_bytes(png()[:100])
    with pytest.raises(errors.ProtocolError, match="not a complete image"):
        verify_image(cut)
    gif = tmp_path / "x.gif"
    Image.new("P", (8, 8)).save(gif)
    with pytest.raises(errors.ProtocolError, match="GIF"):
        verify_image(gif)
    side = write_json_atomic(tmp_path / "a.json", {"seed": "7", "path": tmp_path})
    assert side.read_text().startswith("{\n") and '"seed": "7"' in side.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- models ----------------------------------------------------------------------------------

def _job_answer():
    fake = FakeScenario(polls=1)
    jid = fake.add_job({"prompt": "x", "numOutputs": 2})
    gen = fake.generate_json(jid)
    fake.finish(jid)
    return gen, {"job": fake.job_json(jid)}, fake


def test_answers_the_sdk_accepts_parse():
    from scenario_sdk.types import GenerateRunModelResponse, JobRetrieveResponse

    gen, final, fake = _job_answer()
    GenerateRunModelResponse.model_validate(gen)
    JobRetrieveResponse.model_validate(final)
    job, cost = parse_generate(gen)
    assert job.status == "queued" and not job.done and cost == 6.0
    done = parse_job(final)
    assert done.succeeded and len(done.asset_ids) == 2 and done.cu_cost == 6.0
    assert done.inputs == {"prompt": "x", "numOutputs": 2}
    asset = parse_asset({"asset": fake.asset_json(done.asset_ids[1])})
    assert asset.seed == "1001" and asset.output_index == 1 and asset.width == 64
    jobs, token = parse_job_list({"jobs": [final["job"]], "nextPaginationToken": "abc"})
    assert [j.id for j in jobs] == [done.id] and token == "abc"
    assert parse_estimate({"creativeUnitsCost": 4}) == 4.0
    assert parse_estimate({"job": {"billing": {"cuCost": 2.5}}}) == 2.5


@pytest.mark.parametrize("mutate,match", [
    (lambda j: j.pop("jobId"), "jobId"),
    (lambda j: j.update(status=7), "status: got 7"),
    (lambda j: j.update(progress="half"), "progress"),
    (lambda j: j.update(progress=True), "progress"),
    (lambda j: j.update(metadata="none"), "metadata"),
    (lambda j: j["metadata"].update(assetIds=["asset_ok", "../../x"]), "asset id"),
    (lambda j: j["metadata"].update(assetIds="asset_x"), "assetIds"),
    (lambda j: j.update(jobId="job_a/b"), "job id"),
])
def test_malformed_jobs_raise_protocol_errors_naming_the_field(mutate, match):
    _, final, _ = _job_answer()
    mutate(final["job"])
    with pytest.raises(errors.ProtocolError, match=match):
        parse_job(final)


@pytest.mark.parametrize("answer", [None, [], {"jobs": None}, {"asset": {"id": "asset_x"}},
                                    {"creativeUnitsCost": "3"}])
def test_other_malformed_answers(answer):
    with pytest.raises(errors.ProtocolError):
        for parse in (parse_job_list, parse_asset, parse_estimate):
            try:
                parse(answer)
            except errors.ProtocolError:
                continue
            raise AssertionError(f"{parse.__name__} accepted {answer!r}")
        raise errors.ProtocolError("all refused")
