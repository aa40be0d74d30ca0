"""Repair: what the seam check flags is mended, only inside the mask (everything else
bit-identical), and the check passes afterwards; the CLI writes the repair with a sidecar
naming its source."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from skybox_nb.cli import main
from skybox_nb.panorama import Panorama
from skybox_nb.repair import DISC_DEG, disc_degrees, psnr, repair
from skybox_nb.seams import seam_report

from synthetic import (jpeg, kaleidoscope_pole, partial_seam, pinch_pole, radial_streaks,
                       render, shift_half, smear_pole, textured)

W, H = 512, 256


@pytest.fixture(scope="module")
def good() -> np.ndarray:
    return render(textured, W, H)


def _outside_identical(r, src: np.ndarray) -> None:
    out = r.panorama.array
    assert out.shape == src.shape and out.dtype == src.dtype
    assert np.array_equal(out[~r.mask], src[~r.mask])  # bit-identical outside the mask
    assert r.psnr_outside() == float("inf")


@pytest.mark.parametrize("make", [
    lambda g: partial_seam(g, 0.25, 0.35, 40),
    lambda g: shift_half(g, 4),
    lambda g: np.roll(jpeg(partial_seam(g, 0.5, 0.7, 60), 85), 0, axis=1),
])
def test_a_wrap_seam_is_blended_inside_its_band_only(good, make):
    img = make(good)
    r = repair(img, poles=False)
    assert not r.before.wrap.ok and r.after.wrap.ok, r.after.defects
    _outside_identical(r, img)
    cols = np.flatnonzero(r.mask.any(axis=0))
    assert set(cols) <= set(range(0, W // 16)) | set(range(W - W // 16, W))  # a band at the border
    assert r.steps and r.steps[0].startswith("wrap seam blended")


def test_a_partial_seam_changes_only_its_rows(good):
    img = partial_seam(good, 0.25, 0.35, 40)
    r = repair(img)
    rows = np.flatnonzero(r.mask.any(axis=1))
    assert rows.min() >= int(0.25 * H) - 8 and rows.max() < int(0.35 * H) + 8
    assert r.after.seamless


@pytest.mark.parametrize("make,name", [
    (lambda g: pinch_pole(g, north=True), "north"),
    (lambda g: kaleidoscope_pole(g, north=False), "south"),
    (lambda g: radial_streaks(g, north=True), "north"),
    (lambda g: smear_pole(g, 0.1, north=False), "south"),
])
def test_a_pole_is_inpainted_inside_its_disc_only(good, make, name):
    img = make(good)
    r = repair(img, wrap=False)
    assert name in r.before.poles.bad
    assert r.after.poles.ok, r.after.defects
    _outside_identical(r, img)
    rows = np.flatnonzero(r.mask.any(axis=1))
    pole = r.before.poles.north if name == "north" else r.before.poles.south
    assert disc_degrees(pole) >= DISC_DEG
    cap = int(np.ceil(H * disc_degrees(pole) / 180)) + 1
    assert (rows < cap).all() if name == "north" else (rows >= H - cap).all()
    # what was there is gone: the pole row is one colour again
    row = r.panorama.array[0 if name == "north" else -1].astype(float)
    assert np.abs(row - row.mean(axis=0)).max() <= 3


def test_a_seamless_panorama_comes_back_unchanged(good):
    r = repair(good)
    assert r.before.seamless and not r.steps and not r.mask.any()
    assert np.array_equal(r.panorama.array, good)


def test_repair_of_all_kinds_at_once_and_its_report(good):
    img = pinch_pole(partial_seam(good), north=False)
    r = repair(img)
    assert not r.before.seamless and r.after.seamless
    assert len(r.steps) == 2 and 0 < r.changed < 0.25
    d = json.loads(json.dumps(r.to_dict()))
    assert d["before"]["seamless"] is False and d["after"]["seamless"] is True
    assert d["psnr_outside_db"] is None  # identical outside the mask
    html = r._repr_html_()
    assert "data:image/png;base64," in html and "before" in html and "after" in html
    assert "-> seamless" in repr(r)
    assert r.panorama.metadata["repair"]["steps"] == r.steps
    fig = r.plot()
    assert [ax.get_title().split(":")[0] for ax in fig.axes[::3]] == ["before", "after"]


def test_psnr():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    assert psnr(a, b) == float("inf")
    b[0, 0, 0] = 255
    assert psnr(a, b) == pytest.approx(10 * np.log10(48))
    assert psnr(a, b, np.ones((4, 4), bool) & (np.arange(4)[:, None] > 0)) == float("inf")


def test_cli_repair_writes_the_repair_and_its_source(tmp_path, good, capsys):
    src = tmp_path / "bad.png"
    Image.fromarray(pinch_pole(partial_seam(good), north=True)).save(src)
    out = tmp_path / "fixed.png"
    assert main(["repair", str(src), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "before: NOT seamless" in text and "after: seamless" in text
    fixed = Panorama.load(out)
    assert seam_report(fixed).seamless
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["metadata"]["repair"]["of"].endswith("bad.png")
    assert main(["repair", str(src), "--wrap", "--out", str(tmp_path / "w.png"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["steps"]) == 1 and d["after"]["wrap"]["ok"] and not d["after"]["seamless"]
    assert main(["repair", str(tmp_path / "missing.png"), "--out", str(out)]) == 2
    assert "missing.png" in capsys.readouterr().err
    assert main(["repair", str(src), "--out", str(tmp_path / "x.bmp")]) == 2
    assert "suffix" in capsys.readouterr().err


def test_gallery_repair_button_saves_and_shows_before_and_after(tmp_path, good):
    from skybox_nb.widgets import Gallery, GalleryItem

    src = tmp_path / "bad.png"
    Image.fromarray(partial_seam(good)).save(src)
    gallery = Gallery(None, thumb_width=64, out_dir=tmp_path / "exports")
    (item,) = gallery.add_items([GalleryItem(src, 5, "photo", "a sky", 1.0)])
    card = gallery.cards.children[0]
    card.buttons["Repair"].click()
    fixed = tmp_path / "bad-repaired.png"
    assert fixed.is_file() and seam_report(Panorama.load(fixed)).seamless
    outs = gallery.output.outputs
    assert outs[0]["text"].startswith("Repair: bad.png -> bad-repaired.png")
    assert "before" in outs[1]["data"]["text/html"] and "image/png" in outs[2]["data"]
    side = json.loads(fixed.with_suffix(".json").read_text())
    assert side["metadata"]["repair"]["of"] == str(src)


def test_a_repaired_hdri_preview_does_not_name_the_unrepaired_original(tmp_path) -> None:
    """A repair changes the preview's pixels; the HDRi's original beside the source
    still holds the seam, so the repaired file must not lead to_hdr or the exports to it."""
    from skybox_nb.hdr import original_of, to_hdr, write_hdr
    from skybox_nb.sidecar import write_metadata

    src = tmp_path / "sky.png"
    Image.fromarray(partial_seam(render(textured, 256, 128), 0.2, 0.5, 60)).save(src)
    write_hdr(np.ones((128, 256, 3), np.float32), tmp_path / "sky.exr")
    write_metadata(src, {"prompt": "a sky", "original_file": "sky.exr"})
    assert original_of(src) == tmp_path / "sky.exr"  # the source's own original
    r = repair(Panorama.load(src))
    assert r.steps
    out = r.panorama.save(tmp_path / "sky-repaired.png")
    assert original_of(Panorama.load(out)) is None
    assert not to_hdr(Panorama.load(out)).assumptions.get("original")


@pytest.mark.parametrize("seed", [0, 3])
def test_a_strong_seam_that_one_blend_leaves_over_the_line_is_blended_again(seed):
    """A harsh seam (a recoloured, shifted band at the border, 512 wide): one blend over
    the widest band (W/16 each side) left the median over its limit; a second pass mends
    it, inside the same band, and says so."""
    from synthetic import tinted_border

    img = tinted_border(render(textured, 512, 256, seed=seed))
    once = repair(img, poles=False, wrap=True)
    assert once.before.wrap.score > 10 * once.before.wrap.threshold
    assert once.after.wrap.ok, once.after.defects
    assert any(s.endswith("(pass 2)") for s in once.steps), once.steps
    cols = np.flatnonzero(once.mask.any(axis=0))
    assert set(cols) <= set(range(0, 32)) | set(range(512 - 32, 512))
    assert np.array_equal(once.panorama.array[~once.mask], img[~once.mask])


@pytest.mark.parametrize("seed", [0, 1])
def test_a_repair_draws_no_seam_of_its_own_inside_the_band(seed):
    """A strong emulator seam at 256 wide: the blend spreads the step's offset over the
    whole half band, and the change fades over all of it, so no new seam appears where
    the change would stop (it did at columns 11-12 when the change was cut off in the
    band's outer third)."""
    from skybox_nb.emulator.render import render as emulator_render

    img = emulator_render("a clear blue sky over a calm sea", "cinematic", seed, (256, 128),
                          geometry_enforcement=1)
    assert not any("inside" in d for d in seam_report(img).defects)
    r = repair(img)
    assert r.after.seamless, r.after.defects


def test_a_horizon_that_jumps_at_the_border_is_joined_not_kinked():
    """The emulator's low-enforcement seam moves the picture right of the border down by
    ~12 rows at 256 tall: the blend alone left the horizon kinked; each side is now drawn
    half the jump towards the other first, so the same rows meet at the border. A seam
    with no vertical jump (a brightness step) is not moved."""
    from skybox_nb.emulator.render import render as emulator_render
    from skybox_nb.repair import _row_offset

    img = emulator_render("a vaulted hall with a painted ceiling", "cinematic", 7,
                          (512, 256), geometry_enforcement=5)
    rows, ones = np.arange(256), np.ones(256, np.float32)
    assert _row_offset(img, rows, ones) >= 10
    r = repair(img, poles=False)
    assert any("rows apart drawn together" in s for s in r.steps), r.steps
    assert abs(_row_offset(r.panorama.array, rows, ones)) <= 1
    assert np.array_equal(r.panorama.array[~r.mask], img[~r.mask])
    flat = partial_seam(render(textured, 512, 256), 0.2, 0.7, 50)  # brightness only
    assert _row_offset(flat, rows, ones) == 0
    assert not any("drawn together" in s for s in repair(flat, poles=False).steps)


@pytest.mark.parametrize("pattern", ["stripes", "checker", "brick", "diagonal"])
def test_content_that_only_looks_alike_across_the_border_is_not_drawn_together(pattern):
    """Periodic or sloping content with a brightness step at the border and no vertical
    jump: stripes, a checker and bricks match at several shifts, a diagonal line seems
    to jump by its own slope; aligning them bent straight lines into a V (found by
    review). None is moved: the blend alone mends the step."""
    from skybox_nb.repair import _row_offset

    h, w = 512, 1024
    y, x = np.mgrid[0:h, 0:w]
    grey = {"stripes": np.where((y // 4) % 2 == 0, 60, 190),
            "checker": np.where(((y // 16) + (x // 16)) % 2 == 0, 60, 190),
            "brick": np.where((y % 20 < 2) | (((x + 20 * ((y // 20) % 2)) % 40) < 2), 60, 170),
            "diagonal": np.where(((y - x) // 8) % 2 == 0, 60, 190)}[pattern]
    img = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
    img[:, : w // 2] += 40  # a brightness step at the border, rows where they were
    assert _row_offset(img, np.arange(h), np.ones(h, np.float32)) == 0
    r = repair(img, poles=False)
    assert not any("drawn together" in s for s in r.steps), r.steps
    assert r.after.wrap.ok, r.after.defects
