"""The ledger's transition table is the whole truth: every (status, event) pair, tried
through the ledger's public methods, either makes exactly the move the table lists or
raises `LedgerStateError` and leaves the row as it was.

Found: status changes were plain UPDATEs spread over eight methods; nothing stopped a
late "answer lost" from turning a finished generation back into "unknown" (blocking
identical requests), or a dismissed intent from being adopted and resumed.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Callable

import pytest

import skybox_nb.ledger as ledger_module
from skybox_nb.ledger import Ledger
from skybox_nb.ledger_states import (
    EVENTS,
    FINAL,
    INTENT_STATUSES,
    START,
    TRANSITIONS,
    LedgerStateError,
)
from skybox_nb.models import Job

AREA = "damaged state"
JOB = "job_" + "B" * 24


def _job(status: str) -> Job:
    return Job(JOB, status, 0.5, ("asset_Q1",), "lost GPU" if status == "failure" else None,
               None, 6.0, "2026-01-01T00:00:00.000Z")


ACTIONS: dict[str, Callable[[Ledger, str, Path], object]] = {
    "job_attached": lambda led, i, p: led.attach_job(i, _job("in-progress")),
    "answer_lost": lambda led, i, p: led.mark_unknown(i, "connection dropped"),
    "refused": lambda led, i, p: led.mark_refused(i, "[invalid 400] no"),
    "dismissed": lambda led, i, p: led.dismiss(i),
    "job_progress": lambda led, i, p: led.update_job(i, _job("in-progress")),
    "job_failed": lambda led, i, p: led.update_job(i, _job("failure")),
    "job_canceled": lambda led, i, p: led.update_job(i, _job("canceled")),
    "files_saved": lambda led, i, p: led.mark_done(i, [p]),
    "job_lost": lambda led, i, p: led.mark_lost(i, "[not_found 404] no such job"),
}


def test_every_event_has_a_public_method():
    assert set(ACTIONS) == set(EVENTS)
    assert set(FINAL) == {"refused", "done", "failed", "canceled", "dismissed"}


def test_every_status_and_event(tmp_path, tally):
    led = Ledger(tmp_path / "lib")
    image = tmp_path / "lib" / "x.png"
    tried = legal = 0
    try:
        for status in INTENT_STATUSES:
            for event in EVENTS:
                iid = f"intent_{status}_{event}"
                led.restore({"intent_id": iid, "fingerprint": iid, "model_id": "m",
                             "body": {"prompt": "x"}, "status": status,
                             "job_id": JOB if status in ("running", "done", "failed",
                                                         "canceled") else None,
                             "created_at": 1.0, "pid": 1})
                before = led.get(iid)
                want = TRANSITIONS.get((status, event))
                if want is None:
                    with pytest.raises(ValueError) as info:
                        ACTIONS[event](led, iid, image)
                    assert led.get(iid) == before, (status, event)
                    if event != "dismissed":  # dismiss() says it in its own words
                        assert isinstance(info.value, LedgerStateError)
                        assert iid in str(info.value) and repr(status) in str(info.value)
                else:
                    ACTIONS[event](led, iid, image)
                    assert led.get(iid).status == want, (status, event)
                    legal += 1
                tried += 1
    finally:
        led.close()
    assert legal == len(TRANSITIONS)
    tally.add(AREA, "ledger transitions: every status x every event", tried,
              f"{legal} legal moves made as the table says; the other {tried - legal} "
              "refused with LedgerStateError, the row unchanged")


def test_rows_start_where_the_table_says(tmp_path):
    """A paid intent is written "submitting", free work (a repair) "done": `START`; no
    INSERT in ledger.py spells a status itself."""
    assert set(START.values()) <= set(INTENT_STATUSES)
    led = Ledger(tmp_path / "lib")
    try:
        paid = led.record_intent("m", {"prompt": "x"}, "fp")
        assert led.get(paid).status == START["paid"]
        led.attach_job(paid, _job("success"))
        led.mark_done(paid, [tmp_path / "lib" / "x.png"])
        free = led.record_child(paid, "repair", [tmp_path / "lib" / "x-repaired.png"],
                                {"steps": []}, body={"repair": {}})
        assert led.get(free).status == START["free"]
        assert led.record_child(paid, "repair", [tmp_path / "lib" / "x-repaired.png"],
                                {"steps": ["again"]}, body={"repair": {}}) == free
        assert led.get(free).detail == {"steps": ["again"]}  # moved done -> done
    finally:
        led.close()
    tree = ast.parse(inspect.getsource(ledger_module))
    inserts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
               and isinstance(node.value, str) and "INSERT" in node.value.upper()]
    assert inserts and not [t for t in inserts for s in INTENT_STATUSES if f"'{s}'" in t]


def test_no_status_is_written_outside_the_table():
    """Every UPDATE of ``status`` in ledger.py goes through `Ledger._move`."""
    tree = ast.parse(inspect.getsource(ledger_module))
    offenders = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "_update":
            if any(k.arg == "status" for k in node.keywords):
                offenders.append(node.lineno)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.upper()
            if "UPDATE INTENTS" in text and "STATUS" in text and "{SETS}" not in text:
                offenders.append(node.lineno)
    assert not offenders, f"status written outside Ledger._move at lines {offenders}"


def test_two_clients_resuming_one_intent_both_finish(tmp_path, tally):
    """Two kernels on one library both resume the same running intent: both fetch the
    same files (atomic renames) and both record it done; neither gets an error."""
    import threading

    from reliability_support import check_library, make_client
    from skybox_nb.emulator import Emulator
    from skybox_nb.request import SkyboxRequest

    lib = tmp_path / "library"
    rounds = 3
    with Emulator(job_duration=0.3, render_size=(64, 32)) as emu:
        for i in range(rounds):
            with make_client(emu, lib) as first:
                first.generate(SkyboxRequest(f"dunes {i}", num_outputs=2, seed=i))
            clients = [make_client(emu, lib) for _ in range(2)]
            results: list[object] = [None, None]
            start = threading.Barrier(2)

            def resume(k: int) -> None:
                start.wait()
                try:
                    results[k] = clients[k].resume()
                except Exception as e:  # noqa: BLE001 - asserted below
                    results[k] = e

            threads = [threading.Thread(target=resume, args=(k,)) for k in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            for c in clients:
                c.close()
            assert not any(isinstance(r, Exception) for r in results), results
        assert emu.stats()["generate_posts"] == rounds
    assert check_library(lib) == {"rows": rounds, "done": rounds, "files": 2 * rounds}
    tally.add(AREA, "two clients resuming one running intent at once", rounds,
              "both finished without error; one job, the same files, the row 'done'")


def test_two_clients_reconciling_one_intent(emu, lib, tally):
    """The second of two reconciles of one unknown intent finds it settled: an outcome
    that says so, not a LedgerStateError out of reconcile()."""
    from reliability_support import make_client
    from skybox_nb.errors import SkyboxError
    from skybox_nb.request import SkyboxRequest

    a, b = make_client(emu, lib), make_client(emu, lib)
    try:
        emu.inject("drop_after_accept")
        with pytest.raises(SkyboxError):
            a.generate(SkyboxRequest("mesa at noon", seed=5))
        real_attach = a.ledger.attach_job

        def attach_after_b(intent_id, job, *rest):  # b wins the race
            assert [o.job_id for o in b.reconcile()] == [job.id]
            return real_attach(intent_id, job, *rest)

        a.ledger.attach_job = attach_after_b  # type: ignore[method-assign]
        [out] = a.reconcile()
        assert out.job_id is None and "already settled elsewhere" in out.note, out
        assert "'running'" in out.note
        assert [r.status for r in a.ledger.generations()] == ["running"]
        assert a.resume()[0].files and emu.stats()["generate_posts"] == 1
    finally:
        a.close()
        b.close()
    tally.add(AREA, "two clients reconciling one unknown intent at once", 1,
              "the second's outcome says it was settled elsewhere; one job, resumed")
