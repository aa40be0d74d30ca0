"""Every figure a notebook draws is a picture: in the notebooks as saved (so one opened
before running shows images) and when they are executed afresh in a kernel. nbval skips
image outputs when it compares, so this is the test that would see a figure turn back
into its ``<Figure size ...>`` text."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from skybox_nb import notebooks
from skybox_nb.demo import execute_notebook

IMAGE_TYPES = ("image/png", "image/jpeg")
NAMES = notebooks.names()


def figure_cells(nb: dict) -> dict[str, list[str]]:
    """{cell id: the image types of its outputs} for the cells that drew an image; fails
    on any output that is a figure's bare text instead of its picture."""
    found: dict[str, list[str]] = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = "".join(data.get("text/plain", "")) + "".join(out.get("text", ""))
            images = [t for t in IMAGE_TYPES if t in data]
            assert images or "<Figure size" not in text, (
                f"cell {cell['id']} shows a figure as text: {text[:80]!r}")
            if images:
                assert len(images) == 1, f"cell {cell['id']}: one figure stored twice {images}"
                found.setdefault(cell["id"], []).extend(images)
    return found


def test_every_notebook_is_shipped_and_listed() -> None:
    assert NAMES[:4] == ["01_quickstart.ipynb", "02_prompt_lab.ipynb",
                         "03_geometry_enforcement.ipynb", "04_cubemap_export.ipynb"]


@pytest.mark.parametrize("name", NAMES)
def test_saved_notebook_holds_its_figures_as_images(name: str) -> None:
    nb = json.loads(notebooks.path(name).read_text(encoding="utf-8"))
    assert figure_cells(nb), f"{name}: no figure saved as an image"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_executed_notebook_draws_every_figure_as_an_image(name: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SCENARIO_SDK_API_KEY", "SCENARIO_SDK_API_SECRET", "SCENARIO_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own default, as for a user
    copy = tmp_path / name
    shutil.copyfile(notebooks.path(name), copy)
    executed = execute_notebook(copy, tmp_path, timeout=300)
    saved = json.loads(notebooks.path(name).read_text(encoding="utf-8"))
    drawn = figure_cells(json.loads(json.dumps(executed)))
    # the same cells draw, in the same format, as in the saved notebook
    assert drawn == figure_cells(saved)


@pytest.mark.parametrize("name", NAMES)
def test_saved_notebook_opens_unmodified(name: str) -> None:
    """JupyterLab rewrites a kernelspec that differs from the kernel's own (and so marks
    the notebook modified on opening); saved widget state is never restored, only weight."""
    from jupyter_client.kernelspec import KernelSpecManager

    meta = json.loads(notebooks.path(name).read_text(encoding="utf-8"))["metadata"]
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert meta["kernelspec"] == {"display_name": spec.display_name, "language": spec.language,
                                  "name": "python3"}
    assert "widgets" not in meta
