"""`skybox-nb demo`: the notebooks opened in JupyterLab (on the quickstart), or the
quickstart executed into a report.

Invariant: the notebooks shipped in the package are never modified. The interactive demo
works on copies of all of them in a working folder (``skybox-demo/`` by default; a copy
already there is kept, with the user's edits and runs, until they delete it), and the
headless demo executes a copy in a temporary folder. The HTML report links only to files inside its own folder and
holds no credential and no absolute path of this machine (checked before it is written).
Without Scenario credentials everything runs on the offline emulator, and says so.
"""

from __future__ import annotations

import html
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from . import notebooks
from .contract import ENV_API_KEY, ENV_API_SECRET

__all__ = ["QUICKSTART", "ReportItem", "find_notebook", "prepare_workdir", "open_lab", "run_headless",
           "execute_notebook", "write_report"]

QUICKSTART = notebooks.QUICKSTART
DEFAULT_WORKDIR = "skybox-demo"
MAX_REPORT_PANORAMAS = 4
# (label, yaw, pitch) of the perspective views in the report
VIEWS = (("front", 0, 0), ("right", 90, 0), ("back", 180, 0), ("left", -90, 0),
         ("up", 0, 90), ("down", 0, -90))
FACE_NAMES = {"F": "front", "R": "right", "B": "back", "L": "left", "U": "up", "D": "down"}


def find_notebook(name: str = QUICKSTART) -> Path:
    """The path of one of the notebooks shipped in the package."""
    return notebooks.path(name)


def prepare_workdir(workdir: str | os.PathLike[str] = DEFAULT_WORKDIR,
                    notebook: Path | None = None) -> tuple[Path, bool]:
    """Copy the shipped notebooks (or only ``notebook``) into ``workdir``, each unless a
    copy is already there.

    Returns (the quickstart's or ``notebook``'s copy, whether it was copied now). An
    existing copy is left alone: it holds the user's own edits and outputs.
    """
    folder = Path(workdir)
    if notebook is None:
        copies = notebooks.copy_to(folder)
        return next((c for c in copies if c[0].name == QUICKSTART), copies[0])
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / notebook.name
    if dest.exists():
        return dest, False
    shutil.copy2(notebook, dest)
    return dest, True


def backend_note(env: dict[str, str] | None = None) -> str:
    """One line saying which backend the notebooks will use (never the credentials)."""
    env = dict(os.environ if env is None else env)
    if env.get(ENV_API_KEY) and env.get(ENV_API_SECRET):
        return f"Scenario API: credentials found in {ENV_API_KEY} / {ENV_API_SECRET} (jobs cost CU)"
    return ("offline emulator: no Scenario credentials set, so the notebook generates "
            "procedural stand-in images on a built-in emulator of the API (nothing is billed)")


_STOP_SIGNALS: list[int] = []  # the signals that asked this process to stop


def interrupt_on_sigterm() -> None:
    """Make SIGTERM (and SIGHUP) stop the demo the way Ctrl-C does, by raising
    KeyboardInterrupt: JupyterLab is then stopped (it shuts its kernels down) and a
    headless run's kernel is shut down (nbclient's own handler, while it runs a notebook),
    instead of both being orphaned. Main thread only."""
    def _interrupt(signum: int, frame: Any) -> None:
        _STOP_SIGNALS.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, _interrupt)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def lab_command(root: Path, port: int, token: str) -> list[str]:
    """The command that serves ``root`` with JupyterLab on 127.0.0.1 (this interpreter)."""
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers often run as root
        cmd.append("--allow-root")
    return cmd


def open_lab(port: int = 8888, open_browser: bool = True,
             workdir: str | os.PathLike[str] = DEFAULT_WORKDIR,
             notebook: Path | None = None) -> int:
    """Serve copies of the notebooks with JupyterLab on loopback, opening the quickstart (or
    only ``notebook``), until Ctrl-C.

    Prints the link (with a fresh token) and opens it unless ``open_browser`` is False;
    port 0, or a busy port, means any free one. Returns JupyterLab's exit code.
    """
    if importlib.util.find_spec("jupyterlab") is None:
        raise SystemExit("skybox-nb demo needs JupyterLab: pip install 'skybox-nb[lab]'")
    nb, copied = prepare_workdir(workdir, notebook)
    root = nb.parent.resolve()
    if port == 0 or not _port_free(port):
        new = _free_port()
        if port:
            print(f"port {port} is busy; using {new}")
        port = new
    token = secrets.token_hex(16)
    if copied:
        print(f"copied the notebooks to {root} (your runs and edits stay in those copies)")
    else:
        print(f"using your copies of the notebooks in {root} (delete a notebook to get it "
              "afresh)")
    print(f"backend: {backend_note()}")
    proc = subprocess.Popen(lab_command(root, port, token), cwd=root)
    try:
        url = f"http://127.0.0.1:{port}/lab/tree/{nb.name}?token={token}"
        if not _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc, 120):
            proc.terminate()
            code = proc.wait() or 1
            print(f"JupyterLab did not start (exit code {code}); its messages are above",
                  file=sys.stderr)
            return code
        print(f"\nJupyterLab is serving the quickstart at:\n  {url}\n(Ctrl-C stops it)",
              flush=True)
        if open_browser:
            webbrowser.open(url)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0


