"""The seam check's arguments at their edges: an analysis width too narrow to hold a
panorama, or a threshold that is not a positive finite number, is refused by name (not
blamed on the image's size, nor left to divide by zero or to write NaN into the JSON)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skybox_nb.seams import seam_report

from synthetic import render, textured


@pytest.mark.parametrize("width", [0, -5, 8, 31, 2.5])
def test_a_too_narrow_analysis_width_is_refused_by_name(width):
    img = render(textured, 512, 256)
    with pytest.raises(ValueError, match=r"max_width: got .*; allowed: an integer >= 32"):
        seam_report(img, max_width=width)


def test_the_narrowest_analysis_width_checks_any_panorama():
    for w in (100, 512, 1000):
        rep = seam_report(render(textured, w, w // 2), max_width=np.int64(32))
        assert rep.analysis_size[0] <= 32 and rep.seamless in (True, False)


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "high", None])
def test_a_threshold_that_is_not_a_positive_number_is_refused_by_name(value):
    # A limit of 0 made the report's to_dict divide by zero; NaN or inf made its JSON
    # invalid; a negative one failed everything silently.
    img = render(textured, 256, 128)
    with pytest.raises(ValueError, match=r"thresholds\['pole_smear'\]: got .*; allowed: a "
                                         r"finite number > 0"):
        seam_report(img, thresholds={"pole_smear": value})


def test_a_valid_threshold_override_gives_a_json_report():
    rep = seam_report(render(textured, 256, 128), thresholds={"pole_smear": 0.01, "wrap": 1e6})
    assert rep.thresholds["pole_smear"] == 0.01 and not rep.poles.ok
    json.dumps(rep.to_dict(), allow_nan=False)
