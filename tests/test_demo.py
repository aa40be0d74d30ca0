"""`skybox-nb demo`: the working copy, the backend line, JupyterLab on loopback, the report."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterable

import nbformat
import pytest
from PIL import Image

from skybox_nb import demo

REPO = Path(__file__).resolve().parents[1]


def _tiny_notebook(path: Path, source: str = "print('hello from the demo')") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, str(path))
    return path


def test_workdir_gets_a_copy_once_and_keeps_the_users_edits(tmp_path: Path) -> None:
    src = _tiny_notebook(tmp_path / "01_quickstart.ipynb")
    work = tmp_path / "work"
    copy, copied = demo.prepare_workdir(work, src)
    assert copied and copy == work / "01_quickstart.ipynb"
    assert copy.read_bytes() == src.read_bytes()
    copy.write_text(copy.read_text().replace("hello", "edited"))
    again, copied = demo.prepare_workdir(work, src)
    assert again == copy and not copied
    assert "edited" in copy.read_text()  # the user's copy is never overwritten
    assert "hello" in src.read_text()  # nor the original


def test_find_notebook_names_what_is_missing() -> None:
    with pytest.raises(FileNotFoundError, match="'no_such.ipynb' not found"):
        demo.find_notebook("no_such.ipynb")


def test_notebooks_ship_in_the_package_and_copy_into_a_folder(tmp_path: Path) -> None:
    from skybox_nb import notebooks

    shipped = notebooks.names()
    assert shipped[0] == "01_quickstart.ipynb" and len(shipped) >= 4
    assert notebooks.FOLDER == Path(demo.__file__).parent / "notebooks"
    dest = tmp_path / "mine"
    assert all(written for _, written in notebooks.copy_to(dest))
    assert sorted(p.name for p in dest.iterdir()) == shipped  # no temp file left
    (dest / shipped[0]).write_text("my edits")
    again = dict(notebooks.copy_to(dest))
    assert again[dest / shipped[0]] is False and (dest / shipped[0]).read_text() == "my edits"
    notebooks.copy_to(dest, overwrite=True)
    assert (dest / shipped[0]).read_bytes() == notebooks.path(shipped[0]).read_bytes()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(NotADirectoryError, match="a-file: is a file"):
        notebooks.copy_to(tmp_path / "a-file")


def test_cli_notebooks_copies_them_all(tmp_path: Path) -> None:
    from skybox_nb import notebooks
    from skybox_nb.cli import main

    assert main(["notebooks", str(tmp_path / "nb")]) == 0
    assert sorted(p.name for p in (tmp_path / "nb").iterdir()) == notebooks.names()
    (tmp_path / "f").write_text("x")
    assert main(["notebooks", str(tmp_path / "f")]) == 2


def test_workdir_for_the_lab_gets_every_notebook(tmp_path: Path) -> None:
    from skybox_nb import notebooks

    quick, copied = demo.prepare_workdir(tmp_path / "work")
    assert copied and quick == tmp_path / "work" / "01_quickstart.ipynb"
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == notebooks.names()


def test_backend_note_never_shows_credentials() -> None:
    env = {"SCENARIO_SDK_API_KEY": "key-AAAA1111", "SCENARIO_SDK_API_SECRET": "sec-BBBB2222"}
    note = demo.backend_note(env)
    assert note.startswith("Scenario API") and "AAAA1111" not in note and "BBBB2222" not in note
    assert demo.backend_note({}).startswith("offline emulator")
    assert demo.backend_note({"SCENARIO_SDK_API_KEY": "only-a-key"}).startswith("offline emulator")


def test_lab_command_stays_on_loopback(tmp_path: Path) -> None:
    cmd = demo.lab_command(tmp_path, 9999, "tok")
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ip=127.0.0.1" in cmd and "--no-browser" in cmd and "--port=9999" in cmd
    assert "--ServerApp.port_retries=0" in cmd  # the printed link must be the real port


def test_open_lab_serves_the_copy_on_loopback_until_interrupted(tmp_path: Path) -> None:
    src = _tiny_notebook(tmp_path / "01_quickstart.ipynb")
    work = tmp_path / "work"
    code = ("import sys; from pathlib import Path; from skybox_nb.demo import open_lab; "
            f"sys.exit(open_lab(port=0, open_browser=False, workdir={str(work)!r}, "
            f"notebook=Path({str(src)!r})))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    # its own process group, so a failed test can stop JupyterLab too
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path,
                            start_new_session=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.match(r"\s+(http://127\.0\.0\.1:\d+/lab/tree/01_quickstart\.ipynb\?token=\w+)", line)
            url = m.group(1) if m else None
        assert url, "".join(lines)
        assert any("offline emulator" in ln for ln in lines)
        base, token = url.split("/lab/tree/")[0], url.split("token=")[1]
        with urllib.request.urlopen(f"{base}/api/contents/01_quickstart.ipynb?token={token}") as r:
            served = json.load(r)
        assert served["content"]["cells"][0]["source"] == "print('hello from the demo')"
        with pytest.raises(urllib.error.HTTPError):  # the token is required
            urllib.request.urlopen(f"{base}/api/contents/01_quickstart.ipynb")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        with pytest.raises(OSError):  # and the server is gone
            urllib.request.urlopen(f"{base}/api/status", timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert (work / "01_quickstart.ipynb").is_file()


GENERATE_CELL = """\
from skybox_nb.emulator import Emulator
from skybox_nb.client import SkyboxClient
from skybox_nb.request import SkyboxRequest
emu = Emulator(job_duration=0.0, render_size=(256, 128)).start()
client = SkyboxClient(emulator=emu)
result = client.run(SkyboxRequest(prompt=PROMPT, num_outputs=2, seed=7))
import matplotlib.pyplot as plt
plt.plot([0, 1], [1, 0]); plt.show()
emu.stop()
"""


def _run_headless(tmp_path: Path, prompt: str) -> Path:
    nb = _tiny_notebook(tmp_path / "01_quickstart.ipynb",
                        f"PROMPT = {prompt!r}\n" + GENERATE_CELL)
    return demo.run_headless(tmp_path / "report", notebook=nb, timeout=120)


def test_headless_report_shows_every_panorama_with_relative_links_only(tmp_path: Path) -> None:
    index = _run_headless(tmp_path, "a red desert at noon")
    assert index == tmp_path / "report" / "index.html"
    page = index.read_text()
    assert page.count("<h2>Panorama ") == 2
    assert "offline emulator" in page and "a red desert at noon" in page
    srcs = re.findall(r'src="([^"]+)"', page)
    # per panorama: the image, six views, the seam figure, six cube faces, the lighting
    # preview; + the notebook's plot
    assert len(srcs) == 2 * (1 + 6 + 1 + 6 + 1) + 1
    assert page.count("-lighting.png") == 2 and "an estimate from the 8-bit image" in page
    for s in srcs:
        assert not s.startswith(("/", "file:", "http")) and (index.parent / s).is_file(), s
    # each panorama links its full-resolution file and the Unity faces exported from it
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert len(hrefs) == 2 * (1 + 6)
    for h in hrefs:
        assert not h.startswith(("/", "file:", "http")) and (index.parent / h).is_file(), h
    full = Image.open(index.parent / hrefs[0])
    assert full.size == (256, 128)  # the file itself, not the preview
    # every figure is labelled
    assert page.count("<figure>") == page.count("<figcaption>") >= 2 * (1 + 6 + 1 + 6) + 1
    for machine_path in (str(tmp_path), str(Path.home()), os.getcwd()):
        assert machine_path not in page
    assert "<th>seed</th><td>7</td>" in page
    # the job's cost is the job's: both panoramas say it covers their two outputs
    assert page.count(" CU for its 2 outputs, the whole job (job_") == 2


def test_headless_report_refuses_to_write_a_credential(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIO_SDK_API_KEY", "key-TOPSECRET-4242")
    monkeypatch.setenv("SCENARIO_SDK_API_SECRET", "secret-TOPSECRET-4343")
    with pytest.raises(RuntimeError, match="credential or a machine path"):
        _run_headless(tmp_path, "a desert where someone pasted key-TOPSECRET-4242")
    assert not (tmp_path / "report" / "index.html").exists()


def test_cli_demo_headless_runs_the_quickstart(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    proc = subprocess.run([sys.executable, "-m", "skybox_nb.cli", "demo", "--headless",
                           "--out", "report"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "offline emulator" in proc.stdout
    assert proc.stdout.strip().endswith("report written: report/index.html")
    # the kernel was shut down before the demo ended, not left to notice its parent gone
    assert "Parent appears to have exited" not in proc.stderr, proc.stderr[-3000:]
    assert "[IPKernelApp]" not in proc.stderr, proc.stderr[-3000:]
    page = (tmp_path / "report" / "index.html").read_text()
    assert "<h2>Panorama 1</h2>" in page and "offline emulator" in page
    assert "Figures drawn by the notebook" in page  # the quickstart's own plots
    assert str(tmp_path) not in page and str(Path.home()) not in page
    # the notebook ran on a copy in a temporary folder: only the report lands here
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_execute_notebook_shuts_its_kernel_down_before_returning(tmp_path: Path) -> None:
    nb = _tiny_notebook(tmp_path / "pid.ipynb", "import os; print(os.getpid())")
    done = demo.execute_notebook(nb, tmp_path, timeout=120)
    kernel_pid = int(done.cells[0].outputs[0]["text"])
    assert kernel_pid != os.getpid()
    assert _alive([kernel_pid], within=0) == []  # gone already: no grace period needed


def _descendants(pid: int) -> dict[int, str]:
    """{pid: command line} of every live process below ``pid`` (read from /proc)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parent[int(stat.parent.name)] = int(fields[1])
    found, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in found:
                try:
                    found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes() \
                        .replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                todo.append(child)
    return found


