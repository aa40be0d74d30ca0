"""A full disk, an unwritable library, and a process killed mid-job: nothing paid twice,
nothing half-written left behind, nothing forgotten by the ledger.

The killed process is real: a child Python runs the client against this test's emulator
and is sent SIGKILL at a chosen moment (waiting for the job, inside the paid POST, in
the middle of a download); a fresh client then finishes from the ledger.
"""

from __future__ import annotations

import builtins
import errno
import os
import signal
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

import skybox_nb.client.blocking as client_module
import skybox_nb.files as files_module
from reliability_support import SIZE, check_library, make_client, wait_until
from skybox_nb import errors
from skybox_nb.emulator import Emulator
from skybox_nb.files import temp_path
from skybox_nb.request import SkyboxRequest

AREA = "disk and crashes"


def req(i: int, outputs: int = 1) -> SkyboxRequest:
    return SkyboxRequest(f"glacier cave {i}", num_outputs=outputs, seed=2000 + i)


class _FullDisk:
    """A file object whose writes fail with ENOSPC, as on a full disk."""

    def __init__(self, f: Any) -> None:
        self._f = f

    def __enter__(self) -> "_FullDisk":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.close()

    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _full_disk_open(real=builtins.open):
    def fake(path: Any, mode: str = "r", *a: Any, **kw: Any) -> Any:
        f = real(path, mode, *a, **kw)
        return _FullDisk(f) if ("w" in mode or "a" in mode) else f
    return fake


@pytest.mark.parametrize("where", ["download", "sidecar"])
def test_full_disk(client, emu, lib, monkeypatch, where, tally):
    module = client_module if where == "download" else files_module
    for i in range(3):
        monkeypatch.setattr(module, "open", _full_disk_open(), raising=False)
        with pytest.raises(OSError) as info:
            client.run(req(i))
        assert info.value.errno == errno.ENOSPC and "No space left" in str(info.value)
        rec = client.ledger.generations()[0]
        assert rec.status == "running" and rec.job_id  # the job is remembered
        check_library(lib)  # no .part file, nothing undecodable
        monkeypatch.delattr(module, "open")
        # Space is back: the identical request resumes the same job, no second POST.
        r = client.run(req(i))
        assert r.job.id == rec.job_id and emu.stats()["generate_posts"] == i + 1
    assert check_library(lib)["done"] == 3
    tally.add(AREA, f"disk full (ENOSPC) while writing the {where}", 3,
              "OSError 'No space left on device'; no partial file; row kept 'running'; "
              "the rerun resumed the same job")


def test_full_disk_inside_the_ledger(client, emu, lib, tally):
    client.run(req(0))
    conn = client.ledger._conn  # SQLite's own "disk full": cap the file at its size now
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    for i in range(1, 4):
        # a row larger than a page, so it needs new pages (600 words could still fit in
        # the free space of a page, depending on how long the first row's paths are)
        big = SkyboxRequest("a sky " * 1200 + str(i), num_outputs=1)
        with pytest.raises(OSError) as info:
            client.run(big)
        assert "disk is full" in str(info.value) and str(lib) in str(info.value)
    assert emu.stats()["generate_posts"] == 1  # no intent on record: nothing was sent
    conn.execute("PRAGMA max_page_count = 1073741823")  # space is back
    assert client.run(big).job.succeeded
    assert check_library(lib) == {"rows": 2, "done": 2, "files": 2}
    tally.add(AREA, "disk full inside the ledger (SQLite max_page_count)", 3,
              "OSError naming the ledger; the paid POST was never sent")


def test_stale_temp_files_of_dead_processes_only_are_removed(emu, lib, tally):
    dest = lib / "job_abc-0-sky.png"
    lib.mkdir()
    mine = temp_path(dest)  # a live writer's (this process)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    theirs = lib / f".{dest.name}.{dead}.abc123_x.part"
    theirs.write_bytes(b"half a png")
    make_client(emu, lib).close()
    assert mine.exists() and not theirs.exists()
    mine.unlink()
    tally.add(AREA, "leftover temp files at client start", 1,
              "a dead process's .part removed; a live writer's kept")


def _writable(d: Path) -> bool:
    try:
        (d / ".probe").touch()
    except OSError:
        return False
    (d / ".probe").unlink()
    return True


