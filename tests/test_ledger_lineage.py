"""Lineage in the ledger: a repair is a free child row of its source (no job, no cost,
its file, its steps and verdicts), a refine a paid job whose row names its parent and is
never paid twice; `skybox-nb ledger list` shows children under their source, and a
ledger written before these columns existed is brought up to date in place, keeping
every row (or, when it cannot be, says so with `LedgerDamagedError`)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import skybox_nb.ledger as ledger_module
from skybox_nb import child_files, lineage
from skybox_nb.cli import main
from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.errors import DuplicateIntentError, SkyboxError
from skybox_nb.ledger import Ledger, LedgerDamagedError
from skybox_nb.ledger_children import record_repair, repair_summary
from skybox_nb.ledger_states import START
from skybox_nb.panorama import Panorama
from skybox_nb.refine import refine
from skybox_nb.repair import repair
from skybox_nb.request import SkyboxRequest

from synthetic import partial_seam, render, textured

# A library made by skybox_nb before the lineage columns (the code of commit 0aad6a9):
# a done generation of two outputs, a running job, an unknown and a refused intent.
OLD = Path(__file__).parent / "data" / "ledger-before-lineage"


@pytest.fixture()
def old_library(tmp_path) -> Path:
    lib = tmp_path / "lib"
    shutil.copytree(OLD, lib)
    return lib


def _raw_rows(path: Path) -> tuple[list[str], list[tuple]]:
    con = sqlite3.connect(path)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(intents)")]
        rows = con.execute("SELECT * FROM intents ORDER BY intent_id").fetchall()
    finally:
        con.close()
    return cols, rows


def test_an_old_ledger_gains_the_lineage_columns_in_place_keeping_every_row(old_library):
    cols_before, rows_before = _raw_rows(old_library / "ledger.sqlite")
    assert "parent_id" not in cols_before and len(rows_before) == 4
    led = Ledger(old_library)
    try:
        recs = {r.intent_id: r for r in led}
        assert sorted(r.status for r in recs.values()) == ["done", "refused", "running",
                                                           "unknown"]
        assert all(r.kind == "generation" and r.parent_id is None and r.detail == {}
                   for r in recs.values())
        done = next(r for r in recs.values() if r.status == "done")
        assert [f.name for f in done.files] == sorted(
            p.name for p in old_library.glob("*.png"))
        assert all(f.is_file() for f in done.files)
        assert led.by_file(done.files[1]).intent_id == done.intent_id
        assert led.children(done.intent_id) == [] and led.parent(done.intent_id) is None
    finally:
        led.close()
    cols_after, rows_after = _raw_rows(old_library / "ledger.sqlite")
    assert cols_after == cols_before + ["parent_id", "kind", "detail"]
    assert [r[:len(cols_before)] for r in rows_after] == rows_before  # every value kept
    Ledger(old_library).close()  # opens again as it is


def test_two_processes_opening_an_old_ledger_at_once_both_open_it(old_library, monkeypatch):
    """Two kernels open the same old ledger: both read the table before either adds the
    columns; the second's ALTER must not fail on the columns the first has just added."""
    real_migrate, raced = Ledger._migrate, []

    def racing(self, add):
        if not raced:  # another process brings the file up to date in between
            raced.append(True)
            Ledger(old_library).close()
        return real_migrate(self, add)

    monkeypatch.setattr(Ledger, "_migrate", racing)
    led = Ledger(old_library)
    try:
        assert raced and len(list(led)) == 4
    finally:
        led.close()
    cols, rows = _raw_rows(old_library / "ledger.sqlite")
    assert cols[-3:] == ["parent_id", "kind", "detail"] and len(rows) == 4


