"""Replays of what the real service answers (scenario-api-facts.md, "What the real service
does"), driven through the client's core with a scripted clock: the reference's example
job, a job with only jobId/status, an unknown status, a ``reason``-worded 400, a 429
with ``remainingSeconds`` and no header, the cancel refusal, a dry run with an empty job,
and the answers that must be refused cleanly (NaN, infinity, absurd numbers, deep
nesting)."""

from __future__ import annotations

import logging

import httpx
import pytest
from test_protocol import Script, core_for, job_json

from skybox_nb import errors, models
from skybox_nb.request import SkyboxRequest

# The answer of GET /jobs/{jobId} exactly as the model's reference prints it.
REFERENCE_JOB = {"job": {"jobId": "job_ref1", "status": "success",
                         "metadata": {"assetIds": ["asset_a1", "asset_a2"]}}}


def ok(data: dict) -> httpx.Response:
    return httpx.Response(200, json=data)


def test_the_references_example_job_reads():
    job = models.parse_job(REFERENCE_JOB)
    assert job.id == "job_ref1" and job.succeeded and job.done
    assert job.asset_ids == ("asset_a1", "asset_a2")
    assert job.progress == 0.0 and job.created_at == "" and job.cu_cost is None


def test_a_job_with_only_id_and_status_is_followed_to_its_end(tmp_path):
    bare = ok({"job": {"jobId": "job_1", "status": "in-progress"}})
    script = Script(bare, bare, ok({"job": {"jobId": "job_1", "status": "success",
                                            "metadata": {"assetIds": []}}}))
    core = core_for(script, tmp_path)
    job = script.drive(core.wait("job_1", None, None))
    assert job.succeeded and len(script.sent) == 3
    core.close()


def test_an_unknown_status_is_still_running_and_logged_once(tmp_path, caplog):
    models._unknown_statuses.discard("processing")
    odd = ok({"job": {"jobId": "job_1", "status": "processing"}})
    script = Script(odd, odd, odd, ok({"job": job_json("success", 1.0)}))
    core = core_for(script, tmp_path)
    with caplog.at_level(logging.WARNING, logger="skybox_nb.client"):
        job = script.drive(core.wait("job_1", None, None))
    assert job.succeeded and len(script.sent) == 4
    assert sum("'processing'" in r.getMessage() for r in caplog.records) == 1
    core.close()


def test_a_listing_with_one_odd_row_lists_the_others(caplog):
    rows = [job_json("success", 1.0, "job_a"), {"jobId": "job_b", "status": 7},
            {"status": "queued"}, "not a job", job_json("queued", 0.0, "job_c")]
    with caplog.at_level(logging.WARNING, logger="skybox_nb.client"):
        jobs, token = models.parse_job_list({"jobs": rows, "nextPaginationToken": "YQ=="})
    assert [j.id for j in jobs] == ["job_a", "job_c"] and token == "YQ=="
    assert sum("listing row" in r.getMessage() for r in caplog.records) == 3


@pytest.mark.parametrize("field,value", [
    ("progress", float("nan")), ("progress", float("inf")), ("progress", 1e300),
    ("billing", {"cuCost": float("-inf")}), ("billing", {"cuCost": 1e200}),
])
def test_nan_infinite_or_absurd_numbers_are_a_protocol_error(field, value):
    with pytest.raises(errors.ProtocolError, match=field):
        models.parse_job({"job": {"jobId": "job_1", "status": "queued", field: value}})


def test_absurd_asset_sizes_are_a_protocol_error():
    with pytest.raises(errors.ProtocolError, match="width"):
        models.parse_asset({"asset": {"id": "asset_1", "url": "https://cdn/x",
                                      "metadata": {"width": 1e308}}})
    with pytest.raises(errors.ProtocolError, match="creativeUnitsCost"):
        models.parse_estimate({"job": {}, "creativeUnitsCost": float("nan")})


def test_nan_in_the_wire_json_is_refused_not_overflowing(tmp_path):
    # Python's json reads NaN, Infinity and 1e999 (as inf): each is refused by name.
    for raw in (b'{"job": {"jobId": "job_1", "status": "queued", "progress": NaN}}',
                b'{"job": {"jobId": "job_1", "status": "queued", "progress": 1e999}}'):
        script = Script(httpx.Response(200, content=raw))
        core = core_for(script, tmp_path)
        with pytest.raises(errors.ProtocolError, match="progress"):
            script.drive(core.job("job_1"))
        core.close()


def test_a_deeply_nested_answer_is_refused_cleanly(tmp_path):
    for depth in (100, 100_000):  # under and over the parser's own recursion limit
        raw = b'{"job": ' + b"[" * depth + b"]" * depth + b"}"
        script = Script(httpx.Response(200, content=raw))
        core = core_for(script, tmp_path)
        with pytest.raises(errors.ProtocolError, match="JSON|nests"):
            script.drive(core.job("job_1"))
        core.close()
    deep = b"[" * 100_000 + b"]" * 100_000
    err = errors.error_from_response(400, deep)  # an error body too: no RecursionError
    assert isinstance(err, errors.InvalidError) and "[[" not in err.message


@pytest.mark.parametrize("body,expected", [
    ({"reason": "Cannot cancel this type of job. Action not permitted."},
     "Cannot cancel this type of job. Action not permitted."),
    ({"message": "prompt: too long", "hint": "shorten it"}, "prompt: too long"),
    ({"error": "Bad input"}, "Bad input"),
    ({"detail": "numOutputs must be 1..4"}, "numOutputs must be 1..4"),
    ({"reason": "first", "message": "second"}, "first"),
    ({"error": {"message": "nested words"}}, "nested words"),
    ({"code": 17, "weird": True}, "HTTP 400"),
])
def test_error_text_comes_from_where_the_service_puts_it(body, expected):
    err = errors.error_from_response(400, httpx.Response(400, json=body).content)
    assert err.message == expected and "{" not in err.message
    assert err.hint == body.get("hint")


