"""A rebuild never deletes an old ledger nor moves a row's file: each rebuild moves the
file it replaces to a name of its own, even when two rebuilds fall in the same second
(the aside name is stamped to the second, and a rename onto an existing name replaces
that file), and a row naming a file in a subfolder of the library keeps naming it."""

from __future__ import annotations

import sqlite3

from skybox_nb.ledger import LEDGER_NAME, Ledger
from skybox_nb.ledger_rebuild import rebuild


def _mark(lib, text: str) -> None:
    """Put a recognisable table into the library's current ledger file."""
    conn = sqlite3.connect(lib / LEDGER_NAME)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS mark (text TEXT)")
        conn.execute("INSERT INTO mark VALUES (?)", (text,))
        conn.commit()
    finally:
        conn.close()


def _marks(path) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT text FROM mark")}
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


def test_rebuilds_in_the_same_second_keep_every_old_ledger(tmp_path, monkeypatch):
    import skybox_nb.ledger_rebuild as lr

    class Frozen:  # every rebuild of this test in the same second
        @staticmethod
        def now():
            from datetime import datetime
            return datetime(2026, 12, 2, 1, 2, 3)

    monkeypatch.setattr(lr, "datetime", Frozen)
    Ledger(tmp_path).close()
    _mark(tmp_path, "the original")
    first = rebuild(tmp_path)
    _mark(tmp_path, "the first rebuild")
    second = rebuild(tmp_path)
    asides = first.moved_aside + second.moved_aside
    assert len(asides) == 2 and len(set(asides)) == 2, asides
    assert all(p.is_file() for p in asides)
    assert [_marks(p) for p in asides] == [{"the original"}, {"the first rebuild"}]
    # the rebuilt ledgers are named in the report under the names they now have
    assert "old file kept as" in str(second) and str(second.moved_aside[0]) in str(second)


def test_a_rebuild_keeps_a_file_in_a_subfolder_of_the_library_where_it_is(tmp_path):
    import time

    sub = tmp_path / "refined"
    sub.mkdir()
    (sub / "sky.png").write_bytes(b"not read")
    led = Ledger(tmp_path)
    row = {"intent_id": "intent_sub", "fingerprint": "f", "model_id": "m", "body": {},
           "status": "done", "files": [sub / "sky.png"], "asset_ids": [],
           "created_at": time.time()}
    try:
        led.restore(row)
        assert list(led.get("intent_sub").files) == [sub / "sky.png"]
    finally:
        led.close()
    rebuild(tmp_path)
    led = Ledger(tmp_path)
    try:
        assert list(led.get("intent_sub").files) == [sub / "sky.png"]
    finally:
        led.close()
