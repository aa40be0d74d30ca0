"""A child (repair, refine) is never written over its source: neither its image nor its
sidecar. ``pano.jpg`` shares the sidecar ``pano.json`` of ``pano.png``, so writing a
repair of ``pano.png`` to ``pano.jpg`` would replace the source's record (its job,
request and cost) with the repair's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from skybox_nb.cli import main
from skybox_nb.repair_cli import outputs_for
from tests.synthetic import render, shift_half, textured


def _source(tmp_path):
    img = shift_half(render(textured, 256, 128).astype(np.uint8))
    path = tmp_path / "pano.png"
    Image.fromarray(img).save(path)
    side = {"file": "pano.png", "job": {"id": "job_1"}, "request": {"prompt": "a sky"}}
    path.with_suffix(".json").write_text(json.dumps(side))
    return path, side


def test_repair_to_another_suffix_of_the_source_is_refused_and_keeps_its_sidecar(
        tmp_path, capsys):
    path, side = _source(tmp_path)
    assert main(["repair", str(path), "--out", str(tmp_path / "pano.jpg")]) == 2
    err = capsys.readouterr().err
    assert "pano.json" in err and "--out" in err, err
    assert json.loads(path.with_suffix(".json").read_text()) == side
    assert not (tmp_path / "pano.jpg").exists()


def test_outputs_for_refuses_an_output_sharing_an_inputs_sidecar(tmp_path):
    a, b = tmp_path / "sky.png", tmp_path / "sky-repaired.jpg"
    with pytest.raises(ValueError, match="sidecar"):
        outputs_for([a, b], None)  # sky-repaired.png would write sky-repaired.json
    with pytest.raises(ValueError, match="sidecar"):
        outputs_for([a], str(tmp_path / "sky.webp"))
    assert outputs_for([a], str(tmp_path / "other.jpg"))[a] == tmp_path / "other.jpg"


@pytest.fixture()
def offline(tmp_path):
    from skybox_nb.client import SkyboxClient
    from skybox_nb.emulator import Emulator

    with Emulator(job_duration=0, render_size=(256, 128)) as emu:
        client = SkyboxClient(api_key="k", api_secret="s", emulator=emu,
                              library=str(tmp_path / "lib"))
        yield client, emu
        client.close()


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_refine_into_its_source_or_its_sidecar_is_refused_before_paying(offline, suffix):
    from skybox_nb.refine import refine
    from skybox_nb.request import SkyboxRequest

    client, emu = offline
    source = client.run(SkyboxRequest("a harbour at dusk", seed=3, num_outputs=1))
    path = source.files[0]
    pixels, side = path.read_bytes(), path.with_suffix(".json").read_text()
    posts = emu.stats()["generate_posts"]
    with pytest.raises(ValueError, match="out: .*source"):
        refine(client, path, 0.3, out=path.with_suffix(suffix))
    assert emu.stats()["generate_posts"] == posts  # nothing paid
    assert path.read_bytes() == pixels and path.with_suffix(".json").read_text() == side


def test_plots_into_the_inputs_folder_never_replace_an_input(tmp_path, capsys):
    path, side = _source(tmp_path)
    other = tmp_path / "sea.png"
    Image.fromarray(np.asarray(Image.open(path))).save(other)
    pixels = {p: p.read_bytes() for p in (path, other)}
    rc = main(["repair", str(path), str(other), "--plot", str(tmp_path)])
    assert {p: p.read_bytes() for p in (path, other)} == pixels  # the inputs are intact
    assert rc == 2 and "--plot: the figure of" in capsys.readouterr().err
    assert not list(tmp_path.glob("*-repaired*"))  # refused before any work
    # a folder of its own is fine
    assert main(["repair", str(path), str(other), "--plot", str(tmp_path / "figs")]) == 0
    assert {p.name for p in (tmp_path / "figs").iterdir()} == {"pano.png", "sea.png"}
    assert {p: p.read_bytes() for p in (path, other)} == pixels


def test_seams_plot_into_the_inputs_folder_never_replaces_an_input(tmp_path, capsys):
    path, _ = _source(tmp_path)
    pixels = path.read_bytes()
    assert main(["seams", str(path), "--plot", str(tmp_path)]) != 0
    assert path.read_bytes() == pixels
    assert "--plot: the figure of" in capsys.readouterr().err
    (tmp_path / "figs").mkdir()
    assert main(["seams", str(tmp_path), "--plot", str(tmp_path / "figs")]) in (0, 1)
    assert path.read_bytes() == pixels and (tmp_path / "figs" / "pano.png").is_file()


def test_repair_plot_into_a_folder_puts_the_figure_inside_it(tmp_path, capsys):
    path, _ = _source(tmp_path)
    (tmp_path / "figs").mkdir()
    assert main(["repair", str(path), "--plot", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "pano.png").is_file()
    assert (tmp_path / "pano-repaired.png").is_file()
    # a folder holding the input is refused, as for several inputs
    assert main(["repair", str(path), "--out", str(tmp_path / "x.png"),
                 "--plot", str(tmp_path)]) == 2
    assert "--plot: the figure of" in capsys.readouterr().err
