"""The ledger: intents committed before the paid POST, unknown intents blocking identical
requests, stale "submitting" rows, job updates, and concurrent writers."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from skybox_nb.errors import DuplicateIntentError
from skybox_nb.ledger import STALE_SUBMITTING_AFTER, Ledger
from skybox_nb.models import Job

MODEL = "model_scenario-skybox-flux"


def job(status="in-progress", progress=0.5, ids=(), error=None, hint=None, cost=6.0):
    return Job("job_" + "A" * 24, status, progress, tuple(ids), error, hint, cost,
               "2026-01-01T00:00:00.000Z")


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(tmp_path / "lib")
    yield led
    led.close()


def test_an_intent_is_on_disk_before_anything_is_sent(ledger, tmp_path):
    iid = ledger.record_intent(MODEL, {"prompt": "x", "seed": 1}, "fp1")
    # Another connection (another process, after a crash) sees it at once.
    raw = sqlite3.connect(tmp_path / "lib" / "ledger.sqlite")
    row = raw.execute("SELECT status, body, fingerprint FROM intents WHERE intent_id = ?",
                      (iid,)).fetchone()
    raw.close()
    assert row == ("submitting", json.dumps({"prompt": "x", "seed": 1}, sort_keys=True), "fp1")
    assert ledger.path == tmp_path / "lib" / "ledger.sqlite"


def test_lifecycle_to_done_and_records_newest_first(ledger, tmp_path):
    a = ledger.record_intent(MODEL, {"prompt": "a"}, "fa")
    time.sleep(0.01)
    b = ledger.record_intent(MODEL, {"prompt": "b"}, "fb")
    ledger.attach_job(a, job("queued", 0.0), cu_cost=12.0)
    rec = ledger.get(a)
    assert (rec.status, rec.job_id, rec.job_status, rec.cu_cost) == (
        "running", "job_" + "A" * 24, "queued", 12.0)
    assert rec.active and ledger.active() == [rec] and ledger.active("fb") == []
    ledger.update_job(a, job("success", 1.0, ids=["asset_X1", "asset_X2"]))
    files = [tmp_path / "one.png", tmp_path / "two.png"]
    ledger.mark_done(a, files)
    rec = ledger.get(a)
    assert rec.status == "done" and rec.files == tuple(files) and rec.progress == 1.0
    assert rec.asset_ids == ("asset_X1", "asset_X2") and rec.cu_cost == 6.0
    assert [g.intent_id for g in ledger.generations()] == [b, a]
    assert [g.intent_id for g in ledger.generations(status="done")] == [a]
    assert len(ledger) == 2 and "2 generations" in repr(ledger)
    with pytest.raises(ValueError, match="status: got 'finished'; expected one of"):
        ledger.generations(status="finished")
    with pytest.raises(KeyError):
        ledger.get("intent_nope")


def test_failed_and_canceled_jobs(ledger):
    a = ledger.record_intent(MODEL, {"prompt": "a"}, "fa")
    ledger.attach_job(a, job("in-progress"))
    ledger.update_job(a, job("failure", 1.0, error="GPU lost", hint="retry"))
    assert (ledger.get(a).status, ledger.get(a).error) == ("failed", "GPU lost; retry")
    b = ledger.record_intent(MODEL, {"prompt": "b"}, "fb")
    ledger.attach_job(b, job("canceled", 0.3))
    assert ledger.get(b).status == "canceled"
    c = ledger.record_intent(MODEL, {"prompt": "c"}, "fc")
    ledger.mark_refused(c, "[invalid 400] nope")
    assert ledger.get(c).status == "refused"
    ledger.record_intent(MODEL, {"prompt": "c"}, "fc")  # a refused intent never blocks


def test_unknown_blocks_identical_until_dismissed(ledger):
    a = ledger.record_intent(MODEL, {"prompt": "a"}, "fa")
    ledger.mark_unknown(a, "connection dropped")
    with pytest.raises(DuplicateIntentError) as info:
        ledger.record_intent(MODEL, {"prompt": "a"}, "fa")
    assert info.value.intent_id == a and "reconcile" in str(info.value)
    assert f"dismiss({a!r})" in str(info.value)
    ledger.record_intent(MODEL, {"prompt": "b"}, "fb")  # others are not blocked
    assert ledger.unresolved()[0].intent_id == a
    assert ledger.dismiss(a).status == "dismissed"
    ledger.record_intent(MODEL, {"prompt": "a"}, "fa")
    with pytest.raises(ValueError, match="only 'unknown', 'submitting' or 'lost'"):
        ledger.dismiss(a)


def test_submitting_rows_of_dead_or_ancient_posts_become_unknown(ledger, tmp_path):
    mine = ledger.record_intent(MODEL, {"prompt": "live"}, "f-live")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    ghost = ledger.record_intent(MODEL, {"prompt": "ghost"}, "f-ghost")
    old = ledger.record_intent(MODEL, {"prompt": "old"}, "f-old")
    with ledger._tx() as c:
        c.execute("UPDATE intents SET pid = ? WHERE intent_id = ?", (dead_pid, ghost))
        c.execute("UPDATE intents SET created_at = ? WHERE intent_id = ?",
                  (time.time() - STALE_SUBMITTING_AFTER - 1, old))
    again = Ledger(tmp_path / "lib")  # a new kernel opens the library
    try:
        status = {g.intent_id: g.status for g in again.generations()}
        assert status == {mine: "submitting", ghost: "unknown", old: "unknown"}
        assert "ended before Scenario answered" in again.get(ghost).error
        with pytest.raises(DuplicateIntentError):
            again.record_intent(MODEL, {"prompt": "ghost"}, "f-ghost")
    finally:
        again.close()


def test_concurrent_writers_lose_nothing(ledger):
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(15):
                iid = ledger.record_intent(MODEL, {"prompt": f"{k}-{i}"}, f"f{k}-{i}")
                ledger.attach_job(iid, job())
                ledger.mark_done(iid, [Path(f"/tmp/{k}-{i}.png")])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    recs = ledger.generations()
    assert len(recs) == 90 and {r.status for r in recs} == {"done"}
    assert len({r.intent_id for r in recs}) == 90


def test_no_url_or_secret_columns(ledger):
    cols = [r[1] for r in ledger._conn.execute("PRAGMA table_info(intents)")]
    assert not [c for c in cols if "url" in c or "key" in c or "secret" in c or "auth" in c]
    assert os.path.basename(ledger.path) == "ledger.sqlite"