def execute_notebook(notebook: Path, cwd: Path, timeout: int = 600) -> Any:
    """Run ``notebook`` top to bottom in a kernel of this interpreter, working in ``cwd``.

    Returns the executed notebook (an nbformat node); raises nbclient's CellExecutionError
    naming the failing cell.
    """
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(str(notebook), as_version=4)
    with tempfile.TemporaryDirectory(prefix="skybox-kernel-") as sockets:
        # no kernel dirs: "python3" resolves to ipykernel in this very interpreter; it is
        # reached over local sockets (not TCP ports) that vanish with their folder
        km = AsyncKernelManager(kernel_name="python3", transport="ipc",
                                ip=str(Path(sockets) / "k"),
                                kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
        client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd)}})
        try:
            # nbclient shuts down only a kernel it made itself; this one is ours to stop,
            # gracefully, before its socket folder goes (left alive, it would outlive this
            # process and print "Parent appears to have exited" as the demo ends)
            client.execute(cleanup_kc=True)
        except BaseException:
            # A stop signal surfaces as whatever it interrupted (a cancelled start, or
            # "kernel died" once nbclient's own handler shut the kernel down): say stopped.
            if _STOP_SIGNALS or getattr(client, "_async_cleanup_kernel_future", None):
                raise KeyboardInterrupt("stopped by a signal") from None
            raise
    return nb


# -- the report ----------------------------------------------------------------------------

@dataclass
class ReportItem:
    """One panorama of the report, with what was asked for and what came out."""

    path: Path
    request: dict[str, Any] = field(default_factory=dict)
    cu_cost: float | None = None  # of the whole job (Scenario bills jobs, not images)
    job_id: str | None = None
    outputs: int = 1  # how many outputs that job made


def _library_items(run_dir: Path) -> list[ReportItem]:
    """Every panorama the run saved, oldest first, read from the ledger(s) it wrote."""
    from .ledger import Ledger

    items: list[ReportItem] = []
    for db in sorted(run_dir.rglob("ledger.sqlite")):
        ledger = Ledger(db.parent)
        try:
            for gen in reversed(ledger.generations(status="done")):
                job_id = getattr(gen, "job_id", None)
                for f in gen.files:
                    # relative paths are relative to the kernel's folder (the run dir)
                    found = [c for c in (run_dir / f, db.parent / Path(f).name) if c.is_file()]
                    if not found:
                        continue
                    items.append(ReportItem(found[0], dict(gen.request), gen.cu_cost, job_id,
                                            len(gen.files)))
        finally:
            ledger.close()
    return items


def _save_fig(fig: Any, path: Path) -> str:
    fig.savefig(path, dpi=90, bbox_inches="tight")  # built without pyplot: nothing to close
    return path.name


