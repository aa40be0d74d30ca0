"""An HDRi (float32 linear radiance, values far above 1) is checked as a person sees it:
exposed and tone-mapped, so its verdicts do not depend on its exposure. Scaled by 255 as
a picture in 0..1 is, a clean sky of radiance 50 read as a kaleidoscope at the zenith
(found by review)."""

from __future__ import annotations

import numpy as np
import pytest

from skybox_nb.hdr import srgb_to_linear
from skybox_nb.repair import repair
from skybox_nb.seams import HDR_ABOVE, seam_report

from synthetic import clouds, partial_seam, pinch_pole, radial_streaks, render, textured


@pytest.fixture(scope="module")
def sky() -> np.ndarray:
    return render(textured, 1024, 512)


def _radiance(img: np.ndarray, scale: float) -> np.ndarray:
    return (srgb_to_linear(img / 255.0) * np.float32(scale)).astype(np.float32)


@pytest.mark.parametrize("scale", [3.0, 50.0, 1000.0])
def test_verdicts_do_not_depend_on_the_exposure(sky, scale):
    for scene, flagged in ((sky, []), (partial_seam(sky), ["wrap"]), (pinch_pole(sky), ["north"])):
        hdr = _radiance(scene, scale)
        assert float(hdr.max()) > HDR_ABOVE
        picture, radiance = seam_report(scene), seam_report(hdr)
        got = [p for p, ok in (("wrap", radiance.wrap.ok), ("north", radiance.poles.north.ok),
                               ("south", radiance.poles.south.ok)) if not ok]
        assert got == flagged, (scale, radiance.defects)
        assert picture.seamless == radiance.seamless


def test_a_clean_sky_scaled_to_radiance_50_is_not_a_kaleidoscope(sky):
    bright = sky.astype(np.float32) * np.float32(50 / 255)
    assert seam_report(bright).seamless, seam_report(bright).defects


def test_a_picture_in_0_to_1_is_still_read_as_it_is(sky):
    # Floats within 0..1 (and a resampling's overshoot) are a picture: no tone mapping.
    pic = sky.astype(np.float32) / 255
    a, b = seam_report(sky), seam_report(np.minimum(pic * 1.01, HDR_ABOVE))
    assert a.wrap.score == pytest.approx(seam_report(pic).wrap.score, rel=1e-5)
    assert b.seamless == a.seamless


def test_a_repaired_hdr_zenith_passes_its_check():
    bad = radial_streaks(render(clouds, 1024, 512), north=True, cap_deg=36.0, amount=40.0)
    hdr = _radiance(bad, 50.0)
    r = repair(hdr, wrap=False)
    assert not r.before.poles.north.ok and r.after.poles.ok, r.after.defects
    assert np.array_equal(r.panorama.array[~r.mask], hdr[~r.mask])
    assert float(r.panorama.array.min()) >= float(hdr.min())


# Found by review: HDR cube faces exposed one by one, black regions, negative radiance.

@pytest.mark.parametrize("scale", [3.0, 1000.0])
def test_hdr_cube_faces_share_one_exposure(sky, scale):
    from skybox_nb.cubemap import to_faces

    assert seam_report(to_faces(sky, 256)).cube_edges.ok
    # each face exposed to its own log-average put a step at every edge between faces
    assert seam_report(to_faces(_radiance(sky, scale), 256)).cube_edges.ok


@pytest.mark.parametrize("scale", [3.0, 50.0, 1000.0])
def test_a_black_ground_does_not_blow_out_the_sky(sky, scale):
    bad = _radiance(partial_seam(sky), scale)
    bad[int(0.6 * bad.shape[0]):] = 0  # a render with no ground: exact zeros
    assert not seam_report(bad).wrap.ok


def test_negative_radiance_is_black_not_white(sky):
    from skybox_nb.seams import _analysis_copy, _hdr_exposure

    x = _radiance(sky, 50.0)
    x[300:302, 500:502] = -500.0  # a resampler's ringing beside a sun
    work, _ = _analysis_copy(x, 2048, _hdr_exposure(x))
    assert work[:, 300:302, 500:502].max() == 0
