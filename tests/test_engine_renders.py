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
