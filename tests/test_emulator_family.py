"""The emulator serves Skybox Flux.1's siblings: specs shaped like the real model records,
procedural runs (Skybox GPT at the size asked, the upscaler enlarging its input with
detail that follows strength, image-to-skybox around a photo) and the team's limits."""

from __future__ import annotations

import numpy as np
import pytest

from emulator_support import FLUX, SMALL, download, emu, http, png_data_url, run_job, wait_done  # noqa: F401
from skybox_nb.contract import ModelSpec
from skybox_nb.emulator import Emulator
from skybox_nb.emulator.catalog import IMAGE_TO_SKYBOX_ID, SKYBOX_GPT_ID, UPSCALER_ID
from skybox_nb.seams import seam_report

pytestmark = pytest.mark.timeout(120)
GPT, UPSCALE, I2S = (f"/generate/custom/{m}" for m in (SKYBOX_GPT_ID, UPSCALER_ID, IMAGE_TO_SKYBOX_ID))


def _run(http, path, body):
    r = http.post(path, json=body)
    assert r.status_code == 200, r.text
    job = wait_done(http, r.json()["job"]["jobId"])
    assert job["status"] == "success", job
    return job


def test_model_records_carry_every_input_field(http):
    for model_id in (SKYBOX_GPT_ID, UPSCALER_ID, IMAGE_TO_SKYBOX_ID):
        model = http.get(f"/models/{model_id}").json()["model"]
        assert model["id"] == model_id and "emulator" in model["shortDescription"]
        spec = ModelSpec.from_api(model)
        assert spec.model_id == model_id and spec.inputs
        for raw in model["inputs"]:
            assert {"name", "type", "costImpact"} <= set(raw)
            assert raw.get("group"), raw  # every input of these records has a group
    up = ModelSpec.from_api(http.get(f"/models/{UPSCALER_ID}").json())
    f = up["upscaleFactor"]
    assert (f.default, f.minimum, f.maximum, f.integer, f.cost_impact) == (2, 2, 8, True, True)
    assert up["strength"].default == 0.6 and up["image"].required
    assert up["baseModel"].allowed == ("FLUX.1-dev", "FLUX.1-Krea-dev")
    assert up["imagePrompt"].max_items == 4 and up["detailsEnable"].default is True
    gpt = ModelSpec.from_api(http.get(f"/models/{SKYBOX_GPT_ID}").json())
    assert gpt["width"].multiple_of == 16 and gpt["width"].maximum == 3840
    assert gpt["referenceImages"].max_items == 10
    assert gpt["quality"].allowed == ("low", "medium", "high", "auto")


def test_skybox_gpt_draws_the_requested_size(http):
    job = _run(http, GPT, {"prompt": "a misty pine forest at dawn", "width": 512,
                           "height": 256, "quality": "low", "seed": 7})
    assert len(job["metadata"]["assetIds"]) == 1
    pixels = download(http, job["metadata"]["assetIds"][0])
    assert pixels.shape == (256, 512, 3)
    assert seam_report(pixels).seamless


def test_skybox_gpt_refuses_sizes_off_the_grid_of_16(http):
    r = http.post(GPT, json={"prompt": "x", "width": 1000, "height": 500})
    assert r.status_code == 400
    text = r.json()["message"]
    assert "width: got 1000" in text and "multiple of 16" in text and "try 992" in text


def test_references_must_be_uploaded_and_colour_the_result(http):
    r = http.post(GPT, json={"prompt": "a sky", "referenceImages": ["asset_nope"]})
    assert r.status_code == 400 and "referenceImages" in r.json()["message"]
    red = http.post("/assets", json={"image": png_data_url(colour=(230, 20, 20)),
                                     "name": "red.png"}).json()["asset"]["id"]
    base = {"prompt": "a meadow under a clear sky", "width": 512, "height": 256, "seed": 3}
    plain = download(http, _run(http, GPT, base)["metadata"]["assetIds"][0])
    tinted = download(http, _run(http, GPT, {**base, "referenceImages": [red]})["metadata"]["assetIds"][0])
    assert tinted[..., 0].mean() > plain[..., 0].mean() + 10


def _generated(http) -> tuple[str, np.ndarray]:
    job = run_job(http, prompt="a misty pine forest at dawn", geometryEnforcement=80, seed=5)
    asset = job["metadata"]["assetIds"][0]
    return asset, download(http, asset)


