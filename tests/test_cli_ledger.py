"""`skybox-nb ledger list|resume|reconcile|dismiss`: what a `DuplicateIntentError`'s hint
names, done from a shell, against an emulator served on loopback as the real API would
be (credentials and base URL from the environment)."""

from __future__ import annotations

import json

import pytest

from fast import emulator
from skybox_nb import errors
from skybox_nb.cli import main
from skybox_nb.client import SkyboxClient
from skybox_nb.ledger import Ledger
from skybox_nb.request import SkyboxRequest


@pytest.fixture
def served(monkeypatch):
    with emulator(job_duration=0.5) as emu:
        monkeypatch.setenv("SCENARIO_SDK_API_KEY", "cli-key-0123456789")
        monkeypatch.setenv("SCENARIO_SDK_API_SECRET", "cli-secret")
        monkeypatch.setenv("SCENARIO_BASE_URL", emu.base_url)
        yield emu


def test_list_and_resume_finish_a_job_left_running(served, tmp_path, capsys):
    lib = tmp_path / "lib"
    with SkyboxClient(library=lib) as c:  # a session that stopped waiting
        job = c.generate(SkyboxRequest("a foggy pier", num_outputs=1, seed=4))
    assert main(["ledger", "list", str(lib)]) == 0
    out = capsys.readouterr().out
    assert job.id in out and "running" in out and "a foggy pier" in out
    assert main(["ledger", "resume", str(lib)]) == 0
    out = capsys.readouterr().out
    assert "1 generation(s) finished" in out and ".png" in out
    assert Ledger(lib).by_job(job.id).status == "done"
    assert main(["ledger", "list", str(lib)]) == 0
    assert capsys.readouterr().out.strip() == "nothing to settle"
    assert main(["ledger", "list", str(lib), "--all", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["status"] == "done" and row["job"] == job.id and len(row["files"]) == 1
    assert served.stats()["generate_posts"] == 1  # resume never pays


def test_reconcile_and_dismiss_an_unknown_intent(served, tmp_path, capsys):
    lib = tmp_path / "lib"
    req = SkyboxRequest("a lost answer", num_outputs=1, seed=9)
    led = Ledger(lib)
    iid = led.record_intent(req.model_id, req.to_body(), req.fingerprint)
    led.mark_unknown(iid, "connection dropped")
    led.close()
    with SkyboxClient(library=lib) as c, pytest.raises(errors.DuplicateIntentError) as info:
        c.run(req)
    assert "skybox-nb ledger dismiss " + iid in str(info.value)
    assert "skybox-nb ledger reconcile" in str(info.value)
    assert main(["ledger", "reconcile", str(lib)]) == 0
    assert iid in capsys.readouterr().out
    assert main(["ledger", "dismiss", iid, str(lib)]) == 0
    assert "dismissed" in capsys.readouterr().out
    assert Ledger(lib).get(iid).status == "dismissed"
    assert main(["ledger", "dismiss", iid, str(lib)]) == 1  # not unresolved any more
    assert "only 'unknown'" in capsys.readouterr().err
    assert main(["ledger", "dismiss", "intent_nope", str(lib)]) == 1
    assert "no intent" in capsys.readouterr().err
