"""The cold `skybox-nb seams FILE` path stays lean: a fresh process checking a plain PNG
or JPEG loads none of the heavy modules the check does not use (the client and its
transport, widgets, plotting, Pillow, the ledger, the emulator, scipy, multiprocessing,
numpy's masked arrays and FFT) and starts no spinning BLAS threads; and a plain file read
without Pillow gives the same pixels, metadata and errors as Pillow's reading."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from skybox_nb import imagehead, panorama
from skybox_nb.panorama import Panorama, gpano_xmp

from synthetic import pinch_pole, render, textured

# Each costs a fresh `skybox-nb seams` run time (imports or, for the package's own, their
# compilation) and none is needed to check a PNG or JPEG.
HEAVY = ("httpx", "ipywidgets", "anywidget", "matplotlib", "PIL", "scipy", "tqdm", "sqlite3",
         "email", "multiprocessing", "concurrent.futures.process", "numpy.ma", "numpy.fft",
         "traceback", "difflib",
         "skybox_nb.client", "skybox_nb.ledger", "skybox_nb.emulator", "skybox_nb.plots",
         "skybox_nb.errors", "skybox_nb.contract", "skybox_nb.files", "skybox_nb.request",
         "skybox_nb.repair", "skybox_nb.cli_ledger", "skybox_nb.cli_family",
         "skybox_nb.upscale", "skybox_nb.widgets")

_CHILD = """
import json, os, sys
from skybox_nb.cli import main
rc = main(["seams", *sys.argv[2:]])
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "modules": sorted(sys.modules),
               "blas": os.environ.get("OPENBLAS_NUM_THREADS")}, f)
