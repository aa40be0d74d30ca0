"""``download_originals`` after a lost original: the sidecar beside the preview may be
unreadable by then (cut short, hand-edited); the original is still fetched, free, and
the sidecar written anew names it, rather than the call failing on the old JSON with
the file already fetched."""

from __future__ import annotations

import warnings

from fast import fast_poll, fast_retry
from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.emulator.catalog import SKYBOX_HDRI_ID
from skybox_nb.errors import OriginalMissingWarning
from skybox_nb.hdr import original_of
from skybox_nb.request import ModelRequest
from tests.lighting_support import sunny_sky


def test_originals_are_fetched_later_even_when_the_sidecar_is_unreadable(tmp_path):
    with Emulator(render_size=(128, 64), job_duration=0.0) as emu:
        with SkyboxClient(emulator=emu, library=tmp_path / "lib", poll=fast_poll,
                          retry=fast_retry()) as c:
            aid = c.upload(sunny_sky(128, sun_yaw=40, sun_pitch=35))
            emu.inject("bad_original", mode="missing", count=None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OriginalMissingWarning)
                res = c.run(ModelRequest(c.model_spec(SKYBOX_HDRI_ID),
                                         {"image": aid, "seed": 3}))
            posts = emu.stats()["generate_posts"]
            side = res.files[0].with_suffix(".json")
            side.write_text('{"file": "cut sh')  # a sidecar cut short
            emu.faults.clear()
            got = c.download_originals(res)
            assert got == [res.files[0].with_suffix(".exr")] and got[0].is_file()
            assert original_of(res.files[0]) == got[0]  # the sidecar names it
            assert emu.stats()["generate_posts"] == posts
            assert side.with_name(side.name + ".unreadable").read_text() == '{"file": "cut sh'
