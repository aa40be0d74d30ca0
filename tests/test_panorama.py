"""Panorama: loading from every kind of source and mode, the 2:1 check and its advice,
metadata from sidecars and files, display, and saving with GPano XMP."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from skybox_nb.panorama import MAX_PIXELS, Panorama, PanoramaError, as_array, gpano_xmp

from synthetic import render, textured

W, H = 256, 128


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return render(textured, W, H)


def _png(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", **kw)
    return buf.getvalue()


def test_loads_every_kind_of_source(tmp_path, img):
    path = tmp_path / "p.png"
    path.write_bytes(_png(img))
    for src in (path, str(path), _png(img), bytearray(_png(img)), Image.fromarray(img), img):
        p = Panorama.load(src)
        assert (p.width, p.height, p.channels) == (W, H, 3)
        assert np.array_equal(p.array, img)
    again = Panorama.load(Panorama.load(path))
    assert again.path == path and again.metadata["file"] == "p.png"


def test_modes_and_depths(img):
    rgba = np.dstack([img, np.arange(W, dtype=np.uint8)[None].repeat(H, 0)])
    assert Panorama.load(_png(rgba)).array.shape == (H, W, 4)
    gray = Panorama.load(_png(img[:, :, 0]))
    assert gray.array.shape == (H, W, 1) and gray.array.dtype == np.uint8
    pal = Image.fromarray(img).convert("P")
    assert Panorama.load(pal).channels == 3
    deep = (img[:, :, 0].astype(np.uint16) * 257)
    g16 = Panorama.load(_png(deep))  # I;16 PNG
    assert g16.array.dtype == np.uint16 and np.array_equal(g16.array[:, :, 0], deep)
    rgb16 = img.astype(np.uint16) * 257 + 3  # 48-bit PNG: Pillow alone would drop to 8 bits
    ok, enc = cv2.imencode(".png", rgb16[:, :, ::-1])
    loaded = Panorama.load(enc.tobytes())
    assert loaded.array.dtype == np.uint16 and np.array_equal(loaded.array, rgb16)
    f = Panorama(img.astype(np.float64) / 255)
    assert f.array.dtype == np.float32
    assert Panorama(img[:, :, 0] > 128).array.max() == 255  # bool -> 0/255


def test_exif_orientation_is_honoured(img):
    # store the panorama rotated a quarter turn, with EXIF saying "rotate 90 CW to view"
    stored = np.rot90(img, 1)  # (W, H): what a camera held sideways writes
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, format="PNG", exif=exif)
    p = Panorama.load(buf.getvalue())
    assert (p.width, p.height) == (W, H)
    assert np.array_equal(p.array, img)
    # the 16-bit decoder applies EXIF orientation itself: same table as Pillow's
    from skybox_nb.panorama import _orient

    for o in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        b = io.BytesIO()
        Image.fromarray(img).save(b, format="PNG", exif=ex)
        want = Panorama.load(b.getvalue(), ratio="ignore").array
        assert np.array_equal(_orient(img, o), want), o


def test_ratio_check_explains_what_to_do(img):
    photo = np.zeros((300, 400, 3), np.uint8)
    with pytest.raises(PanoramaError, match="regular photo") as e:
        Panorama(photo)
    assert "400x300" in str(e.value) and "ratio='stretch'" in str(e.value)
    wide = np.zeros((100, 400, 3), np.uint8)
    with pytest.raises(PanoramaError, match="wider than 2:1.*ratio='pad'"):
        Panorama(wide)
    assert Panorama(wide, ratio="pad").array.shape == (200, 400, 3)
    assert Panorama(wide, ratio="crop").array.shape == (100, 200, 3)
    assert Panorama(photo, ratio="stretch").array.shape == (300, 600, 3)
    assert Panorama(photo, ratio="crop").array.shape == (200, 400, 3)
    with pytest.raises(PanoramaError, match="narrower"):
        Panorama(photo, ratio="pad")
    assert Panorama(photo, ratio="ignore").width == 400
    with pytest.warns(UserWarning, match="close enough"):
        Panorama(np.zeros((127, 256, 3), np.uint8))
    with pytest.warns(UserWarning, match="regular photo"):
        Panorama(photo, ratio="warn")
    with pytest.raises(PanoramaError, match="ratio: got 'fix'"):
        Panorama(img, ratio="fix")


def test_bad_images_get_clear_errors(tmp_path):
    with pytest.raises(PanoramaError, match="too small"):
        Panorama(np.zeros((4, 8, 3), np.uint8))
    with pytest.raises(PanoramaError, match="NaN"):
        Panorama(np.full((16, 32), np.nan, np.float32))
    with pytest.raises(PanoramaError, match="dtype int64"):
        Panorama(np.zeros((16, 32), np.int64))
    with pytest.raises(PanoramaError, match=r"shape \(16, 32, 2\)"):
        Panorama(np.zeros((16, 32, 2), np.uint8))
    with pytest.raises(PanoramaError, match="cannot decode"):
        Panorama.load(b"GIF89a not really")
    with pytest.raises(PanoramaError, match="src: got int"):
        Panorama.load(42)
    with pytest.raises(FileNotFoundError):
        Panorama.load(tmp_path / "missing.png")
    huge = io.BytesIO()  # a 1-bit image: tiny file, too many pixels; refused before decoding
    Image.new("1", (20000, 10000)).save(huge, format="PNG")
    assert 20000 * 10000 > MAX_PIXELS
    with pytest.raises(PanoramaError, match="too large"):
        Panorama.load(huge.getvalue())


def test_arrays_are_wrapped_not_copied(img):
    p = Panorama(img)
    assert np.shares_memory(p.array, img)
    assert not p.array.flags.writeable and img.flags.writeable
    assert as_array(p) is p.array
    assert np.shares_memory(as_array(img), img)


def test_metadata_from_the_client_sidecar_and_the_file(tmp_path, img):
    path = tmp_path / "job_abc-0-a-beach.png"
    info = Image.fromarray(img)
    from PIL import PngImagePlugin
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Software", "skybox_nb offline emulator")
    info.save(path, pnginfo=meta)
    assert Panorama.load(path).source == "emulator"
    path.with_suffix(".json").write_text(json.dumps({
        "file": path.name,
        "request": {"prompt": "a beach", "style": "photo", "seed": 7, "geometryEnforcement": 80},
        "seed": 7, "job": {"id": "job_abc", "status": "success"},
        "asset": {"id": "asset_x", "metadata": {"note": "made by the offline emulator"}},
        "backend": "offline emulator at http://127.0.0.1:1/v1", "cu_cost": 5,
    }))
    p = Panorama.load(path, metadata={"extra": 1})
    assert p.metadata["prompt"] == "a beach" and p.metadata["style"] == "photo"
    assert p.metadata["seed"] == 7 and p.metadata["job_id"] == "job_abc"
    assert p.metadata["asset_id"] == "asset_x" and p.metadata["source"] == "emulator"
    assert p.metadata["extra"] == 1
    assert "source='emulator'" in repr(p) and "seed=7" in repr(p)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_save_writes_gpano_xmp_that_reads_back(tmp_path, img, suffix):
    p = Panorama(img, {"prompt": "a beach", "seed": 3})
    out = p.save(tmp_path / f"pano{suffix}")
    with Image.open(out) as im:
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
        assert im.size == (W, H)
    text = xmp.decode() if isinstance(xmp, bytes) else xmp
    assert 'GPano:ProjectionType="equirectangular"' in text
    assert f'GPano:FullPanoWidthPixels="{W}"' in text
    assert f'GPano:CroppedAreaImageHeightPixels="{H}"' in text
    back = Panorama.load(out)
    assert back.metadata["projection"] == "equirectangular"
    assert back.metadata["prompt"] == "a beach" and back.metadata["seed"] == 3
    if suffix == ".png":
        assert np.array_equal(back.array, img)
    assert gpano_xmp(W, H) in text or "GPano" in text


def test_display_is_downscaled():
    big = np.zeros((2048, 4096, 3), np.uint8)
    big[:, ::2] = 255
    p = Panorama(big, {"prompt": "<script>alert(1)</script>"})
    png = p._repr_png_()  # shown at 1024 wide whatever the panorama's size
    html = p._repr_html_()
    assert Image.open(io.BytesIO(png)).size == (1024, 512)
    assert len(png) < 2_000_000 and "data:image/jpeg;base64," in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert p.thumbnail(300).size == (300, 150)
    assert Panorama(big[:16, :32]).thumbnail(512).size == (32, 16)  # never upscaled
    f = Panorama(np.full((16, 32, 3), 2.0, np.float32))  # HDR values are clipped for display
    assert np.asarray(f.thumbnail()).max() == 255


def test_padding_a_partial_panorama_gives_uniform_poles():
    band = render(textured, 256, 64)  # 4:1, a panorama that does not reach the poles
    p = Panorama(band, ratio="pad")
    assert p.array.shape == (128, 256, 3)
    assert np.array_equal(p.array[32:96], band)
    assert (p.array[0] == p.array[0, 0]).all() and (p.array[-1] == p.array[-1, 0]).all()


def test_a_save_that_fails_halfway_leaves_no_partial_file(tmp_path, monkeypatch):
    import errno
    import os

    pano = Panorama.load(np.full((64, 128, 3), 90, np.uint8))
    kept = pano.save(tmp_path / "kept.png")
    before = kept.read_bytes()

    def disk_full(fd):  # the bytes went to the page cache; the disk refuses them
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    for name in ("new.png", "kept.png"):
        with pytest.raises(OSError, match="No space"):
            pano.save(tmp_path / name)
    assert not (tmp_path / "new.png").exists()
    assert kept.read_bytes() == before  # the earlier export is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.png"]


def test_bytes_that_are_no_image_are_refused_without_a_memory_address():
    # what is wrong and what is allowed; not Pillow's repr of an in-memory buffer
    with pytest.raises(PanoramaError) as err:
        Panorama.load(b"<html>502 Bad Gateway</html>")
    text = str(err.value)
    assert "cannot decode 28 bytes" in text and "BytesIO" not in text and " 0x" not in text
    assert "allowed:" in text and "PNG" in text


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_a_tiff_is_turned_by_its_orientation_once(tmp_path, orientation):
    # OpenCV and Pillow both hand a TIFF's pixels over already turned by its orientation
    # tag (Pillow's size too): turning them again would show the panorama upside down.
    from skybox_nb.panorama import _orient, image_size

    stored = np.random.default_rng(orientation).integers(0, 255, (64, 128, 3), np.uint8)
    if orientation >= 5:
        stored = np.ascontiguousarray(stored.transpose(1, 0, 2))  # upright: 128x64
    want = _orient(stored, orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "turned.tif"
    Image.fromarray(stored).save(path, exif=exif)
    for src in (path, path.read_bytes()):
        got = Panorama.load(src).array
        assert got.shape == want.shape and np.array_equal(got, want), type(src).__name__
    assert image_size(path) == (128, 64)
