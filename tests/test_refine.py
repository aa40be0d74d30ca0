"""Refine with the model: quoted before anything is spent, sent rolled half a turn at a low
strength with the source's prompt and seed, rolled back, checked, saved as a child of the
source. Offline on the emulator, whose img2img heals an init image's seams and poles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.panorama import Panorama
from skybox_nb.refine import refine
from skybox_nb.request import SkyboxRequest
from skybox_nb.seams import seam_report


@pytest.fixture()
def offline(tmp_path):
    with Emulator(job_duration=0, render_size=(1024, 512)) as emu:
        client = SkyboxClient(api_key="k", api_secret="s", emulator=emu,
                              library=str(tmp_path / "lib"))
        yield client, emu
        client.close()


def test_refine_quotes_first_then_heals_and_records_its_source(offline, tmp_path):
    client, emu = offline
    source = client.run(SkyboxRequest("a sunny meadow with hills and clouds", style="cinematic",
                                      seed=2, num_outputs=1, geometry_enforcement=10))
    path = source.files[0]
    assert not seam_report(Panorama.load(path)).seamless
    posts = emu.stats()["generate_posts"]

    quote = refine(client, path, 0.3, dry_run=True)
    assert not quote.ran and quote.quote > 0 and quote.panorama is None
    assert emu.stats()["generate_posts"] == posts  # a dry run starts nothing
    req = quote.request
    assert (req.prompt, req.seed, req.strength, req.geometry_enforcement) == (
        "a sunny meadow with hills and clouds", 2, 0.3, 10)
    sent = client.asset(req.image)  # the init image: the panorama rolled half a turn
    assert (sent.width, sent.height) == (1024, 512)
    capped = refine(client, path, 0.3, max_cu=quote.quote / 2)
    assert not capped.ran and "over max_cu" in capped.reason

    done = refine(client, path, 0.3)
    assert done.ran and emu.stats()["generate_posts"] == posts + 1
    assert not done.before.seamless and done.after.seamless, done.after.defects
    assert done.path == path.with_name(f"{path.stem}-refined.png") and done.path.is_file()
    side = json.loads(done.path.with_suffix(".json").read_text())["metadata"]["refine"]
    assert side["of"]["file"] == str(path) and side["of"]["job_id"] == source.job.id
    assert side["job_id"] == done.job_id != source.job.id and side["strength"] == 0.3
    assert side["quote"] == quote.quote
    # rolled back: the refined image lines up with the source, not half a turn away
    a = Panorama.load(path).array.astype(float)
    b = Panorama.load(done.path).array.astype(float)
    assert np.abs(a - b).mean() < np.abs(a - np.roll(b, 512, axis=1)).mean()


def test_refine_refuses_what_it_cannot_do(offline):
    client, _ = offline
    img = np.zeros((64, 128, 3), np.uint8)
    with pytest.raises(ValueError, match="strength: got 1.5"):
        refine(client, img, 1.5)
    with pytest.raises(ValueError, match="prompt is not known"):
        refine(client, img, 0.3, dry_run=True)
    q = refine(client, img, 0.3, dry_run=True, request=SkyboxRequest("a sky", seed=1))
    assert q.request.prompt == "a sky" and q.request.image.startswith("asset_")
