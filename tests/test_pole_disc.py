"""The caller's pole disc: ``repair(..., pole_disc=DEG)`` and ``skybox-nb repair
--pole-disc DEG`` mend every failing pole with a disc of that radius instead of the one
the artefact's measured extent sets (a smaller one keeps more of a floor around a
pinch), and a bad value is refused by name before anything is read or written."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from skybox_nb.panorama import Panorama
from skybox_nb.repair import MAX_DISC_DEG, SOFT_DISC_DEG, disc_degrees, repair

from synthetic import radial_streaks, render, textured

W, H = 1024, 512


@pytest.fixture(scope="module")
def streaked() -> np.ndarray:
    crisp = render(textured, W, H, finest=300.0)
    return radial_streaks(crisp, north=False, cap_deg=30.0, amount=40.0)


def test_a_smaller_disc_changes_only_its_own_rows(streaked):
    measured = repair(streaked, wrap=False)
    assert disc_degrees(measured.before.poles.south) >= SOFT_DISC_DEG
    # the advice for a large disc names the smaller one
    assert any("pole_disc=16" in s and "--pole-disc 16" in s for s in measured.steps)
    r = repair(streaked, wrap=False, pole_disc=12)
    assert any("a 12-degree disc (asked for)" in s for s in r.steps), r.steps
    rows = np.flatnonzero(r.mask.any(axis=1))
    assert rows.min() >= H - math.ceil(H * 12 / 180) - 1
    assert r.mask.sum() < measured.mask.sum()
    assert np.array_equal(r.panorama.array[~r.mask], streaked[~r.mask])
    assert r.psnr_outside() == math.inf


def test_a_pole_row_alone_gets_a_textured_disc_when_the_caller_sets_it():
    img = render(textured, W, H, finest=300.0)
    img[:2, :W // 2] = np.clip(img[:2, :W // 2].astype(int) + 60, 0, 255)  # half the row
    measured = repair(img, wrap=False)
    assert measured.before.poles.north.rules == ["uniformity"]
    assert any("a 2-degree disc inpainted (push-pull)" in s for s in measured.steps)
    r = repair(img, wrap=False, pole_disc=8)
    assert any("a 8-degree disc" in s and "texture carried in" in s for s in r.steps), r.steps
    assert r.after.poles.north.ok, r.after.defects


@pytest.mark.parametrize("bad", [0, 0.5, 0.99, -5, MAX_DISC_DEG + 1e-6, math.nan, math.inf,
                                 "16", b"16", True, np.True_, 1j])
def test_a_bad_disc_is_refused_by_name(streaked, bad):
    with pytest.raises(ValueError, match=r"pole_disc: got .*allowed: None .* from 1 to 42"):
        repair(streaked, wrap=False, pole_disc=bad)


@pytest.mark.parametrize("ok", [1, MAX_DISC_DEG, np.float32(16), np.int64(16), 12.5])
def test_the_disc_range_is_inclusive_and_numpy_numbers_are_numbers(ok):
    from skybox_nb.repair import check_pole_disc

    assert check_pole_disc(ok) == float(ok)
    assert check_pole_disc(None) is None


def test_the_command_takes_a_disc_and_refuses_a_bad_one(streaked, tmp_path):
    src = Panorama(streaked).save(tmp_path / "pano.png", sidecar=False)
    out = tmp_path / "fixed.png"
    run = subprocess.run([sys.executable, "-m", "skybox_nb.cli", "repair", str(src),
                          "--poles", "--pole-disc", "10", "--out", str(out), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert any("a 10-degree disc" in s for s in report["steps"]), report["steps"]
    bad = subprocess.run([sys.executable, "-m", "skybox_nb.cli", "repair", str(src),
                          "--pole-disc", "90", "--out", str(tmp_path / "no.png")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert "--pole-disc: got 90.0; allowed: no --pole-disc" in bad.stderr, bad.stderr
    assert not (tmp_path / "no.png").exists()
