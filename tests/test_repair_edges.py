"""Repair on the inputs at the edge of what it takes: a tiny panorama, and the bit depths
and channel counts a file can have. Whatever the input, a step the repair names changed
pixels, every pixel outside the mask is bit-identical, the dtype is kept and the report
is plain JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skybox_nb.panorama import Panorama
from skybox_nb.repair import repair
from skybox_nb.seams import seam_report

from synthetic import render, shift_half, smear_pole, textured


def test_a_tiny_panoramas_pole_row_is_mended_not_just_named():
    # 64x32: the south pole row disagrees with itself; its centre is 2.8 degrees from the
    # pole, outside a 2-degree disc.
    img = shift_half(render(textured, 64, 32), 1)
    r = repair(img, wrap=False)
    assert r.before.poles.south.rules == ["uniformity"], r.before.defects
    assert any(s.startswith("south pole") for s in r.steps)
    assert r.mask[-1].all()  # the pole row itself was changed
    assert r.after.poles.south.ok, r.after.defects
    assert np.array_equal(r.panorama.array[~r.mask], img[~r.mask])


def test_a_small_panoramas_pole_step_does_not_claim_a_measured_extent():
    # Under 256 rows the artefact's extent is not measured (extent_deg stays 0): the step
    # must not report "measured extent 0 deg" for a smear reaching 18 degrees.
    img = smear_pole(render(textured, 256, 128), 0.1, north=True)
    r = repair(img, wrap=False)
    assert not r.before.poles.north.ok
    step = next(s for s in r.steps if s.startswith("north pole"))
    assert "measured extent" not in step and "not measured" in step, step


def test_a_panorama_accepted_at_another_ratio_is_repaired_as_it_is_checked():
    # The user (or the CLI, which loads with ratio="warn") accepted a 600x256 image; the
    # check measures it, so the repair must not refuse it for its ratio.
    img = smear_pole(shift_half(render(textured, 600, 256), 3), 0.1, north=True)
    pano = Panorama(img, ratio="ignore")
    before = seam_report(pano)
    assert not before.wrap.ok and not before.poles.north.ok
    r = repair(pano)
    assert r.after.wrap.ok and r.after.poles.north.ok, r.after.defects
    assert r.panorama.array.shape == img.shape
    assert np.array_equal(r.panorama.array[~r.mask], img[~r.mask])


def test_a_float_repair_stays_within_the_images_own_range():
    # A dim HDR scene with a sun of 500 on the wrap border: the multi-band blend rings
    # around it, which must not leave negative (or brighter than the sun) radiance.
    img = shift_half(render(textured, 512, 256).astype(np.float32) / 255 * 0.05, 4)
    img[100:110, 505:] = 500.0
    img[100:110, :3] = 500.0
    r = repair(img, poles=False)
    assert r.steps and r.mask.any()
    out = r.panorama.array
    assert out.dtype == np.float32
    assert out.min() >= img.min() and out.max() <= img.max(), (out.min(), out.max())
    assert np.array_equal(out[~r.mask], img[~r.mask])
    json.dumps(r.to_dict(), allow_nan=False)


def test_a_report_of_another_image_is_refused():
    # A check of a half-size copy names its rows: mending the full image there would
    # blend the wrong rows.
    big = shift_half(render(textured, 512, 256), 4)
    small = big[::2, ::2]
    with pytest.raises(ValueError, match=r"report: the check of a 256x128 image; allowed: "
                                         r"the check of this 512x256 panorama"):
        repair(big, report=seam_report(small))
    r = repair(big, report=seam_report(big))
    assert r.after.wrap.ok