def _flatten(d: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(d, (list, tuple)) and len(d) > 6:
        yield prefix, f"{len(d)} values"
    else:
        yield prefix, d


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _job_cost(item: ReportItem) -> str | None:
    """The job's cost, said once for the job: with two outputs, not 'per panorama'."""
    if item.cu_cost is None:
        return None
    many = f" for its {item.outputs} outputs" if item.outputs > 1 else ""
    job = f" ({item.job_id})" if item.job_id else ""
    return f"{item.cu_cost:g} CU{many}, the whole job{job}"


def _panorama_section(pano: Any, item: ReportItem, n: int, images: Path) -> str:
    """HTML for one panorama: the image, perspective views, seam check, the six cube
    faces, links to the full-resolution file and a Unity export of it (written into
    ``files/`` beside ``images/``), and its light (spheres lit by the lighting pack of
    its HDR estimate)."""
    from .cubemap import export, perspective, to_faces
    from .panorama import write_image
    from .seams import seam_report

    esc = html.escape
    pre = f"p{n}"
    files = images.parent / "files"
    full = files / f"{pre}-panorama{item.path.suffix.lower()}"
    files.mkdir(exist_ok=True)
    shutil.copyfile(item.path, full)
    unity = export(pano, files / f"{pre}-unity", convention="unity", layout="six")
    face_px = max(1, pano.width // 4)
    links = (f'<p class="links">Full resolution: <a href="files/{full.name}">{full.name}</a> '
             f"({pano.width} x {pano.height}) &middot; Unity <i>Skybox/6 Sided</i> faces "
             f"({face_px} px): " + ", ".join(
                 f'<a href="files/{pre}-unity/{f.name}">{f.stem}</a>' for f in unity) + "</p>")
    pano.thumbnail(max_width=2048).convert("RGB").save(images / f"{pre}-panorama.jpg", quality=90)
    views = []
    for label, yaw, pitch in VIEWS:
        name = f"{pre}-view-{label}.jpg"
        write_image(perspective(pano, yaw=yaw, pitch=pitch, fov=90, size=(320, 320)),
                    images / name, quality=90)
        views.append(f'<figure><img src="images/{name}" alt="{label}"><figcaption>{label} '
                     f'(yaw {yaw}, pitch {pitch})</figcaption></figure>')
    report = seam_report(pano)
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_fmt(v))}</td></tr>"
                   for k, v in _flatten(report.to_dict()))
    seam_fig = _save_fig(report.plot(), images / f"{pre}-seams.png")
    faces = []
    for name, face in to_faces(pano, face_size=256, convention="generic").items():
        fname = f"{pre}-face-{name}.jpg"
        write_image(face, images / fname, quality=90)
        faces.append(f'<figure><img src="images/{fname}" alt="face {name}">'
                     f'<figcaption>{FACE_NAMES.get(name, name)}</figcaption></figure>')
    from .lighting import preview

    light, light_note = preview(pano, sphere_size=160)
    write_image(light, images / f"{pre}-lighting.png")
    req = item.request
    facts = [("prompt", req.get("prompt")), ("style", req.get("style", "(default)")),
             ("geometry enforcement", req.get("geometryEnforcement", "(style default)")),
             ("seed", pano.metadata.get("seed")), ("job cost", _job_cost(item)),
             ("size", f"{pano.width} x {pano.height}"),
             ("seamless", "yes" if report.seamless else "no")]
    facts_html = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_fmt(v))}</td></tr>"
                         for k, v in facts if v is not None)
    return f"""
<section>
<h2>Panorama {n}</h2>
<table class="facts">{facts_html}</table>
<figure><img class="pano" src="images/{pre}-panorama.jpg" alt="panorama {n}">
<figcaption>Panorama {n}, equirectangular (a preview; full resolution linked below)</figcaption>
</figure>
{links}
<h3>Looking around (90 degree views)</h3>
<div class="views">{''.join(views)}</div>
<h3>Seam check</h3>
<figure><img src="images/{seam_fig}" alt="seam report of panorama {n}">
<figcaption>Seam check of panorama {n}: the panorama rolled half a turn (the wrap seam on
the dashed line) with zoomed crops, the per-row seam profile against its limit, the views
straight up and down, and the cube net with each edge's score.</figcaption></figure>
<details><summary>all seam numbers</summary><table class="facts">{rows}</table></details>
<h3>Cube faces</h3>
<div class="views">{''.join(faces)}</div>
<h3>Light (HDR estimate and spheres lit by its lighting pack)</h3>
<figure><img src="images/{pre}-lighting.png" alt="lighting preview of panorama {n}">
<figcaption>Panorama {n}'s light: its HDR estimate, and a diffuse, a rough metal and a
chrome sphere lit by the lighting pack made from it; {esc(light_note)}.</figcaption></figure>
</section>"""


def _notebook_figures(nb: Any, images: Path) -> list[tuple[str, str]]:
    """The figures the notebook itself drew, saved as files; returns (file name, label)
    per figure, labelled with the notebook's heading above it and the code that drew it."""
    import base64

    found = []
    heading = ""
    for i, cell in enumerate(nb.cells):
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            titles = [ln.lstrip("#").strip() for ln in source.splitlines() if ln.startswith("#")]
            heading = titles[-1] if titles else heading
            continue
        code = [ln.strip() for ln in source.splitlines() if ln.strip()]
        for j, out in enumerate(cell.get("outputs", [])):
            data = out.get("data", {}) if isinstance(out, dict) else {}
            for mime, ext in (("image/png", "png"), ("image/jpeg", "jpg")):
                if mime in data:
                    name = f"nb-cell{i}-{j}.{ext}"
                    (images / name).write_bytes(base64.b64decode(data[mime]))
                    drawn_by = code[-1] if code else ""
                    found.append((name, f"{heading}: {drawn_by}" if heading else drawn_by))
                    break
    return found


