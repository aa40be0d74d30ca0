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


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """The three.js export of a textured panorama, served on loopback with three.js
    beside it; yields (base URL, panorama)."""
    pano = render(textured, 512, 256)
    folder = tmp_path / "threejs"
    export_engine(pano, "threejs", folder)
    for name in ("three.module.js", "three.core.js"):
        shutil.copy(_three_dir() / "build" / name, folder / name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pano
    finally:
        server.shutdown()
        server.server_close()


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
