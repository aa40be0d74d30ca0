"""A batch stopped by SIGTERM (``kill``, a CI timeout) or Ctrl-C ends its workers with
it: nothing is written after the command has returned, no worker is left running and no
half-written file is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthetic import partial_seam, radial_streaks, render, textured


def _default_sigint() -> None:
    # A process started where SIGINT is ignored (a shell's background job) keeps ignoring
    # it, and Python then installs no KeyboardInterrupt: give the command the default a
    # terminal's foreground job has.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
@pytest.mark.parametrize("how", ["SIGTERM to the command", "Ctrl-C: SIGINT to its group"])
def test_a_stopped_batch_repair_stops_its_workers(tmp_path: Path, how: str) -> None:
    src = tmp_path / "in"
    src.mkdir()
    base = render(textured, 1024, 512, finest=300.0)
    for i in range(8):  # each repair mends a seam and a large streaked pole: ~1 s
        img = radial_streaks(partial_seam(np.roll(base, 97 * i, axis=1), 0.2, 0.6, 50),
                             north=False, cap_deg=30.0)
        Image.fromarray(img).save(src / f"p{i}.png")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "skybox_nb.cli", "repair", str(src),
                             "--out", str(out), "--jobs", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)
    try:
        first = proc.stderr.readline()  # "[1/8] ...: ok": the workers are busy
        assert first.startswith("[1/8]"), first
        if how.startswith("SIGTERM"):
            proc.send_signal(signal.SIGTERM)
        else:  # a terminal's Ctrl-C reaches every process of the foreground group
            os.killpg(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        # (stderr reaches its end only when every worker holding it has ended too)
        rest = proc.communicate(timeout=30)[1]
        waited, rc = time.monotonic() - t0, proc.returncode
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    code, word = (143, "terminated") if how.startswith("SIGTERM") else (130, "interrupted")
    assert rc == code and word in rest, (rc, rest)
    assert waited < 15, waited
    made = sorted(p.name for p in out.iterdir())
    time.sleep(3)  # a worker left running would still be writing
    assert sorted(p.name for p in out.iterdir()) == made
    assert not [n for n in made if n.endswith(".part")], made
    assert len([n for n in made if n.endswith(".png")]) < 8  # it did stop early
    for name in made:  # every file there is whole
        if name.endswith(".png"):
            assert Image.open(out / name).size == (1024, 512)
    with pytest.raises(ProcessLookupError):  # nothing of the command's group is left
        os.killpg(proc.pid, 0)
