"""Cube faces as OpenEXR (``--format exr``): half floats in linear light, the 8-bit
panorama decoded from sRGB. Encoding an EXR face back to sRGB gives the PNG face of the
same panorama within one grey level, in every convention and layout, alone and in a
batch run of the command."""

from __future__ import annotations

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from skybox_nb.cli import main
from skybox_nb.conventions import CONVENTIONS, LAYOUT_NAMES
from skybox_nb.cubemap import export
from skybox_nb.hdr import HdrPanorama, linear_to_srgb, to_hdr
from tests.synthetic import render, textured

FACE = 32


def _srgb8(path) -> np.ndarray:
    """The EXR file's linear light encoded back to 8-bit sRGB (the inverse transfer)."""
    with OpenEXR.File(str(path), separate_channels=False) as f:
        rgb = np.asarray(f.channels()["RGB"].pixels)
    assert rgb.dtype == np.float16  # half float, as engines expect
    return np.round(linear_to_srgb(rgb.astype(np.float32)) * 255).astype(np.int16)


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_exr_faces_are_the_png_faces_in_linear_light(tmp_path, convention) -> None:
    pano = render(textured, 256, 128)
    pngs = export(pano, tmp_path / "png", convention, face_size=FACE)
    exrs = export(pano, tmp_path / "exr", convention, face_size=FACE, fmt="exr")
    assert [p.stem for p in exrs] == [p.stem for p in pngs]
    assert all(p.suffix == ".exr" for p in exrs)
    for png, exr in zip(pngs, exrs):
        diff = np.abs(_srgb8(exr) - _png(png))
        assert diff.max() <= 1, (png.name, int(diff.max()))
    # linear values in the file, not sRGB-encoded ones: darker on average
    mid = np.asarray(OpenEXR.File(str(exrs[0]), separate_channels=False)
                     .channels()["RGB"].pixels, np.float32)
    assert mid.mean() < (_png(pngs[0]) / 255.0).mean() - 0.1


@pytest.mark.parametrize("layout", [x for x in LAYOUT_NAMES if x != "six"])
def test_exr_layouts_match_the_png_layouts(tmp_path, layout) -> None:
    pano = render(textured, 256, 128)
    (png,) = export(pano, tmp_path, "unity", layout, FACE)
    (exr,) = export(pano, tmp_path, "unity", layout, FACE, fmt="exr")
    assert exr.name == f"{layout}.exr"
    assert np.abs(_srgb8(exr) - _png(png)).max() <= 1


def test_an_hdr_panorama_keeps_its_light_in_exr_faces(tmp_path) -> None:
    hdr = to_hdr(render(textured, 256, 128))
    hdr.array[10:14, 120:124] = 500.0  # a sun far brighter than 8 bits hold
    faces = export(HdrPanorama(hdr.array), tmp_path, "generic", face_size=FACE, fmt="exr")
    peak = max(float(np.asarray(OpenEXR.File(str(p), separate_channels=False)
                                .channels()["RGB"].pixels, np.float32).max()) for p in faces)
    assert peak > 100.0


def test_the_command_writes_exr_faces_alone_and_in_a_batch(tmp_path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        Image.fromarray(render(textured, 256, 128, seed=i)).save(src / f"p{i}.png")
    assert main(["cubemap", str(src / "p0.png"), "--face-size", str(FACE), "--format", "exr",
                 "--out", str(tmp_path / "one")]) == 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == \
        sorted(f"{n}.exr" for n, _ in CONVENTIONS["generic"].faces)
    assert main(["cubemap", str(src), "--face-size", str(FACE), "--format", "exr",
                 "--layout", "hcross", "--out", str(tmp_path / "many"), "--jobs", "2"]) == 0
    for i in range(2):
        (exr,) = (tmp_path / "many" / f"p{i}").iterdir()
        (png,) = export(src / f"p{i}.png", tmp_path / f"ref{i}", "generic", "hcross", FACE)
        assert np.abs(_srgb8(exr) - _png(png)).max() <= 1
    assert main(["cubemap", str(src / "p0.png"), "--format", "hdr", "--out",
                 str(tmp_path / "bad")]) == 2
