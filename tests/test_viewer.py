"""Python-side tests of Viewer360: what it sends to the browser, its view rules, its errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skybox_nb.widgets.viewer import FOV_MAX, FOV_MIN, Viewer360, ViewerInputError


def _pano(w: int = 256, h: int = 128) -> np.ndarray:
    """A panorama whose colour encodes longitude (red) and latitude (green)."""
    x = np.linspace(0, 255, w, dtype=np.float64)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float64)[:, None].repeat(w, 1)
    return np.stack([x, y, np.full_like(x, 60)], -1).astype(np.uint8)


def _decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_small_panorama_is_sent_as_is_as_jpeg() -> None:
    v = Viewer360(_pano())
    img = _decode(v.image)
    assert img.format == "JPEG" and img.size == (256, 128)
    assert v.image_size == (256, 128) and v.source_size == (256, 128)
    # the colours survive the trip (JPEG at q92 stays close)
    assert np.abs(np.asarray(img.convert("RGB"), float) - _pano()).mean() < 3


def test_large_panorama_is_downscaled_to_max_width() -> None:
    big = np.zeros((1024, 2048, 3), np.uint8)
    big[:, 1024:] = 255
    v = Viewer360(big, max_width=512)
    img = _decode(v.image)
    assert img.size == (512, 256)
    assert v.source_size == (2048, 1024) and v.image_size == (512, 256)
    arr = np.asarray(img.convert("L"), float)
    assert arr[:, :250].mean() < 10 and arr[:, 262:].mean() > 245  # halves stay where they were
    assert len(v.image) < 60_000


def test_default_cap_is_2048_wide_and_never_upscales() -> None:
    v = Viewer360(np.zeros((1100, 2200, 3), np.uint8))
    assert v.image_size == (2048, 1024) and v.max_width == 2048
    v.set_panorama(np.zeros((32, 64, 3), np.uint8))
    assert v.image_size == (64, 32)


def test_png_format_is_lossless() -> None:
    v = Viewer360(_pano(), image_format="png")
    img = _decode(v.image)
    assert img.format == "PNG"
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), _pano())


def test_sources_path_bytes_pil_float_and_panorama_like(tmp_path: Path) -> None:
    arr = _pano()
    path = tmp_path / "p.png"
    Image.fromarray(arr).save(path)
    shown = [Viewer360(path), Viewer360(str(path)), Viewer360(path.read_bytes()),
             Viewer360(Image.fromarray(arr)), Viewer360(arr.astype(np.float32) / 255.0),
             Viewer360((arr.astype(np.uint16) * 257)), Viewer360(arr[..., :1].repeat(1, 2)[..., :1])]
    for v in shown:
        assert v.image_size == (256, 128)
    rgb = np.asarray(_decode(shown[4].image).convert("RGB"), float)
    assert np.abs(rgb - arr).mean() < 3

    class FakePanorama:  # the duck type of skybox_nb.panorama.Panorama
        width, height = 4096, 2048
        array = arr
        asked: list[int] = []

        def thumbnail(self, max_width: int = 512) -> Image.Image:
            self.asked.append(max_width)
            return Image.fromarray(arr)

    p = FakePanorama()
    v = Viewer360(p, max_width=1024)
    assert p.asked == [1024]  # the panorama shrinks itself; the full array is never read
    assert v.source_size == (4096, 2048) and v.image_size == (256, 128)


def test_look_sets_and_normalises_the_view() -> None:
    v = Viewer360(_pano())
    assert v.look(yaw=190, pitch=-45, fov=60) is v
    assert v.view() == {"yaw": -170.0, "pitch": -45.0, "fov": 60.0}
    v.look(pitch=90)  # None keeps the others
    assert v.view() == {"yaw": -170.0, "pitch": 90.0, "fov": 60.0}
    v.look(yaw=-540)
    assert v.yaw == -180.0
    v.look(yaw=180)
    assert v.yaw == -180.0  # one name for the seam direction


def test_look_reports_bad_values_and_changes_nothing() -> None:
    v = Viewer360(_pano(), yaw=10, pitch=5, fov=70)
    for kwargs, field in [({"pitch": 91}, "pitch"), ({"fov": FOV_MAX + 1}, "fov"),
                          ({"fov": FOV_MIN - 1}, "fov"), ({"yaw": float("nan")}, "yaw"),
                          ({"yaw": "north"}, "yaw"), ({"yaw": 20, "pitch": -100}, "pitch")]:
        with pytest.raises(ViewerInputError) as e:
            v.look(**kwargs)
        assert str(e.value).startswith(f"{field}: got ")
        assert "allowed" in str(e.value)
        assert isinstance(e.value, ValueError)
    assert v.view() == {"yaw": 10.0, "pitch": 5.0, "fov": 70.0}
    with pytest.raises(ViewerInputError, match="pitch: got 95"):
        v.pitch = 95  # the trait itself keeps the rule (the browser's updates go through it)


def test_bad_sources_are_named(tmp_path: Path) -> None:
    cases = [
        (np.zeros((100, 100, 3), np.uint8), "an equirectangular panorama is 2:1"),
        (np.zeros((10, 20, 5), np.uint8), "is not an image"),
        (np.zeros((64, 128, 3), np.int64), "dtype int64 is not supported"),
        (np.full((64, 128, 3), np.nan, np.float32), "NaN"),
        (tmp_path / "missing.png", "no such file"),
        (b"not an image at all", "cannot decode"),
        (42, "got 'int'"),
    ]
    for src, words in cases:
        with pytest.raises(ViewerInputError, match="panorama: got") as e:
            Viewer360(src)
        assert words in str(e.value), (words, str(e.value))


def test_bad_options_are_named() -> None:
    with pytest.raises(ViewerInputError, match="max_width: got 10"):
        Viewer360(_pano(), max_width=10)
    with pytest.raises(ViewerInputError, match="image_format: got 'gif'"):
        Viewer360(_pano(), image_format="gif")
    with pytest.raises(ViewerInputError, match="mode: got 'globe'"):
        Viewer360(_pano(), mode="globe")
    with pytest.raises(ViewerInputError, match="height: got 50"):
        Viewer360(_pano(), height=50)


def test_faces_are_cut_only_for_the_cube_modes() -> None:
    v = Viewer360(_pano(512, 256))
    assert v.faces == b"" and v.face_size == 0  # sphere mode needs none
    v.mode = "cube"
    strip = np.asarray(_decode(v.faces).convert("RGB"), float)
    assert v.face_size == 128 and strip.shape == (128, 6 * 128, 3)
    # F R B L: front is the image centre (red ~ 128), right/back/left follow longitude
    reds = [strip[40:88, k * 128 + 40:k * 128 + 88, 0].mean() for k in range(4)]
    assert abs(reds[0] - 128) < 12 and abs(reds[1] - 191) < 12 and abs(reds[3] - 64) < 12
    # up is the top rows (green ~ 0), down the bottom rows (green ~ 255)
    assert strip[40:88, 4 * 128 + 40:4 * 128 + 88, 1].mean() < 40
    assert strip[40:88, 5 * 128 + 40:5 * 128 + 88, 1].mean() > 215
    # a new panorama in a cube mode brings its own faces
    before = v.faces
    v.set_panorama(_pano(256, 128)[:, ::-1].copy())
    assert v.faces != before and v.face_size == 64
    v.mode = "sphere"
    v.set_panorama(_pano())
    assert v.faces == b""


def test_sync_metadata_and_shipped_module() -> None:
    v = Viewer360(_pano(), show_seams=True, height=320, caption="seed 7")
    state = v.get_state()
    for key in ("image", "yaw", "pitch", "fov", "show_seams", "mode", "height", "faces", "caption"):
        assert key in state
    assert state["show_seams"] is True and state["height"] == 320
    assert "source_size" not in state  # Python-side information only
    esm = v._esm if isinstance(v._esm, str) else str(v._esm)
    assert "export default" in esm and "getContext(\"webgl\"" in esm
    assert "http://" not in esm and "https://" not in esm  # nothing is fetched at run time
    assert "240x" not in repr(v) and "Viewer360(256x128 shown" in repr(v)


def test_panorama_objects_are_shown_through_their_thumbnail() -> None:
    from skybox_nb.panorama import Panorama

    pano = Panorama.load(_pano(512, 256))
    v = Viewer360(pano, max_width=256)
    assert v.source_size == (512, 256) and v.image_size == (256, 128)
    shown = np.asarray(_decode(v.image).convert("RGB"), float)
    # longitude still runs left to right (red), latitude top to bottom (green)
    assert shown[:, :20, 0].mean() < 30 and shown[:, -20:, 0].mean() > 225
    assert shown[:10, :, 1].mean() < 30 and shown[-10:, :, 1].mean() > 225


def test_every_control_can_be_driven_from_python() -> None:
    v = Viewer360(_pano(), caption="seed 1")
    v.show_seams = True
    v.height = 250
    v.caption = "seed 2 · fantasy"
    assert v.get_state()["show_seams"] is True and v.get_state()["height"] == 250
    assert v.get_state()["caption"] == "seed 2 · fantasy"
    v.set_panorama(_pano(128, 64), caption="seed 3")
    assert v.caption == "seed 3" and v.image_size == (128, 64) and v.show_seams
    v.mode = "net"
    assert v.face_size == 32 and _decode(v.faces).format == "JPEG"
    v.image_format = "png"  # re-encodes what is shown, faces included
    assert _decode(v.image).format == "PNG" and _decode(v.faces).format == "PNG"
    np.testing.assert_array_equal(np.asarray(_decode(v.image).convert("RGB")), _pano(128, 64))
    with pytest.raises(ViewerInputError, match="image_format: got 'webp'"):
        v.image_format = "webp"


def test_the_cube_net_layout_comes_from_python() -> None:
    from skybox_nb.conventions import LAYOUTS, get_convention

    v = Viewer360(_pano())
    net = v.get_state()["net"]
    (rows, cols), cells = LAYOUTS["hcross"]
    generic = get_convention("generic")
    assert (net["rows"], net["cols"]) == (rows, cols)
    assert [(c["row"], c["col"], generic.names[c["face"]]) for c in net["cells"]] == [
        (r, c, generic.name_of(axis)) for r, c, axis, _ in cells]
    esm = v._esm if isinstance(v._esm, str) else str(v._esm)
    assert '"front"' not in esm and "vec2(4.0, 3.0)" not in esm  # no copy of the layout in JS
    assert 'model.get("net")' in esm
