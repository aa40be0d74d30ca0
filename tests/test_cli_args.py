"""The command line's rough edges: styles by label with a suggestion, help that lists
allowed values and defaults, one-line messages for images that are not 2:1, folders and
oversized faces, and progress that is plain lines when output is not a terminal."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from skybox_nb.cli import build_parser, main
from skybox_nb.cliargs import Progress, style_arg


def test_style_by_value_or_label_in_any_case() -> None:
    assert style_arg("oil-painting") == "oil-painting"
    assert style_arg("Oil Painting") == "oil-painting" == style_arg("oil painting")
    assert style_arg("Manga (Color)") == "manga-color"
    assert style_arg("SCI-FI CONCEPT ART") == "scifi-concept-art"
    with pytest.raises(argparse.ArgumentTypeError, match="did you mean 'oil-painting'"):
        style_arg("oil paintng")


def test_generate_help_lists_allowed_values_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside the values
    sub = build_parser()._subparsers._group_actions[0].choices["generate"]
    text = " ".join(sub.format_help().split())
    assert "allowed: an integer from 1 to 4 (default: 2)" in text  # --num-outputs
    assert "oil-painting" in text and "(default: 'cinematic')" in text
    assert "0 = the style's own level" in text and "(default: random)" in text


def test_generate_refuses_a_misspelt_style_in_one_line(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "a lake", "--style", "oil paintng", "--dry-run"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "did you mean 'oil-painting'?" in err and "Traceback" not in err


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    Image.new("RGB", (300, 200), (90, 90, 90)).save(tmp_path / "photo.png")
    Image.new("RGB", (256, 128), (20, 90, 160)).save(tmp_path / "pano.png")
    (tmp_path / "folder").mkdir()
    return tmp_path


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "skybox_nb.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_cubemap_refuses_a_photo_in_one_line_and_stretch_takes_it(images: Path) -> None:
    proc = _cli(["cubemap", "photo.png", "--out", "faces"], images)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "300x200" in proc.stderr and "--stretch" in proc.stderr
    assert "Warning" not in proc.stderr and ".py:" not in proc.stderr  # no source line
    proc = _cli(["cubemap", "photo.png", "--stretch", "--out", "faces"], images)
    assert proc.returncode == 0 and len(list((images / "faces").glob("*.png"))) == 6


def test_seams_notes_a_photo_in_one_line_and_still_checks_it(images: Path) -> None:
    proc = _cli(["seams", "photo.png"], images)
    assert proc.returncode == 0 and "seam" in proc.stdout
    assert proc.stderr.strip().startswith("note: photo.png is 300x200")
    assert len(proc.stderr.strip().splitlines()) == 1 and ".py:" not in proc.stderr


def test_a_folder_given_as_a_file_says_so(images: Path) -> None:
    for cmd in (["cubemap", "folder"], ["seams", "folder"]):
        proc = _cli(cmd, images)
        assert proc.returncode == 2 and "folder: is a folder; give an image file" in proc.stderr


def test_face_size_larger_than_the_source_warns(images: Path) -> None:
    proc = _cli(["cubemap", "pano.png", "--face-size", "200", "--out", "big"], images)
    assert proc.returncode == 0
    assert "--face-size 200 is larger than this 256x128 panorama gives (64 px" in proc.stderr
    proc = _cli(["cubemap", "pano.png", "--face-size", "64", "--out", "ok"], images)
    assert proc.returncode == 0 and "larger" not in proc.stderr


def test_progress_is_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    ticks = iter(range(100))
    with Progress("generating", stream=out, clock=lambda: float(next(ticks))) as bar:
        for status, p in [("queued", 0), ("in-progress", 0.1), ("in-progress", 0.2),
                          ("in-progress", 0.6), ("success", 1.0)]:
            bar.update(status, p, "job_1")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("generating: queued 0% job_1 (")
    assert [ln.split()[1] for ln in lines] == ["queued", "in-progress", "in-progress", "success"]
