"""Fixtures every test may use: an emulator and an empty library (the fast client
settings and the emulator factory are importable from `fast`).

Invariant: each test gets its own emulator and library (started and stopped here, from
the one factory `fast.emulator`), so no job or file of one test leaks into another; a
module or test needing other emulator settings says so with
``@pytest.mark.emulator(render_size=..., ...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from fast import emulator
from skybox_nb.emulator import Emulator


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulator(**kw): settings of the `emu` fixture's "
                            "emulator (keyword arguments of Emulator)")


@pytest.fixture
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A started emulator: instant jobs, 64x32 images, unless a marker says otherwise."""
    marker = request.node.get_closest_marker("emulator")
    with emulator(**(marker.kwargs if marker else {})) as e:
        yield e


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    """An empty library folder."""
    return tmp_path / "library"

