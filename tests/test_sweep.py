"""Sweeps: the grid is validated before anything is sent, runs with bounded concurrency,
and reports seam scores that follow the emulator's simulated geometry enforcement."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from fast import emulator
from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.errors import ValidationError
from skybox_nb.request import SkyboxRequest
from skybox_nb.seams import THRESHOLDS
from skybox_nb.sweeps import ScoreTable, grid, sweep

BASE = SkyboxRequest("a rocky canyon at dusk", style="photo", num_outputs=1)


@pytest.fixture(scope="module")
def emu():
    with emulator(render_size=(256, 128)) as e:
        yield e


@pytest.fixture(scope="module")
def client(emu, tmp_path_factory):
    c = SkyboxClient(api_key="k", api_secret="s", emulator=emu,
                     library=str(tmp_path_factory.mktemp("lib")))
    yield c
    c.close()


@pytest.fixture(scope="module")
def ge_sweep(client):
    return sweep(BASE, geometry_enforcement=[0, 10, 100], seed=[7, 8], client=client)


def test_grid_is_the_cartesian_product_in_axis_order():
    points = grid(BASE, {"style": ["ink", "space"], "seed": [1, 2, 3]})
    assert [p for p, _ in points] == [
        {"style": s, "seed": n} for s in ("ink", "space") for n in (1, 2, 3)]
    assert all(r.prompt == BASE.prompt and r.style == p["style"] and r.seed == p["seed"]
               for p, r in points)


def test_a_bad_value_anywhere_in_the_grid_sends_nothing(client, emu):
    before = emu.stats()["generate_posts"]
    with pytest.raises(ValidationError) as info:
        sweep(BASE, geometry_enforcement=[0, 50, 150], seed=[1], client=client)
    assert info.value.fields == ["geometryEnforcement"] and "150" in str(info.value)
    with pytest.raises(ValueError, match="not a SkyboxRequest field"):
        sweep(BASE, colour=["red"], client=client)
    with pytest.raises(ValueError, match="non-empty list"):
        sweep(BASE, seed=[], client=client)
    with pytest.raises(ValueError, match="at least one axis"):
        sweep(BASE, client=client)
    assert emu.stats()["generate_posts"] == before


def test_table_rows_follow_the_grid_with_scores(ge_sweep):
    table = ge_sweep.table()
    assert isinstance(table, ScoreTable) and len(table) == 6
    assert [(r["geometry_enforcement"], r["seed"]) for r in table.rows] == [
        (0, 7), (0, 8), (10, 7), (10, 8), (100, 7), (100, 8)]
    assert table.column("seed_used") == [7, 8, 7, 8, 7, 8]
    for r in table.rows:
        assert set(r) >= {"seamless", "wrap", "poles", "cube_edges", "ds"}
    text = repr(table)
    assert text.splitlines()[0].split()[:4] == ["geometry_enforcement", "seed", "output", "seed_used"]
    assert len(text.splitlines()) == 7
    html = table._repr_html_()
    assert html.count("<tr") == 7 and html.count("background:#fee2e2") == 2  # level 10 fails
    assert repr(ge_sweep).startswith("SweepResult(6 requests, 6 panoramas")


def test_too_low_a_level_breaks_the_seam_and_a_high_one_holds_it(ge_sweep):
    # The emulator simulates the knob: below level 50 a seam and pole smear appear; 0 means
    # the style's default level (65 for 'photo'), so it holds.
    rows = ge_sweep.rows()
    by_level = {lv: [r for r in rows if r["geometry_enforcement"] == lv] for lv in (0, 10, 100)}
    assert all(r["seamless"] for r in by_level[100] + by_level[0])
    assert not any(r["seamless"] for r in by_level[10])
    for lo, hi in zip(by_level[10], by_level[100]):  # same seed, only the level changed
        assert lo["wrap"] > 3 * hi["wrap"] and lo["ds"] > hi["ds"]
    assert ge_sweep.lowest_seamless() == 100
    assert ge_sweep.seamless_at("geometry_enforcement", 0)
    assert not ge_sweep.seamless_at("geometry_enforcement", 10)
    with pytest.raises(ValueError, match="was not swept"):
        ge_sweep.seamless_at("geometry_enforcement", 55)


def test_plots(ge_sweep):
    fig = ge_sweep.plot_scores("geometry_enforcement")
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["wrap", "poles", "ds"]
    # one line per seed, through the three levels
    lines = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "-"]
    assert len(lines) == 2 and all(list(ln.get_xdata()) == [0, 10, 100] for ln in lines)
    limits = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == ":"]
    assert len(limits) == 1 and limits[0].get_ydata()[0] == THRESHOLDS["wrap"]
    with pytest.raises(ValueError, match="not an axis"):
        ge_sweep.plot_scores("style")
    sheet = ge_sweep.contact_sheet()
    assert isinstance(sheet, Figure) and len(sheet.axes) == 6  # 3 levels x 2 seeds
    titles = [ax.get_title() for ax in sheet.axes]
    assert titles[2].startswith("geometry_enforcement=10, seed=7\nNOT seamless")
    assert titles[5].startswith("geometry_enforcement=100, seed=8\nseamless")


def test_concurrency_is_bounded(tmp_path):
    with Emulator(job_duration=0.3, render_size=(128, 64)) as e:
        c = SkyboxClient(api_key="k", api_secret="s", emulator=e,
                         library=str(tmp_path / "lib"))
        res = sweep(BASE, style=["ink", "space", "comic"], seed=[1, 2], client=c,
                    max_in_flight=2)
        stats = e.stats()
        c.close()
    assert len(res.cells) == 6 and stats["generate_posts"] == 6
    assert 1 <= stats["max_running_jobs"] <= 2
    assert [c.params["style"] for c in res.cells] == ["ink", "ink", "space", "space", "comic", "comic"]
    assert res.plot_scores("style").axes[0].get_xlabel() == "style"