def test_a_ledger_that_cannot_be_brought_up_to_date_says_so(old_library, monkeypatch):
    """SQLite refusing the ALTER (here by an authorizer; on a disk, an I/O error) gives
    the clear error naming the file, and the file is left as it was: no column added."""
    real_connect = sqlite3.connect

    def refusing(*args, **kwargs):
        con = real_connect(*args, **kwargs)
        con.set_authorizer(lambda action, *rest: sqlite3.SQLITE_DENY
                           if action == sqlite3.SQLITE_ALTER_TABLE else sqlite3.SQLITE_OK)
        return con

    cols_before, rows_before = _raw_rows(old_library / "ledger.sqlite")
    monkeypatch.setattr(ledger_module.sqlite3, "connect", refusing)
    with pytest.raises(LedgerDamagedError) as info:
        Ledger(old_library)
    text = str(info.value)
    assert str(old_library / "ledger.sqlite") in text
    assert "could not be brought up to date" in text and "parent_id, kind, detail" in text
    monkeypatch.undo()
    assert _raw_rows(old_library / "ledger.sqlite") == (cols_before, rows_before)


@pytest.fixture(scope="module")
def seamed() -> np.ndarray:
    return partial_seam(render(textured, 256, 128), 0.2, 0.5, 60)


def test_a_repair_is_a_free_child_of_its_source(old_library, seamed):
    led = Ledger(old_library)
    try:
        source = next(r for r in led if r.status == "done")
        src = source.files[0]
        Image.fromarray(seamed).save(src)  # the source's pixels: a seam to mend
        result = repair(Panorama.load(src))
        out = result.panorama.save(src.with_name(f"{src.stem}-repaired.png"))
        child_id = record_repair(led, src, out, repair_summary(result))
        child = led.get(child_id)
        assert (child.kind, child.parent_id, child.status) == ("repair", source.intent_id,
                                                                START["free"])
        assert child.job_id is None and child.cu_cost == 0 and child.files == (out,)
        assert child.detail["before"]["wrap"] is False and child.detail["after"]["wrap"]
        assert child.detail["steps"] == result.steps and child.request == {
            "repair": {"wrap": True, "poles": True}}
        assert led.children(source.intent_id) == [child]
        assert led.parent(child_id) == source
        assert lineage.children(led, source) == [child]
        assert lineage.chain(led, child) == [source, child]
        assert led.by_file(out) == child
        # repaired again into the same file: the same row, not a second one
        assert record_repair(led, src, out, repair_summary(result, poles=False)) == child_id
        assert len(led.children(source.intent_id)) == 1
        assert led.get(child_id).request["repair"]["poles"] is False
        # a file the ledger does not know gets no row
        stray = old_library.parent / "stray.png"
        Image.fromarray(seamed).save(stray)
        assert record_repair(led, stray, out, repair_summary(result)) is None
    finally:
        led.close()


