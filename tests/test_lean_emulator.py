"""The whole flow against the emulator in lean mode: answers carry only the fields the
model's reference documents (a job's ``jobId``, ``status``, ``metadata.assetIds``; an
asset's ``id``, ``url``, ``mimeType``) plus fields no client knows, the dry run answers
``{"job": {}, "creativeUnitsCost": ...}`` as recorded, and asset URLs are signed-CDN
shaped. Generate, wait, download, the panorama, the form and the gallery must all work."""

from __future__ import annotations

import httpx
import pytest
from PIL import Image

from fast import fast_poll
from skybox_nb import errors
from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.panorama import Panorama
from skybox_nb.request import SkyboxRequest
from skybox_nb.widgets import Gallery, GeneratorForm

SIZE = (64, 32)


@pytest.fixture
def lean(tmp_path):
    with Emulator(render_size=SIZE, lean=True) as emu:
        with SkyboxClient(emulator=emu, library=tmp_path / "lib", poll=fast_poll) as c:
            yield emu, c


def test_lean_answers_carry_only_the_documented_fields(lean):
    emu, _ = lean
    with httpx.Client(base_url=emu.base_url, auth=("k", "s")) as http:
        flux = "/generate/custom/model_scenario-skybox-flux"
        dry = http.post(flux + "?dryRun=true", json={"prompt": "a dune"})
        assert dry.status_code == 269 and dry.json()["job"] == {}
        job = http.post(flux, json={"prompt": "a dune", "numOutputs": 1}).json()["job"]
        assert {"jobId", "status", "metadata"} <= set(job) and "progress" not in job
        assert "createdAt" not in job and "billing" not in job


def test_the_whole_flow_passes_against_the_lean_emulator(lean):
    emu, c = lean
    req = SkyboxRequest("a salt flat at noon", num_outputs=2, seed=11)
    assert c.estimate(req) > 0  # from an empty job
    res = c.run(req)
    assert res.job.succeeded and len(res.files) == 2
    for path in res.files:
        assert Image.open(path).size == SIZE
        assert Panorama.load(path).width == SIZE[0]
    job = c.wait(c.generate(SkyboxRequest("a dune", num_outputs=1)))
    asset = c.asset(job.asset_ids[0])
    assert "Policy=" in asset.url and "." not in asset.url.split("?")[0].rsplit("/", 1)[1]
    with pytest.raises(errors.CancelRefusedError):
        c.cancel(c.generate(SkyboxRequest("an ice field", num_outputs=1)))
    assert emu.stats()["generate_posts"] == 3


def test_the_widgets_work_against_the_lean_emulator(lean):
    _, c = lean
    gallery = Gallery(c, thumb_width=64)
    form = GeneratorForm(c, gallery=gallery, prompt="a canyon", estimate_delay=0.01)
    try:
        assert form.estimate() > 0
        form.set_values(num_outputs=2, seed=3)
        gen = form.generate()
        res = gen.result(30)
        assert len(res.files) == 2 and len(gallery) == 2
        assert "success" in gen.status.value
    finally:
        form.close()


def test_default_output_size_is_the_last_reported_one(tmp_path):
    # 1536x768, as Scenario's skybox skill reported; the client reads it from the image.
    with Emulator(lean=True) as emu, \
            SkyboxClient(emulator=emu, library=tmp_path / "lib", poll=fast_poll) as c:
        res = c.run(SkyboxRequest("a plain", num_outputs=1))
        assert Image.open(res.files[0]).size == (1536, 768)
        assert Panorama.load(res.files[0]).width == 1536


@pytest.mark.parametrize("lean_mode", [True, False])
def test_error_bodies_say_reason_as_the_service_does(lean_mode, tmp_path):
    """The one recorded REST error body is ``{"reason": ...}`` (the facts file): the
    emulator's errors say ``reason`` too (lean: only it), and the client reads them."""
    with Emulator(render_size=SIZE, lean=lean_mode) as emu:
        with httpx.Client(base_url=emu.base_url, auth=("k", "s")) as http:
            bad = http.post("/generate/custom/model_scenario-skybox-flux",
                            json={"prompt": "a dune", "style": "cinematik"})
            missing = http.get("/jobs/job_000000000000000000000000")
        for r, words in ((bad, "cinematik"), (missing, "Job not found")):
            body = r.json()
            assert r.status_code in (400, 404) and words in body["reason"]
            assert ("message" not in body) if lean_mode else body["message"] == body["reason"]
        with SkyboxClient(emulator=emu, library=tmp_path / "lib") as c:
            with pytest.raises(errors.NotFoundError, match="Job not found"):
                c.job("job_000000000000000000000000")
