"""The official SDK is the contract oracle: its models must accept every emulator answer,
its client must work against the emulator, and a wrong shape must really be rejected."""

from __future__ import annotations

import copy
import time

import httpx
import pydantic
import pytest
import scenario_sdk
from scenario_sdk.types import (
    AssetRetrieveResponse,
    AssetUploadResponse,
    GenerateRunModelResponse,
    JobListResponse,
    JobRetrieveResponse,
    JobTriggerActionResponse,
    ModelRetrieveResponse,
    TeamListResponse,
    TeamRetrieveLimitsResponse,
)

from emulator_support import FLUX, SMALL, emu, http, png_data_url, wait_done  # noqa: F401
from skybox_nb.contract import SKYBOX_FLUX, ModelSpec
from skybox_nb.emulator import Emulator
from skybox_nb.emulator.catalog import IMAGE_TO_SKYBOX_ID, MODELS, SKYBOX_GPT_ID, UPSCALER_ID

pytestmark = pytest.mark.timeout(120)


def _answers(emu, http) -> dict[str, tuple[type, dict]]:
    """One JSON answer of every endpoint, in every job state, with its SDK model."""
    out: dict[str, tuple[type, dict]] = {}
    r = http.post(FLUX + "?dryRun=true", json={"prompt": "a desert", "numOutputs": 3})
    assert r.status_code == 269
    out["dry run"] = (GenerateRunModelResponse, r.json())
    emu.runner.job_duration = 0.6  # slow enough to catch queued and in-progress
    r = http.post(FLUX, json={"prompt": "a desert at night", "numOutputs": 2})
    assert r.status_code == 200
    out["generate"] = (GenerateRunModelResponse, r.json())
    job_id = r.json()["job"]["jobId"]
    seen = set()
    while True:
        job = http.get(f"/jobs/{job_id}").json()
        seen.add(job["job"]["status"])
        out[f"job {job['job']['status']}"] = (JobRetrieveResponse, job)
        if job["job"]["status"] == "success":
            break
        time.sleep(0.02)
    assert {"in-progress", "success"} <= seen
    emu.inject("job_failure", moderation=True)
    failed = http.post(FLUX, json={"prompt": "x", "numOutputs": 1}).json()["job"]["jobId"]
    wait_done(http, failed)
    out["job failure"] = (JobRetrieveResponse, http.get(f"/jobs/{failed}").json())
    running = http.post(FLUX, json={"prompt": "y", "numOutputs": 1}).json()["job"]["jobId"]
    emu.settings.allow_cancel = True  # refused by default, as the service refuses it
    r = http.post(f"/jobs/{running}/action", json={"action": "cancel"})
    out["cancel"] = (JobTriggerActionResponse, r.json())
    out["job canceled"] = (JobRetrieveResponse, http.get(f"/jobs/{running}").json())
    emu.runner.job_duration = 0.0
    asset_id = job["job"]["metadata"]["assetIds"][0]
    out["asset generated"] = (AssetRetrieveResponse, http.get(f"/assets/{asset_id}").json())
    up = http.post("/assets", json={"image": png_data_url(), "name": "init.png"})
    out["upload"] = (AssetUploadResponse, up.json())
    out["asset uploaded"] = (AssetRetrieveResponse, http.get(f"/assets/{up.json()['asset']['id']}").json())
    out["model"] = (ModelRetrieveResponse, http.get("/models/model_scenario-skybox-flux").json())
    for model_id in (SKYBOX_GPT_ID, UPSCALER_ID, IMAGE_TO_SKYBOX_ID):
        out[f"model {model_id}"] = (ModelRetrieveResponse, http.get(f"/models/{model_id}").json())
    _sibling_answers(http, asset_id, out)
    teams = http.get("/teams").json()
    out["teams"] = (TeamListResponse, teams)
    out["limits"] = (TeamRetrieveLimitsResponse,
                     http.get(f"/teams/{teams['teams'][0]['id']}/limits").json())
    page = http.get("/jobs", params={"pageSize": 2}).json()
    assert "nextPaginationToken" in page
    for i, item in enumerate(page["jobs"]):
        out[f"jobs item {i}"] = (JobListResponse, item)
    return out


