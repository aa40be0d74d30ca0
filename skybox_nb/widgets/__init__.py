"""Notebook UI: the generator form, the gallery, the backend badge and the 360 viewer.

Invariant: widgets only gather values and show results; every button is one call into
the package (request, client, panorama, cubemap, seams), so notebook code can do the same
without them. Importing this package does not import the client or start an emulator.
"""

from __future__ import annotations

from .badge import backend_badge, badge_html
from .form import GeneratorForm
from .gallery import Gallery, GalleryItem
from .run_row import RunRow
from .viewer import Viewer360

__all__ = ["Gallery", "GalleryItem", "GeneratorForm", "RunRow", "Viewer360",
           "backend_badge", "badge_html"]
