"""The generic form, driven from Python for Skybox GPT, the skybox upscaler and
image-to-skybox: fields from GET /models/{id}, the same validation as Skybox Flux.1,
body, snippet and cost, Generate, uploads into file inputs, and the account badge."""

from __future__ import annotations

import html
import json
import time

import ipywidgets as W
import numpy as np
import pytest

from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.emulator.catalog import IMAGE_TO_SKYBOX_ID, SKYBOX_GPT_ID, UPSCALER_ID
from skybox_nb.errors import ValidationError
from skybox_nb.panorama import Panorama
from skybox_nb.request import ModelRequest, SkyboxRequest
from skybox_nb.widgets import GeneratorForm
from skybox_nb.widgets.model_form import ModelForm

pytestmark = pytest.mark.timeout(120)


def wait_until(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := cond():
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def emu():
    with Emulator(render_size=(256, 128), max_parallel_jobs=3) as e:
        yield e


@pytest.fixture()
def client(emu, tmp_path):
    c = SkyboxClient(emulator=emu, library=str(tmp_path / "lib"))
    yield c
    c.close()


def make(client, model, **kw):
    form = GeneratorForm(client, model=model, estimate_delay=0.05, **kw)
    assert isinstance(form, ModelForm)
    return form


def test_the_flux_form_stays_hand_tuned(client):
    form = GeneratorForm(client, model="model_scenario-skybox-flux", prompt="a lake")
    assert not isinstance(form, ModelForm) and isinstance(form.request(), SkyboxRequest)
    form.close()


def test_skybox_gpt_fields_come_from_its_spec(client):
    form = make(client, SKYBOX_GPT_ID, prompt="a misty pine forest at dawn")
    f = form.fields
    assert isinstance(f["prompt"], W.Textarea) and f["prompt"].description.endswith("*")
    assert isinstance(f["width"], W.IntSlider)
    assert (f["width"].min, f["width"].max, f["width"].step, f["width"].value) == (512, 3840, 16, 2048)
    assert isinstance(f["quality"], W.Dropdown)
    assert [v for _, v in f["quality"].options] == ["low", "medium", "high", "auto"]
    assert isinstance(f["seed"], W.Text)  # 0..2^31: typed, empty means random
    groups = [c.value for c in form.widget.children[1].children[0].children if isinstance(c, W.HTML)]
    assert any(">Size<" in g for g in groups) and any(">Prompt<" in g for g in groups)
    # Defaults stay out of the body: the service applies its own.
    assert form.request().to_body() == {"prompt": "a misty pine forest at dawn"}
    f["width"].value, f["height"].value, f["quality"].value = 1024, 512, "low"
    f["seed"].value = "42"
    body = {"prompt": "a misty pine forest at dawn", "width": 1024, "height": 512,
            "quality": "low", "seed": 42}
    shown = html.unescape(form.body_preview.value.split(">", 1)[1].rsplit("<", 1)[0])
    assert json.loads(shown) == body
    assert "model_scenario-skybox-gpt" in form.snippet.value and "SCENARIO_SDK_API_KEY" in form.snippet.value
    form.snippet_kind.value = "Python"
    assert "run_model(model_id=\"model_scenario-skybox-gpt\"" in form.snippet.value
    cost = form.estimate()
    assert cost == client.estimate(ModelRequest(form.spec, body)) and cost > 0
    wait_until(lambda: f"{cost:g} CU" in form.cost.value)
    form.close()


def test_skybox_gpt_is_validated_by_the_same_machinery(client):
    form = make(client, SKYBOX_GPT_ID)
    assert form.generate_button.disabled and "prompt" in form.validation.value  # required
    form.fields["prompt"].value = "a desert"
    form.fields["seed"].value = "twelve"
    assert "seed: got &#x27;twelve&#x27;" in form.validation.value
    form.fields["seed"].value = ""
    with pytest.raises(ValidationError, match="width: got 1000.*multiple of 16"):
        form.set_values(width=1000)
    assert form.fields["width"].value == 2048  # nothing changed
    form.set_values(width=1024, height=1024)
    assert "not 2:1" in form.validation.value  # a note, not an error
    assert not form.generate_button.disabled
    form.close()


def test_skybox_gpt_generates_at_the_size_asked(client):
    form = make(client, SKYBOX_GPT_ID, prompt="a harbour at sunset")
    form.set_values(width=512, height=256, quality="low")
    gen = form.generate()
    result = gen.result(60)
    pano = Panorama.load(result.files[0])
    assert (pano.width, pano.height) == (512, 256)
    assert "success" in gen.status.value
    form.close()


def test_upscaler_form_takes_an_upload_and_quotes_after_it(client):
    form = make(client, UPSCALER_ID)
    f = form.fields
    assert f["image"].description == "Skybox *" and isinstance(f["detailsEnable"], W.Checkbox)
    assert isinstance(f["baseModel"], W.Dropdown) and f["strength"].value == 0.6
    assert form.generate_button.disabled  # the image is required
    sky = np.zeros((64, 128, 3), np.uint8)
    sky[:32] = (90, 140, 220)
    asset = form.upload_into("image", sky)
    assert f["image"].value == asset and not form.generate_button.disabled
    assert form.request().to_body() == {"image": asset}
    f["upscaleFactor"].value, f["strength"].value = 4, 0.3
    f["detailsEnable"].value = False
    assert form.request().to_body() == {"image": asset, "upscaleFactor": 4, "strength": 0.3,
                                        "detailsEnable": False}
    assert form.estimate() > client.estimate(ModelRequest(form.spec, {"image": asset}))
    result = form.generate().result(60)
    pano = Panorama.load(result.files[0])
    assert (pano.width, pano.height) == (512, 256)
    with pytest.raises(ValueError, match="upload_into: 'strength' is a number input"):
        form.upload_into("strength", sky)
    form.close()


def test_image_to_skybox_form_runs_from_a_photo(client):
    form = make(client, IMAGE_TO_SKYBOX_ID)
    assert list(form.fields) == ["image", "prompt", "seed"]
    photo = np.full((60, 80, 3), (30, 180, 60), np.uint8)
    form.upload_into("image", photo)
    form.fields["seed"].value = "9"
    result = form.generate().result(60)
    pano = Panorama.load(result.files[0])
    assert pano.width == 2 * pano.height
    assert form.request().to_body()["seed"] == 9
    form.close()


def test_any_model_the_service_does_not_know_is_a_clear_error(client):
    with pytest.raises(Exception, match="model_does-not-exist"):
        GeneratorForm(client, model="model_does-not-exist")
    with pytest.raises(ValueError, match="model_id: got '../x'"):
        GeneratorForm(client, model="../x")


def test_the_badge_shows_what_the_account_allows(client):
    form = make(client, SKYBOX_GPT_ID, prompt="x")
    wait_until(lambda: "CU left" in form.badge.value)
    assert "3 parallel jobs" in form.badge.value and "OFFLINE EMULATOR" in form.badge.value
    flux = GeneratorForm(client, prompt="y")
    wait_until(lambda: "parallel jobs" in flux.badge.value)
    form.close()
    flux.close()


def test_the_batch_runner_stays_within_the_known_limit(emu, client):
    from skybox_nb.request import SkyboxRequest as R

    assert client.account().parallel_jobs == 3
    before = emu.stats()["max_running_jobs"]
    emu.runner.job_duration = 0.3
    try:
        results = client.run_many([R(f"sky {i}", num_outputs=1) for i in range(6)],
                                  max_in_flight=6)
    finally:
        emu.runner.job_duration = 0.0
    assert len(results) == 6
    assert emu.stats()["max_running_jobs"] <= max(before, 3)
    assert emu.stats()["requests"].get("generate", 0) >= 6


def test_a_sweep_reads_the_limit_and_stays_within_it(tmp_path):
    from skybox_nb import sweep
    from skybox_nb.request import SkyboxRequest as R

    with Emulator(render_size=(128, 64), max_parallel_jobs=2, job_duration=0.3) as emu, \
            SkyboxClient(emulator=emu, library=str(tmp_path / "s")) as c:
        result = sweep(R("a canyon", num_outputs=1), seed=[1, 2, 3, 4, 5], client=c,
                       max_in_flight=5)
        stats = emu.stats()
    assert len(result.rows()) == 5
    assert stats["max_running_jobs"] <= 2
    assert stats["requests"]["generate"] == 5  # no 429 retried: the limit was known