def _sibling_answers(http, flux_asset: str, out: dict) -> None:
    """Dry run, generate, job and asset answers of Skybox GPT, the upscaler (of a Skybox
    Flux output) and image-to-skybox (of an uploaded photo)."""
    photo = http.post("/assets", json={"image": png_data_url(), "name": "photo.png"}).json()
    bodies = {SKYBOX_GPT_ID: {"prompt": "a desert", "width": 256 * 2, "height": 256},
              UPSCALER_ID: {"image": flux_asset, "upscaleFactor": 2, "strength": 0.3},
              IMAGE_TO_SKYBOX_ID: {"image": photo["asset"]["id"]}}
    for model_id, body in bodies.items():
        path = f"/generate/custom/{model_id}"
        dry = http.post(path + "?dryRun=true", json=body)
        assert dry.status_code == 269, dry.text
        out[f"dry run {model_id}"] = (GenerateRunModelResponse, dry.json())
        r = http.post(path, json=body)
        assert r.status_code == 200, r.text
        out[f"generate {model_id}"] = (GenerateRunModelResponse, r.json())
        job = wait_done(http, r.json()["job"]["jobId"])
        assert job["status"] == "success", job
        out[f"job {model_id}"] = (JobRetrieveResponse, {"job": job})
        asset = http.get(f"/assets/{job['metadata']['assetIds'][0]}").json()
        out[f"asset {model_id}"] = (AssetRetrieveResponse, asset)


def test_sdk_models_accept_every_answer(emu, http):
    answers = _answers(emu, http)
    assert len(answers) >= 14 + 3 + 12 + 2
    for name, (model, body) in answers.items():
        parsed = model.model_validate(body)
        assert parsed is not None, name
    # A few values the SDK parsed, to be sure the aliases line up.
    job = JobRetrieveResponse.model_validate(answers["job success"][1]).job
    assert job.status == "success" and job.progress == 1.0 and job.job_type == "custom"
    assert len(job.metadata.asset_ids) == 2 and job.billing.cu_cost > 0
    assert [h.status for h in job.status_history][0] == "queued"
    assert [h.status for h in job.status_history][-1] == "success"
    failed = JobRetrieveResponse.model_validate(answers["job failure"][1]).job
    assert failed.status == "failure" and "moderation" in failed.metadata.error.lower()
    assert failed.metadata.hint
    asset = AssetRetrieveResponse.model_validate(answers["asset generated"][1]).asset
    assert asset.metadata.seed.isdigit() and asset.metadata.style == "cinematic"
    assert asset.metadata.parent_job_id == job.job_id and asset.mime_type == "image/png"
    assert "emulator" in asset.description.lower()
    dry = GenerateRunModelResponse.model_validate(answers["dry run"][1])
    assert dry.creative_units_cost == pytest.approx(3 * (3 + 30 / 10))
    up = ModelRetrieveResponse.model_validate(answers[f"model {UPSCALER_ID}"][1]).model
    factor = next(i for i in up.inputs if i.name == "upscaleFactor")
    assert (factor.min, factor.max, factor.default, factor.cost_impact) == (2, 8, 2, True)
    upscaled = AssetRetrieveResponse.model_validate(answers[f"asset {UPSCALER_ID}"][1]).asset
    assert (upscaled.metadata.width, upscaled.metadata.height) == (2 * SMALL[0], 2 * SMALL[1])
    limits = TeamRetrieveLimitsResponse.model_validate(answers["limits"][1])
    assert limits.limits.parallel_custom_jobs >= 1 and limits.values.creative_units > 0


