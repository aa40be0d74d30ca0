"""Engine presets: what each folder holds, that the files refer to each other, the CLI."""

from __future__ import annotations

import py_compile
import re

import numpy as np
import pytest

from skybox_nb.cli import main
from skybox_nb.cubemap import to_faces
from skybox_nb.engines import BLENDER_ROTATION_Z, ENGINES, export_engine
from skybox_nb.hdr import read_hdr, srgb_to_linear
from skybox_nb.panorama import Panorama
from tests.lighting_support import sunny_sky


@pytest.fixture(scope="module")
def pano() -> np.ndarray:
    return sunny_sky(256)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_writes_a_readme_first_and_only_files_it_lists(tmp_path, pano,
                                                                    engine) -> None:
    got = export_engine(pano, engine, tmp_path / engine)
    assert got.files[0] == tmp_path / engine / "README.md"
    assert "Orientation" in got.files[0].read_text()
    on_disk = {p for p in (tmp_path / engine).rglob("*") if p.is_file()}
    assert on_disk == set(got.files)  # and no temp file left behind
    assert got.hdr is None


def test_unity_material_points_at_its_faces(tmp_path, pano) -> None:
    out = tmp_path / "u"
    export_engine(pano, "unity", out, hdr=True)
    faces = to_faces(pano, None, "unity")
    mat = (out / "Skybox6Sided.mat").read_text()
    for name, prop in (("front", "_FrontTex"), ("back", "_BackTex"), ("left", "_LeftTex"),
                       ("right", "_RightTex"), ("up", "_UpTex"), ("down", "_DownTex")):
        guid = re.search(r"guid: (\w+)", (out / f"{name}.png.meta").read_text()).group(1)
        assert re.search(rf"- {prop}:\n\s+m_Texture: {{fileID: 2800000, guid: {guid}", mat)
        assert np.array_equal(Panorama.load(out / f"{name}.png", ratio="ignore").array,
                              faces[name])
    assert "textureShape: 2" in (out / "skybox_cross.png.meta").read_text()
    exr_guid = re.search(r"guid: (\w+)", (out / "skybox.exr.meta").read_text()).group(1)
    assert f"guid: {exr_guid}" in (out / "SkyboxPanoramic.mat").read_text()
    assert len({re.search(r"guid: (\w+)", p.read_text()).group(1)
                for p in out.glob("*.meta")}) == 8  # all different


def test_godot_environment_refers_to_the_panorama(tmp_path, pano) -> None:
    out = tmp_path / "g"
    export_engine(pano, "godot", out, hdr=True)
    tres = (out / "sky_environment.tres").read_text()
    assert 'path="res://skybox/panorama.exr"' in tres and "PanoramaSkyMaterial" in tres
    assert read_hdr(out / "panorama.exr").array.shape == (128, 256, 3)
    assert 'path="res://skybox/sky_environment.tres"' in (out / "world_environment.tscn").read_text()


def test_unreal_gets_linear_light_even_without_the_estimate(tmp_path, pano) -> None:
    export_engine(pano, "unreal", tmp_path / "ue")
    lin = read_hdr(tmp_path / "ue" / "skybox.hdr").array
    want = srgb_to_linear(pano / 255.0)
    assert np.abs(lin - want).max() < 0.01 * want.max()


def test_blender_script_compiles_and_finds_its_image(tmp_path, pano) -> None:
    export_engine(pano, "blender", tmp_path / "b")
    script = tmp_path / "b" / "blender_world.py"
    py_compile.compile(str(script), doraise=True)
    text = script.read_text()
    assert "IMAGE_NAME = 'panorama.png'" in text and f"ROTATION_Z = {BLENDER_ROTATION_Z!r}" in text


def test_threejs_page_lists_the_faces_in_loader_order(tmp_path, pano) -> None:
    export_engine(pano, "threejs", tmp_path / "t")
    html = (tmp_path / "t" / "index.html").read_text()
    assert '["px.png", "nx.png", "py.png", "ny.png", "pz.png", "nz.png"]' in html


def test_pack_goes_with_any_engine(tmp_path, pano) -> None:
    got = export_engine(pano, "godot", tmp_path / "g", pack=True, pack_size=16)
    names = {p.name for p in got.files if p.parent.name == "lighting"}
    assert {"sh.json", "specular.ktx2", "specular.dds", "brdf_lut.png", "README.md"} <= names
    assert got.hdr is not None and got.hdr.sun is not None


def test_bad_engine_is_named(tmp_path, pano) -> None:
    with pytest.raises(ValueError, match="^engine: got 'unity3d'; allowed: unity, godot"):
        export_engine(pano, "unity3d", tmp_path)


def test_cli_export(tmp_path, pano, capsys) -> None:
    src = tmp_path / "sky.png"
    Panorama(pano).save(src)
    assert main(["export", str(src), "--engine", "threejs", "--hdr", "--out",
                 str(tmp_path / "t")]) == 0
    out, err = capsys.readouterr()
    assert str(tmp_path / "t" / "px.png") in out and "sun found at yaw" in err
    assert main(["export", str(tmp_path / "none.png"), "--engine", "unity", "--out",
                 str(tmp_path / "u")]) == 2
    assert "skybox-nb export:" in capsys.readouterr().err
    # an HDR file goes in as it is
    assert main(["export", str(tmp_path / "t" / "skybox.hdr"), "--engine", "godot", "--out",
                 str(tmp_path / "g")]) == 0
    assert (tmp_path / "g" / "panorama.exr").is_file()
