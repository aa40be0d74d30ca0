"""HDR estimate from an 8-bit skybox, its files, and how the original HDR of a Scenario
asset is recognised and proved (the end-to-end download: tests/test_hdri_original.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skybox_nb.errors import ProtocolError
from skybox_nb.hdr import (HdrPanorama, finalize_original, linear_to_srgb, luminance,
                           original_suffix, read_hdr, solid_angles, srgb_to_linear, to_hdr,
                           write_hdr)
from skybox_nb.panorama import PanoramaError
from tests.lighting_support import sunny_sky


def test_srgb_curve_round_trips_and_solid_angles_cover_the_sphere() -> None:
    v = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.allclose(linear_to_srgb(srgb_to_linear(v)), v, atol=1e-5)
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-4)
    assert solid_angles(100, 200).sum() * 200 == pytest.approx(4 * math.pi, rel=1e-5)


def test_the_sun_is_found_where_it_is_and_scaled_to_the_ratio() -> None:
    img = sunny_sky(512, sun_yaw=60, sun_pitch=30)
    for ratio in (1.0, 4.0, 10.0):
        hdr = to_hdr(img, sun_to_sky=ratio)
        assert hdr.sun is not None
        assert hdr.sun.yaw == pytest.approx(60, abs=1.5)
        assert hdr.sun.pitch == pytest.approx(30, abs=1.5)
        assert hdr.sun.sun_to_sky == pytest.approx(ratio, rel=1e-3)
        assert hdr.sun.solid_angle < 0.1
    # measured from the pixels: the energy within 6 degrees of the sun against the rest
    hdr = to_hdr(img, sun_to_sky=4.0)
    h, w = hdr.array.shape[:2]
    lat = (0.5 - (np.arange(h) + 0.5) / h) * np.pi
    lon = ((np.arange(w) + 0.5) / w * 2 - 1) * np.pi
    d = np.stack(np.broadcast_arrays(np.cos(lat)[:, None] * np.sin(lon), np.sin(lat)[:, None],
                                     np.cos(lat)[:, None] * np.cos(lon)), -1)
    near = d @ np.array(hdr.sun.direction) > np.cos(np.radians(6))
    energy = luminance(hdr.array) * solid_angles(h, w)
    assert energy[near].sum() / energy[~near].sum() == pytest.approx(4.0, rel=0.1)


def test_a_sun_across_the_wrap_seam_is_found_whole() -> None:
    hdr = to_hdr(sunny_sky(512, sun_yaw=179.5, sun_pitch=20))
    assert hdr.sun is not None
    assert abs(((hdr.sun.yaw + 180) % 360) - 180) == pytest.approx(179.5, abs=1.5)


def test_no_sun_in_a_sky_without_one_and_the_rest_is_plain_srgb_decoding() -> None:
    img = sunny_sky(256, sun=False)
    hdr = to_hdr(img)
    assert hdr.sun is None
    # nothing near white: every pixel is the sRGB curve of its value
    assert np.allclose(hdr.array, srgb_to_linear(img / 255.0), atol=1e-6)
    assert "estimate" in hdr.assumptions["note"]


def test_highlights_expand_smoothly_and_exposure_is_in_stops() -> None:
    img = np.zeros((64, 128, 3), np.uint8)
    img[:, :, :] = np.linspace(0, 255, 128).astype(np.uint8)[None, :, None]
    hdr = to_hdr(img, sun_to_sky=None, highlight_boost=4.0, min_sun_contrast=1e6)
    row = hdr.array[0, :, 0]
    assert row[-1] == pytest.approx(4.0, rel=1e-3)  # white -> boost
    assert np.all(np.diff(row) >= 0)  # still monotonic: no contour
    lin = srgb_to_linear(img[0, :, 0] / 255.0)
    below = lin < 0.8
    assert np.allclose(row[below], lin[below])
    brighter = to_hdr(img, sun_to_sky=None, exposure=1.0, min_sun_contrast=1e6)
    assert np.allclose(brighter.array, 2 * hdr.array)


def test_an_hdr_input_is_not_changed_in_place() -> None:
    base = to_hdr(sunny_sky(256), sun_to_sky=None)
    before = base.array.copy()
    again = to_hdr(base, sun_to_sky=8.0)
    assert np.array_equal(base.array, before)
    assert again.sun is not None and again.sun.sun_to_sky == pytest.approx(8.0, rel=1e-3)


@pytest.mark.parametrize("bad", [{"sun_to_sky": -1}, {"exposure": float("nan")},
                                 {"highlight_threshold": 1.5}, {"highlight_boost": "x"}])
def test_bad_settings_name_the_field(bad: dict) -> None:
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"^{name}: got"):
        to_hdr(sunny_sky(128), **bad)


def test_files_round_trip_and_exr_is_half_float(tmp_path) -> None:
    import OpenEXR

    hdr = to_hdr(sunny_sky(256))
    for suffix, tol in ((".hdr", 0.01), (".exr", 1e-3)):
        path = hdr.save(tmp_path / f"sky{suffix}")
        back = read_hdr(path)
        assert back.array.shape == hdr.array.shape
        # RGBE shares one exponent a pixel: its error is relative to the largest channel
        rel = np.abs(back.array - hdr.array) / (hdr.array.max(axis=2, keepdims=True) + 1e-3)
        assert rel.max() < tol, suffix
        assert back.array.max() == pytest.approx(hdr.array.max(), rel=tol)
    with OpenEXR.File(str(tmp_path / "sky.exr"), separate_channels=True) as f:
        assert {n: c.pixels.dtype for n, c in f.channels().items()} == {
            "R": np.float16, "G": np.float16, "B": np.float16}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sky.exr", "sky.hdr"]  # no temps
    with pytest.raises(PanoramaError, match="^path: suffix '.png'"):
        write_hdr(hdr.array, tmp_path / "x.png")
    with pytest.raises(PanoramaError, match="^array: dtype uint8"):
        write_hdr(sunny_sky(128), tmp_path / "x.exr")


def _asset(url: str | None, mime: str | None = "image/x-exr") -> dict:
    raw = {"id": "asset_abc123", "url": "https://cdn.example/preview"}
    if url:
        raw.update(originalFileUrl=url, **({"originalMimeType": mime} if mime else {}))
    return raw


def test_the_original_suffix_comes_from_originalMimeType() -> None:
    assert original_suffix(_asset("https://cdn.example/o/k")) == ".exr"
    assert original_suffix(_asset("https://cdn.example/o/k", "image/vnd.radiance")) == ".hdr"
    assert original_suffix(_asset("https://cdn.example/o/k", "image/png")) is None  # not HDR
    assert original_suffix(_asset("https://cdn.example/o/k.hdr?sig=1", None)) == ".hdr"
    assert original_suffix(_asset("https://cdn.example/o/k", None)) is None  # unknown type
    assert original_suffix(_asset(None)) is None and original_suffix(None) is None


def test_a_truncated_original_is_refused_and_nothing_is_left(tmp_path) -> None:
    HdrPanorama(to_hdr(sunny_sky(128)).array).save(tmp_path / "orig.exr")
    tmp = tmp_path / "d" / "x.part"
    tmp.parent.mkdir()
    tmp.write_bytes((tmp_path / "orig.exr").read_bytes()[:500])
    with pytest.raises(ProtocolError, match="not a readable .exr image"):
        finalize_original(tmp, tmp_path / "d" / "a.exr")
    assert not list((tmp_path / "d").glob("*"))
    tmp.write_bytes((tmp_path / "orig.exr").read_bytes())
    assert finalize_original(tmp, tmp_path / "d" / "a.exr") == tmp_path / "d" / "a.exr"
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["a.exr"]


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_an_hdr_original_that_is_really_a_png_or_jpeg_is_refused_and_nothing_is_left(
        tmp_path, mode) -> None:
    # originalMimeType image/vnd.radiance, but the bytes are an 8-bit image (an error
    # page's picture, a preview): OpenCV decodes them by content whatever the suffix
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (32, 16), 200).save(buf, "PNG" if mode == "L" else "JPEG")
    tmp = tmp_path / "d" / "x.part"
    tmp.parent.mkdir()
    tmp.write_bytes(buf.getvalue())
    with pytest.raises(ProtocolError, match="not a readable .hdr image"):
        finalize_original(tmp, tmp_path / "d" / "a.hdr")
    assert not list((tmp_path / "d").glob("*"))
    with pytest.raises(PanoramaError, match="not a readable Radiance .hdr file"):
        (tmp_path / "b.hdr").write_bytes(buf.getvalue())
        read_hdr(tmp_path / "b.hdr")


def test_an_original_interrupted_while_it_is_proved_leaves_nothing(tmp_path, monkeypatch) -> None:
    # Ctrl-C in a notebook while a large EXR is read whole: its checked copy must go too
    import skybox_nb.hdr as hdr_module

    HdrPanorama(to_hdr(sunny_sky(128)).array).save(tmp_path / "orig.exr")
    tmp = tmp_path / "d" / "x.part"
    tmp.parent.mkdir()
    tmp.write_bytes((tmp_path / "orig.exr").read_bytes())

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(hdr_module, "read_hdr", interrupted)
    with pytest.raises(KeyboardInterrupt):
        finalize_original(tmp, tmp_path / "d" / "a.exr")
    assert not list((tmp_path / "d").glob("*"))