def _required_paths(model: type[pydantic.BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of the required fields of a pydantic model (top level and nested)."""
    paths = []
    for name, f in model.model_fields.items():
        if not f.is_required():
            continue
        key = f.alias or name
        paths.append(prefix + key)
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, pydantic.BaseModel):
            paths += _required_paths(ann, prefix + key + ".")
    return paths


def _drop(body: dict, path: str) -> dict:
    broken = copy.deepcopy(body)
    node = broken
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    del node[last]
    return broken


def test_a_wrong_shape_is_rejected(emu, http):
    """The SDK models are strict enough to be an oracle: dropping any required field or
    breaking an enum fails validation, so the test above could fail."""
    answers = _answers(emu, http)
    checked = 0
    for name in ("generate", "job success", "asset generated", "upload", "model", "jobs item 0",
                 "cancel", f"model {UPSCALER_ID}", f"asset {SKYBOX_GPT_ID}", "limits", "teams"):
        model, body = answers[name]
        paths = _required_paths(model)
        assert paths, name
        for path in paths:
            with pytest.raises(pydantic.ValidationError):
                model.model_validate(_drop(body, path))
            checked += 1
    assert checked > 40
    bad = copy.deepcopy(answers["job success"][1])
    bad["job"]["status"] = "done"
    with pytest.raises(pydantic.ValidationError):
        JobRetrieveResponse.model_validate(bad)
    bad = copy.deepcopy(answers["asset generated"][1])
    bad["asset"]["metadata"]["style"] = "watercolour"
    with pytest.raises(pydantic.ValidationError):
        AssetRetrieveResponse.model_validate(bad)


def test_model_inputs_round_trip_to_the_same_spec(http):
    spec = ModelSpec.from_api(http.get("/models/model_scenario-skybox-flux").json())
    assert spec.model_id == SKYBOX_FLUX.model_id
    assert spec.inputs == SKYBOX_FLUX.inputs  # types, defaults, ranges, steps, styles
    assert list(spec.inputs) == list(SKYBOX_FLUX.inputs)
    for model in MODELS.values():  # groups, costImpact, steps of 16, array lengths too
        back = ModelSpec.from_api(http.get(f"/models/{model.spec.model_id}").json())
        assert back.inputs == model.spec.inputs and back.name == model.spec.name


def test_the_official_sdk_client_reads_the_siblings_and_the_limits(emu):
    client = scenario_sdk.Scenario(api_key="k", api_secret="s", base_url=emu.base_url, max_retries=0)
    gpt = client.models.retrieve(SKYBOX_GPT_ID).model
    assert [i.name for i in gpt.inputs][0] == "prompt" and gpt.type == "gpt-image-1"
    team = client.teams.list().teams[0]
    limits = client.teams.retrieve_limits(team.id)
    assert limits.limits.creative_units == 10000 and limits.plan == "pro"


def test_the_official_sdk_client_runs_against_the_emulator(emu):
    client = scenario_sdk.Scenario(api_key="k", api_secret="s", base_url=emu.base_url, max_retries=0)
    body = {"prompt": "a harbour at sunset", "numOutputs": 2, "seed": 42, "style": "oil-painting"}
    est = client.generate.run_model("model_scenario-skybox-flux", body=body, dry_run="true")
    assert est.creative_units_cost == pytest.approx(12.0)
    started = client.generate.run_model("model_scenario-skybox-flux", body=body)
    job_id = started.job.job_id
    assert job_id.startswith("job_") and len(job_id) == 4 + 24
    while (job := client.jobs.retrieve(job_id).job).status != "success":
        assert job.status in ("queued", "in-progress")
    ids = job.metadata.asset_ids
    assets = [client.assets.retrieve(i).asset for i in ids]
    assert [a.metadata.seed for a in assets] == ["42", "43"]
    assert [a.output_index for a in assets] == [0, 1]
    assert httpx.get(assets[0].url).content[:8] == b"\x89PNG\r\n\x1a\n"
    up = client.assets.upload(name="init.png", image=png_data_url())
    assert up.asset.id.startswith("asset_") and up.asset.source == "uploaded"
    model = client.models.retrieve("model_scenario-skybox-flux").model
    assert [i.name for i in model.inputs][:2] == ["prompt", "style"]
    for _ in range(3):
        client.generate.run_model("model_scenario-skybox-flux", body={"prompt": "p", "numOutputs": 1})
    listed = [j.job_id for j in client.jobs.list(page_size=2)]  # follows nextPaginationToken
    assert len(listed) == 4 and len(set(listed)) == 4 and job_id in listed
    emu.runner.job_duration = 5.0
    slow = client.generate.run_model("model_scenario-skybox-flux", body={"prompt": "p", "numOutputs": 1})
    with pytest.raises(scenario_sdk.BadRequestError):  # refused, as the service does
        client.jobs.trigger_action(slow.job.job_id, action="cancel")
    emu.settings.allow_cancel = True
    canceled = client.jobs.trigger_action(slow.job.job_id, action="cancel").job
    assert canceled.status == "canceled"
    with pytest.raises(scenario_sdk.NotFoundError):
        client.jobs.retrieve("job_" + "x" * 24)
    with pytest.raises(scenario_sdk.BadRequestError):
        client.generate.run_model("model_scenario-skybox-flux", body={"prompt": "p", "numOutputs": 9})
    emu.inject("rate_limit", route="job", retry_after=2)
    with pytest.raises(scenario_sdk.RateLimitError):
        client.jobs.retrieve(job_id)


def test_the_sdk_sees_configured_credentials_enforced():
    with Emulator(api_key="right-key", api_secret="right-secret", render_size=SMALL) as locked:
        wrong = scenario_sdk.Scenario(api_key="right-key", api_secret="wrong",
                                      base_url=locked.base_url, max_retries=0)
        with pytest.raises(scenario_sdk.AuthenticationError):
            wrong.models.retrieve("model_scenario-skybox-flux")
        right = scenario_sdk.Scenario(api_key="right-key", api_secret="right-secret",
                                      base_url=locked.base_url, max_retries=0)
        assert right.models.retrieve("model_scenario-skybox-flux").model.id == "model_scenario-skybox-flux"


def test_the_sdk_upload_models_accept_the_emulators_multipart_answers(emu):
    from scenario_sdk.types import (
        UploadCreateResponse,
        UploadRetrieveResponse,
        UploadTriggerActionResponse,
    )

    png = png_data_url()
    raw = __import__("base64").b64decode(png.split(",", 1)[1])
    client = scenario_sdk.Scenario(api_key="k", api_secret="s", base_url=emu.base_url, max_retries=0)
    created = client.uploads.create(file_name="init.png", content_type="image/png",
                                    file_size=len(raw), kind="image", parts=1)
    up = created.upload
    assert up.status == "pending" and up.source == "multipart" and len(up.parts) == 1
    assert httpx.put(up.parts[0].url, content=raw).status_code == 200  # no credentials
    done = client.uploads.trigger_action(up.id, action="complete").upload
    assert done.status == "validating" and done.entity_id is None
    final = client.uploads.retrieve(up.id).upload
    assert final.status == "imported" and final.entity_id.startswith("asset_")
    assert client.assets.retrieve(final.entity_id).asset.source == "uploaded"
    # The raw answers, strictly: every field the models require is there.
    with httpx.Client(base_url=emu.base_url, auth=("k", "s")) as http:
        for model, answer in (
                (UploadCreateResponse, http.post("/uploads", json={
                    "fileName": "a.png", "contentType": "image/png", "fileSize": 9,
                    "kind": "image", "parts": 1}).json()),
                (UploadRetrieveResponse, http.get(f"/uploads/{up.id}").json()),
                (UploadTriggerActionResponse, http.post(f"/uploads/{up.id}/action",
                                                        json={"action": "complete"}).json())):
            model.model_validate(answer, strict=False)
            broken = copy.deepcopy(answer)
            del broken["upload"]["authorId"]
            with pytest.raises(pydantic.ValidationError):
                model.model_validate(broken)
