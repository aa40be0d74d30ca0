"""The notebooks as saved in git: executed top to bottom, their checked outputs real,
and nothing in them a secret or a path of the machine that ran them. (``pytest skybox_nb/notebooks
--nbval`` runs them again and compares the checked outputs.)"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "skybox_nb" / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))

# A saved output must not hold any of these: absolute paths of this machine or any other
# user's home / temp folders, the venv, a credential header, or a credential assignment.
FORBIDDEN = [
    re.compile(r"(?<![\w.])/(home|root|tmp|work|Users|var/folders)/"),
    re.compile(r"[A-Za-z]:\\\\"),
    re.compile(r"site-packages"),
    re.compile(r"Authorization|Basic [A-Za-z0-9+/=]{8,}"),
    re.compile(r"api_secret\s*=\s*['\"][^'\"$]"),
]


def load(name: str) -> dict:
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))


def outputs_text(nb: dict) -> str:
    return json.dumps([c.get("outputs", []) for c in nb["cells"] if c["cell_type"] == "code"])


@pytest.mark.parametrize("name", NAMES)
def test_saved_outputs_hold_no_secret_and_no_machine_path(name):
    text = outputs_text(load(name))
    for pattern in FORBIDDEN:
        assert not pattern.search(text), f"{name}: output matches {pattern.pattern}"
    for value in {str(Path.cwd()), str(Path.home()), sys.prefix}:
        assert value not in text
    for var in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET"):
        secret = os.environ.get(var)
        if secret:
            assert secret not in (NOTEBOOKS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_executed_top_to_bottom_with_several_checked_outputs(name):
    nb = load(name)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "run top to bottom in one kernel"
    assert not any(o["output_type"] == "error" for c in code for o in c["outputs"])
    checked = [c for c in code
               if "nbval-ignore-output" not in c["metadata"].get("tags", []) and c["outputs"]]
    assert len(checked) >= 4, f"{name}: only {len(checked)} cells have outputs nbval compares"
    # The setup cell works with and without credentials, and says which it used.
    assert any("offline emulator" in "".join(o.get("text", "")) for c in checked
               for o in c["outputs"])
