"""The one Figure type the package returns: a matplotlib Figure that shows itself as a
picture wherever it is the value of a cell.

Invariant: every figure skybox_nb builds is this class, made without pyplot (nothing
accumulates in pyplot's figure list, no backend is chosen), and Jupyter displays it as an
image whether or not pyplot was ever imported: IPython asks an object for ``_repr_png_``
/ ``_repr_jpeg_``. Once pyplot's inline backend is loaded it registers its own PNG
printer for every matplotlib Figure, so in a running IPython this module also registers
this class's own methods for it (the more specific type wins): one image per figure, in
its own format, never the ``<Figure size ...>`` text.
"""

from __future__ import annotations

import io
import sys
from typing import Any, Literal

import matplotlib.figure

__all__ = ["Figure", "DISPLAY_DPI"]

# The resolution of a displayed figure: matplotlib's default, so a notebook shows the same
# pixels whichever of the two routes above displayed it.
DISPLAY_DPI = 100
_JPEG_QUALITY = 88


class Figure(matplotlib.figure.Figure):
    """A `matplotlib.figure.Figure` that Jupyter displays as an image.

    ``display_format``: "png" (lines, text and pixel-exact crops) or "jpeg" (figures made
    of photographs, e.g. contact sheets: a tenth of the PNG's size in a saved notebook).
    Everything else is matplotlib's: ``savefig``, axes, ``add_subplot`` and so on.
    """

    def __init__(self, *args: Any, display_format: Literal["png", "jpeg"] = "png",
                 **kwargs: Any) -> None:
        if display_format not in ("png", "jpeg"):
            raise ValueError(f"display_format: got {display_format!r}; allowed: 'png' or 'jpeg'")
        super().__init__(*args, **kwargs)
        self.display_format = display_format

    def to_bytes(self, fmt: str | None = None) -> bytes:
        """The figure encoded as ``fmt`` ("png" or "jpeg"; default: its display format),
        trimmed to what is drawn, on white, as Jupyter shows it."""
        fmt = fmt or self.display_format
        buf = io.BytesIO()
        extra = {"pil_kwargs": {"quality": _JPEG_QUALITY}} if fmt == "jpeg" else {}
        self.savefig(buf, format=fmt, dpi=DISPLAY_DPI, bbox_inches="tight",
                     facecolor="white", **extra)
        return buf.getvalue()

    def _repr_png_(self) -> bytes | None:
        return self.to_bytes("png") if self.display_format == "png" else None

    def _repr_jpeg_(self) -> bytes | None:
        return self.to_bytes("jpeg") if self.display_format == "jpeg" else None


def _claim_ipython_formatters() -> None:
    """In a running IPython, display this class with its own methods (not pyplot's)."""
    ipython = sys.modules.get("IPython")  # imported by any kernel; never imported here
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    formatters["image/png"].for_type(Figure, Figure._repr_png_)
    formatters["image/jpeg"].for_type(Figure, Figure._repr_jpeg_)


_claim_ipython_formatters()
