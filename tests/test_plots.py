"""The figures: each is a pyplot-free Figure with the panels and labels a person reads,
renders with Agg, and leaves nothing open."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from skybox_nb import plots  # noqa: E402
from skybox_nb.panorama import Panorama  # noqa: E402
from skybox_nb.seams import seam_report  # noqa: E402

from synthetic import (fold_pole, kaleidoscope_pole, partial_seam, pinch_pole, render,  # noqa: E402
                       shift_half, smear_pole, stretched_photo, textured)

W, H = 256, 128


@pytest.fixture(scope="module")
def good() -> np.ndarray:
    return render(textured, W, H)


@pytest.fixture(scope="module")
def bad(good) -> np.ndarray:
    return shift_half(good, 4)


def _renders(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    return buf.getvalue()


@pytest.fixture(autouse=True)
def no_open_figures():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before  # nothing left in pyplot's list


def test_seam_strip_centres_the_seam_and_zooms_on_the_worst_rows(bad):
    report = seam_report(bad)
    fig = plots.seam_strip(bad, report, zoom=16)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    top = fig.axes[0]
    assert "rolled half a turn" in top.get_title()
    (x,) = set(top.lines[0].get_xdata())
    assert x == pytest.approx(W / 2 - 0.5)
    a, b = max(report.wrap.rows, key=lambda r: r[1] - r[0])
    mid = fig.axes[2].get_title()  # "rows y0-y1", centred on the longest flagged run
    y0, y1 = (int(v) for v in mid.split()[1].split("-"))
    assert y1 - y0 + 1 == 32 and abs((y0 + y1) / 2 - (a + b) / 2) <= 1
    crop = fig.axes[2].images[0].get_array()
    assert crop.shape[:2] == (32, 32)  # full-resolution crop, not the thumbnail
    assert len(_renders(fig)) > 5000


def test_grey_panoramas_are_drawn_grey(good):
    grey = good[:, :, :1]
    figs = [plots.seam_strip(grey, zoom=16), plots.contact_sheet([grey], [seam_report(grey)])]
    images = [im for fig in figs for ax in fig.axes for im in ax.images]
    assert images and all(im.get_cmap().name == "gray" for im in images)


def test_row_profile_shows_limit_and_flagged_rows(bad, good):
    r = seam_report(bad)
    fig = plots.row_profile(r)
    ax = fig.axes[0]
    assert "FAILS" in ax.get_title() and "median" in ax.get_title()
    ys = ax.lines[0].get_ydata()
    assert len(ys) == H and max(ys) > r.wrap.threshold
    assert any(line.get_ydata()[0] == r.wrap.threshold for line in ax.lines[1:])
    assert len(ax.patches) == len(r.wrap.rows)
    ok = plots.row_profile(seam_report(good))
    assert "ok: under the limit on every row" in ok.axes[0].get_title()
    assert not ok.axes[0].patches
    _renders(fig)


def test_no_ok_title_over_a_profile_that_crosses_the_limit():
    """The title names the rule the verdict used: a partial seam fails by its band, and a
    short run over the limit is called short, never a bare "ok"."""
    partial = partial_seam(render(textured, 512, 256), 0.25, 0.35, 40)
    r = seam_report(partial)
    assert r.wrap.score < r.wrap.threshold  # the median alone would have said ok
    title = plots.row_profile(r).axes[0].get_title()
    assert "FAILS" in title and "band of rows" in title
    fig = plots.seam_strip(partial, r, zoom=16)
    (box,) = fig.axes[0].patches  # the failing band boxed on the seam line
    scale = fig.axes[0].images[0].get_array().shape[0] / 256
    assert abs(box.get_y() - r.wrap.bands[0][0] * scale) < 1
    assert "red boxes" in fig.axes[0].get_title()
    short = seam_report(partial_seam(render(textured, 512, 256), 0.5, 0.53, 40))
    assert short.wrap.ok and short.wrap.band_share > 0
    assert "short" in plots.row_profile(short).axes[0].get_title()
    _renders(fig)


def test_pole_views_mark_a_pinch_and_say_which_rule_fired():
    img = pinch_pole(render(textured, 512, 256), north=True)
    r = seam_report(img)
    fig = plots.pole_views(img, r, size=96)
    north, south = fig.axes
    assert "FAILS" in north.get_title() and "pinch" in north.get_title()
    assert "knot" in north.get_title()  # the pinch crams detail into the pole too
    assert len(north.patches) == 3  # the rings where edges converge, and the knot's disc
    assert south.get_title().endswith("ok") and not south.patches and not south.lines
    _renders(fig)


def test_pole_views_mark_a_fold_and_a_kaleidoscope_where_they_are():
    base = render(textured, 512, 256)
    img = kaleidoscope_pole(fold_pole(base, north=True), north=False, folds=4)
    r = seam_report(img)
    fig = plots.pole_views(img, r, size=96)
    north, south = fig.axes
    assert "fold" in north.get_title().split("FAILS")[1]
    (line,) = north.lines  # the fold line, through the pole
    x, y = line.get_data()
    c = (96 - 1) / 2
    assert abs((x[0] + x[1]) / 2 - c) < 0.5 and abs((y[0] + y[1]) / 2 - c) < 0.5
    # the generator's break runs along the meridians +-90 deg: across the view straight up
    azimuth = r.poles.north.structure.fold_azimuth
    assert min(azimuth, 180 - azimuth) < 8 and abs(y[0] - y[1]) < 0.15 * abs(x[0] - x[1])
    assert "symmetry" in south.get_title().split("FAILS")[1]
    assert len(south.lines) == r.poles.south.structure.symmetry_folds == 4  # the spokes
    _renders(fig)


def test_pole_views_look_up_and_down(good):
    report = seam_report(smear_pole(good))
    fig = plots.pole_views(smear_pole(good), report, size=64)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == [
        "north pole (looking up)", "south pole (looking down)"]
    assert "smear" in fig.axes[0].get_title()
    assert fig.axes[0].title.get_color() != fig.axes[1].title.get_color()  # bad vs ok
    assert fig.axes[0].images[0].get_array().shape[:2] == (64, 64)
    _renders(fig)


def test_cube_net_labels_every_edge(bad):
    report = seam_report(bad)
    fig = plots.cube_net(bad, report, face_size=32)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert {"F", "R", "B", "L", "U", "D"} <= set(labels)
    scores = [t for t in labels if "." in t]
    # 12 edges, each labelled on both faces it joins
    assert len(scores) == 24
    assert ax.images[0].get_array().shape[:2] == (96, 128)
    _renders(plots.cube_net(Panorama(bad)))  # computes its own report


def test_cube_net_shows_16_bit_and_float_panoramas_like_8_bit(good):
    nets = [plots.cube_net(a, face_size=32).axes[0].images[0].get_array()
            for a in (good, good.astype(np.uint16) * 257, good.astype(np.float32) / 255)]
    for net in nets[1:]:
        assert np.abs(np.asarray(net, float) - np.asarray(nets[0], float)).max() <= 1


def test_contact_sheet_titles_each_panorama_with_its_verdict(good, bad):
    panos = [good, bad, stretched_photo(W, H), Panorama(good, {"style": "photo", "seed": 4})]
    fig = plots.contact_sheet(panos, ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 4 and len(fig.axes) == 6
    assert "\nseamless" in titles[0] and "NOT seamless" in titles[1]
    assert "NOT seamless" in titles[2] and "style=photo seed=4" in titles[3]
    reports = [seam_report(p) for p in panos[:2]]
    fig2 = plots.contact_sheet(panos[:2], reports, titles=["a", "b"])
    assert [ax.get_title().split("\n")[0] for ax in fig2.axes] == ["a", "b"]
    with pytest.raises(ValueError, match="empty"):
        plots.contact_sheet([])
    with pytest.raises(ValueError, match="one report per panorama"):
        plots.contact_sheet(panos[:2], reports[:1])
    _renders(fig)


def test_contact_sheet_of_paths_titles_them_with_their_sidecar(tmp_path, good):
    path = Panorama(good, {"style": "photo", "seed": 7}).save(tmp_path / "a.png")
    fig = plots.contact_sheet([path])
    assert "style=photo seed=7" in fig.axes[0].get_title()


def test_report_plot_has_every_panel(bad):
    fig = seam_report(bad).plot()
    assert isinstance(fig, Figure)
    titles = " | ".join(ax.get_title() for ax in fig.axes)
    for part in ("rolled half a turn", "wrap seam per row", "north pole", "south pole",
                 "cube net"):
        assert part in titles
    assert "NOT seamless" in fig._suptitle.get_text()
    _renders(fig)
