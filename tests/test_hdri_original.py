"""An HDRi asset end to end on the emulator: its ``url`` is a JPEG preview, its EXR is at
``originalFileUrl`` (type in ``originalMimeType``). The client must fetch and keep the
original beside the preview, record both, and every HDR consumer (`to_hdr`, the engine
exports, ``skybox-nb export --hdr``, the lighting pack) must use the measured file, not an
estimate from the preview. The lean emulator answers only the documented asset fields."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import numpy as np
import pytest
from PIL import Image

from fast import fast_poll
from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.emulator.catalog import SKYBOX_HDRI_ID
from skybox_nb.emulator.hdri import SUN_RADIANCE
from skybox_nb.engines import export_engine
from skybox_nb.hdr import original_of, read_hdr, to_hdr
from skybox_nb.panorama import Panorama
from skybox_nb.request import ModelRequest
from tests.lighting_support import sunny_sky

SIZE = (128, 64)
DOCUMENTED = {"id", "url", "mimeType", "originalFileUrl", "originalMimeType"}


def _hdri_run(client: SkyboxClient):
    aid = client.upload(sunny_sky(SIZE[0], sun_yaw=40, sun_pitch=35))
    return client.run(ModelRequest(client.model_spec(SKYBOX_HDRI_ID), {"image": aid, "seed": 3}))


@pytest.fixture(params=[False, True], ids=["full", "lean"])
def hdri(request, tmp_path):
    with Emulator(render_size=SIZE, job_duration=0.0, lean=request.param) as emu:
        with SkyboxClient(emulator=emu, library=tmp_path / "lib", poll=fast_poll) as c:
            yield emu, c, _hdri_run(c)


def test_the_asset_is_a_jpeg_preview_with_its_exr_at_originalFileUrl(hdri) -> None:
    emu, _, res = hdri
    raw = dict(res.assets[0].raw)
    if emu.settings.lean:  # only the documented fields (and one no client knows)
        assert set(raw) - {"xEmulatorUnknownField"} == DOCUMENTED
    else:
        from scenario_sdk.types import AssetRetrieveResponse

        AssetRetrieveResponse.model_validate({"asset": raw})  # the SDK's model accepts it
        assert raw["kind"] == "image-hdr" and raw["metadata"]["type"] == "skybox-hdri"
    assert raw["mimeType"] == "image/jpeg" and raw["originalMimeType"] == "image/x-exr"
    assert "/assets-original/" in raw["originalFileUrl"] and "Signature=" in raw["originalFileUrl"]
    with httpx.Client() as http:  # signed like the other assets: a forged one is refused
        bad = http.get(raw["originalFileUrl"].replace("Signature=", "Signature=x"))
        assert bad.status_code == 403 and b"AccessDenied" in bad.content
        preview_url = raw["originalFileUrl"].replace("assets-original", "assets-transform")
        assert http.get(preview_url).status_code == 403  # a signature opens one file only


def test_the_client_keeps_both_files_and_records_them(hdri) -> None:
    _, _, res = hdri
    preview, original = res.files[0], res.originals[0]
    assert preview.suffix == ".jpg" and Image.open(preview).format == "JPEG"
    assert original == preview.with_suffix(".exr") and original.is_file()
    side = json.loads(preview.with_suffix(".json").read_text())
    assert side["original"] == {"file": original.name, "mimeType": "image/x-exr"}
    assert "Signature" not in json.dumps(side)  # no presigned URL kept
    hdr = read_hdr(original)
    assert hdr.array.max() == pytest.approx(SUN_RADIANCE, rel=0.01)  # the light 8 bits lose
    assert np.asarray(Image.open(preview)).max() <= 255
    assert original_of(preview) == original == original_of(Panorama.load(preview))


def test_to_hdr_and_the_exports_use_the_original_not_an_estimate(hdri, tmp_path) -> None:
    _, _, res = hdri
    pano = Panorama.load(res.files[0])
    measured = to_hdr(pano)
    assert measured.assumptions["original"] and measured.source == str(res.originals[0])
    assert np.array_equal(measured.array, read_hdr(res.originals[0]).array)
    assert measured.sun is not None and measured.sun.scale == 1.0  # found, never scaled
    estimate = to_hdr(pano, use_original=False)
    assert estimate.source == "estimate" and not estimate.assumptions.get("original")
    assert not np.allclose(estimate.array, measured.array, rtol=0.2)  # a guess, not the file
    out = export_engine(pano, "godot", tmp_path / "godot", hdr=True, pack=True, pack_size=16)
    assert np.array_equal(read_hdr(tmp_path / "godot" / "panorama.exr").array, measured.array)
    readme = (tmp_path / "godot" / "README.md").read_text()
    assert "Scenario's original HDR file" in readme and res.originals[0].name in readme
    assert out.hdr is not None and out.hdr.assumptions["original"]
    # the pack's SH are those of the measured light: the sun dominates the DC term
    sh = json.loads((tmp_path / "godot" / "lighting" / "sh.json").read_text())
    est_pack = export_engine(res.files[0].read_bytes(), "godot", tmp_path / "est", pack=True,
                             pack_size=16)
    sh_est = json.loads((tmp_path / "est" / "lighting" / "sh.json").read_text())
    assert est_pack.hdr.source == "estimate"
    assert sh != sh_est


def test_the_export_command_says_it_used_the_original(hdri, tmp_path) -> None:
    _, _, res = hdri
    run = subprocess.run([sys.executable, "-m", "skybox_nb.cli", "export", str(res.files[0]),
                          "--engine", "unreal", "--hdr", "--out", str(tmp_path / "u")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"Scenario's original file {res.originals[0].name}" in run.stderr
    assert "estimate" not in run.stderr.replace("not an estimate", "")
    unreal = read_hdr(tmp_path / "u" / "skybox.hdr").array
    assert unreal.max() == pytest.approx(SUN_RADIANCE, rel=0.02)


def test_an_original_that_is_not_hdr_is_not_fetched(tmp_path) -> None:
    with Emulator(render_size=SIZE, job_duration=0.0) as emu:
        with SkyboxClient(emulator=emu, library=tmp_path / "lib", poll=fast_poll) as c:
            from skybox_nb.request import SkyboxRequest

            res = c.run(SkyboxRequest("a plain sky", num_outputs=1, seed=1))
    assert res.originals == [None]
    assert "original" not in json.loads(res.files[0].with_suffix(".json").read_text())
    assert not list(res.files[0].parent.glob("*.exr")) and not list(res.files[0].parent.glob("*.hdr"))


def test_an_expired_or_cut_original_is_renewed_and_fetched_again(hdri, tmp_path) -> None:
    emu, c, res = hdri
    aid = res.assets[0].id
    emu.inject("expire_urls", count=1)
    stale = c.asset(aid)  # its originalFileUrl has expired: the CDN answers 403
    with httpx.Client() as http:
        assert http.get(stale.raw["originalFileUrl"]).status_code == 403
    emu.inject("cut_download", count=1)  # and the next transfer is cut short
    dest = tmp_path / "again" / "sky.jpg"
    dest.parent.mkdir()
    before = emu.stats()["requests"]
    path, fresh = c._drive(c._core.download_original(stale, dest))
    after = emu.stats()["requests"]
    # refused (stale), renewed by one asset read, cut, fetched whole
    assert after["download"] - before["download"] == 3  # 403, cut, complete
    assert after["asset"] - before["asset"] == 1
    assert path == dest.with_suffix(".exr")
    assert np.array_equal(read_hdr(path).array, read_hdr(res.originals[0]).array)
    assert fresh.raw["originalFileUrl"] != stale.raw["originalFileUrl"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["sky.exr"]  # no temp left


def test_the_async_client_keeps_the_original_too(tmp_path) -> None:
    import asyncio

    from skybox_nb.client import AsyncSkyboxClient

    async def go():
        with Emulator(render_size=SIZE, job_duration=0.0, lean=True) as emu:
            async with AsyncSkyboxClient(emulator=emu, library=tmp_path, poll=fast_poll) as c:
                aid = await c.upload(sunny_sky(SIZE[0]))
                spec = await c.model_spec(SKYBOX_HDRI_ID)
                return await c.run(ModelRequest(spec, {"image": aid, "seed": 5}))

    res = asyncio.run(go())
    assert res.originals[0] == res.files[0].with_suffix(".exr")
    assert to_hdr(Panorama.load(res.files[0])).assumptions["original"]


@pytest.mark.parametrize("mode", ["missing", "corrupt"])
def test_a_lost_or_corrupt_original_keeps_the_paid_panorama_and_warns(tmp_path, mode) -> None:
    from fast import fast_retry
    from skybox_nb.errors import OriginalMissingWarning

    with Emulator(render_size=SIZE, job_duration=0.0) as emu:
        with SkyboxClient(emulator=emu, library=tmp_path / "lib", poll=fast_poll,
                          retry=fast_retry()) as c:
            aid = c.upload(sunny_sky(SIZE[0], sun_yaw=40, sun_pitch=35))
            request = ModelRequest(c.model_spec(SKYBOX_HDRI_ID), {"image": aid, "seed": 3})
            emu.inject("bad_original", mode=mode, count=None)
            with pytest.warns(OriginalMissingWarning) as caught:
                res = c.run(request)
            posts = emu.stats()["generate_posts"]
            # the paid panorama is kept and the run succeeds, without its original
            assert res.files[0].is_file() and Image.open(res.files[0]).format == "JPEG"
            assert res.originals == [None] and original_of(res.files[0]) is None
            assert not list(res.files[0].parent.glob("*.exr"))
            assert not [p for p in res.files[0].parent.iterdir() if ".tmp" in p.name]
            text = str(caught[0].message)
            assert res.assets[0].id in text and "original" in text
            assert "download_originals" in text and res.job.id in text
            assert caught[0].message.job_id == res.job.id
            # the ledger row is done: nothing to resume, nothing paid again
            assert c.ledger.get(res.intent_id).status == "done"
            assert c.resume() == []
            assert emu.stats()["generate_posts"] == posts
            # later, once the store serves it again, it is fetched without paying
            emu.faults.clear()
            got = c.download_originals(res)
            assert got == [res.files[0].with_suffix(".exr")] and got[0].is_file()
            assert read_hdr(got[0]).array.max() == pytest.approx(SUN_RADIANCE, rel=0.01)
            assert original_of(res.files[0]) == got[0]  # the sidecar names it now
            assert c.download_originals(res.job.id) == got  # by job id, too (idempotent)
            assert emu.stats()["generate_posts"] == posts


def test_the_async_client_warns_and_fetches_originals_later_too(tmp_path) -> None:
    import asyncio

    from fast import fast_retry
    from skybox_nb.client import AsyncSkyboxClient
    from skybox_nb.errors import OriginalMissingWarning

    async def go():
        with Emulator(render_size=SIZE, job_duration=0.0, lean=True) as emu:
            async with AsyncSkyboxClient(emulator=emu, library=tmp_path, poll=fast_poll,
                                         retry=fast_retry()) as c:
                aid = await c.upload(sunny_sky(SIZE[0]))
                spec = await c.model_spec(SKYBOX_HDRI_ID)
                emu.inject("bad_original", mode="missing", count=None)
                with pytest.warns(OriginalMissingWarning):
                    res = await c.run(ModelRequest(spec, {"image": aid, "seed": 5}))
                emu.faults.clear()
                return res, await c.download_originals(res), c.ledger.get(res.intent_id).status

    res, got, status = asyncio.run(go())
    assert res.originals == [None] and status == "done"
    assert got == [res.files[0].with_suffix(".exr")] and original_of(res.files[0]) == got[0]
