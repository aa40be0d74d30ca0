"""The image codec: OpenCV's encoders and decoder give the files and pixels Pillow would,
XMP included, and every option is checked."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from skybox_nb import codec
from skybox_nb.panorama import Panorama, PanoramaError, gpano_xmp, write_image

from synthetic import jpeg, render, textured


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return render(textured, 128, 64)


def _pil(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.mark.parametrize("level", [0, 1, 3, 6, 9])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_is_lossless_at_every_level(img, level, channels):
    a = {1: img[:, :, :1], 3: img, 4: np.dstack([img, img[:, :, 0]])}[channels]
    data = codec.encode(a, "png", compression=level)
    back = np.asarray(_pil(data))
    assert np.array_equal(back.reshape(a.shape), a)


def test_faster_levels_are_no_bigger_than_pillows_default(img):
    """The run-length strategy of the default level against Pillow's level 6."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=6)
    assert len(codec.encode(img, "png")) <= 1.15 * len(buf.getvalue())


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_lossy_formats_honour_quality(img, fmt):
    hi = codec.encode(img, fmt, quality=95)
    lo = codec.encode(img, fmt, quality=20)
    assert len(lo) < len(hi)
    err = np.abs(np.asarray(_pil(hi).convert("RGB")).astype(int) - img).mean()
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG" if fmt == "jpg" else "WEBP", quality=95)
    pillow = np.abs(np.asarray(_pil(buf.getvalue()).convert("RGB")).astype(int) - img).mean()
    assert err < 1.1 * pillow + 0.1  # what Pillow gave before, at the same quality
    assert _pil(codec.encode(np.dstack([img, img[:, :, :1]]), "jpg")).mode == "RGB"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_xmp_is_where_pillow_reads_it(img, suffix, tmp_path):
    xmp = gpano_xmp(128, 64)
    path = write_image(img, tmp_path / f"p{suffix}", xmp=xmp)
    im = Image.open(path)
    found = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    found = found.decode() if isinstance(found, bytes) else found
    assert 'GPano:ProjectionType="equirectangular"' in found
    im.load()  # and the file is still a valid image
    assert Panorama.load(path).metadata.get("projection") == "equirectangular"


def test_bad_options_get_clear_errors(img, tmp_path):
    with pytest.raises(ValueError, match="quality: got 0; allowed: an integer from 1 to 100"):
        codec.encode(img, "jpg", quality=0)
    with pytest.raises(ValueError, match="compression: got 10"):
        codec.encode(img, "png", compression=10)
    with pytest.raises(ValueError, match="compression: got True"):
        write_image(img, tmp_path / "x.png", compression=True)
    assert not list(tmp_path.iterdir())


def test_opencv_decodes_what_pillow_decodes(img, tmp_path):
    """Same pixels, modes and orientation as Pillow, for the files OpenCV reads; the
    rest (palette, grey+alpha, CMYK) are left to Pillow."""
    rgba = np.dstack([img, img[:, :, 1]])
    cases = {"rgb.png": img, "rgba.png": rgba, "grey.png": img[:, :, 0], "rgb.jpg": img,
             "rgb.webp": img}
    for name, a in cases.items():
        path = tmp_path / name
        Image.fromarray(a).save(path, quality=90)
        want = np.asarray(Image.open(path))
        got = Panorama.load(path).array
        assert np.array_equal(got.reshape(want.shape), want), name
    pal = Image.fromarray(img).convert("P")
    pal.save(tmp_path / "pal.png")
    assert codec.decode_opencv(str(tmp_path / "pal.png"), "P", "PNG") is None
    assert np.array_equal(Panorama.load(tmp_path / "pal.png").array,
                          np.asarray(pal.convert("RGB")))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: the loader turns it back
    Image.fromarray(np.ascontiguousarray(np.rot90(img, 1))).save(tmp_path / "o.jpg",
                                                                 exif=exif, quality=95)
    from PIL import ImageOps

    want = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.jpg")))
    assert want.shape == img.shape
    assert np.array_equal(Panorama.load(tmp_path / "o.jpg").array, want)


def test_a_truncated_jpeg_is_an_error_not_a_grey_image(img, tmp_path):
    data = codec.encode(img, "jpg")
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(PanoramaError, match="cannot decode|truncated"):
        Panorama.load(tmp_path / "cut.jpg")
    with pytest.raises(PanoramaError):
        Panorama.load(data[: len(data) // 2])
    whole = Panorama.load(data).array
    assert np.abs(whole.astype(int) - jpeg(img, 95)).mean() < 1
