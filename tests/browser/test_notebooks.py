"""Every shipped notebook in JupyterLab, in Debian's headless Chromium, as a person meets it:
opened as saved (its figures already pictures, the notebook not marked modified by
opening), then run top to bottom (no error, every figure drawn as an image, none as
``<Figure size ...>`` text). Screenshots of each figure cell are kept in test-artifacts/
(notebooks-<name>-...png) for people to look at."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import pytest

from skybox_nb import notebooks

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

IMAGE_TYPES = ("image/png", "image/jpeg")


def _figure_cells(name: str) -> int:
    """How many outputs of the saved notebook JupyterLab shows as an image (an output
    with HTML too, like a Panorama's, is shown as its HTML)."""
    nb = json.loads(notebooks.path(name).read_text(encoding="utf-8"))
    return sum(any(t in o.get("data", {}) for t in IMAGE_TYPES)
               and "text/html" not in o.get("data", {})
               for c in nb["cells"] for o in c.get("outputs", []))


@pytest.fixture(scope="module", autouse=True)
def every_cell_attached(lab: Any) -> None:
    """Cells off screen stay in the page (no windowing), so the page can be counted."""
    settings = (lab.root.parent / "config" / "lab" / "user-settings" / "@jupyterlab"
                / "notebook-extension" / "tracker.jupyterlab-settings")
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"windowingMode": "none"}))


def _open(page: Any, lab: Any, name: str) -> None:
    page.goto(lab.url(f"lab/workspaces/{Path(name).stem}/tree/{name}") + "&reset")
    page.wait_for_function(
        "(name) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " return !!(w && w.context && w.context.path === name && w.context.isReady"
        " && w.sessionContext && w.sessionContext.session"
        " && w.sessionContext.session.kernel"
        " && w.sessionContext.session.kernel.status === 'idle'); }",
        arg=name, timeout=90_000)


def _images(page: Any) -> int:
    """Image outputs drawn in the page (decoded, with pixels), widgets' images not counted."""
    return page.evaluate(
        "() => [...document.querySelectorAll('.jp-OutputArea-output.jp-RenderedImage img')]"
        ".filter(i => i.complete && i.naturalWidth > 50).length")


def _figure_texts(page: Any) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('.jp-OutputArea-output.jp-RenderedText')]"
        ".map(e => e.textContent).filter(t => t.includes('<Figure size'))")


def _dirty(page: Any) -> bool:
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")


def _shoot(page: Any, artifacts: Path, stem: str) -> None:
    """A screenshot of every cell with a figure (input and output), and of the top."""
    page.screenshot(path=str(artifacts / f"{stem}-top.png"))
    cells = page.locator(".jp-Cell:has(.jp-RenderedImage)")
    for i in range(cells.count()):
        cells.nth(i).scroll_into_view_if_needed()
        cells.nth(i).screenshot(path=str(artifacts / f"{stem}-figure{i + 1}.png"))


@pytest.mark.parametrize("name", notebooks.names())
def test_notebook_shows_its_figures_opened_and_run(name: str, lab: Any, page: Any,
                                                   artifacts: Path) -> None:
    expected = _figure_cells(name)
    assert expected >= 1, f"{name}: no figure saved"
    work = f"nb-{name}"
    nb = json.loads(notebooks.path(name).read_text(encoding="utf-8"))
    # JupyterLab writes the kernel's Python version into language_info when it connects:
    # a notebook saved by another Python would be marked modified for that alone
    nb["metadata"].setdefault("language_info", {})["version"] = platform.python_version()
    (lab.root / work).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    stem = f"notebooks-{Path(name).stem}"

    # as saved: pictures before anything runs, and opening it changes nothing
    _open(page, lab, work)
    page.wait_for_function(f"() => [...document.querySelectorAll("
                           f"'.jp-OutputArea-output.jp-RenderedImage img')]"
                           f".filter(i => i.complete && i.naturalWidth > 50).length >= {expected}",
                           timeout=60_000)
    assert _figure_texts(page) == []
    page.wait_for_timeout(1500)  # anything that would mark it modified has happened by now
    assert not _dirty(page), f"{name}: opening it marked it modified"
    _shoot(page, artifacts, f"{stem}-opened")

    # run top to bottom: the kernel answers in order, so this returns after the last cell
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    done = page.evaluate(
        """async () => {
          const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
          const f = k.requestExecute({ code: "print('all cells ran')", store_history: false });
          let out = "";
          f.onIOPub = (m) => { if (m.header.msg_type === "stream") out += m.content.text; };
          await f.done;
          return out;
        }""")
    assert done.strip() == "all cells ran"
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
                          " .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    page.wait_for_timeout(500)
    tracebacks = [t for t in errors.all_text_contents() if "Traceback" in t or "Error" in t]
    assert not tracebacks, f"{name}: {tracebacks[:1]}"
    # every cell re-ran (execution counts 1..n) and each figure is an image in the page
    counts = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets"
        ".filter(c => c.model.type === 'code').map(c => c.model.executionCount)")
    assert counts == list(range(1, len(counts) + 1)), counts
    page.wait_for_function(f"() => [...document.querySelectorAll("
                           f"'.jp-OutputArea-output.jp-RenderedImage img')]"
                           f".filter(i => i.complete && i.naturalWidth > 50).length >= {expected}",
                           timeout=60_000)
    assert _images(page) >= expected  # (widgets' output areas may draw more, e.g. a seam check)
    assert _figure_texts(page) == []
    _shoot(page, artifacts, f"{stem}-run")
    page.evaluate("() => window.jupyterapp.commands.execute('kernelmenu:shutdown')")
