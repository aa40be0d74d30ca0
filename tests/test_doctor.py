"""`skybox-nb doctor`: free calls only, each answer read and compared with the SDK's
models, and a capture with no credential, signed-URL query or prompt in it."""

from __future__ import annotations

import json

import httpx
import pytest

from fast import emulator
from skybox_nb.cli import main

KEY, SECRET = "doctor-key-0123456789", "doctor-secret-abcdef"


@pytest.fixture(params=[False, True], ids=["full", "lean"])
def served(request, monkeypatch):
    with emulator(lean=request.param) as emu:
        monkeypatch.setenv("SCENARIO_SDK_API_KEY", KEY)
        monkeypatch.setenv("SCENARIO_SDK_API_SECRET", SECRET)
        monkeypatch.setenv("SCENARIO_BASE_URL", emu.base_url)
        with httpx.Client(base_url=emu.base_url, auth=(KEY, SECRET)) as http:
            r = http.post("/generate/custom/model_scenario-skybox-flux",
                          json={"prompt": "my secret castle", "numOutputs": 1})
            assert r.status_code == 200
        yield emu, request.param


def test_doctor_checks_with_free_calls_and_writes_a_redacted_capture(served, tmp_path, capsys):
    emu, lean = served
    posts = emu.stats()["generate_posts"]
    cap = tmp_path / "capture.json"
    assert main(["doctor", "--capture", str(cap)]) == 0
    out = capsys.readouterr().out
    assert "GET /jobs" in out and "dry run" in out and "all calls answered and read" in out
    assert emu.stats()["generate_posts"] == posts  # nothing paid
    if lean:  # the differences a first real user would report
        assert "no authorId, billing, createdAt" in out and "the job is empty" in out
        assert "xEmulatorUnknownField" in out and "no extension" in out
    text = cap.read_text()
    data = json.loads(text)
    assert {c["name"] for c in data["checks"]} >= {"dry run", "GET /jobs", "GET /jobs/{id}"}
    for secret in (KEY, SECRET, "my secret castle", "Signature=" + "A"):
        assert secret not in text
    assert "Signature=<redacted>" in text or "Signature" not in text


def test_doctor_without_credentials_runs_against_the_emulator(monkeypatch, capsys):
    for name in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET", "SCENARIO_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["doctor"]) == 0
    assert "offline emulator" in capsys.readouterr().out
