"""Damaged or moved state: a ledger that is corrupt, truncated, emptied, of an old schema,
hand-edited, moved or held by another process; a panorama saved over another one.

Each gives a clear message that names the file (and the row) and what to do, never a raw
``sqlite3`` traceback; nothing is silently started afresh while the library's sidecars
show what was paid for, and ``skybox-nb ledger rebuild`` brings it back from them.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import skybox_nb.ledger_errors as ledger_errors
from reliability_support import check_library, make_client, wait_until
from skybox_nb.cli import main as cli_main
from skybox_nb.emulator import Emulator
from skybox_nb.ledger import Ledger, LedgerDamagedError
from skybox_nb.panorama import Panorama
from skybox_nb.request import SkyboxRequest
from skybox_nb.widgets import Gallery

AREA = "damaged state"


def req(i: int, outputs: int = 1) -> SkyboxRequest:
    return SkyboxRequest(f"salt flats {i}", num_outputs=outputs, seed=3000 + i)


def _library(emu: Emulator, lib: Path, n: int = 3) -> list[Path]:
    """A library with ``n`` finished generations (2 outputs each); returns the files."""
    with make_client(emu, lib) as c:
        return [f for i in range(n) for f in c.run(req(i, 2)).files]


def _assert_clear(e: BaseException, path: Path, *words: str) -> str:
    text = str(e)
    assert str(path) in text, text
    assert "rebuild" in text and "Traceback" not in text, text
    for w in words:
        assert w in text, text
    return text


def _cli(*args: str) -> tuple[int, str]:
    """Run skybox-nb in a fresh process (as a user does); returns (exit code, output)."""
    proc = subprocess.run([sys.executable, "-m", "skybox_nb.cli", *args],
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


# -- a corrupt or truncated file --------------------------------------------------------

def _damage(path: Path, how: str, rng: random.Random) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        if how == "truncated":
            f.truncate(rng.randrange(100, size - 1))
        elif how == "garbage header":
            f.write(bytes(rng.randrange(256) for _ in range(100)))
        else:  # overwritten pages
            f.seek(rng.randrange(4096, size - 4096))
            f.write(bytes(rng.randrange(256) for _ in range(4096)))


@pytest.mark.parametrize("how", ["truncated", "garbage header", "overwritten pages"])
def test_corrupt_ledger_is_named_with_what_to_do(how, emu, lib, tmp_path, tally):
    _library(emu, lib)
    clean = tmp_path / "clean"
    shutil.copytree(lib, clean)
    # Pad the ledger to several pages so a cut or an overwrite lands inside the tables.
    led = Ledger(clean)
    for i in range(150):
        led.record_intent("model_x", {"prompt": "p" * 300, "i": i}, f"pad{i}")
    led.close()
    rng = random.Random(how)
    trials = 4
    for t in range(trials):
        case = tmp_path / f"case{t}"
        shutil.copytree(clean, case)
        _damage(case / "ledger.sqlite", how, rng)
        with pytest.raises(LedgerDamagedError) as info:
            make_client(emu, case)
        _assert_clear(info.value, case / "ledger.sqlite", "cannot be read")
        assert info.value.path == case / "ledger.sqlite"
    code, out = _cli("generate", "x", "--out", str(case), "--dry-run")
    assert code == 1 and "cannot be read" in out and "Traceback" not in out, out
    tally.add(AREA, f"ledger file damaged: {how}", trials + 1,
              "LedgerDamagedError naming the file and `skybox-nb ledger rebuild` "
              "(was: sqlite3.DatabaseError traceback); the CLI exits 1 with it")


# -- emptied, lost or of an old schema: not started afresh; rebuilt from sidecars -----

def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _drop_table(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE intents")
    conn.commit()
    conn.close()


def _delete(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("damage", [_empty, _drop_table, _delete],
                         ids=["0-byte file", "missing table", "missing file"])
def test_empty_ledger_beside_sidecars_is_refused_then_rebuilt(damage, emu, lib, tally):
    files = _library(emu, lib)
    with make_client(emu, lib) as c:  # one more, left running: its job is not saved yet
        c.generate(req(9))
    damage(lib / "ledger.sqlite")
    for suffix in ("-wal", "-shm"):
        (lib / f"ledger.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(LedgerDamagedError) as info:
        make_client(emu, lib)
    _assert_clear(info.value, lib / "ledger.sqlite", "6 sidecar(s)")
    code, out = _cli("ledger", "rebuild", str(lib))
    assert code == 0 and "6 from sidecars" not in out and "3 from sidecars" in out, out
    with make_client(emu, lib) as c:
        done = c.ledger.generations(status="done")
        assert sorted(f for g in done for f in g.files) == sorted(files)
        assert {g.fingerprint for g in done} == {req(i, 2).fingerprint for i in range(3)}
        # the running job left no sidecar: reconcile is how it is found again
        assert c.resume() == []
    check_library(lib)
    assert any(p.name.startswith("ledger.sqlite.old-") for p in lib.iterdir()) or \
        damage is _delete
    what = {"_empty": "0-byte file", "_drop_table": "table dropped", "_delete": "file deleted"}
    tally.add(AREA, f"ledger emptied beside sidecars: {what[damage.__name__]}", 1,
              "refused with the sidecar count and `skybox-nb ledger rebuild` (was: a new "
              "empty ledger, history gone); rebuild restored every saved generation",
              generations_restored=len(done), files_restored=len(files))


def test_old_schema_is_named(lib, tally):
    lib.mkdir()
    conn = sqlite3.connect(lib / "ledger.sqlite")
    conn.execute("CREATE TABLE intents (intent_id TEXT PRIMARY KEY, fingerprint TEXT, "
                 "model_id TEXT, body TEXT, status TEXT, job_id TEXT, created_at REAL)")
    conn.execute("INSERT INTO intents VALUES ('intent_old', 'fp', 'm', '{}', 'done', NULL, 1)")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerDamagedError) as info:
        Ledger(lib)
    _assert_clear(info.value, lib / "ledger.sqlite", "no column", "pid", "another version")
    code, out = _cli("ledger", "rebuild", str(lib))
    assert code == 0 and "1 row(s) kept" in out, out
    led = Ledger(lib)
    assert [g.intent_id for g in led.generations()] == ["intent_old"]
    led.close()
    tally.add(AREA, "ledger of an older schema (columns missing)", 1,
              "LedgerDamagedError naming the missing columns; rebuild kept its rows")


# -- hand-edited rows --------------------------------------------------------------------

EDITS = {
    "body not JSON": ("body", "{prompt: salt"),
    "body a list": ("body", "[1, 2]"),
    "body a string": ("body", '"salt flats"'),
    "files an object": ("files", '{"a": 1}'),
    "files not JSON": ("files", "job_x.png"),
    "asset_ids a number": ("asset_ids", "3"),
    "unknown status": ("status", "finished"),
    "progress text": ("progress", "half"),
}


def test_hand_edited_rows_are_named(emu, lib, tally):
    _library(emu, lib, n=2)
    led = Ledger(lib)
    target = led.generations()[0].intent_id
    keep = led.generations()[1].intent_id
    led.close()
    for name, (column, value) in EDITS.items():
        conn = sqlite3.connect(lib / "ledger.sqlite")
        before = conn.execute(f"SELECT {column} FROM intents WHERE intent_id = ?",
                              (target,)).fetchone()[0]
        conn.execute(f"UPDATE intents SET {column} = ? WHERE intent_id = ?", (value, target))
        conn.commit()
        conn.close()
        with pytest.raises(LedgerDamagedError) as info:
            with make_client(emu, lib) as c:
                c.ledger.generations()
        text = _assert_clear(info.value, lib / "ledger.sqlite", target, column)
        assert info.value.intent_id == target, (name, text)
        conn = sqlite3.connect(lib / "ledger.sqlite")
        conn.execute(f"UPDATE intents SET {column} = ? WHERE intent_id = ?", (before, target))
        conn.commit()
        conn.close()
    # Rebuild with one row still broken: the good row is kept, the broken one comes back
    # from its sidecars.
    conn = sqlite3.connect(lib / "ledger.sqlite")
    conn.execute("UPDATE intents SET body = '[1]' WHERE intent_id = ?", (target,))
    conn.commit()
    conn.close()
    code, out = _cli("ledger", "rebuild", str(lib))
    assert code == 0 and "1 row(s) kept" in out and "1 from sidecars" in out, out
    led = Ledger(lib)
    assert {g.intent_id for g in led.generations(status="done")} == {target, keep}
    led.close()
    check_library(lib)
    tally.add(AREA, "hand-edited ledger rows (non-JSON, list for object, bad status, ...)",
              len(EDITS), "LedgerDamagedError naming the row and column (was: "
              "JSONDecodeError/TypeError deep in the client); rebuild kept the good rows")


def test_rebuild_keeps_running_and_unknown_intents(emu, lib, tally):
    """A readable ledger's unfinished intents survive a rebuild: they are exactly what
    a lost ledger would pay for again."""
    _library(emu, lib, n=1)
    slow = Emulator(job_duration=30.0, render_size=(64, 32))
    with slow, make_client(slow, lib) as c:
        c.generate(req(5))
        iid = c.ledger.record_intent("model_scenario-skybox-flux", {"prompt": "lost"}, "fpx")
        c.ledger.mark_unknown(iid, "connection dropped")
    code, out = _cli("ledger", "rebuild", str(lib))
    assert code == 0 and "3 row(s) kept" in out, out
    led = Ledger(lib)
    statuses = sorted(g.status for g in led.generations())
    led.close()
    assert statuses == ["done", "running", "unknown"], statuses
    tally.add(AREA, "rebuild of a readable ledger with running and unknown intents", 1,
              "both kept as they were (a resend stays blocked; resume finds the job)")


# -- a moved library, another working directory -----------------------------------------

def test_moved_library_keeps_its_history(emu, tmp_path, monkeypatch, tally):
    first, elsewhere = tmp_path / "notebooks", tmp_path / "elsewhere"
    first.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(first)
    _library(emu, Path("skybox-library"), n=2)  # relative, as the notebooks use it
    moved = tmp_path / "archive" / "skies"
    moved.parent.mkdir()
    shutil.move(str(first / "skybox-library"), moved)
    trials = 0
    for cwd, library in ((elsewhere, moved), (moved.parent, Path("skies")),
                         (moved, Path("."))):
        monkeypatch.chdir(cwd)
        with make_client(emu, library) as c:
            done = c.ledger.generations(status="done")
            assert len(done) == 2 + trials
            assert all(Path(f).is_file() for g in done for f in g.files), done
            gallery = Gallery(c)
            assert gallery.load_history() == 4 + 2 * trials  # every file shown
            assert c.run(req(trials, 2)).files  # and new ones are added beside them
        trials += 1
    tally.add(AREA, "library moved, opened from 3 other working directories", trials,
              "history kept: every file found, the gallery shows all (was: none, paths "
              "were relative to the first working directory)")


def test_rows_written_before_paths_were_relative(emu, tmp_path, monkeypatch, tally):
    monkeypatch.chdir(tmp_path)
    lib = Path("old-lib")
    files = _library(emu, lib, n=1)
    conn = sqlite3.connect(lib / "ledger.sqlite")  # as an older version stored them
    old = [str(files[0]), str(files[1].resolve())]  # from the working directory; absolute
    conn.execute("UPDATE intents SET files = ?", (json.dumps(old),))
    conn.commit()
    conn.close()
    shutil.move(str(lib), tmp_path / "new-place")
    led = Ledger(tmp_path / "new-place")
    assert all(Path(f).is_file() for f in led.generations()[0].files)
    led.close()
    tally.add(AREA, "moved library whose rows hold paths of an older version", 2,
              "files found in the library folder (working-directory and absolute paths)")


# -- Panorama.save over a saved panorama ------------------------------------------------

def test_save_over_a_panorama_replaces_its_sidecar(emu, lib, tmp_path, tally):
    first = Panorama.load(_library(emu, lib, n=1)[0])
    assert first.metadata["prompt"] == "salt flats 0"
    out = tmp_path / "out.png"
    first.save(out)
    other = Panorama(first.array[:, ::-1], {"prompt": "mirrored", "seed": 1})
    other.save(out)
    again = Panorama.load(out)
    assert (again.metadata["prompt"], again.metadata["seed"]) == ("mirrored", 1)
    assert "job_id" not in again.metadata
    Panorama(first.array).save(out)  # no metadata: the old sidecar is not left behind
    assert not out.with_suffix(".json").exists()
    tally.add(AREA, "Panorama.save over a saved panorama", 2,
              "its sidecar replaced (was: the old prompt and seed kept), or removed "
              "when the new one has no metadata")


# -- another process holding the ledger --------------------------------------------------

HOLDER = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("holding", flush=True)
    time.sleep(60)
""")


def test_ledger_held_by_another_process(emu, lib, monkeypatch, tally):
    _library(emu, lib, n=1)
    monkeypatch.setattr(ledger_errors, "LOCK_TIMEOUT", 0.5)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lib / "ledger.sqlite")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with make_client(emu, lib) as c:
            t0 = time.monotonic()
            with pytest.raises(OSError) as info:
                c.run(req(1))
            waited = time.monotonic() - t0
        text = str(info.value)
        assert "locked" in text and str(holder.pid) in text and str(lib) in text, text
        assert "writable" not in text and "free space" not in text, text
        assert emu.stats()["generate_posts"] == 1  # only the first library's one
    finally:
        holder.kill()
        holder.wait()
    with make_client(emu, lib) as c:  # the holder is gone: it works again
        assert c.run(req(1)).files
    tally.add(AREA, "ledger write lock held by another process", 1,
              "OSError 'locked' naming the process id, after the wait; no POST sent "
              "(was: blamed permissions and disk space)", seconds_waited=round(waited, 2))