def test_upscaler_enlarges_by_the_factor_and_detail_follows_strength(http):
    asset, source = _generated(http)
    h, w = source.shape[:2]
    outs = {}
    for strength in (0.05, 0.3):
        job = _run(http, UPSCALE, {"image": asset, "upscaleFactor": 2, "strength": strength,
                                   "seed": 1})
        outs[strength] = download(http, job["metadata"]["assetIds"][0]).astype(float)
        assert outs[strength].shape == (2 * h, 2 * w, 3)
    # Shrunk back, both are the source; the stronger one departs from it more.
    def departure(big):
        small = big.reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
        return np.abs(small - source).mean(), np.abs(np.diff(big, axis=1)).mean()
    low, high = departure(outs[0.05]), departure(outs[0.3])
    assert low[0] < 6 and high[0] < 12
    assert high[1] > low[1] * 1.3  # more invented detail
    asset_meta = http.get(f"/assets/{job['metadata']['assetIds'][0]}").json()["asset"]["metadata"]
    assert asset_meta["image"] == asset and asset_meta["type"] == "upscale-skybox"


def test_upscaler_at_its_default_strength_breaks_the_wrap_and_faithful_keeps_it(http):
    asset, _ = _generated(http)
    faithful = _run(http, UPSCALE, {"image": asset, "strength": 0.3, "seed": 2})
    default = _run(http, UPSCALE, {"image": asset, "seed": 2})  # strength 0.6
    assert seam_report(download(http, faithful["metadata"]["assetIds"][0])).seamless
    assert not seam_report(download(http, default["metadata"]["assetIds"][0])).seamless


def test_upscaler_dry_run_needs_the_image_uploaded_and_costs_several_generations(http):
    r = http.post(UPSCALE + "?dryRun=true", json={"image": "asset_notuploaded"})
    assert r.status_code == 400 and "image" in r.json()["message"]
    asset, _ = _generated(http)
    up = http.post(UPSCALE + "?dryRun=true", json={"image": asset, "upscaleFactor": 2})
    gen = http.post(FLUX + "?dryRun=true", json={"prompt": "x", "numOutputs": 1})
    assert up.status_code == gen.status_code == 269
    assert up.json()["creativeUnitsCost"] >= 3 * gen.json()["creativeUnitsCost"]
    big = http.post(UPSCALE + "?dryRun=true", json={"image": asset, "upscaleFactor": 4})
    assert big.json()["creativeUnitsCost"] > up.json()["creativeUnitsCost"]


def test_upscaler_refuses_an_output_beyond_the_emulator(http):
    big = http.post("/assets", json={"image": png_data_url(2048, 1024), "name": "big.png"})
    r = http.post(UPSCALE, json={"image": big.json()["asset"]["id"], "upscaleFactor": 8})
    assert r.status_code == 400
    assert "upscaleFactor: got 8" in r.json()["message"] and "16384x8192" in r.json()["message"]


def test_image_to_skybox_puts_the_photo_straight_ahead(http):
    photo = http.post("/assets", json={"image": png_data_url(96, 64, (20, 200, 40)),
                                       "name": "photo.png"}).json()["asset"]["id"]
    job = _run(http, I2S, {"image": photo, "seed": 4})
    pano = download(http, job["metadata"]["assetIds"][0])
    h, w = pano.shape[:2]
    assert (w, h) == SMALL
    centre = pano[h // 2 - 2:h // 2 + 2, w // 2 - 2:w // 2 + 2].reshape(-1, 3).mean(axis=0)
    assert centre[1] > 150 and centre[0] < 80  # the green photo, ahead
    assert seam_report(pano).seamless


def test_team_limits_count_what_was_spent():
    with Emulator(render_size=SMALL, max_parallel_jobs=3, creative_units=30) as emu:
        import httpx
        with httpx.Client(base_url=emu.base_url, auth=("k", "s"), timeout=20) as http:
            teams = http.get("/teams").json()["teams"]
            assert len(teams) == 1
            url = f"/teams/{teams[0]['id']}/limits"
            first = http.get(url).json()
            assert first["limits"]["parallelCustomJobs"] == 3
            assert first["limits"]["creativeUnits"] == 30 and first["values"]["creativeUnits"] == 0
            job = run_job(http, numInferenceSteps=30)  # 6 CU
            assert http.get(url).json()["values"]["creativeUnits"] == job["billing"]["cuCost"] == 6
            r = http.post(FLUX, json={"prompt": "x", "numOutputs": 4, "numInferenceSteps": 50})
            assert r.status_code == 402 and "creative units" in r.json()["message"].lower()
            assert http.get("/teams/team_other/limits").status_code == 404