def test_a_reason_worded_400_on_the_paid_post_is_refused_with_its_words(tmp_path):
    script = Script(httpx.Response(400, json={"reason": "Invalid style", "hint": "see styles"}))
    core = core_for(script, tmp_path)
    with pytest.raises(errors.InvalidError) as info:
        script.drive(core.generate(SkyboxRequest("a dune", seed=3)))
    assert info.value.message == "Invalid style" and info.value.hint == "see styles"
    assert "Invalid style" in str(info.value) and "Hint: see styles" in str(info.value)
    assert core.ledger.generations()[0].status == "refused"
    core.close()


def test_a_429_with_remaining_seconds_and_no_header_is_waited_as_told(tmp_path):
    busy = httpx.Response(429, json={"reason": "Too many requests", "remainingSeconds": 3})
    script = Script(busy, busy, busy, busy, busy, busy, ok({"job": job_json("success", 1.0)}))
    core = core_for(script, tmp_path)  # a policy of 4 attempts: wait() outlasts it
    job = script.drive(core.wait("job_1", None, None))
    assert job.succeeded
    answered_429 = script.polled_at[:6]
    # At most two requests answered 429 fall in any 3 s window.
    for i in range(len(answered_429) - 2):
        assert answered_429[i + 2] - answered_429[i] >= 3.0
    assert all(s >= 3.0 for s in script.slept)
    core.close()


def test_wait_never_gives_up_on_a_429_beyond_the_policys_patience(tmp_path):
    busy = httpx.Response(429, headers={"Retry-After": "600"}, json={"reason": "slow down"})
    script = Script(busy, busy, ok({"job": job_json("success", 1.0)}))
    core = core_for(script, tmp_path)
    assert script.drive(core.wait("job_1", None, None)).succeeded
    assert script.slept == [600.0, 600.0]
    # With a timeout, the wait ends when the server's delay would outlast it.
    script = Script(busy)
    core2 = core_for(script, tmp_path / "b")
    with pytest.raises(errors.RateLimitError):
        script.drive(core2.wait("job_1", None, 60.0))
    core.close()
    core2.close()


@pytest.mark.parametrize("details", [{"actionName": "parallel-custom-jobs", "actionLimit": 2},
                                     {"actionName": "custom-inference-concurrency"},
                                     {"actionLimit": 3}])
def test_any_action_limit_429_is_the_parallel_jobs_limit(details):
    err = errors.error_from_response(429, httpx.Response(
        429, json={"reason": "limit", "details": details}).content, paid=True)
    assert isinstance(err, errors.RateLimitError) and err.is_concurrency_limit
    plain = errors.error_from_response(429, b'{"reason": "Too many requests"}', paid=True)
    assert not plain.is_concurrency_limit


def test_the_cancel_refusal_is_a_dedicated_error(tmp_path):
    refusal = httpx.Response(400, json={"reason": "Cannot cancel this type of job. "
                                                  "Action not permitted."})
    script = Script(refusal)
    core = core_for(script, tmp_path)
    with pytest.raises(errors.CancelRefusedError) as info:
        script.drive(core.cancel("job_1"))
    assert info.value.job_id == "job_1" and len(script.sent) == 1
    assert "Action not permitted" in str(info.value) and "billed" in str(info.value)
    core.close()


def test_a_dry_run_with_an_empty_job_gives_its_cost(tmp_path):
    script = Script(httpx.Response(269, json={"job": {}, "creativeUnitsCost": 11,
                                              "creativeUnitsDiscount": 0}))
    core = core_for(script, tmp_path)
    assert script.drive(core.estimate(SkyboxRequest("a dune"))) == 11.0
    core.close()


def test_a_failed_status_ends_the_run_as_a_failure(tmp_path):
    """Vendor code handles a status ``failed`` (the facts file): a job so reported has
    ended. Read as still running, run() would poll it for ever (and a ledger row left
    "running" would be resumed by every identical request)."""
    failed = ok({"job": {"jobId": "job_1", "status": "failed",
                         "metadata": {"assetIds": [], "error": "GPU out of memory"}}})
    accepted = ok({"job": {"jobId": "job_1", "status": "queued"}, "creativeUnitsCost": 6})
    script = Script(accepted, *[failed] * 20)
    core = core_for(script, tmp_path)
    with pytest.raises(errors.JobFailedError, match="GPU out of memory"):
        script.drive(core.run(SkyboxRequest("a dune", seed=3), None))
    assert len(script.polled_at) == 1
    [rec] = core.ledger.generations()
    assert rec.status == "failed" and not rec.active
    assert models.parse_job(failed.json()).done
    core.close()


@pytest.mark.parametrize("bound", [[1], {"v": 1}, "wide", True])
def test_a_model_record_with_an_odd_bound_is_a_protocol_error_naming_the_input(bound, tmp_path):
    """``GET /models/{id}`` with a min that is no number: a ProtocolError naming the
    input, never a TypeError (a list or an object) or a bare float() message."""
    record = {"model": {"id": "model_x", "inputs": [
        {"name": "prompt", "type": "string"},
        {"name": "width", "type": "number", "min": bound, "max": 4096, "step": 16}]}}
    script = Script(ok(record))
    core = core_for(script, tmp_path)
    with pytest.raises(errors.ProtocolError, match="width") as info:
        script.drive(core.model_spec("model_x"))
    assert "min" in str(info.value)
    core.close()
