"""Geometry never touches the caller's data: every public function that takes pixels
(panorama, cubemap, remap, seams, plots) leaves a writable input bit-for-bit as it was,
and works on a read-only one, for every dtype a panorama may have (uint8, uint16,
float32, float64; grey, grey with a channel axis, RGB, RGBA).

Found: `seam_report` multiplied a float grey array by 255 in place (the caller's image
came back 255 times brighter) and raised "output array is read-only" on a read-only one,
so `skybox-nb seams` on a float TIFF ended in a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

from skybox_nb import cli, cubemap, plots, remap
from skybox_nb.panorama import Panorama, as_array, to_uint8, write_image
from skybox_nb.seams import discontinuity_score, seam_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic import equirect_directions, textured  # noqa: E402

AREA = "bad input"
W, H = 128, 64


def _base() -> np.ndarray:
    """A seamless textured panorama, 0..1 floats (H, W, 3)."""
    return (textured(equirect_directions(W, H), seed=3) / 255.0).astype(np.float64)


KINDS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "uint8 RGB": lambda a: (a * 255).round().astype(np.uint8),
    "uint16 RGB": lambda a: (a * 65535).round().astype(np.uint16),
    "float32 RGB": lambda a: a.astype(np.float32),
    "float64 RGBA": lambda a: np.concatenate([a, np.ones_like(a[:, :, :1])], axis=2),
    "float32 grey": lambda a: a.mean(axis=2).astype(np.float32),
    "float32 grey (H,W,1)": lambda a: a.mean(axis=2, keepdims=True).astype(np.float32),
    "uint16 grey": lambda a: (a.mean(axis=2) * 65535).astype(np.uint16),
}


def _faces(arr: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in cubemap.to_faces(arr, 16).items()}


def _calls(tmp: Path) -> dict[str, Callable[[np.ndarray], Any]]:
    """Every public function that takes pixels, called on one input array."""
    def figures(a: np.ndarray) -> None:
        # Built, not rendered: the pixels are read when a figure is made; drawing it
        # only rasterises copies (and would cost seconds per figure on a busy machine).
        report = seam_report(a)
        plots.seam_strip(a, report), plots.row_profile(report)
        plots.pole_views(a, report, size=32), plots.cube_net(a, report, 16)
        plots.contact_sheet([a, a]), plots.report_figure(report), report.plot()

    def sample(a: np.ndarray) -> np.ndarray:
        mx, my = remap.equirect_coords(np.zeros((4, 4)), np.zeros((4, 4)), W, H)
        return remap.sample(a if a.ndim == 3 else a[:, :, None], mx, my)

    return {
        "Panorama / load / as_array": lambda a: (Panorama(a), Panorama.load(a), as_array(a)),
        "Panorama.thumbnail, _repr_html_, _repr_png_": lambda a: (
            Panorama(a).thumbnail(32), Panorama(a)._repr_html_(), Panorama(a)._repr_png_()),
        "Panorama.save / write_image": lambda a: (
            Panorama(a, {"prompt": "x"}).save(tmp / "p.png"), write_image(a, tmp / "w.tif")),
        "Panorama.load(ratio=pad/crop/stretch)": lambda a: [
            Panorama.load(np.ascontiguousarray(a[: H // 2 + 4]), ratio=m)
            for m in ("pad", "crop", "stretch")],
        "to_uint8": lambda a: to_uint8(a if a.ndim == 3 else a[:, :, None]),
        "cubemap.to_faces / perspective": lambda a: (
            cubemap.to_faces(a, 16, "unity", yaw=30), cubemap.perspective(a, 10, 5, 90, (24, 16))),
        "cubemap.from_faces / assemble": lambda a: (
            cubemap.from_faces(_ro(_faces(a))), cubemap.assemble(_ro(_faces(a)), "hcross")),
        "cubemap.export": lambda a: cubemap.export(a, tmp / "cube", "threejs", "hstrip", 16),
        "remap.sample": sample,
        "seams.seam_report (array, faces)": lambda a: (
            seam_report(a), seam_report(_ro(_faces(a)), convention="generic")),
        "seams.discontinuity_score": lambda a: discontinuity_score(
            np.asarray(a, np.float32).reshape(H, W, -1).mean(axis=2)[:, :6]),
        "plots (every figure)": figures,
    }


def _ro(faces: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    for f in faces.values():
        f.setflags(write=False)
    return faces


@pytest.mark.parametrize("kind", list(KINDS))
def test_geometry_leaves_the_callers_array_alone(kind, tmp_path, tally):
    base = KINDS[kind](_base())
    broken = []
    for name, call in _calls(tmp_path).items():
        for writable in (True, False):
            arr = base.copy()
            arr.setflags(write=writable)
            try:
                call(arr)
            except Exception as e:  # noqa: BLE001 - every failure is reported below
                broken.append(f"{name} on a {'writable' if writable else 'read-only'} "
                              f"{kind}: {type(e).__name__}: {e}")
                continue
            if not np.array_equal(arr, base):
                broken.append(f"{name} changed the caller's {kind} array")
            if arr.flags.writeable != writable:
                broken.append(f"{name} changed the caller's array's flags")
    assert not broken, "\n".join(broken)
    tally.add(AREA, "geometry on the caller's arrays (read-only and writable, every dtype)",
              len(_calls(tmp_path)) * 2,
              "the input is left bit-for-bit as it was; a read-only one works")


def test_cli_seams_on_a_float_tiff(tmp_path, capsys, tally):
    path = tmp_path / "float.tif"
    Image.fromarray(KINDS["float32 grey"](_base())).save(path)  # mode "F", 32-bit float
    assert Image.open(path).mode == "F"
    code = cli.main(["seams", str(path), "--json", "--plot", str(tmp_path / "seams.png")])
    out = capsys.readouterr().out
    assert code == 0 and '"seamless"' in out, out
    assert (tmp_path / "seams.png").stat().st_size > 0
    tally.add(AREA, "skybox-nb seams on a 32-bit float grey TIFF", 1,
              "a report and a figure (was: a traceback, 'output array is read-only')")