"""


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return render(textured, 512, 256)


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_a_cold_seams_run_loads_no_heavy_module(tmp_path: Path, img: np.ndarray,
                                                suffix: str) -> None:
    path = Panorama(img).save(tmp_path / f"pano.{suffix}", sidecar=False)
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    for extra in ([], ["--json"]):
        run = subprocess.run([sys.executable, "-c", _CHILD, str(out), str(path), *extra],
                             capture_output=True, text=True, timeout=120, env=env)
        assert run.returncode == 0, run.stderr
        assert "seamless" in run.stdout
        found = json.loads(out.read_text())
        assert found["rc"] == 0
        loaded = [m for m in HEAVY if m in found["modules"]]
        assert loaded == [], f"`skybox-nb seams {path.name}` imported {loaded}"
        assert "skybox_nb.seams" in found["modules"]  # the check itself did run
        assert found["blas"] == "1"  # numpy's BLAS threads would only spin
    # a value the user set is theirs
    run = subprocess.run([sys.executable, "-c", _CHILD, str(out), str(path)], timeout=120,
                         capture_output=True, text=True, env={**env, "OPENBLAS_NUM_THREADS": "3"})
    assert run.returncode == 0 and json.loads(out.read_text())["blas"] == "3", run.stderr


def test_a_cold_run_that_measures_a_pole_extent_loads_no_heavy_module(tmp_path: Path) -> None:
    # A failing pole on an image of 256 rows or more has its extent measured (the
    # ring profile, whose symmetry once went through numpy.fft).
    bad = pinch_pole(render(textured, 1024, 512, finest=200.0), north=True, cap_deg=15.0)
    path = Panorama(bad).save(tmp_path / "pinched.png", sidecar=False)
    out = tmp_path / "modules.json"
    run = subprocess.run([sys.executable, "-c", _CHILD, str(out), str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    report = json.loads(run.stdout)
    assert report["poles"]["north"]["ok"] is False, report["poles"]["north"]
    assert report["poles"]["north"]["extent_degrees"] > 0
    loaded = [m for m in HEAVY if m in json.loads(out.read_text())["modules"]]
    assert loaded == [], f"`skybox-nb seams {path.name}` imported {loaded}"


def _variants(tmp: Path, img: np.ndarray) -> dict[str, Path]:
    """Files the plain reader takes and files it must leave to Pillow."""
    out = {f"saved.{s}": Panorama(img).save(tmp / f"saved.{s}", sidecar=False)
           for s in ("png", "jpg", "webp")}  # with GPano XMP
    soft = PngImagePlugin.PngInfo()
    soft.add_text("Software", "skybox_nb offline emulator")
    zxmp = PngImagePlugin.PngInfo()
    zxmp.add_itxt("XML:com.adobe.xmp", gpano_xmp(512, 256), zip=True)
    exif = Image.Exif()
    exif[0x0112] = 3  # turned half a turn
    rgb = Image.fromarray(img)
    saves = {"software.png": dict(pnginfo=soft), "zxmp.png": dict(pnginfo=zxmp),
             "rot.jpg": dict(exif=exif), "rot.png": dict(exif=exif),
             "trns.png": dict(transparency=(1, 2, 3)), "progressive.jpg": dict(progressive=True)}
    for name, kw in saves.items():
        rgb.save(tmp / name, **kw)
        out[name] = tmp / name
    rgb.convert("P").save(tmp / "palette.png")
    Image.fromarray(np.dstack([img, img[:, :, :1]])).save(tmp / "rgba.png")
    Image.fromarray(img[:, :, 0]).save(tmp / "grey.jpg")
    for name in ("palette.png", "rgba.png", "grey.jpg"):
        out[name] = tmp / name
    for name, src in (("cut.jpg", "progressive.jpg"), ("cut.png", "software.png")):
        raw = out[src].read_bytes()
        (tmp / name).write_bytes(raw[: len(raw) // 2])
        out[name] = tmp / name
    bad = bytearray(out["software.png"].read_bytes())
    bad[40] ^= 0xFF  # inside a chunk before the pixels: its checksum no longer holds
    (tmp / "badcrc.png").write_bytes(bytes(bad))
    out["badcrc.png"] = tmp / "badcrc.png"
    return out


def _read(path: Path) -> tuple[np.ndarray | None, dict | None, str | None]:
    try:
        arr, info = panorama._open(path)
        return arr, info, None
    except panorama.PanoramaError as e:
        return None, None, str(e)


def test_the_plain_reader_reads_what_pillow_reads(tmp_path: Path, img: np.ndarray,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    files = _variants(tmp_path, img)
    plain = {name for name, p in files.items() if imagehead.plain(p.read_bytes())}
    # what needs Pillow's care goes to Pillow; plain files do not
    assert {"saved.png", "saved.jpg", "software.png", "progressive.jpg", "rgba.png",
            "grey.jpg"} <= plain
    assert not plain & {"saved.webp", "zxmp.png", "rot.jpg", "rot.png", "trns.png",
                        "palette.png", "badcrc.png"}
    fast = {name: _read(p) for name, p in files.items()}
    monkeypatch.setattr(panorama, "_open_plain", lambda data: None)  # Pillow for all
    for name, p in files.items():
        arr, info, err = _read(p)
        f_arr, f_info, f_err = fast[name]
        assert f_err == err, name
        if err is None:
            assert f_arr.dtype == arr.dtype and np.array_equal(f_arr, arr), name
            assert f_info == info, name
    assert fast["saved.png"][1] == fast["saved.jpg"][1] == {"projection": "equirectangular"}
    assert fast["software.png"][1] == {"source": "emulator"}
    assert "truncated" in fast["cut.jpg"][2] and "truncated" in fast["cut.png"][2]


def test_image_size_reads_the_header_and_refuses_what_is_not_an_image(
        tmp_path: Path, img: np.ndarray) -> None:
    for name, p in _variants(tmp_path, img).items():
        if not name.startswith(("cut", "badcrc")):
            assert panorama.image_size(p) == (512, 256), name
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(OSError):
        panorama.image_size(tmp_path / "notes.png")


def test_xmp_in_a_plain_text_chunk_marks_the_projection_as_pillow_reads_it(
        tmp_path: Path, img: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    # Some writers put the XMP packet in an uncompressed tEXt chunk, not iTXt: Pillow
    # keeps it under its key, and the projection it names must not be lost without Pillow.
    info = PngImagePlugin.PngInfo()
    info.add_text("XML:com.adobe.xmp", gpano_xmp(512, 256).encode("utf-8").decode("latin-1"))
    Image.fromarray(img).save(tmp_path / "textxmp.png", pnginfo=info)
    fast = _read(tmp_path / "textxmp.png")
    monkeypatch.setattr(panorama, "_open_plain", lambda data: None)  # Pillow for all
    slow = _read(tmp_path / "textxmp.png")
    assert slow[1] == {"projection": "equirectangular"}
    assert fast[1] == slow[1] and np.array_equal(fast[0], slow[0])


@pytest.mark.parametrize("suffix", ["jpg", "png"])
@pytest.mark.parametrize("orientation", [6, 8])
def test_image_size_is_the_size_a_load_gives_a_file_turned_by_exif(
        tmp_path: Path, img: np.ndarray, suffix: str, orientation: int) -> None:
    # A 2:1 panorama stored upright-on-its-side with an EXIF quarter turn loads as 2:1;
    # the size the command line judges the ratio by must say so too, not 256x512.
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"turned.{suffix}"
    Image.fromarray(np.ascontiguousarray(np.rot90(img))).save(path, exif=exif)
    pano = Panorama.load(path)
    assert (pano.width, pano.height) == (512, 256)
    assert panorama.image_size(path) == (512, 256)


@pytest.mark.parametrize("zip_", [False, True])
def test_a_png_whose_exif_is_a_raw_profile_text_is_turned_as_pillow_turns_it(
        tmp_path: Path, img: np.ndarray, zip_: bool) -> None:
    # ImageMagick keeps a JPEG's EXIF in a PNG as a "Raw profile type exif" text of hex
    # digits; Pillow reads its orientation from there, and so must a load.
    exif = Image.Exif()
    exif[0x0112] = 6
    digits = exif.tobytes().hex()
    text = f"\nexif\n{len(digits) // 2:8d}\n" + "\n".join(
        digits[i:i + 72] for i in range(0, len(digits), 72)) + "\n"
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", text, zip=zip_)
    path = tmp_path / "turned.png"
    Image.fromarray(np.ascontiguousarray(np.rot90(img))).save(path, pnginfo=info)
    with Image.open(path) as im:
        assert im.getexif().get(0x0112) == 6  # what Pillow reads
    pano = Panorama.load(path)
    assert np.array_equal(pano.array, img)
    assert panorama.image_size(path) == (512, 256)


def test_a_raw_profile_exif_text_after_the_pixels_still_turns_the_image(
        tmp_path: Path, img: np.ndarray) -> None:
    # Pillow finds it there too (its EXIF lookup reads the chunks after the pixels)
    exif = Image.Exif()
    exif[0x0112] = 6
    text = f"\nexif\n{len(exif.tobytes()):8d}\n{exif.tobytes().hex()}\n".encode()
    Image.fromarray(np.ascontiguousarray(np.rot90(img))).save(tmp_path / "upright.png")
    raw = (tmp_path / "upright.png").read_bytes()
    end = raw.rindex(b"IEND") - 4  # the IEND chunk's length field
    body = b"tEXt" + b"Raw profile type exif\0" + text
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    (tmp_path / "after.png").write_bytes(raw[:end] + chunk + raw[end:])
    assert np.array_equal(Panorama.load(tmp_path / "after.png").array, img)


def test_a_cut_off_png_is_reported_in_one_line_of_ours(tmp_path: Path, img: np.ndarray) -> None:
    # libpng prints its own "libpng error: ..." lines on stderr when OpenCV decodes a
    # cut-off PNG; such a file goes to Pillow instead, so stderr holds our line alone.
    whole = _variants(tmp_path, img)["saved.png"].read_bytes()
    raw = tmp_path / "cut-in-pixels.png"
    raw.write_bytes(whole[: len(whole) * 2 // 3])  # the header whole, the pixels cut
    done = subprocess.run([sys.executable, "-m", "skybox_nb.cli", "seams", str(raw)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"skybox-nb seams: cannot read {raw}: image: cannot decode {raw}: image file is "
        "truncated"], done.stderr
