"""The upscale chain offline: generate, upscale x2, re-check the seam; the output is twice
the size and the ledger holds the chain. Also: the quote comes before anything is paid,
a broken wrap is flagged, and the CLI prints quote, file and verdict."""

from __future__ import annotations

import pytest

from skybox_nb import lineage
from skybox_nb.cli import main
from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.emulator.catalog import UPSCALER_ID
from skybox_nb.panorama import Panorama
from skybox_nb.request import SkyboxRequest
from skybox_nb.upscale import FAITHFUL_STRENGTH, UpscaleRefused

pytestmark = pytest.mark.timeout(180)
SIZE = (256, 128)


@pytest.fixture(scope="module")
def emu():
    with Emulator(render_size=SIZE) as e:
        yield e


@pytest.fixture()
def client(emu, tmp_path):
    c = SkyboxClient(emulator=emu, library=str(tmp_path / "lib"))
    yield c
    c.close()


def _generated(client):
    req = SkyboxRequest("a misty pine forest at dawn", num_outputs=1, seed=11,
                        geometry_enforcement=80)
    return client.run(req)


def test_generate_upscale_recheck_and_the_chain_in_the_ledger(emu, client, tmp_path):
    parent = _generated(client)
    posts_at_quote = []

    def confirm(quote, request):
        posts_at_quote.append(emu.stats()["generate_posts"])
        return True

    posts_before = emu.stats()["generate_posts"]
    up = client.upscale(parent, factor=2, confirm=confirm, out_dir=tmp_path / "out")
    # The quote came first: no paid POST had been sent when it was shown.
    assert posts_at_quote == [posts_before]
    assert up.quote == up.run.cu_cost > 0
    assert up.request.inputs == {"image": parent.assets[0].id, "upscaleFactor": 2,
                                 "strength": FAITHFUL_STRENGTH}
    big, small = Panorama.load(up.file), Panorama.load(parent.files[0])
    assert (big.width, big.height) == (2 * small.width, 2 * small.height) == (512, 256)
    assert up.file.parent == tmp_path / "out" and up.before is not None
    assert up.report.seamless and up.before.seamless and not up.wrap_broke
    assert up.verdict() == "seamless"
    # The chain: the child's request names the parent's asset; the ledger links them.
    ledger = client.ledger
    child = ledger.by_job(up.run.job.id)
    root = ledger.by_job(parent.job.id)
    assert child.model_id == UPSCALER_ID
    assert lineage.parent(ledger, child).intent_id == root.intent_id
    assert [g.intent_id for g in lineage.children(ledger, root)] == [child.intent_id]
    assert [g.model_id for g in lineage.chain(ledger, child)] == [
        "model_scenario-skybox-flux", UPSCALER_ID]
    # Upscaling the upscaled file again (by path: its sidecar's asset is reused) is x4.
    again = client.upscale(up.file, factor=2)
    assert again.source_asset == up.run.assets[0].id
    assert Panorama.load(again.file).width == 4 * small.width
    assert len(lineage.chain(ledger, ledger.by_job(again.run.job.id))) == 3


def test_the_models_default_strength_breaks_the_wrap_and_it_is_flagged(client):
    parent = _generated(client)
    up = client.upscale(parent, strength=0.6, repair=True)
    assert up.before.seamless and not up.report.wrap.ok and up.wrap_broke
    assert "broke the wrap seam" in up.verdict() and "lower the strength" in up.verdict()
    try:
        import skybox_nb.repair  # noqa: F401 - the seam repair module, when present
    except ImportError:
        assert up.repaired is None
    else:
        assert up.repair.after.wrap.ok and up.repaired.is_file()
        assert Panorama.load(up.repaired).width == Panorama.load(up.file).width


def test_a_refused_quote_pays_nothing(emu, client):
    parent = _generated(client)
    before = emu.stats()["generate_posts"]
    with pytest.raises(UpscaleRefused, match="over max_cost=1"):
        client.upscale(parent, factor=4, max_cost=1)
    with pytest.raises(UpscaleRefused, match="declined"):
        client.upscale(parent, confirm=lambda quote, request: False)
    assert emu.stats()["generate_posts"] == before


def test_bad_upscale_inputs_are_named_before_anything_is_sent(emu, client):
    parent = _generated(client)
    before = emu.stats()["requests"].get("generate", 0)
    with pytest.raises(ValueError, match="upscaleFactor: got 9"):
        client.upscale(parent, factor=9)
    with pytest.raises(ValueError, match="strength: got 1.5"):
        client.upscale(parent, strength=1.5)
    assert emu.stats()["requests"].get("generate", 0) == before


