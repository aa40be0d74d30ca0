"""`skybox-nb upscale` refuses a bad argument before it starts anything: no client, no
emulator, nothing quoted. Each refusal is one line naming the option, the value and what
is allowed."""

from __future__ import annotations

import pytest
from PIL import Image

import skybox_nb.client
from skybox_nb.cli import main


@pytest.fixture()
def no_client(monkeypatch, tmp_path):
    """A client that must never be made: making one (which starts the emulator when no
    credentials are set) fails the test."""
    made = []

    def refuse(*args, **kwargs):
        made.append((args, kwargs))
        raise AssertionError("a client was started before the arguments were checked")

    monkeypatch.setattr(skybox_nb.client, "SkyboxClient", refuse)
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (64, 32), (90, 120, 200)).save(tmp_path / "pano.png")
    (tmp_path / "notes.png").write_text("not an image")
    return made


def _run(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse refuses with exit status 2
        rc = e.code
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("argv,said", [
    (["missing.png"], "input: got 'missing.png', no such file; allowed: an image file"),
    (["notes.png"], "input: notes.png is not a readable image"),
    (["pano.png", "--factor", "9"],
     "--factor (upscaleFactor): got 9; allowed: an integer from 2 to 8"),
    (["pano.png", "--factor", "1"],
     "--factor (upscaleFactor): got 1; allowed: an integer from 2 to 8"),
    (["pano.png", "--factor", "two"], "argument --factor: got 'two'; allowed: a whole number"),
    (["pano.png", "--strength", "1.5"],
     "--strength: got 1.5; allowed: a finite number from 0.01 to 1"),
    (["pano.png", "--max-cost", "-1"],
     "argument --max-cost: got '-1'; allowed: a number of CU >= 0"),
    (["pano.png", "--max-cost", "nan"],
     "argument --max-cost: got 'nan'; allowed: a number of CU >= 0"),
])
def test_upscale_refuses_a_bad_argument_before_starting_anything(no_client, capsys, argv, said):
    rc, err = _run(["upscale", *argv], capsys)
    assert rc == 2
    assert said in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert no_client == []


def test_an_asset_id_is_not_taken_for_a_missing_file(no_client, capsys):
    # the id passes the local checks; the client (refused here) is what reads it
    with pytest.raises(AssertionError, match="a client was started"):
        main(["upscale", "asset_abc123", "--factor", "4", "--max-cost", "0"])
    assert len(no_client) == 1
