"""The seam check: seamless analytic panoramas pass, every broken variant is flagged and
located, the Discontinuity Score follows its formula, and the report serialises."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from skybox_nb.cli import main
from skybox_nb.cubemap import to_faces
from skybox_nb.emulator.render import render as emulator_render
from skybox_nb.panorama import Panorama
from skybox_nb.seams import THRESHOLDS, SeamReport, discontinuity_score, seam_report

from synthetic import (blurred_cap, colour_field, jpeg, kaleidoscope_pole, not_wrapping,
                       partial_seam, pinch_pole, radial_streaks, render, rolled, shift_half,
                       smear_pole, stretched_photo, textured, vertical_edge)

W, H = 256, 128


def _scores(r: SeamReport) -> list[float]:
    return [r.wrap.score, r.ds, r.wrap.interior, r.poles.score, r.cube_edges.score]


@pytest.mark.parametrize("name,img", [
    ("colour field", render(colour_field, W, H)),
    ("texture", render(textured, W, H)),
    ("fine texture", render(textured, 512, 256, seed=5, finest=80)),
    ("texture, JPEG", jpeg(render(textured, W, H), 80)),
    ("colour field, JPEG, tiny", jpeg(render(colour_field, 128, 64), 80)),
])
def test_analytic_panoramas_are_seamless(name, img):
    r = seam_report(img)
    assert r.seamless, (name, r.defects)
    assert r.defects == [] and r.wrap.rows == []
    assert r.wrap.score < 0.8 * THRESHOLDS["wrap"]
    assert r.poles.north.uniformity < 0.7 * THRESHOLDS["pole_uniformity"]
    assert r.cube_edges.ok and r.cube_edges.score < 0.5 * THRESHOLDS["cube_edge"]


def test_half_shifted_a_few_rows_is_flagged_at_both_seams():
    good = render(textured, W, H)
    r = seam_report(shift_half(good, 4))
    assert not r.seamless and not r.wrap.ok
    assert r.wrap.score > 1.5 * THRESHOLDS["wrap"] > seam_report(good).wrap.score
    # the other break, at the middle column, is found too
    assert not r.wrap.interior_ok and r.wrap.interior_column == W // 2
    covered = sum(b - a for a, b in r.wrap.rows)
    assert covered > H // 2  # the whole height is shifted
    assert any("wrap seam" in d for d in r.defects)
    assert any(f"between columns {W // 2 - 1} and {W // 2}" in d for d in r.defects)


def test_a_seam_made_by_rolling_is_found_where_it_went():
    src = not_wrapping(W, H)
    assert not seam_report(src).wrap.ok  # its own border does not wrap
    r = seam_report(rolled(src, W // 3))
    assert r.wrap.ok  # the border now lies inside continuous content...
    assert not r.seamless and not r.wrap.interior_ok  # ...and the seam moved inside
    assert r.wrap.interior_column == W // 3
    assert r.poles.ok


def test_a_photo_stretched_to_two_to_one_is_flagged():
    r = seam_report(stretched_photo(W, H))
    assert not r.seamless
    assert not r.wrap.ok and r.wrap.score > 10 * THRESHOLDS["wrap"]
    assert "north" in r.poles.bad  # a sky gradient is not a pole
    assert r.ds > THRESHOLDS["ds"]  # bad enough for the paper's DS too


@pytest.mark.parametrize("north", [True, False])
def test_a_smeared_pole_is_flagged_and_named(north):
    good = render(textured, W, H)
    for fraction in (0.05, 0.1):
        r = seam_report(smear_pole(good, fraction, north))
        name = "north" if north else "south"
        assert not r.seamless and r.poles.bad == [name], (fraction, r.defects)
        assert r.wrap.ok and r.cube_edges.ok
        assert any(d.startswith(f"{name} pole") for d in r.defects)
    strong = seam_report(smear_pole(good, 0.1, north))
    pole = strong.poles.north if north else strong.poles.south
    assert pole.smear > THRESHOLDS["pole_smear"]  # the view straight up/down sees it


def test_emulator_geometry_enforcement_is_seen():
    """The offline emulator simulates weak geometry enforcement; the check tells apart."""
    for style, seed in (("cinematic", 1), ("photo", 2), ("cyberpunk", 3)):
        hi = seam_report(emulator_render("a beach at sunset", style, seed, (W, H),
                                         geometry_enforcement=100))
        lo = seam_report(emulator_render("a beach at sunset", style, seed, (W, H),
                                         geometry_enforcement=1))
        assert hi.seamless, (style, hi.defects)
        assert not lo.seamless and not lo.wrap.ok and lo.wrap.score > hi.wrap.score


def test_discontinuity_score_follows_its_formula():
    rng = np.random.default_rng(0)
    smooth = np.tile(np.linspace(0.2, 0.5, 6), (40, 1))  # one gradient across the border
    assert discontinuity_score(smooth) == pytest.approx(1.0 * 0.06 / (0.06 + 0.01), rel=1e-9)
    step = smooth.copy()
    step[:, 3:] += 0.3
    assert discontinuity_score(step) > max(3 * discontinuity_score(smooth), THRESHOLDS["ds"])
    # by hand for one row set: a(k) = (I(k+1) - I(k-1)) / 2, constant along the border
    strip = np.tile([0.0, 0.0, 0.1, 0.5, 0.6, 0.6], (5, 1))
    a1, a2, a3, a4 = 0.05, 0.25, 0.25, 0.05
    expected = (a2 / (a1 + 0.01) + a3 / (a4 + 0.01)) / 2
    assert discontinuity_score(strip) == pytest.approx(expected)
    noise = rng.uniform(0, 1, (200, 6))
    assert 0.3 < discontinuity_score(noise) < 3.0


def test_report_serialises_and_displays():
    r = seam_report(shift_half(render(textured, W, H), 4))
    d = json.loads(json.dumps(r.to_dict()))
    assert d["seamless"] is False
    assert set(d["scores"]) == {"wrap", "ds", "interior", "poles", "cube_edges"}
    assert d["thresholds"] == THRESHOLDS
    assert d["wrap"]["rows"] and d["defects"]
    assert set(d["cube_edges"]["edges"]) == {
        "F-R", "F-L", "F-U", "F-D", "R-B", "R-U", "R-D", "B-L", "B-U", "B-D", "L-U", "L-D"}
    html = r._repr_html_()
    assert "not seamless" in html and "data:image/png;base64," in html
    assert "NOT seamless" in str(r) and "wrap seam" in str(r)
    assert repr(r).startswith("SeamReport(NOT seamless")


def test_thresholds_can_be_overridden_and_are_checked():
    img = shift_half(render(textured, W, H), 4)
    lenient = seam_report(img, thresholds={"wrap": 100, "interior": 100, "pole_uniformity": 100})
    assert lenient.seamless and lenient.thresholds["wrap"] == 100
    with pytest.raises(ValueError, match="unknown key 'wrapp'"):
        seam_report(img, thresholds={"wrapp": 1})


def test_big_panoramas_are_checked_on_a_downscaled_copy():
    small = render(textured, 1024, 512)
    big = np.asarray(Image.fromarray(small).resize((4096, 2048), Image.BILINEAR))
    r = seam_report(big)  # its time is the benchmark's (bench_seams_real.py), not a test's
    assert r.analysis_size == (2048, 1024) and r.size == (4096, 2048) and r.seamless
    broken = seam_report(shift_half(big, 12))
    assert not broken.seamless and broken.wrap.rows[0][0] % 2 == 0  # rows in input pixels


def test_other_dtypes_and_panorama_objects():
    img = render(textured, W, H)
    for variant in (img.astype(np.uint16) * 257, img.astype(np.float32) / 255,
                    np.dstack([img, np.full((H, W), 255, np.uint8)]), img[:, :, 1]):
        assert seam_report(variant).seamless
    assert seam_report(Panorama(shift_half(img, 4))).wrap.ok is False


def test_cli_seams(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    Image.fromarray(shift_half(render(textured, W, H), 4)).save(bad)
    assert main(["seams", str(bad), "--json", "--plot", str(tmp_path / "fig.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seamless"] is False and out["thresholds"]["wrap"] == THRESHOLDS["wrap"]
    assert out["wrap"]["rows"] and out["scores"]["wrap"] > THRESHOLDS["wrap"]
    assert (tmp_path / "fig.png").stat().st_size > 10_000
    good = tmp_path / "good.png"
    Image.fromarray(render(textured, W, H)).save(good)
    assert main(["seams", str(good)]) == 0
    assert capsys.readouterr().out.startswith("seamless")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert main(["seams", str(tmp_path / "junk.png")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_cubemap_is_checked_on_its_own_edges():
    faces = to_faces(render(textured, 512, 256), 128, "unity")
    good = seam_report(faces, convention="unity")
    assert good.seamless and good.cube_edges.ok
    assert set(good.cube_edges.edges) >= {"front-up", "left-down", "back-right"}
    turned = dict(faces, up=np.rot90(faces["up"]).copy())  # one face put in wrongly
    r = seam_report(turned, convention="unity")
    assert not r.seamless
    assert sorted(r.cube_edges.bad) == sorted(["front-up", "back-up", "left-up", "right-up"])
    darker = dict(faces, right=(faces["right"] // 2))  # one face exposed differently
    r = seam_report(darker, convention="unity")
    assert len(r.cube_edges.bad) == 4 and all("right" in e for e in r.cube_edges.bad)
    assert any(d.startswith("cube edges") for d in r.defects)
    with pytest.raises(ValueError, match="missing up"):
        seam_report({k: v for k, v in faces.items() if k != "up"}, convention="unity")


# ------------------------------------------------------------------ real AI defect kinds

def test_a_partial_wrap_seam_fails_by_its_band_and_names_it():
    good = render(textured, 512, 256)
    img = partial_seam(good, 0.25, 0.35, 40)
    r = seam_report(img)
    assert seam_report(good).wrap.ok
    assert r.wrap.score <= THRESHOLDS["wrap"]  # the median over rows does not see it...
    assert not r.seamless and r.wrap.rules == ["band"]  # ...the band rule does
    (a, b), = r.wrap.bands
    assert abs(a - 64) <= 6 and abs(b - 90) <= 6  # rows 25-35% of 256
    top, bottom = r.wrap.latitudes((a, b))
    assert 24 < bottom < top < 47
    assert r.wrap.band_ds > 2 * r.ds  # DS over the band, not diluted by the whole height
    (d,) = r.defects
    assert d.startswith("partial wrap seam") and f"{a}-{b - 1}" in d and "latitude" in d
    assert r.to_dict()["wrap"]["bands"][0]["rows"] == [a, b]
    # a band under BAND_MIN of the height is texture, not a seam
    assert seam_report(partial_seam(good, 0.5, 0.53, 40)).wrap.ok


@pytest.mark.parametrize("make,pole", [
    (lambda i: pinch_pole(i, north=True), "north"),
    (lambda i: pinch_pole(i, north=False), "south"),
    (lambda i: kaleidoscope_pole(i, north=False, folds=4), "south"),
    (lambda i: kaleidoscope_pole(i, north=True, folds=2), "north"),
    (lambda i: radial_streaks(i, north=True), "north"),
    (lambda i: radial_streaks(i, north=False), "south"),
])
@pytest.mark.parametrize("base", ["texture", "texture, JPEG", "colour field"])
def test_pole_artefacts_of_real_kinds_are_flagged_at_their_pole(make, pole, base):
    img = {"texture": lambda: render(textured, 512, 256),
           "texture, JPEG": lambda: jpeg(render(textured, 512, 256), 85),
           "colour field": lambda: render(colour_field, 512, 256)}[base]()
    r = seam_report(make(img))
    assert r.poles.bad == [pole], (r.defects, base)
    assert r.wrap.ok and r.wrap.interior_ok
    assert any(d.startswith(f"{pole} pole") for d in r.defects)


def test_converging_structure_is_measured_by_the_pinch_view():
    good = render(textured, 512, 256)
    clean = seam_report(good)
    assert max(clean.poles.north.pinch, clean.poles.south.pinch) < 0.8 * THRESHOLDS["pole_pinch"]
    r = seam_report(pinch_pole(good, north=True))
    assert r.poles.north.pinch > 2 * THRESHOLDS["pole_pinch"]
    assert "pinch" in r.poles.north.rules
    assert any("converging on the pole" in d for d in r.defects)
    lo, hi = r.poles.north.pinch_deg
    assert 2 < lo < hi < 13


def test_a_blurred_stitcher_cap_is_not_a_defect():
    for img in (render(textured, 512, 256), jpeg(render(textured, 512, 256), 85)):
        r = seam_report(blurred_cap(img, 0.01))
        assert r.seamless, r.defects


def test_a_real_vertical_edge_is_not_an_interior_seam():
    good = render(textured, 512, 256)
    tower = vertical_edge(good, 512 // 5, 0.2, 0.8)
    r = seam_report(tower)
    assert r.wrap.interior > THRESHOLDS["interior"]  # a strong straight edge...
    assert r.wrap.interior_cover < 7 and r.wrap.interior_ok  # ...that stops short of the poles
    assert r.seamless, r.defects
    seam = seam_report(rolled(not_wrapping(512, 256), 512 // 3))  # cuts everything at once
    assert seam.wrap.interior_cover == 8 and not seam.wrap.interior_ok


def test_no_measure_is_shown_ok_while_the_verdict_used_it():
    r = seam_report(partial_seam(render(textured, 512, 256)))
    failed = {name for name, _, _, bad in r.measures() if bad}
    assert failed == {"wrap: longest band, % height"}
    assert "FAILS" in str(r) and "<b>fails</b>" in r._repr_html_()


def test_the_check_loads_no_plotting_library():
    """`skybox-nb seams FILE` stays fast cold: importing the check (which offers
    `SeamReport.plot`) loads neither matplotlib nor scipy; drawing a figure does."""
    import subprocess
    import sys

    code = ("import sys, skybox_nb.seams, skybox_nb.plots; "
            "print(sorted(m for m in ('matplotlib', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
    fig = seam_report(render(textured, W, H)).plot()
    assert type(fig).__module__ == "skybox_nb.figure"


def test_the_poles_are_measured_beside_the_wrap_and_their_errors_reach_the_caller(monkeypatch):
    # The poles run on a second thread (a cold check's time on two cores); what they
    # measure must be what a serial run measures, and an error there must surface from
    # seam_report itself, not vanish with the thread.
    import threading

    from skybox_nb import seams as seams_mod

    pano = pinch_pole(render(textured, W, H))  # a failing pole: its extent is measured too

    class Serial:  # the same calls, made on the caller's thread
        def __init__(self, call):
            self._value = call()

        def join(self):
            pass

        def result(self):
            return self._value

    with monkeypatch.context() as m:
        m.setattr(seams_mod, "_Background", Serial)
        serial = seam_report(pano).to_dict()
    seen = []
    real = seams_mod._pole_structure

    def spy(*args, **kwargs):
        seen.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(seams_mod, "_pole_structure", spy)
    threaded = seam_report(pano).to_dict()
    assert seen == [False, False]
    assert not serial["poles"]["north"]["ok"]
    for part in ("poles", "wrap", "cube_edges", "seamless", "defects"):
        assert threaded[part] == serial[part], part

    def broken(*args, **kwargs):
        raise RuntimeError("pole measure broke")

    monkeypatch.setattr(seams_mod, "_pole_structure", broken)
    with pytest.raises(RuntimeError, match="pole measure broke"):
        seam_report(pano)


_INTERRUPTED = """
import signal, sys, threading
import cv2, numpy as np
from skybox_nb import seams
from skybox_nb.cli import main

real = seams._pole_structure

def slow(*args, **kwargs):  # the pole thread in and out of OpenCV when Ctrl-C comes
    small = np.random.default_rng(0).random((96, 96), np.float32)
    for _ in range(20000):
        cv2.GaussianBlur(small, (0, 0), 3)
    return real(*args, **kwargs)

seams._pole_structure = slow
threading.Timer(0.4, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT)).start()
sys.exit(main(["seams", sys.argv[1]]))
"""


def test_ctrl_c_during_a_check_exits_cleanly_with_the_pole_thread_busy(tmp_path):
    # The interrupted caller waits for the pole thread: a thread left inside an OpenCV
    # call while the interpreter exits aborts the process ("terminate called ...", 134).
    import subprocess
    import sys

    path = tmp_path / "pano.png"
    Image.fromarray(pinch_pole(render(textured, W, H))).save(path)
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", _INTERRUPTED, str(path)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 130, (done.returncode, done.stderr[-500:])
        assert done.stderr.strip().splitlines()[-1] == "interrupted", done.stderr[-500:]
