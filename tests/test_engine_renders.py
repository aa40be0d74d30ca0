"""The Blender and Godot exports proven in the engines: Cycles renders of the exported
world, and Godot's renders of the exported sky, looking along the four sides, up and
down, against `perspective()` of the panorama.

Needs Debian's ``blender``, ``godot3`` and ``xvfb`` (``./dev test`` installs them). The
renders are kept in test-artifacts/blender/ and test-artifacts/godot/ for people to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pytest
from PIL import Image

from skybox_nb.cubemap import perspective
from skybox_nb.engines import export_engine
from skybox_nb.hdr import linear_to_srgb, read_hdr
from tests.synthetic import render, textured

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWS = (("yaw0", 0, 0), ("yaw90", 90, 0), ("yaw180", 180, 0), ("yaw270", 270, 0),
         ("up", 0, 90), ("down", 0, -90))
SIZE = 64


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two pictures' grey levels (1 = same up to gain)."""
    a = a.astype(np.float64).mean(axis=2)
    b = b.astype(np.float64).mean(axis=2)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def check_views(shot: Callable[[str], Image.Image], source: np.ndarray,
                views: Iterable[tuple], size: int, out: Path) -> dict[str, float]:
    """Compare an engine's render of each view (name, yaw, pitch, ...) with
    `perspective()` of ``source``: NCC >= 0.9 each, while the view turned half a turn or
    mirrored must not match (so the check can fail). Keeps the expected pictures and the
    scores beside the renders in ``out``."""
    scores = {}
    for name, yaw, pitch, *_ in views:
        got = np.asarray(shot(name).convert("RGB"))
        want = perspective(source, yaw, pitch, 90, (size, size))
        Image.fromarray(want).save(out / f"expected_{name}.png")
        scores[name] = ncc(got, want)
        assert ncc(got, perspective(source, yaw + 180, pitch, 90, (size, size))) < 0.5, name
        assert ncc(got[:, ::-1], want) < 0.7, name
    (out / "scores.json").write_text(json.dumps(scores, indent=1))
    assert min(scores.values()) >= 0.9, scores
    return scores


def _blender() -> str:
    exe = shutil.which("blender")
    if exe is None:
        raise RuntimeError("this test needs Debian's blender: apt-get install -y blender "
                           "(./dev test installs it)")
    return exe


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("hdr", [False, True], ids=["png", "exr"])
def test_blender_renders_the_exported_world_the_right_way_round(tmp_path, hdr) -> None:
    pano = render(textured, 512, 256)
    folder = tmp_path / "blender"
    export_engine(pano, "blender", folder, hdr=hdr, sun_to_sky=None)
    out = ARTIFACTS / "blender" / ("exr" if hdr else "png")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    views = Path(__file__).with_name("blender_views.py")
    run = subprocess.run(
        [_blender(), "-b", "--factory-startup", "-noaudio", "-P", str(views), "--",
         str(folder / "blender_world.py"), str(out), str(SIZE)],
        capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    # what Blender shows is compared with the image it was given (for --hdr, the .exr)
    # (Blender's Standard view: the linear values encoded to sRGB and clipped)
    source = (linear_to_srgb(read_hdr(folder / "panorama.exr").array) * 255).astype(np.uint8) \
        if hdr else pano
    check_views(lambda name: Image.open(out / f"view_{name}.png"), source, VIEWS, SIZE, out)


def _godot() -> list[str]:
    exe, xvfb = shutil.which("godot3"), shutil.which("xvfb-run")
    if exe is None or xvfb is None:
        raise RuntimeError("this test needs Debian's godot3 and xvfb: apt-get install -y "
                           "godot3 xvfb (./dev test installs them)")
    return [xvfb, "-a", "-s", "-screen 0 128x128x24", exe]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("hdr", [False, True], ids=["png", "exr"])
def test_godot_renders_the_exported_sky_the_right_way_round(tmp_path, hdr) -> None:
    """The Godot 4 export's panorama and its ``sky_rotation``, rendered by Godot 3.2
    (Debian's godot3, GLES3 on Mesa's llvmpipe under Xvfb): Godot 3's PanoramaSky and
    Godot 4's PanoramaSkyMaterial look a direction up the same way (u = atan2(x, -z) / 2pi,
    v = acos(y) / pi, read in both engines' sky shaders), so this proves the export's
    orientation for Godot 4 too."""
    import re

    pano = render(textured, 512, 256)
    folder = tmp_path / "godot"
    export_engine(pano, "godot", folder, hdr=hdr, sun_to_sky=None)
    tres = (folder / "sky_environment.tres").read_text()
    image = folder / re.search(r'path="res://skybox/([^"]+)"', tres).group(1)
    rotation_y = re.search(r"sky_rotation = Vector3\(0, ([-0-9.]+), 0\)", tres).group(1)
    out = ARTIFACTS / "godot" / ("exr" if hdr else "png")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    project = tmp_path / "project"
    project.mkdir()
    (project / "project.godot").write_text("config_version=4\n")
    env = {**os.environ, "SKYBOX_GODOT_PANORAMA": str(image), "SKYBOX_GODOT_OUT": str(out),
           "SKYBOX_GODOT_SKY_ROTATION_Y": rotation_y, "HOME": str(tmp_path)}
    run = subprocess.run(
        _godot() + ["--path", str(project), "--resolution", f"{SIZE}x{SIZE}", "-s",
                    str(Path(__file__).with_name("godot_views.gd"))],
        capture_output=True, text=True, timeout=280, env=env)
    assert run.returncode == 0 and "rendered 6 views" in run.stdout, \
        run.stdout[-2000:] + run.stderr[-2000:]
    # Godot's linear tonemap shows the .exr's linear values encoded to sRGB
    source = (linear_to_srgb(read_hdr(image).array) * 255).astype(np.uint8) if hdr else pano
    check_views(lambda name: Image.open(out / f"view_{name}.png"), source, VIEWS, SIZE, out)
