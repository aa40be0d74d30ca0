"""Fixtures for the real-browser tests: a JupyterLab on loopback and Debian's headless Chromium.

Invariant: nothing here downloads anything. Playwright is pointed at /usr/bin/chromium
(never its own browser download); JupyterLab runs from this interpreter with its own
token, a random free port, and temporary root, config, data and runtime folders, so
neither the user's Jupyter settings nor the nbval run can interfere.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from skybox_nb.demo import lab_command

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu",
    # WebGL without a GPU: SwiftShader through ANGLE (Chromium refuses it unless told it is fine)
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab: ``root`` is its folder, ``url(path)`` a tokened link into it."""

    def __init__(self, root: Path, port: int, token: str) -> None:
        self.root, self.port, self.token = root, port, token

    def url(self, path: str = "lab") -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving an empty temporary root on 127.0.0.1 (stopped at the end)."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1",
    )
    # no Scenario credentials in the lab: the notebooks must run on the emulator
    for k in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET", "SCENARIO_BASE_URL"):
        env.pop(k, None)
    # the news toast asks a question over the notebook; it has nothing to test
    labconfig = base / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port, token = _free_port(), secrets.token_hex(16)
    log = (base / "lab.log").open("w")
    # the command `skybox-nb demo` runs, plus what the tests drive the page with
    proc = subprocess.Popen(
        lab_command(root, port, token)
        + ["--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    lab = Lab(root, port, token)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(lab.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError("JupyterLab did not start:\n" + (base / "lab.log").read_text()[-3000:])
            time.sleep(0.3)
        yield lab
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# Module scope: Playwright's sync API keeps an event loop running in the main thread while
# it is open, so it must stop before later test files call asyncio.run().
@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory):
    """Debian's Chromium, headless, with a fresh profile (a Playwright BrowserContext)."""
    if not CHROMIUM.exists():
        raise RuntimeError("the browser test needs Debian's chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1000},
        )
        try:
            yield ctx
        finally:
            ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A new browser tab; any uncaught JavaScript error in it fails the test."""
    tab = chromium.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield tab
    finally:
        tab.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/ at the repository root (git-ignored): screenshots kept for people."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
