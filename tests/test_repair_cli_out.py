"""`skybox-nb repair --out`: a folder that cannot be made, a folder named with a slash, a
JSON file of someone else's where the sidecar would go, and a picture that is not 2:1:
each is said in one line naming --out (or the file), before any work, and nothing is
written or replaced."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from synthetic import partial_seam, render, textured


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skybox_nb.cli", "repair", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture()
def seamed(tmp_path: Path) -> Path:
    Image.fromarray(partial_seam(render(textured, 256, 128), 0.2, 0.6, 50)).save(
        tmp_path / "pano.png")
    return tmp_path / "pano.png"


def test_a_folder_that_cannot_be_made_is_named(seamed: Path) -> None:
    (seamed.parent / "afile.txt").write_text("not a folder")
    for out in ("afile.txt/sub/x.png", "afile.txt/sub/"):
        run = _run(str(seamed), "--out", out, cwd=seamed.parent)
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith("skybox-nb repair: --out: cannot make the folder"), \
            run.stderr
        assert "Traceback" not in run.stderr
    assert sorted(p.name for p in seamed.parent.iterdir()) == ["afile.txt", "pano.png"]


def test_a_name_ending_with_a_slash_is_a_folder_made_for_one_input(seamed: Path) -> None:
    run = _run(str(seamed), "--out", "fixed/", cwd=seamed.parent)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (seamed.parent / "fixed").iterdir()) == [
        "pano-repaired.json", "pano-repaired.png"]


def test_someone_elses_json_is_not_replaced_by_a_sidecar(seamed: Path) -> None:
    mine = seamed.parent / "scene.json"
    mine.write_text('{"mine": 1}')
    run = _run(str(seamed), "--out", "scene.png", cwd=seamed.parent)
    assert run.returncode == 2
    assert "would replace" in run.stderr and "not a skybox-nb sidecar" in run.stderr
    assert json.loads(mine.read_text()) == {"mine": 1}
    assert not (seamed.parent / "scene.png").exists()
    # a sidecar of a panorama saved there before is the repair's to replace
    assert _run(str(seamed), "--out", "again.png", cwd=seamed.parent).returncode == 0
    assert _run(str(seamed), "--out", "again.png", cwd=seamed.parent).returncode == 0


def test_a_picture_that_is_not_two_to_one_gets_a_note_not_a_warning(tmp_path: Path) -> None:
    Image.fromarray(render(textured, 256, 128)[:, :200]).save(tmp_path / "narrow.png")
    run = _run("narrow.png", "--out", "o.png", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr.startswith("note: narrow.png is 200x128"), run.stderr
    assert "Warning" not in run.stderr
