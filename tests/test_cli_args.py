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


def test_a_folder_without_panoramas_says_so(images: Path) -> None:
    """A folder is a batch of its images (tests/test_batch.py); an empty one is named."""
    for cmd in (["cubemap", "folder"], ["seams", "folder"]):
        proc = _cli(cmd, images)
        assert proc.returncode == 2 and "no panorama files found in folder" in proc.stderr


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


def _refused(args: list[str], capsys: pytest.CaptureFixture, status: int = 2) -> str:
    """Run the CLI in-process on arguments it must refuse; returns stderr (exit
    ``status``: 2 for a usage problem, 1 for a field the contract refuses; no traceback,
    nothing started)."""
    try:
        code = main(args)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == status, err
    assert "Traceback" not in err and "offline emulator" not in err and "backend:" not in err
    return err


@pytest.mark.parametrize("args, expected", [
    (["generate", "a lake", "--num-outputs", "two"],
     "argument --num-outputs: got 'two'; allowed: an integer from 1 to 4"),
    (["generate", "a lake", "--seed", "1.5"],
     "argument --seed: got '1.5'; allowed: an integer from 0 to 2147483647"),
    (["generate", "a lake", "--strength", "lots"],
     "argument --strength: got 'lots'; allowed: a finite number from 0.01 to 1"),
    (["demo", "--port", "99999"],
     "argument --port: got '99999'; allowed: an integer from 0 (any free port) to 65535"),
    (["emulator", "--port", "abc"], "argument --port: got 'abc'; allowed: an integer from 0"),
    (["cubemap", "x.png", "--face-size", "big"],
     "argument --face-size: got 'big'; allowed: a whole number"),
    (["export", "x.png", "--out", "e", "--engine", "cryengine"],
     "argument --engine: got 'cryengine'; allowed: one of 'unity', 'godot'"),
    (["bogus"], "argument command: got 'bogus'; allowed: one of 'emulator', 'generate'"),
])
def test_a_value_argparse_cannot_take_is_named_with_what_is_allowed(args, expected, capsys):
    err = _refused(args, capsys)
    assert expected in err
    assert "usage:" not in err and len(err.strip().splitlines()) == 2  # the error, --help
    assert err.strip().endswith("--help lists what it takes)")


def test_an_unknown_option_names_its_subcommand_and_the_closest_option(capsys):
    err = _refused(["seams", "x.png", "--jsn"], capsys)
    assert err.startswith("skybox-nb seams: error: unrecognized arguments: --jsn "
                          "(did you mean --json?)")
    err = _refused(["ledger", "list", "--jsno"], capsys)
    assert err.startswith("skybox-nb ledger list: error: unrecognized arguments: --jsno "
                          "(did you mean --json?)")


def test_generate_judges_every_field_by_its_option_before_starting_anything(capsys):
    err = _refused(["generate", "a lake", "--num-outputs", "9", "--seed", "-1",
                    "--geometry-enforcement", "nan", "--dry-run"], capsys, status=1)
    lines = err.strip().splitlines()
    assert lines == [
        "error: --num-outputs (numOutputs): got 9; allowed: an integer from 1 to 4 "
        "(out of range)",
        "error: --geometry-enforcement (geometryEnforcement): got nan; allowed: a finite "
        "number from 0 to 100 (not a finite number)",
        "error: --seed: got -1; allowed: an integer from 0 to 2147483647 (out of range)",
    ]
    assert "prompt: got ''; allowed: a non-empty string" in _refused(["generate", ""], capsys, 1)


def test_generate_checks_the_init_image_file_before_starting_anything(images, capsys):
    (images / "notes.png").write_text("not an image")
    for value, says in [(str(images / "missing.png"), "no such file"),
                        (str(images / "folder"), "a folder"),
                        (str(images / "notes.png"), "is not a readable image")]:
        err = _refused(["generate", "a lake", "--image", value, "--dry-run"], capsys)
        assert err.startswith("error: --image: ") and says in err
        assert "allowed: " in err and "asset id (asset_...)" in err and "BytesIO" not in err


def test_cubemap_names_the_option_not_the_parameter(images, capsys):
    err = _refused(["cubemap", str(images / "pano.png"), "--format", "gif"], capsys)
    assert err.strip() == "skybox-nb cubemap: --format: got 'gif'; allowed: png, jpg, webp, tif, exr"
    err = _refused(["cubemap", str(images / "pano.png"), "--face-size", "0"], capsys)
    assert err.startswith("skybox-nb cubemap: --face-size: got 0; allowed: an integer from 1")


def test_seams_plot_into_a_folder_writes_the_figure_inside_it(images):
    proc = _cli(["seams", "pano.png", "--plot", "folder"], images)
    assert proc.returncode == 0, proc.stderr
    assert (images / "folder" / "pano.png").is_file() and not (images / "folder.png").exists()


def test_version_and_every_option_of_ours_has_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("skybox-nb 0.")
    subs = build_parser()._subparsers._group_actions[0].choices
    for name in ("emulator", "generate", "cubemap", "seams", "demo", "notebooks"):
        for action in subs[name]._actions:
            assert action.help, (name, action.option_strings or action.dest)


@pytest.mark.parametrize("copies", [1, 40])
def test_a_reader_that_stops_early_ends_the_output_without_a_traceback(images, copies):
    # `skybox-nb seams folder | head -1`: the pipe closes under the report (many files:
    # while printing; one: at the final flush). The command stops quietly, as cat does.
    for i in range(copies):
        (images / "folder" / f"p{i}.png").write_bytes((images / "pano.png").read_bytes())
    proc = subprocess.Popen([sys.executable, "-m", "skybox_nb.cli", "seams", "folder"],
                            cwd=images, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) != 0
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_cubemap_takes_a_panorama_stored_turned_by_exif(images: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers turn it a quarter clockwise: 256x128 upright
    Image.new("RGB", (128, 256), (20, 90, 160)).save(images / "turned.jpg", exif=exif)
    proc = _cli(["cubemap", "turned.jpg", "--out", "faces"], images)
    assert proc.returncode == 0, proc.stderr
    assert "not 2:1" not in proc.stderr


def test_seams_plot_into_a_folder_not_made_yet_when_its_name_ends_with_a_slash(images):
    proc = _cli(["seams", "pano.png", "--plot", "figures/"], images)
    assert proc.returncode == 0, proc.stderr
    assert (images / "figures" / "pano.png").is_file()
    assert not (images / "figures.png").exists()


def test_seams_plot_to_a_format_with_no_figure_writer_names_the_option(images):
    proc = _cli(["seams", "pano.png", "--plot", "figure.txt"], images)
    assert proc.returncode == 2
    assert "--plot" in proc.stderr and "'txt'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("typed", [["--bogus"], ["-x"], ["--colour=red"]])
def test_an_unknown_option_without_a_subcommand_is_named(typed, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(typed)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {typed[0]}" in err and "required" not in err


def test_no_subcommand_at_all_says_one_is_required(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "required: command" in capsys.readouterr().err
