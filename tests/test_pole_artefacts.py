"""The pole measures read in the view straight up or down: each real kind of pole artefact
(a kaleidoscope's symmetry, a fold line across the pole, a torn void, a bow-tie pinch)
is flagged by its rule at its pole, and clean or real-like textures (JPEG noise, a
stitcher's blurred cap, a ceiling grid near the pole) are not."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from skybox_nb.seams import STRUCTURE_RULES, THRESHOLDS, seam_report

from synthetic import (blurred_cap, bow_tie_pole, ceiling_grid, colour_field, fold_pole,
                       jpeg, kaleidoscope_pole, pinch_pole, render, textured, torn_void,
                       vertical_edge)

W, H = 512, 256
BASES = {
    "texture": lambda: render(textured, W, H),
    "texture, JPEG": lambda: jpeg(render(textured, W, H), 85),
    "colour field": lambda: render(colour_field, W, H),
}


def _pole(report, north: bool):
    return report.poles.north if north else report.poles.south


@pytest.mark.parametrize("base", list(BASES))
@pytest.mark.parametrize("north", [True, False])
@pytest.mark.parametrize("kind,make,rule", [
    ("kaleidoscope, 4-fold", lambda i, n: kaleidoscope_pole(i, n, folds=4), "symmetry"),
    ("kaleidoscope, 2-fold", lambda i, n: kaleidoscope_pole(i, n, folds=2), "symmetry"),
    ("fold line", fold_pole, "fold"),
    ("torn void, dark", lambda i, n: torn_void(i, n, 7.0, 30.0), "void"),
    ("torn void, light, smaller", lambda i, n: torn_void(i, n, 5.0, 220.0, seed=3), "void"),
])
def test_each_kind_is_flagged_by_its_rule_at_its_pole(kind, make, rule, north, base):
    r = seam_report(make(BASES[base](), north))
    name = "north" if north else "south"
    assert r.poles.bad == [name], (kind, r.defects)
    if rule == "void" and base == "colour field":
        # a smooth field has no texture to ring the hole: flagged, but by its rim (a knot)
        assert {"void", "knot"} & set(_pole(r, north).rules), r.defects
        return
    assert rule in _pole(r, north).rules, (kind, _pole(r, north).rules)
    (said,) = [d for d in r.defects if d.startswith(f"{name} pole")]
    word = {"symmetry": "kaleidoscope", "fold": "fold line", "void": "torn void"}[rule]
    assert word in said
    assert r.wrap.ok and r.wrap.interior_ok


@pytest.mark.parametrize("base", list(BASES))
@pytest.mark.parametrize("north", [True, False])
def test_a_bow_tie_pinch_is_flagged(north, base):
    """Planks fanning into the pole from two sides (the cabin's ceiling)."""
    r = seam_report(bow_tie_pole(BASES[base](), north))
    pole = _pole(r, north)
    assert r.poles.bad == [pole.name] and {"pinch", "knot"} & set(pole.rules), r.defects


def test_the_knot_sees_detail_crammed_into_the_pole():
    good = render(textured, W, H)
    clean = _pole(seam_report(good), True).structure
    pinched = _pole(seam_report(pinch_pole(good, True)), True)  # equator rows in the cap
    assert clean.knot < 0.8 * THRESHOLDS["pole_knot"]
    assert pinched.structure.knot > pinched.limits["knot"] > clean.knot
    assert "knot" in pinched.rules and 3 <= pinched.structure.knot_deg <= 7
    blurred = _pole(seam_report(blurred_cap(good, 0.03)), False).structure
    assert blurred.knot < clean.knot + 0.1  # a blurred cap holds less detail, never more


def test_the_symmetry_names_how_many_folds_and_the_fold_where():
    base = render(textured, 1024, 512, seed=4)
    st = _pole(seam_report(kaleidoscope_pole(base, False, folds=4)), False).structure
    assert st.symmetry > 2 * THRESHOLDS["pole_symmetry"] and st.symmetry_folds in (2, 4)
    fold = _pole(seam_report(fold_pole(base, True)), True).structure
    # the generator's break runs along the meridians +-90 deg: across the view
    assert fold.fold > THRESHOLDS["pole_fold"]
    assert min(fold.fold_azimuth, 180 - fold.fold_azimuth) < 8
    void = _pole(seam_report(torn_void(base, True, 6.0)), True).structure
    assert void.void == 1.0 and 3 <= void.void_deg <= 8


@pytest.mark.parametrize("name,img", [
    ("texture", render(textured, W, H)),
    ("texture, JPEG", jpeg(render(textured, W, H), 85)),
    ("fine texture, 2048x1024", render(textured, 2048, 1024, seed=3, finest=80)),
    ("colour field", render(colour_field, W, H)),
    ("blurred stitcher cap, 1%", blurred_cap(render(textured, W, H), 0.01)),
    ("blurred stitcher cap, JPEG", blurred_cap(jpeg(render(textured, W, H), 85), 0.01)),
    ("a tower", vertical_edge(render(textured, W, H), W // 5, 0.2, 0.8)),
    ("ceiling grid overhead", ceiling_grid(render(textured, 1024, 512, seed=2), True)),
    ("floor tiles below", ceiling_grid(jpeg(render(textured, 1024, 512, seed=2), 85), False,
                                       value=40.0)),
])
def test_clean_and_real_like_poles_are_not_flagged(name, img):
    r = seam_report(img)
    assert r.poles.ok, (name, r.defects)
    for pole in (r.poles.north, r.poles.south):
        st = pole.structure
        assert st.symmetry < 0.5 * THRESHOLDS["pole_symmetry"], name
        assert st.void < 0.5 * THRESHOLDS["pole_void"], name


def test_the_structure_measures_are_reported_and_serialised():
    img = kaleidoscope_pole(render(textured, W, H), False, folds=4)
    r = seam_report(img)
    d = json.loads(json.dumps(r.to_dict()))
    south = d["poles"]["south"]
    for k in STRUCTURE_RULES:
        assert isinstance(south[k], float)
        assert d["thresholds"][f"pole_{k}"] == THRESHOLDS[f"pole_{k}"]
    assert "symmetry" in south["rules"] and south["symmetry_folds"] in (2, 4)
    text = str(r)
    assert "south pole symmetry" in text and "FAILS" in text.split("south pole symmetry")[1][:40]
    lenient = seam_report(img, thresholds={"pole_symmetry": 5, "pole_knot": 50,
                                           "pole_uniformity": 50, "pole_pinch": 50})
    assert lenient.poles.ok, lenient.defects


def test_a_small_image_is_not_judged_by_the_view():
    r = seam_report(kaleidoscope_pole(render(textured, 256, 128), False, folds=4, cap_deg=30))
    st = r.poles.south.structure
    assert all(math.isnan(getattr(st, k)) for k in STRUCTURE_RULES)
    assert not set(STRUCTURE_RULES) & set(r.poles.south.rules)
    assert r.to_dict()["poles"]["south"]["knot"] is None
    assert np.isfinite(r.poles.score)


def test_a_repair_leaves_no_void_in_a_crisp_nadir():
    """Only the pole row failing (a stitched photo's last rows disagree): the repair fills
    the rows near the pole, not a 16-degree smooth disc that would be a blurred hole in a
    crisp nadir (the void rule), and the check passes after it."""
    from skybox_nb.repair import ROW_DISC_DEG, repair

    img = render(textured, 1024, 512, seed=6, finest=80)
    rng = np.random.default_rng(0)
    img[-2:] = rng.integers(0, 256, img[-2:].shape, dtype=np.uint8)  # the last rows torn
    r = seam_report(img)
    assert r.poles.south.rules == ["uniformity"], r.defects
    fixed = repair(img, report=r)
    assert fixed.after.seamless, fixed.after.defects
    assert f"a {ROW_DISC_DEG:.0f}-degree disc" in fixed.steps[0]
    rows = np.flatnonzero(fixed.mask.any(axis=1))
    assert rows.min() >= 512 - math.ceil(512 * ROW_DISC_DEG / 180) - 1
