"""An emulator killed before close() leaves its store folder; the next one removes it."""

import os
import subprocess
import sys

from skybox_nb.emulator import Emulator
from skybox_nb.emulator.store import STORE_PREFIX, sweep_dead_stores


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_store_folders_of_dead_emulators_are_swept(tmp_path):
    dead = tmp_path / f"{STORE_PREFIX}{_dead_pid()}-abc"
    live = tmp_path / f"{STORE_PREFIX}{os.getpid()}-def"
    other = tmp_path / f"{STORE_PREFIX}old-style"
    for d in (dead, live, other):
        (d / "assets").mkdir(parents=True)
        (d / "assets" / "x.png").write_bytes(b"png")
    assert sweep_dead_stores(tmp_path) == 1
    assert not dead.exists() and live.exists() and other.exists()


def test_an_emulator_names_its_store_after_its_process():
    with Emulator(render_size=(64, 32)) as emu:
        folder = emu.store._dir.name
        assert os.path.basename(folder).startswith(f"{STORE_PREFIX}{os.getpid()}-")
        assert os.path.isdir(folder)
    assert not os.path.exists(folder)
