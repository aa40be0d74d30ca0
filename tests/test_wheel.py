"""The package as users install it: a wheel built from this checkout, installed with pip
into a fresh virtual environment, run in an empty folder with no checkout in sight.

pip resolves the dependencies from PyPI (its cache makes that quick); nothing else is
downloaded. The headless demo there executes the shipped quickstart at the model's size.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd[:4]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel (and its [lab] extra) installed; returns its bin/."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # only what a source distribution holds: no .venv, no run leftovers
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "skybox_nb", src / "skybox_nb", ignore=shutil.ignore_patterns(
        "__pycache__", "skybox-library", ".ipynb_checkpoints", "*.pyc"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"),
          str(src)])
    (wheel,) = (tmp / "dist").glob("skybox_nb-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    # this interpreter's pip installs into the new venv (no pip bootstrap there); no .pyc
    # compiling of ~500 MB of dependencies: Python compiles what it imports
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
          "-q", "--no-compile", "--disable-pip-version-check", f"{wheel}[lab]"])
    return venv / "bin"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCENARIO_", "PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env.update(HOME=str(home), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_CONFIG_DIR=str(home / "config"))
    return env


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Path,
                                                            tmp_path: Path) -> None:
    out = _run([str(installed / "python"), "-c",
                "import skybox_nb, skybox_nb.notebooks as n; print(skybox_nb.__file__); "
                "print(len(n.names()))"], cwd=tmp_path, env=_env(tmp_path)).stdout.split()
    assert out[0].startswith(str(installed.parent)) and str(REPO) not in out[0]
    assert int(out[1]) >= 4


def test_notebooks_command_copies_them_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    _run([str(installed / "skybox-nb"), "notebooks", "mine"], cwd=tmp_path, env=_env(tmp_path))
    names = sorted(p.name for p in (tmp_path / "mine").iterdir())
    assert names[0] == "01_quickstart.ipynb" and len(names) >= 4


def test_headless_demo_from_the_wheel_in_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    proc = _run([str(installed / "skybox-nb"), "demo", "--headless"], cwd=work,
                env=_env(tmp_path), timeout=600)
    assert proc.stdout.strip().endswith("report written: skybox-report/index.html")
    assert sorted(p.name for p in work.iterdir()) == ["skybox-report"]
    page = (work / "skybox-report" / "index.html").read_text(encoding="utf-8")
    assert "<h2>Panorama 1</h2>" in page and "offline emulator" in page
    # the demo runs at the model's size (Skybox Flux returns 1536x768), not a test size
    assert re.search(r"<th>size</th><td>1536 x 768</td>", page), "not at the model's size"
    for src in re.findall(r'(?:src|href)="([^"#]+)"', page):
        assert (work / "skybox-report" / src).is_file(), src


def test_lab_demo_from_the_wheel_serves_every_notebook(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    proc = subprocess.Popen([str(installed / "skybox-nb"), "demo", "--no-browser", "--port", "0"],
                            cwd=work, env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        link = None
        for line in proc.stdout:
            link = re.match(r"\s+(http://127\.0\.0\.1:\d+)/lab/tree/01_quickstart\.ipynb"
                            r"\?token=(\w+)", line)
            if link:
                break
        assert link, "no JupyterLab link printed"
        base, token = link.groups()
        with urllib.request.urlopen(f"{base}/api/contents?token={token}") as r:
            served = sorted(c["name"] for c in json.load(r)["content"])
        assert served[0] == "01_quickstart.ipynb" and len(served) >= 4
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
