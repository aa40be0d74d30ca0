"""A repair, a refine and an upscale name their source, in the ledger and in the sidecar
beside the file they made: the child's row records its kind, what was done, the
verdicts before and after and its output's sha256; its sidecar names the source (id,
file, sha256) and the row. A source the ledger does not know is said to be known by its
sidecar only, or unknown, and no parent is made up. A ledger rebuilt from the sidecars
after the database is lost gives every child back with its parent, kind and detail,
and rebuilding again changes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skybox_nb import lineage
from skybox_nb.child_files import read_lineage
from skybox_nb.cli import main
from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.ledger import LEDGER_NAME, Ledger
from skybox_nb.ledger_children import save_repair
from skybox_nb.ledger_rebuild import rebuild
from skybox_nb.panorama import Panorama
from skybox_nb.repair import repair
from skybox_nb.request import SkyboxRequest

from synthetic import partial_seam, pinch_pole, render, textured

pytestmark = pytest.mark.timeout(300)


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def emu():
    with Emulator(job_duration=0, render_size=(256, 128)) as e:
        yield e


@pytest.fixture()
def client(emu, tmp_path):
    c = SkyboxClient(api_key="k", api_secret="s", emulator=emu, library=str(tmp_path / "lib"))
    yield c
    c.close()


def _generate(client: SkyboxClient, seed: int = 3, geometry: int = 10):
    return client.run(SkyboxRequest("a calm lake under a cloudy sky", seed=seed,
                                    num_outputs=1, geometry_enforcement=geometry))


def _seamed(path: Path, rows: tuple[float, float] = (0.25, 0.45),
            pole: bool = True) -> np.ndarray:
    """Overwrite the panorama at ``path`` with one whose wrap fails over ``rows`` (shares
    of the height) and, with ``pole``, whose north pole is pinched."""
    img = partial_seam(render(textured, 256, 128), *rows, 60)
    if pole:
        img = pinch_pole(img, north=True)
    Image.fromarray(img).save(path)
    return img


def test_a_repair_of_a_ledger_source_is_its_child_with_what_was_repaired(client, capsys):
    gen = _generate(client)
    src = gen.files[0]
    _seamed(src)
    result = repair(Panorama.load(src))
    out, child_id = save_repair(result, src, src.with_name("lake-fixed.png"), client.ledger)
    row = client.ledger.get(child_id)
    assert (row.kind, row.parent_id, row.cu_cost, row.job_id) == ("repair", gen.intent_id,
                                                                  0, None)
    d = row.detail
    # what was repaired: the wrap over the rows the seam was put in, and the north pole
    wrap = d["repaired"]["wrap"]
    assert any(a <= 40 and b >= 50 for a, b in wrap["rows"]), wrap
    assert 0 < wrap["columns"] < 256 // 4
    assert list(d["repaired"]["poles"]) == ["north"]
    assert d["repaired"]["poles"]["north"]["rows"][0] == 0
    assert d["before"]["wrap"] is False and d["before"]["north"] is False
    assert d["after"]["wrap"] is True and d["after"]["north"] is True
    assert d["output"] == {"file": out.name, "sha256": _sha(out)}
    assert d["source"]["sha256"] == _sha(src) and d["source"]["file"] == src.name
    assert (d["source"]["intent_id"], d["source"]["known"]) == (gen.intent_id, "ledger")
    assert d["source"]["job_id"] == gen.job.id
    # the sidecar names the source and the row, and no longer claims the source's asset
    side = json.loads(out.with_suffix(".json").read_text())["metadata"]
    lin = side["lineage"]
    assert (lin["kind"], lin["parent_id"], lin["intent_id"]) == ("repair", gen.intent_id,
                                                                  child_id)
    assert lin["source"] == d["source"] and lin["detail"] == dict(d)
    assert (lin["file"], lin["sha256"]) == (out.name, _sha(out))
    assert "asset_id" not in side and "job_id" not in side
    # a copy of the repair, repaired again elsewhere: its sidecar's row is the parent
    copy = client.ledger.library.parent / "copy.png"
    shutil.copy(out.with_suffix(".json"), copy.with_suffix(".json"))
    _seamed(copy, pole=False)
    _, grandchild = save_repair(repair(Panorama.load(copy)), copy,
                                client.ledger.library / "copy-fixed.png", client.ledger)
    assert client.ledger.get(grandchild).parent_id == child_id
    assert client.ledger.get(grandchild).detail["source"]["file"] == "copy.png"
    # the source's record lists its children
    assert client.ledger.children(gen.intent_id) == [row]
    assert main(["ledger", "list", str(client.ledger.library), "--all", "--json"]) == 0
    listed = {r["intent"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed[gen.intent_id]["children"] == [child_id]
    assert listed[child_id]["parent"] == gen.intent_id
    assert listed[child_id]["children"] == [grandchild]


def test_a_source_known_only_by_its_sidecar_is_named_but_not_made_a_parent(client, tmp_path,
                                                                        capsys):
    gen = _generate(client, seed=4)
    elsewhere = tmp_path / "elsewhere"  # a folder with no ledger
    elsewhere.mkdir()
    src = elsewhere / gen.files[0].name
    shutil.copy(gen.files[0], src)
    shutil.copy(gen.files[0].with_suffix(".json"), src.with_suffix(".json"))
    _seamed(src, pole=False)
    out = elsewhere / "fixed.png"
    assert main(["repair", str(src), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "not recorded in a ledger" in said and f"job_id {gen.job.id}" in said
    lin = read_lineage(out)
    assert lin["source"]["known"] == "sidecar" and lin["source"]["sha256"] == _sha(src)
    assert lin["source"]["intent_id"] == gen.intent_id  # from the source's sidecar
    assert lin["parent_id"] is None and lin["intent_id"] is None
    assert lin["detail"]["repaired"]["wrap"] and lin["detail"]["repaired"]["poles"] == {}
    assert client.ledger.children(gen.intent_id) == []


def test_a_plain_file_is_an_unknown_source_in_a_library_or_out_of_one(client, tmp_path,
                                                                     capsys):
    _generate(client, seed=5)
    lib = client.ledger.library
    before = len(client.ledger)
    for folder in (tmp_path, lib):  # no ledger there; a ledger that does not know it
        src = folder / "plain.png"
        _seamed(src, pole=False)
        out = folder / "plain-fixed.png"
        assert main(["repair", str(src), "--out", str(out)]) == 0
        said = capsys.readouterr().out
        assert "the source plain.png is unknown (a plain file" in said
        lin = read_lineage(out)
        assert lin["source"]["known"] == "unknown" and "plain file" in lin["source"]["note"]
        assert lin["source"]["sha256"] == _sha(src)
        assert lin["parent_id"] is None and lin["intent_id"] is None
        assert not {"intent_id", "job_id", "asset_id"} & set(lin["source"])
    assert len(client.ledger) == before  # no row, no parent made up
    # the gallery's button says so too
    from skybox_nb.widgets import Gallery, GalleryItem

    gallery = Gallery(client, thumb_width=64)
    gallery.add_items([GalleryItem(tmp_path / "plain.png", None, "photo", "a sky", None)])
    gallery.cards.children[0].buttons["Repair"].click()
    assert "not in the ledger" in gallery.output.outputs[0]["text"]
    assert read_lineage(tmp_path / "plain-repaired.png")["source"]["known"] == "unknown"


def test_upscale_repairs_are_children_and_the_chain_runs_through_the_repair(client):
    gen = _generate(client, seed=6, geometry=80)  # seamless: the upscaler breaks it
    led = client.ledger
    # the upscaler at its default strength breaks the wrap: repaired on request
    up = client.upscale(gen, strength=0.6, repair=True)
    assert up.wrap_broke and up.repaired is not None
    up_row = led.by_job(up.run.job.id)
    assert (up_row.kind, up_row.parent_id) == ("upscale", gen.intent_id)
    assert up_row.detail["before"]["wrap"] is True
    assert up_row.detail["after"]["wrap"] is False
    assert up_row.detail["output"]["sha256"] == _sha(up.file)
    fix = led.by_file(up.repaired)
    assert (fix.kind, fix.parent_id) == ("repair", up_row.intent_id)
    assert fix.detail["source"]["sha256"] == _sha(up.file)
    assert [r.kind for r in lineage.chain(led, fix)] == ["generation", "upscale", "repair"]
    assert read_lineage(up.file)["parent_id"] == gen.intent_id  # the download's sidecar
    # the other way round: repair first, then upscale the repaired file; its pixels are
    # sent (an upload), not the source's asset, and the chain is parent -> repair -> upscale
    src = gen.files[0]
    _seamed(src, pole=False)
    out, rep_id = save_repair(repair(Panorama.load(src)), src,
                              src.with_name("lake-mended.png"), led)
    again = client.upscale(out, strength=0.3)
    assert again.source_asset != gen.assets[0].id
    row = led.by_job(again.run.job.id)
    assert (row.kind, row.parent_id) == ("upscale", rep_id)
    assert row.detail["source"]["file"] == out.name
    assert [r.intent_id for r in lineage.chain(led, row)] == [gen.intent_id, rep_id,
                                                             row.intent_id]


def _lineage_columns(library: Path) -> dict[str, tuple]:
    led = Ledger(library)
    try:
        return {r.intent_id: (r.parent_id, r.kind, dict(r.detail), r.status,
                              [f.name for f in r.files]) for r in led}
    finally:
        led.close()


def test_a_lost_ledger_is_rebuilt_with_every_child_linked_again(emu, tmp_path):
    from skybox_nb.refine import refine

    lib = tmp_path / "lib"
    client = SkyboxClient(api_key="k", api_secret="s", emulator=emu, library=str(lib))
    try:
        gen = _generate(client, seed=7, geometry=80)
        src = gen.files[0]
        up = client.upscale(gen, strength=0.6, repair=True)  # -> upscale -> repair
        assert up.repaired is not None
        _seamed(src, pole=True)
        refined = refine(client, src, 0.3)
        _, rep_id = save_repair(repair(Panorama.load(src)), src,
                                src.with_name("lake-fixed.png"), client.ledger)
        posts = emu.stats()["generate_posts"]
    finally:
        client.close()
    before = _lineage_columns(lib)
    kinds = sorted(v[1] for v in before.values())
    assert kinds == ["generation", "refine", "repair", "repair", "upscale"]
    for suffix in ("", "-wal", "-shm"):  # the database is lost
        (lib / (LEDGER_NAME + suffix)).unlink(missing_ok=True)
    report = rebuild(lib)
    assert report.kept_rows == 0 and report.from_sidecars == 5 and report.children == 4
    assert "4 of these a child" in str(report)
    assert _lineage_columns(lib) == before
    again = rebuild(lib)  # idempotent: the same rows, kept from the rebuilt file
    assert again.kept_rows == 5 and again.from_sidecars == 0
    assert _lineage_columns(lib) == before
    client = SkyboxClient(api_key="k", api_secret="s", emulator=emu, library=str(lib))
    try:
        led = client.ledger
        assert [c.intent_id for c in led.children(gen.intent_id)] == sorted(
            [refined.intent_id, rep_id, led.by_job(up.run.job.id).intent_id],
            key=lambda i: led.get(i).created_at)
        from skybox_nb.widgets import Gallery

        cards = {it.path.name: it for it in Gallery(client, thumb_width=64,
                                                   history=True).items}
        assert cards[refined.path.name].asset_id is None  # its job's asset is rolled
        assert cards[up.file.name].caption.endswith(f"upscale, job {up.run.cu_cost:g} CU")
        # the refine's key came back: asking for it again pays nothing
        assert refine(client, src, 0.3).intent_id == refined.intent_id
        assert emu.stats()["generate_posts"] == posts
    finally:
        client.close()


def test_a_paid_child_whose_download_is_gone_comes_back_from_its_output(emu, tmp_path):
    """The refine's job download (and its sidecar) deleted, then the ledger lost: the
    refine's row comes back from its turned-back output's lineage alone, done, linked,
    with its detail, and its output is what a person sees; not paid again."""
    from skybox_nb.refine import refine

    lib = tmp_path / "lib"
    client = SkyboxClient(api_key="k", api_secret="s", emulator=emu, library=str(lib))
    try:
        gen = _generate(client, seed=8)
        refined = refine(client, gen.files[0], 0.3)
        row = client.ledger.get(refined.intent_id)
    finally:
        client.close()
    for f in row.files:
        f.unlink()
        f.with_suffix(".json").unlink()
    for suffix in ("", "-wal", "-shm"):
        (lib / (LEDGER_NAME + suffix)).unlink(missing_ok=True)
    assert rebuild(lib).children == 1
    client = SkyboxClient(api_key="k", api_secret="s", emulator=emu, library=str(lib))
    try:
        back = client.ledger.get(refined.intent_id)
        assert (back.parent_id, back.kind, back.status) == (gen.intent_id, "refine", "done")
        assert back.detail == row.detail and back.output == refined.path
        assert (back.job_id, back.cu_cost, back.model_id) == (row.job_id, row.cu_cost,
                                                               row.model_id)
        posts = emu.stats()["generate_posts"]
        assert refine(client, gen.files[0], 0.3).reused
        assert emu.stats()["generate_posts"] == posts
    finally:
        client.close()
