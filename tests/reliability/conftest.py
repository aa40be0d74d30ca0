"""Fixtures for the reliability suite: a client on the shared `emu` and `lib` fixtures
(tests/conftest.py); the session tally is written to ``$SKYBOX_RELIABILITY_OUT`` (JSON) when set.

Invariant: each test gets its own emulator and library, so no fault, job or file of one
test can leak into another's counts.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from reliability_support import TALLY, Tally, make_client
from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator


@pytest.fixture
def client(emu: Emulator, lib: Path) -> Iterator[SkyboxClient]:
    """A client on the `emu` fixture and the `lib` folder."""
    c = make_client(emu, lib)
    yield c
    c.close()


@pytest.fixture(scope="session")
def tally() -> Iterator[Tally]:
    """The session's tally of trials; written to $SKYBOX_RELIABILITY_OUT at the end."""
    start = time.monotonic()
    yield TALLY
    out = os.environ.get("SKYBOX_RELIABILITY_OUT")
    if out:
        Path(out).write_text(json.dumps({"rows": TALLY.to_json(),
                                         "seconds": round(time.monotonic() - start, 1)},
                                        indent=2))