def test_repair_cli_records_children_and_ledger_list_shows_them_under_the_source(
        old_library, seamed, capsys):
    led = Ledger(old_library)
    source = next(r for r in led if r.status == "done")
    led.close()
    for f in source.files:
        Image.fromarray(seamed).save(f)
    assert main(["repair", str(old_library), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("a repair of its source") == 2
    assert main(["ledger", "list", str(old_library), "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith(source.intent_id))
    kids = lines[at + 1:at + 3]
    assert all(ln.startswith("  └ intent_") and " repair " in ln and "free" in ln
               for ln in kids), lines
    assert {ln.split("-> ")[1] for ln in kids} == {f"{f.stem}-repaired.png"
                                                  for f in source.files}
    assert sum(ln.startswith("  └") for ln in lines) == 2  # the others have no children
    # a second run over the folder would write over the first run's repairs, which it
    # now finds as inputs: refused, nothing replaced
    assert main(["repair", str(old_library)]) == 2
    assert "would replace the input" in capsys.readouterr().err


@pytest.fixture()
def offline(tmp_path):
    with Emulator(job_duration=0, render_size=(512, 256)) as emu:
        client = SkyboxClient(api_key="k", api_secret="s", emulator=emu,
                              library=str(tmp_path / "lib"))
        yield client, emu
        client.close()


def _posts(emu: Emulator) -> int:
    return emu.stats()["generate_posts"]


def test_a_refine_is_a_paid_child_and_the_same_refine_is_never_paid_twice(offline, capsys):
    client, emu = offline
    source = client.run(SkyboxRequest("a sunny meadow with hills and clouds",
                                      style="cinematic", seed=2, num_outputs=1,
                                      geometry_enforcement=10))
    path = source.files[0]
    posts = _posts(emu)
    first = refine(client, path, 0.3)
    assert first.ran and not first.reused and _posts(emu) == posts + 1
    row = client.ledger.get(first.intent_id)
    assert (row.kind, row.parent_id) == ("refine", source.intent_id)
    assert row.job_id == first.job_id and row.cu_cost == first.cu_cost > 0
    assert row.output == first.path and row.detail["after"]["seamless"] is True
    assert row.detail["before"]["seamless"] is False and row.detail["strength"] == 0.3
    assert client.ledger.children(source.intent_id) == [row]
    assert client.ledger.by_file(first.path) == row

    quote = refine(client, path, 0.3, dry_run=True)
    assert not quote.ran and quote.quote == 0 and "paid before" in quote.reason
    again = refine(client, path, 0.3)  # a re-run: nothing sent, the same result
    assert again.ran and again.reused and again.intent_id == first.intent_id
    assert _posts(emu) == posts + 1
    assert again.path.read_bytes() == first.path.read_bytes()
    for f in client.ledger.get(first.intent_id).files:  # the download gone: the saved
        f.unlink()                                         # file is reused, not re-paid
    assert refine(client, path, 0.3).path.read_bytes() == first.path.read_bytes()
    assert _posts(emu) == posts + 1
    other = refine(client, path, 0.25)  # another strength is another refine: paid
    assert other.intent_id != first.intent_id and _posts(emu) == posts + 2
    assert [c.intent_id for c in client.ledger.children(source.intent_id)] == [
        first.intent_id, other.intent_id]

    assert main(["ledger", "list", str(client.ledger.library), "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(source.intent_id)
    assert all(ln.startswith("  └ intent_") and " refine " in ln for ln in lines[1:3])
    assert lines[1].endswith(f"-> {first.path.name}")


def test_a_refine_whose_answer_was_lost_is_not_paid_again(offline):
    """The POST of a refine is accepted but its answer lost: the refine's row (linked to
    its source before the POST) is unknown, and asking again refuses to pay twice; once
    reconciled and resumed, asking again reuses its output."""
    client, emu = offline
    source = client.run(SkyboxRequest("a pale dune sea at dawn", seed=5, num_outputs=1,
                                      geometry_enforcement=10))
    posts = _posts(emu)
    emu.inject("drop_after_accept")
    with pytest.raises(SkyboxError):
        refine(client, source.files[0], 0.3)
    assert _posts(emu) == posts + 1
    [row] = client.ledger.children(source.intent_id)
    assert (row.kind, row.status) == ("refine", "unknown")
    with pytest.raises(DuplicateIntentError):
        refine(client, source.files[0], 0.3)
    assert _posts(emu) == posts + 1
    assert [o.job_id for o in client.reconcile() if o.job_id]
    client.resume()
    done = refine(client, source.files[0], 0.3)
    assert done.reused and done.intent_id == row.intent_id and _posts(emu) == posts + 1
    assert client.ledger.get(row.intent_id).output == done.path


def test_the_gallerys_repair_button_adds_the_child_and_shows_before_and_after(offline):
    from skybox_nb.widgets import Gallery

    client, _ = offline
    source = client.run(SkyboxRequest("a sunny meadow with hills and clouds", seed=2,
                                      num_outputs=1, geometry_enforcement=10))
    gallery = Gallery(client, thumb_width=64)
    gallery.add(source)
    gallery.cards.children[0].buttons["Repair"].click()
    out = gallery.output.outputs
    assert "Error" not in out[0]["text"], out[0]["text"]
    fixed = source.files[0].with_name(f"{source.files[0].stem}-repaired.png")
    [child] = client.ledger.children(source.intent_id)
    assert child.kind == "repair" and child.files == (fixed,)
    assert out[0]["text"].startswith(f"Repair: {source.files[0].name} -> {fixed.name}")
    assert child.intent_id in out[0]["text"]
    html = out[1]["data"]["text/html"]  # the verdicts side by side: one table row
    assert html.index("before: ") < html.index("after: ") and "<tr>" in html
    assert "image/png" in out[2]["data"]  # the before/after figure
    card = gallery.cards.children[0]  # the repair, newest first
    assert card.item.path == fixed and "repair of" in card.item.caption
    assert card.item.caption.endswith("free") and len(gallery) == 2

    refined = refine(client, source.files[0], 0.3)
    history = Gallery(client, thumb_width=64, history=True)
    made = {it.path.name: it.caption for it in history.items}
    assert made[fixed.name].endswith("repair, free")
    assert made[refined.path.name].endswith(f"refine, job {refined.cu_cost:g} CU")
    assert made[source.files[0].name].endswith(f"job {source.cu_cost:g} CU")


def test_the_gallerys_pole_disc_reaches_the_repair_and_its_row(offline):
    """The Pole disc dropdown sets the Repair button's disc; a pole mended with it gets a
    file, card and ledger row of its own (the measured repair is kept) that record the
    disc; repairing into a file shown already renews its card."""
    from skybox_nb import sidecar
    from skybox_nb.widgets import Gallery

    client, _ = offline
    source = client.run(SkyboxRequest("a vaulted hall with a painted ceiling", seed=7,
                                      num_outputs=1, geometry_enforcement=5))
    src = source.files[0]
    gallery = Gallery(client, thumb_width=64)
    gallery.add(source)
    assert gallery.pole_disc.value == "measured"  # by default (shown, not blank)
    first = gallery.repair(0)
    assert not first.before.poles.ok, "the emulator's low enforcement makes a pole to mend"
    assert first.pole_disc is None
    [measured] = client.ledger.children(source.intent_id)
    assert measured.files == (src.with_name(f"{src.stem}-repaired.png"),)
    assert "pole_disc" not in measured.request["repair"]

    gallery.pole_disc.value = 20.0
    gallery.cards.children[-1].buttons["Repair"].click()  # the source's card
    assert "(a new card)" in gallery.output.outputs[0]["text"], gallery.output.outputs[0]["text"]
    disc20 = src.with_name(f"{src.stem}-repaired-disc20.png")
    child = client.ledger.by_file(disc20)
    assert child.request["repair"]["pole_disc"] == 20.0
    assert any("20-degree disc (asked for)" in s for s in child.detail["steps"]), \
        child.detail["steps"]
    lineage = sidecar.read(disc20)[child_files.LINEAGE_KEY]
    assert lineage["detail"]["pole_disc"] == 20.0
    assert len(client.ledger.children(source.intent_id)) == 2 and len(gallery) == 3
    assert gallery.items[0].path == disc20

    # the same file again (another look at it): one card, renewed; one row
    old_card = gallery.cards.children[0]
    gallery.repair(len(gallery) - 1)
    assert "(its card renewed)" in gallery.output.outputs[0]["text"]
    assert len(gallery) == 3 and gallery.cards.children[0] is not old_card
    assert gallery.cards.children[0].item.path == disc20
    assert len(client.ledger.children(source.intent_id)) == 2
    assert gallery.repair(len(gallery) - 1, pole_disc=None).pole_disc is None  # given wins


def test_a_disc_is_recorded_only_when_a_pole_was_mended_with_it():
    img = partial_seam(render(textured, 256, 128), 0.2, 0.5, 60)  # a wrap seam, sound poles
    r = repair(img, pole_disc=30)
    assert r.steps and r.before.poles.ok and r.pole_disc is None
    assert repair_summary(r)["pole_disc"] is None


def test_a_rebuild_keeps_the_children_and_their_links(old_library, seamed):
    from skybox_nb.ledger_rebuild import rebuild

    led = Ledger(old_library)
    source = next(r for r in led if r.status == "done")
    Image.fromarray(seamed).save(source.files[0])
    result = repair(Panorama.load(source.files[0]))
    out = result.panorama.save(old_library / "fixed.png")
    child_id = record_repair(led, source.files[0], out, repair_summary(result))
    before = led.get(child_id)
    led.close()
    report = rebuild(old_library)
    assert report.kept_rows == 5
    led = Ledger(old_library)
    try:
        assert led.get(child_id) == before
        assert led.children(source.intent_id) == [before]
    finally:
        led.close()
