"""Notebook UI: the generator form, the gallery, the backend badge and the 360 viewer.

Invariant: widgets only gather values and show results; every button is one call into
the package (request, client, panorama, cubemap, seams), so notebook code can do the same
without them. Names load lazily: importing this package does not import the client.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module (in this package) that defines it
_EXPORTS = {
    "GeneratorForm": "form",
    "Generation": "form",
    "Gallery": "gallery",
    "GalleryItem": "gallery",
    "backend_badge": "badge",
    "badge_html": "badge",
    "Viewer360": "viewer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'skybox_nb.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