@contextmanager
def read_only(d: Path) -> Iterator[Path]:
    """Make folder ``d`` unwritable for real while inside: chmod 555; where that does not
    bind us (root ignores permissions), a read-only bind mount of it; where mounting is
    not allowed either (a container without CAP_SYS_ADMIN), the folder is moved aside
    and a plain file put in its place, which no user can create files in."""
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o555)
    how = "chmod"
    aside = d.with_name(d.name + ".aside")
    try:
        if _writable(d):
            try:
                for args in (["mount", "--bind", str(d), str(d)],
                             ["mount", "-o", "remount,ro,bind", str(d)]):
                    subprocess.run(args, check=True, capture_output=True)
                how = "mount"
            except (OSError, subprocess.CalledProcessError):
                subprocess.run(["umount", str(d)], check=False, capture_output=True)
                d.chmod(0o755)
                d.rename(aside)
                d.write_text("a file where the library folder was\n")
                how = "replaced"
        assert how == "replaced" or not _writable(d), f"could not make {d} read-only"
        yield d
    finally:
        if how == "mount":
            subprocess.run(["umount", str(d)], check=False, capture_output=True)
        if how == "replaced":
            d.unlink()
            aside.rename(d)
        d.chmod(0o755)


def test_unwritable_library(emu, tmp_path, tally):
    # 1. Read-only from the start: a clear error naming the folder, before any POST.
    with read_only(tmp_path / "ro") as ro:
        for lib in (ro, ro / "inside"):
            with pytest.raises(OSError) as info:
                make_client(emu, lib)
            assert str(lib) in str(info.value), info.value
    assert emu.stats()["generate_posts"] == 0
    # 2. It turns read-only while a job runs: the outputs cannot be written, the job
    # stays in the ledger, and is finished once the folder is writable again.
    lib = tmp_path / "lib"
    c = make_client(emu, lib)
    job = c.generate(req(1))
    with read_only(lib):
        with pytest.raises(OSError) as info:
            c.resume()
        assert str(lib) in str(info.value), info.value
    c.close()
    c = make_client(emu, lib)
    assert [r.job.id for r in c.resume()] == [job.id]
    assert emu.stats()["generate_posts"] == 1
    c.close()
    assert check_library(lib)["done"] == 1
    tally.add(AREA, "read-only library folder (from the start / mid-job)", 3,
              "OSError naming the folder, no POST sent; the mid-job one resumed later")


# -- a real process, killed ----------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import sys
    from skybox_nb.client import SkyboxClient
    from skybox_nb.request import SkyboxRequest
    from skybox_nb.retry import PollSchedule
    base_url, library, prompt, seed = sys.argv[1:5]
    c = SkyboxClient("child-key", "child-secret", base_url, library=library,
                     poll=lambda: PollSchedule(first=0.02, cap=0.05))
    print("START", flush=True)
    r = c.run(SkyboxRequest(prompt, num_outputs=2, seed=int(seed)),
              on_progress=lambda j: print("JOB", j.id, j.status, flush=True))
    print("DONE", r.job.id, flush=True)
""")


def _spawn(emu: Emulator, lib: Path, prompt: str, seed: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD, emu.base_url, str(lib), prompt,
                             str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _kill(p: subprocess.Popen) -> None:
    p.send_signal(signal.SIGKILL)
    assert p.wait(timeout=10) == -signal.SIGKILL


@pytest.mark.parametrize("moment", ["waiting", "posting", "downloading"])
def test_process_killed_mid_job_then_restarted(tmp_path, moment, tally):
    rounds = 2
    with Emulator(job_duration=1.0, render_size=SIZE) as emu:
        for i in range(rounds):
            lib = tmp_path / f"lib{i}"
            prompt, seed = f"volcano at night {i}", 3000 + i
            before = emu.stats()["generate_posts"]
            if moment == "posting":  # the job is created, its answer is held back
                emu.inject("slow", route="generate", delay=3.0)
            if moment == "downloading":  # the first output's bytes are held back
                emu.inject("slow", route="download", delay=3.0)
            child = _spawn(emu, lib, prompt, seed)
            try:
                if moment == "waiting":
                    assert child.stdout.readline().startswith("START")
                    assert child.stdout.readline().startswith("JOB")
                elif moment == "posting":
                    wait_until(lambda: emu.stats()["jobs_created"] > i, what="the paid POST")
                else:
                    wait_until(lambda: emu.stats()["requests"].get("download", 0) > 2 * i,
                               what="a download")
            finally:
                _kill(child)
            emu.clear_faults()
            c = make_client(emu, lib)
            request = SkyboxRequest(prompt, num_outputs=2, seed=seed)
            if moment == "posting":
                # The POST's answer never came: the intent is unknown and blocks a resend.
                assert [g.status for g in c.ledger.generations()] == ["unknown"]
                with pytest.raises(errors.DuplicateIntentError):
                    c.run(request)
                [out] = c.reconcile()
                assert out.job_id is not None
            r = c.run(request)  # resumes the job the dead process started
            assert len(r.files) == 2
            assert emu.stats()["generate_posts"] == before + 1  # never paid twice
            assert c.ledger.generations()[0].job_id == r.job.id
            c.close()
            counts = check_library(lib)
            assert counts == {"rows": 1, "done": 1, "files": 2}
    tally.add(AREA, f"process SIGKILLed while {moment}, then restarted", rounds,
              "a new client finished the same job; 1 paid POST; no partial file")
