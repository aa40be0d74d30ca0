"""A client that fails to start leaves nothing running: no emulator thread, no emulator
temp folder, no open ledger; the same for the asyncio client.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from skybox_nb.client import AsyncSkyboxClient, SkyboxClient
from skybox_nb.emulator.store import STORE_PREFIX

AREA = "failed-client"


def _leftovers() -> tuple[set[str], set[Path]]:
    threads = {t.name for t in threading.enumerate()}
    # This process's emulator folders only: other processes come and go meanwhile.
    folders = set(Path(tempfile.gettempdir()).glob(f"{STORE_PREFIX}{os.getpid()}-*"))
    return threads, folders


def _boom(*a: Any, **k: Any) -> Any:
    raise RuntimeError("simulated failure while the client was being built")


@pytest.mark.parametrize("cls", [SkyboxClient, AsyncSkyboxClient])
@pytest.mark.parametrize("how", ["library is a file", "ledger report fails",
                                 "http client fails"])
def test_a_failed_client_leaks_no_emulator(cls: type, how: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, tally) -> None:  # type: ignore[no-untyped-def]
    for var in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET", "SCENARIO_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    library: Path = tmp_path / "lib"
    if how == "library is a file":
        library = tmp_path / "not-a-folder"
        library.write_text("x")
    elif how == "ledger report fails":
        monkeypatch.setattr("skybox_nb.client.core.report_leftovers", _boom)
    else:
        monkeypatch.setattr(httpx, "Client", _boom)
        monkeypatch.setattr(httpx, "AsyncClient", _boom)
    threads, folders = _leftovers()
    with pytest.raises(Exception):
        cls(library=library)  # no credentials: it starts an emulator first
    after_threads, after_folders = _leftovers()
    assert not after_folders - folders, f"emulator folders left: {after_folders - folders}"
    extra = {t for t in after_threads - threads if not t.startswith("asyncio")}
    assert not extra, f"threads left running: {extra}"
    tally.add(AREA, "a client failing to start (library is a file, ledger report "
              "raises, HTTP client raises), blocking and async", 1,
              "no emulator thread, temp folder or open ledger left")


def test_an_invalid_timeout_is_refused_before_anything_starts(tmp_path: Path) -> None:
    threads, folders = _leftovers()
    for bad in (0, -1, float("nan"), "30", True):
        with pytest.raises(ValueError, match="timeout"):
            SkyboxClient(library=tmp_path, timeout=bad)  # type: ignore[arg-type]
    assert not _leftovers()[1] - folders