@pytest.fixture()
def cli_env(emu, monkeypatch, tmp_path):
    """The CLI's own client, pointed at the test's emulator (fast, small images)."""
    monkeypatch.setenv("SCENARIO_SDK_API_KEY", "k")
    monkeypatch.setenv("SCENARIO_SDK_API_SECRET", "s")
    monkeypatch.setenv("SCENARIO_BASE_URL", emu.base_url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_upscale_prints_the_quote_the_file_and_the_verdict(cli_env, capsys):
    assert main(["generate", "a harbour at sunset", "--num-outputs", "1", "--seed", "5",
                 "--geometry-enforcement", "80", "--out", "lib"]) == 0
    src = next((cli_env / "lib").glob("job_*.png"))
    capsys.readouterr()
    assert main(["upscale", str(src), "--factor", "2", "--out", "up", "--library", "lib"]) == 0
    got = capsys.readouterr()
    out = got.out.splitlines()
    # stderr is not a terminal here: plain progress lines, no bar redrawn with \r
    assert "\r" not in got.err and "|" not in got.err
    assert any(line.startswith("upscaling: success 100% job_") for line in got.err.splitlines())
    assert out[0].startswith("quote: ") and "CU" in out[0] and "x2" in out[0]
    assert out[1].startswith("upscaled: ") and "(512x256" in out[1]
    assert out[2] == "seam: seamless"
    assert (cli_env / "up").is_dir() and len(list((cli_env / "up").glob("*.png"))) == 1
    assert main(["upscale", str(src), "--max-cost", "1", "--library", "lib"]) == 3
    assert "refused" in capsys.readouterr().err


def test_cli_generate_any_model_validated_by_its_spec(cli_env, capsys):
    assert main(["generate", "--model", "model_scenario-skybox-gpt", "--set", "prompt=a desert",
                 "--set", "width=1000", "--out", "lib"]) == 1
    err = capsys.readouterr().err
    assert "width: got 1000" in err and "try 992" in err and "nothing was sent" in err
    assert main(["generate", "a desert at night", "--model", "model_scenario-skybox-gpt",
                 "--set", "width=512", "--set", "height=256", "--set", "quality=low",
                 "--out", "lib"]) == 0
    got = capsys.readouterr()
    out = got.out
    assert "estimated cost:" in out and "1 image(s)" in out
    # stderr is not a terminal here: plain progress lines, no bar redrawn with \r
    assert "\r" not in got.err and "|" not in got.err
    assert any(line.startswith("running model_scenario-skybox-gpt: success 100% job_")
               for line in got.err.splitlines())
    made = Panorama.load(next((cli_env / "lib").glob("job_*desert*.png")))
    assert (made.width, made.height) == (512, 256)
    assert main(["generate", "--model", "model_scenario-skybox-gpt", "--set", "width"]) == 1
    assert "--set: got 'width'" in capsys.readouterr().err


def test_cli_generate_any_model_honours_the_timeout(cli_env, monkeypatch, capsys):
    with Emulator(render_size=SIZE, job_duration=30) as slow:
        monkeypatch.setenv("SCENARIO_BASE_URL", slow.base_url)
        assert main(["generate", "--model", "model_scenario-skybox-gpt", "--set",
                     "prompt=a desert", "--set", "width=512", "--set", "height=256",
                     "--timeout", "0.5", "--out", "lib"]) == 1
    err = capsys.readouterr().err
    assert "error: " in err and "job_" in err and "ledger resume" in err


def test_gallery_upscale_shows_the_quote_before_it_runs(emu, client):
    from skybox_nb.widgets import Gallery

    gallery = Gallery(client)
    gallery.add(_generated(client))
    card = gallery.cards.children[0]
    posts = emu.stats()["generate_posts"]
    card.buttons["Upscale"].click()
    shown = gallery.output.outputs[0]["text"]
    assert "CU" in shown and "Nothing is paid" in shown
    assert emu.stats()["generate_posts"] == posts  # only the dry run so far
    assert gallery.upscale_button.description.startswith("Run upscale (")
    gallery.upscale_button.click()
    done = gallery._upscale_pool.submit(lambda: None)  # queued after the upscale
    done.result(60)
    assert emu.stats()["generate_posts"] == posts + 1
    assert len(gallery) == 2 and gallery.items[0].path.name.endswith(".png")
    big = Panorama.load(gallery.items[0].path)
    assert (big.width, big.height) == (2 * SIZE[0], 2 * SIZE[1])
    assert "Seam: seamless" in gallery.output.outputs[0]["text"]


def test_the_async_client_reads_specs_and_limits_too(emu, tmp_path):
    import asyncio

    from skybox_nb.client import AsyncSkyboxClient

    async def go():
        async with AsyncSkyboxClient(emulator=emu, library=str(tmp_path / "alib")) as c:
            spec = await c.model_spec(UPSCALER_ID)
            acct = await c.account()
            return spec, acct

    spec, acct = asyncio.run(go())
    assert spec["upscaleFactor"].maximum == 8 and acct.parallel_jobs == 10
    assert acct.creative_units_left is not None and acct.creative_units_left <= 10000
