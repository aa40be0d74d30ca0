"""The seam check's arguments at their edges: an analysis width too narrow to hold a
panorama is refused by name, not blamed on the image's size."""

from __future__ import annotations

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