_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
img{max-width:100%}.pano{width:100%;border-radius:4px}figure{margin:1em 0}
figcaption{font-size:13px;color:#555}.links{font-size:14px}
.views{display:grid;grid-template-columns:repeat(6,1fr);gap:6px}
.views figure{margin:0}.views figcaption{font-size:12px;color:#555;text-align:center}
.facts th{text-align:left;padding-right:1em;font-weight:600}.note{background:#fff4d6;padding:.6em 1em;border-radius:4px}
section{border-top:1px solid #ddd;margin-top:2em}
"""


def write_report(out: Path, items: list[ReportItem], nb: Any = None, *,
                 credentials: Iterable[str] = (), forbidden_paths: Iterable[str] = ()) -> Path:
    """Write ``out/index.html`` (and its images) for ``items``; returns the HTML file's path.

    Raises RuntimeError, writing no page, if it would contain any of ``credentials`` or
    ``forbidden_paths`` (absolute folders of this machine).
    """
    out.mkdir(parents=True, exist_ok=True)
    images = out / "images"
    for old in (images, out / "files"):  # a report's own folders, from an earlier run
        if old.exists():
            shutil.rmtree(old)
    images.mkdir()
    from .panorama import Panorama

    shown = items[:MAX_REPORT_PANORAMAS]
    panos = [Panorama.load(it.path) for it in shown]
    # only images that say they came from Scenario are called the model's
    emulated = not panos or any(p.source != "scenario" for p in panos)
    note = ("These images were made by the <b>offline emulator</b>: procedural stand-ins "
            "that show the toolkit working, not the output of Skybox Flux.1."
            if emulated else "These images were made by Scenario's Skybox Flux.1.")
    sections = "".join(_panorama_section(p, it, n + 1, images)
                       for n, (p, it) in enumerate(zip(panos, shown)))
    more = (f"<p>{len(items) - len(shown)} more panoramas were generated; the first "
            f"{len(shown)} are shown.</p>" if len(items) > len(shown) else "")
    figs = _notebook_figures(nb, images) if nb is not None else []
    figs_html = "".join(f'<figure><img src="images/{n}" alt="{html.escape(label)}">'
                        f"<figcaption>{html.escape(label)}</figcaption></figure>"
                        for n, label in figs)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>skybox-nb quickstart report</title>
<style>{_CSS}</style></head><body>
<h1>skybox-nb quickstart report</h1>
<p class="note">{note}</p>
<p>{len(items)} panorama{'s' if len(items) != 1 else ''} generated by running
<code>{QUICKSTART}</code> top to bottom.</p>
{more}{sections}
{'<section><h2>Figures drawn by the notebook</h2>' + figs_html + '</section>' if figs else ''}
</body></html>
"""
    for bad in [*credentials, *forbidden_paths]:
        if bad and bad in page:
            shutil.rmtree(images, ignore_errors=True)
            shutil.rmtree(out / "files", ignore_errors=True)
            raise RuntimeError("the report would contain a credential or a machine path; not written")
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def run_headless(out: str | os.PathLike[str] = "skybox-report", notebook: Path | None = None,
                 timeout: int = 600) -> Path:
    """Execute the quickstart (on a copy, in a temporary folder) and write the HTML report.

    Returns the path of ``out/index.html``.
    """
    src = notebook or find_notebook()
    out_dir = Path(out)
    with tempfile.TemporaryDirectory(prefix="skybox-demo-") as tmp:
        run_dir = Path(tmp)
        nb_copy = run_dir / src.name
        shutil.copy2(src, nb_copy)
        nb = execute_notebook(nb_copy, run_dir, timeout=timeout)
        items = _library_items(run_dir)
        forbidden = {str(run_dir), str(Path(tmp).resolve()), str(Path.home()),
                     str(out_dir.resolve()), str(Path.cwd())} - {"/"}
        creds = [os.environ.get(ENV_API_KEY, ""), os.environ.get(ENV_API_SECRET, "")]
        return write_report(out_dir, items, nb, credentials=[c for c in creds if len(c) >= 4],
                            forbidden_paths=forbidden)
