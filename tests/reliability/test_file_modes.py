"""Files get the permissions the umask allows, as ``open()`` would give them.

Found: every file written through the temp-and-rename path (`files.temp_path`, made by
``mkstemp``) kept mkstemp's 0600 after the rename: library images and sidecars, exports,
saved panoramas and the demo report's images were unreadable to the user's group and to
a web server serving the report, whatever the umask said.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from reliability_support import make_client
from skybox_nb import cubemap, demo
from skybox_nb.files import write_json_atomic
from skybox_nb.panorama import Panorama, write_image
from skybox_nb.request import SkyboxRequest

AREA = "disk and crashes"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002, 0o077])
def test_written_files_follow_the_umask(umask, emu, tmp_path, tally):
    old = os.umask(umask)
    try:
        reference = tmp_path / "by-open.txt"
        with open(reference, "w") as f:
            f.write("x")
        want = _mode(reference)
        assert want == 0o666 & ~umask
        lib = tmp_path / "library"
        with make_client(emu, lib) as client:
            result = client.run(SkyboxRequest("a reef", num_outputs=2, seed=7))
        written = [*result.files, *(p.with_suffix(".json") for p in result.files)]
        pano = Panorama(np.zeros((32, 64, 3), np.uint8), {"prompt": "grey"})
        written.append(pano.save(tmp_path / "saved.jpg"))
        written.append(tmp_path / "saved.json")
        written.append(write_image(pano.array, tmp_path / "plain.webp"))
        written.append(write_json_atomic(tmp_path / "data.json", {"a": 1}))
        written += cubemap.export(pano, tmp_path / "cube", "unity", "six", 16)
        report = demo.write_report(tmp_path / "report", [demo.ReportItem(result.files[0])])
        written += [report, *sorted((tmp_path / "report" / "images").iterdir())]
    finally:
        os.umask(old)
    wrong = {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in written if _mode(p) != want}
    assert not wrong, f"expected {oct(want)} (umask {oct(umask)}), got {wrong}"
    leftovers = [p.name for p in tmp_path.rglob("*.part")]
    assert not leftovers
    tally.add(AREA, "file permissions under umask 022, 027, 002, 077", 1,
              f"library images and sidecars, saved panoramas, exports, the report: all "
              "0666 minus the umask, as open() gives (was: 0600 from mkstemp)",
              files_checked=len(written))