def _alive(pids: Iterable[int], within: float) -> list[int]:
    deadline = time.monotonic() + within
    while True:
        left = [p for p in pids if Path(f"/proc/{p}").exists()
                and (Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENARIO_")}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    return env


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigterm_stops_the_lab_and_its_kernels(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "skybox_nb.cli", "demo", "--no-browser",
                             "--port", "0"], cwd=tmp_path, env=_demo_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.match(r"\s+(http://127\.0\.0\.1:\d+)/lab/tree/01_quickstart\.ipynb\?token=(\w+)",
                         line)
            url = m.groups() if m else None
        assert url, "the demo printed no link"
        base, token = url
        with urllib.request.urlopen(f"{base}/api/contents?token={token}") as r:
            served = {c["name"] for c in json.load(r)["content"]}
        from skybox_nb import notebooks
        assert set(notebooks.names()) <= served  # every notebook, not only the quickstart
        req = urllib.request.Request(f"{base}/api/kernels?token={token}", method="POST",
                                     data=b'{"name": "python3"}',
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            kernel_id = json.load(r)["id"]
        deadline = time.monotonic() + 60
        while not any(kernel_id in c for c in _descendants(proc.pid).values()):
            assert time.monotonic() < deadline, "the kernel did not start"
            time.sleep(0.3)
        below = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0  # stopped as by Ctrl-C: a clean stop
        assert _alive(below, within=15) == [], "JupyterLab or a kernel outlived the demo"
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{base}/api/status", timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigterm_stops_a_headless_run_and_its_kernel(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "skybox_nb.cli", "demo", "--headless"],
                            cwd=tmp_path, env=_demo_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        below = _descendants(proc.pid)
        while not any("ipykernel" in c for c in below.values()):
            assert proc.poll() is None and time.monotonic() < deadline, "no kernel started"
            time.sleep(0.2)
            below = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 130
        assert _alive(below, within=15) == [], "the kernel outlived the demo"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
