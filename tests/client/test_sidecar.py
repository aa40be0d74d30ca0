"""The JSON sidecar has one writer and one reader (`skybox_nb.sidecar`): what the client
writes beside each output reads back as the metadata panoramas and the gallery use."""

from __future__ import annotations

import json

from fake_scenario import API, FakeScenario
from fast import fast_poll, fast_retry
from skybox_nb import sidecar
from skybox_nb.client import SkyboxClient
from skybox_nb.contract import SKYBOX_FLUX_MODEL_ID
from skybox_nb.isotime import parse_iso
from skybox_nb.panorama import Panorama
from skybox_nb.request import SkyboxRequest


def test_the_clients_sidecar_reads_back_as_panorama_metadata(tmp_path):
    fake = FakeScenario(polls=1)
    with SkyboxClient("key-abcdefgh12345678", "secret", API, library=tmp_path / "lib",
                      transport=fake.transport(), retry=fast_retry(), poll=fast_poll) as c:
        r = c.run(SkyboxRequest("a basalt coast", style="photo", num_outputs=2, seed=5))
    for i, (path, asset) in enumerate(zip(r.files, r.assets)):
        raw = sidecar.path_for(path).read_text()
        assert "url" not in raw.lower()  # presigned links are never kept
        data = json.loads(raw)
        assert data["output_index"] == i and parse_iso(data["times"]["saved"]) is not None
        meta = sidecar.read(path)
        assert meta["job_id"] == r.job.id and meta["asset_id"] == asset.id
        assert meta["prompt"] == "a basalt coast" and meta["style"] == "photo"
        # The fake answers with the emulator's assets, which say so: the reader tells.
        assert meta["source"] == "emulator" and meta["model_id"] == SKYBOX_FLUX_MODEL_ID
        assert Panorama.load(path).metadata["job_id"] == r.job.id
    # A saved copy gets its own sidecar, in the saved-panorama shape, read the same way.
    pano = Panorama.load(r.files[0])
    out = pano.save(tmp_path / "copy.png")
    assert sidecar.read(out)["job_id"] == r.job.id and sidecar.read(out)["seed"] == "1000"


def test_a_missing_or_foreign_sidecar_reads_as_no_metadata(tmp_path):
    image = tmp_path / "a.png"
    assert sidecar.read(image) == {}
    sidecar.path_for(image).write_text("[1, 2]")
    assert sidecar.read(image) == {}
    sidecar.path_for(image).write_text("{not json")
    assert sidecar.read(image) == {}
