"""The three.js export proven in a browser: its page (CubeTextureLoader background) rendered
by three.js in Debian's headless Chromium, looking along the four sides, up and down,
against `perspective()` of the panorama.

three.js comes from the npm registry into a cache folder (``./dev test`` installs it and
sets SKYBOX_THREE_DIR); nothing is fetched at run time. Screenshots are kept in
test-artifacts/threejs/.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from skybox_nb.engines import export_engine
from tests.synthetic import render, textured
from tests.test_engine_renders import check_views

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
SIZE = 128
# panorama (yaw, pitch) -> three.js camera direction and up: the export puts the
# panorama's centre at world +X, its right at +Z; at pitch +-90 the top of
# `perspective`'s view points back to / towards yaw 0.
VIEWS = (("yaw0", 0, 0, "1,0,0", "0,1,0"), ("yaw90", 90, 0, "0,0,1", "0,1,0"),
         ("yaw180", 180, 0, "-1,0,0", "0,1,0"), ("yaw270", 270, 0, "0,0,-1", "0,1,0"),
         ("up", 0, 90, "0,1,0", "-1,0,0"), ("down", 0, -90, "0,-1,0", "1,0,0"))


def _three_dir() -> Path:
    d = Path(os.environ.get("SKYBOX_THREE_DIR", REPO / ".cache/node/node_modules/three"))
    if not (d / "build" / "three.module.js").is_file():
        raise RuntimeError(f"three.js is not installed at {d}: ./dev test installs it "
                           "from the npm registry (npm install --prefix .cache/node three)")
    return d


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _serve(folder: Path) -> Iterator[str]:
    """``folder`` served on loopback; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """The three.js export of a textured panorama, served on loopback with three.js
    beside it; yields (base URL, panorama)."""
    pano = render(textured, 512, 256)
    folder = tmp_path / "threejs"
    export_engine(pano, "threejs", folder)
    for name in ("three.module.js", "three.core.js"):
        shutil.copy(_three_dir() / "build" / name, folder / name)
    with _serve(folder) as base:
        yield base, pano


def test_threejs_shows_the_exported_faces_the_right_way_round(page, served, artifacts) -> None:
    base, pano = served
    out = artifacts / "threejs"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    page.set_viewport_size({"width": SIZE, "height": SIZE})
    shots = {}
    for name, _, _, look, up in VIEWS:
        page.goto(f"{base}/index.html?dir={look}&up={up}")
        page.wait_for_function("document.title === 'ready'", timeout=60_000)
        shots[name] = page.screenshot()
        (out / f"view_{name}.png").write_bytes(shots[name])
    check_views(lambda name: Image.open(io.BytesIO(shots[name])), pano, VIEWS, SIZE, out)


_READ_KTX2 = """async (url) => {
  const { read } = await import("./ktx-parse.module.js");
  const c = read(new Uint8Array(await (await fetch(url)).arrayBuffer()));
  const d = c.dataFormatDescriptor[0];
  const l1 = c.levels[1].levelData;
  return {
    vkFormat: c.vkFormat, typeSize: c.typeSize, width: c.pixelWidth, height: c.pixelHeight,
    faces: c.faceCount, layers: c.layerCount, levels: c.levels.length,
    scheme: c.supercompressionScheme, model: d.colorModel, primaries: d.colorPrimaries,
    transfer: d.transferFunction, bytesPlane0: d.bytesPlane[0], samples: d.samples.length,
    channels: d.samples.map((s) => s.channelType), writer: c.keyValue.KTXwriter,
    levelBytes: c.levels.map((l) => l.levelData.byteLength),
    level1Start: Array.from(new Uint16Array(l1.buffer, l1.byteOffset, 16)),
  };
}"""


def test_threejs_ktx_parse_reads_the_specular_cube_as_written(page, tmp_path) -> None:
    """An independent reader of our KTX 2.0 files: ktx-parse (the parser three.js's
    KTX2Loader uses) in the browser."""
    from skybox_nb.hdr import to_hdr
    from skybox_nb.ktx2 import read_ktx2
    from skybox_nb.lighting import lighting_pack

    folder = tmp_path / "pack"
    pack = lighting_pack(to_hdr(render(textured, 256, 128)), folder, size=16, lut_size=8)
    shutil.copy(_three_dir() / "examples" / "jsm" / "libs" / "ktx-parse.module.js", folder)
    (folder / "index.html").write_text("<!doctype html><title>pack</title>")
    with _serve(folder) as base:
        page.goto(f"{base}/index.html")
        got = page.evaluate(_READ_KTX2, "specular.ktx2")
    ours = read_ktx2(folder / "specular.ktx2")
    assert got["vkFormat"] == 97 and got["typeSize"] == 2 and got["scheme"] == 0
    assert (got["width"], got["height"], got["faces"], got["layers"]) == (16, 16, 6, 0)
    assert got["levels"] == len(pack.specular) == len(ours.levels)
    assert (got["model"], got["primaries"], got["transfer"]) == (1, 1, 1)  # RGBSDA, BT.709, linear
    assert got["bytesPlane0"] == 8 and got["samples"] == 4
    assert got["channels"] == [0xC0, 0xC1, 0xC2, 0xCF]  # R G B A, each float | signed
    assert got["writer"].startswith("skybox-nb")
    assert got["levelBytes"] == [6 * (16 >> m) ** 2 * 8 for m in range(got["levels"])]
    half = ours.levels[1].astype(np.float16).reshape(-1)[:16].view(np.uint16)
    assert got["level1Start"] == half.tolist()
