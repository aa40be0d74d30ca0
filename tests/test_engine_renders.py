"""The Blender export proven in Blender: Cycles renders of the exported world, looking
along the four sides, up and down, against `perspective()` of the panorama.

Needs Debian's ``blender`` (``./dev test`` installs it). The renders are kept in
test-artifacts/blender/ for people to look at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skybox_nb.cubemap import perspective
from skybox_nb.engines import export_engine
from skybox_nb.hdr import read_hdr, tonemap
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
    source = tonemap(read_hdr(folder / "panorama.exr").array) if hdr else pano
    scores = {}
    for name, yaw, pitch in VIEWS:
        got = np.asarray(Image.open(out / f"view_{name}.png").convert("RGB"))
        want = perspective(source, yaw, pitch, 90, (SIZE, SIZE))
        Image.fromarray(want).save(out / f"expected_{name}.png")
        scores[name] = ncc(got, want)
        # the check can fail: the view turned half a turn, or mirrored, does not match
        assert ncc(got, perspective(source, yaw + 180, pitch, 90, (SIZE, SIZE))) < 0.5
        assert ncc(got[:, ::-1], want) < 0.7
    (out / "scores.json").write_text(json.dumps(scores, indent=1))
    assert min(scores.values()) >= 0.9, scores
