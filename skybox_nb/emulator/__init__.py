"""skybox_nb.emulator: an OFFLINE stand-in for the Scenario API, for tests and demos.

Invariant: it speaks Scenario's documented HTTP contract under ``/v1`` (answers the official
SDK's models accept) and says everywhere that it is the emulator: an
``X-Scenario-Emulator: offline`` header, log lines, asset metadata and PNG text. Its images
are procedural skies from `render.py`, not the Skybox Flux.1 model's.

    from skybox_nb.emulator import Emulator
    with Emulator(render_size=(256, 128)) as emu:
        ...  # point a client at emu.base_url, any Basic credentials

    httpx.Client(transport=Emulator().transport())  # the same answers in-process, no socket
"""

from __future__ import annotations

from .faults import KINDS as FAULT_KINDS
from .faults import ROUTES as FAULT_ROUTES
from .faults import parse_fault_spec
from .server import DEFAULT_JOB_DURATION, Emulator

__all__ = ["Emulator", "DEFAULT_JOB_DURATION", "FAULT_KINDS", "FAULT_ROUTES", "parse_fault_spec"]
