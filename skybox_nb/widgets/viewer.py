"""`Viewer360`: look around an equirectangular panorama in the notebook (anywidget + WebGL).

Invariant: the browser only ever receives a downscaled copy of the panorama (at most
``max_width`` pixels wide, as JPEG or PNG bytes) and, in the cube modes, one strip of six
faces cut from that same copy; the full-size image never crosses the comm channel. The
view is always normalised: yaw in [-180, 180), pitch in [-90, 90], fov in [FOV_MIN,
FOV_MAX] degrees, whether it was set from Python or by dragging in the browser.

Angles: yaw 0 looks at the centre column of the image, positive yaw turns right (towards
larger column numbers); pitch 90 looks straight up (row 0, the north pole); fov is the
horizontal field of view. The wrap seam (first/last column) is longitude +/-180, behind
the viewer at yaw 0.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any, Protocol, Union

import anywidget
import numpy as np
import traitlets
from PIL import Image

from ..conventions import LAYOUTS, get_convention
from ..errors import Problem
from ..panorama import Panorama

__all__ = ["Viewer360", "ViewerInputError", "FOV_MIN", "FOV_MAX", "MODES"]

FOV_MIN = 10.0
FOV_MAX = 150.0
MODES = ("sphere", "cube", "net")
FORMATS = ("jpeg", "png")
MAX_WIDTH_RANGE = (64, 8192)
HEIGHT_RANGE = (100, 2000)
FACE_MAX = 512  # faces stay small: they are a preview of the export, not the export
_STATIC = Path(__file__).parent / "static"
_NET_LAYOUT = "hcross"  # the cube net the "net" mode draws, from conventions.LAYOUTS
_FACE_WORDS = {"F": "front", "R": "right", "B": "back", "L": "left", "U": "up", "D": "down"}


def _net() -> dict[str, Any]:
    """The cube net as viewer.js draws it: the grid of `conventions.LAYOUTS` (hcross) with
    each cell's face as its index in the faces strip (generic convention, F R B L U D),
    its name and label. The shader holds up to 12 cells and turns no face."""
    conv = get_convention("generic")
    (rows, cols), cells = LAYOUTS[_NET_LAYOUT]
    assert rows * cols <= 12 and all(turns == 0 for *_, turns in cells), _NET_LAYOUT
    return {"rows": rows, "cols": cols, "cells": [
        {"face": conv.names.index(conv.name_of(axis)), "name": conv.name_of(axis),
         "label": _FACE_WORDS[conv.name_of(axis)], "row": row, "col": col}
        for row, col, axis, _ in cells]}


class _Shrinkable(Protocol):
    """What the viewer needs of a ``skybox_nb.panorama.Panorama``."""

    width: int
    height: int
    array: np.ndarray

    def thumbnail(self, max_width: int = 512) -> Image.Image: ...


PanoramaLike = Union[_Shrinkable, str, os.PathLike, bytes, bytearray, memoryview, np.ndarray,
                     Image.Image]


class ViewerInputError(traitlets.TraitError, ValueError):
    """A value the viewer cannot show; the message names the field, the value and what is allowed."""

    def __init__(self, field: str, value: Any, allowed: str, message: str = "") -> None:
        self.problem = Problem(field, value, allowed, message)
        super().__init__(str(self.problem))


def _finite(field: str, value: Any, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ViewerInputError(field, value, allowed, f"expected a number, got {type(value).__name__}")
    f = float(value)
    if not math.isfinite(f):
        raise ViewerInputError(field, value, allowed, "not a finite number")
    return f


def _shrunk(src: PanoramaLike, max_width: int) -> tuple[Image.Image, tuple[int, int]]:
    """An RGB image of ``src`` at most ``max_width`` wide, and the source's (width, height).

    Anything that is not already a Panorama goes through ``Panorama.load``, so the viewer
    accepts (and refuses, with the same advice) exactly what the rest of the package does.
    """
    if not (hasattr(src, "array") and callable(getattr(src, "thumbnail", None))):
        shown = (f"{len(src)} bytes" if isinstance(src, (bytes, bytearray, memoryview))
                 else f"array of shape {src.shape}" if isinstance(src, np.ndarray)
                 else str(src) if isinstance(src, (str, os.PathLike))
                 else type(src).__name__)
        allowed = ("an equirectangular (2:1) image: a Panorama, a file path, image bytes, "
                   "a PIL image or a numpy array; the ratio options below are those of "
                   "Panorama.load(src, ratio=...), whose result the viewer takes")
        try:
            src = Panorama.load(src)
        except FileNotFoundError:
            raise ViewerInputError("panorama", shown, "an existing image file", "no such file") from None
        except ValueError as exc:  # PanoramaError: says what is wrong and what to do
            raise ViewerInputError("panorama", shown, allowed, str(exc)) from None
    thumb = src.thumbnail(max_width=max_width)
    return thumb.convert("RGB"), (int(src.width), int(src.height))


def _encode(img: Image.Image | np.ndarray, fmt: str) -> bytes:
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    buf = io.BytesIO()
    if fmt == "jpeg":
        # 4:4:4 chroma: subsampled chroma would blur colour across a seam we want to judge
        img.save(buf, format="JPEG", quality=92, subsampling=0)
    else:
        img.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _faces_strip(img: Image.Image) -> tuple[np.ndarray, int]:
    """Six cube faces in one row, F R B L U D: skybox_nb.cubemap's generic convention,
    whose orientation viewer.js undoes when it renders from the faces."""
    from ..cubemap import to_faces  # imported here: only the cube modes need it

    face = max(8, min(FACE_MAX, img.size[0] // 4))
    faces = to_faces(np.asarray(img), face_size=face, convention="generic")
    strip = np.concatenate(list(faces.values()), axis=1)  # in the convention's order
    return np.ascontiguousarray(strip), face


class Viewer360(anywidget.AnyWidget):
    """An interactive 360 view of an equirectangular panorama.

    Drag (or arrow keys) to look around, scroll (or +/-) to zoom; the toolbar switches
    between the sphere view, a view rendered from the six cube faces and a flat cube net,
    and toggles the marks on the wrap seam (magenta) and the poles (cyan; a ring at
    latitude 80 and a dot at the pole). The view angles sync both ways:
    ``viewer.yaw`` follows the mouse, and setting it (or calling :meth:`look`) turns the view.
    """

    _esm = _STATIC / "viewer.js"
    _css = _STATIC / "viewer.css"

    image = traitlets.Bytes(b"", help="the downscaled panorama, encoded as image_format").tag(sync=True)
    image_format = traitlets.Unicode("jpeg").tag(sync=True)
    image_size = traitlets.Tuple(traitlets.Int(), traitlets.Int(), default_value=(0, 0)).tag(sync=True)
    source_size = traitlets.Tuple(traitlets.Int(), traitlets.Int(), default_value=(0, 0))
    faces = traitlets.Bytes(b"", help="F R B L U D faces in a row (cube modes only)").tag(sync=True)
    face_size = traitlets.Int(0).tag(sync=True)
    yaw = traitlets.Float(0.0).tag(sync=True)
    pitch = traitlets.Float(0.0).tag(sync=True)
    fov = traitlets.Float(90.0).tag(sync=True)
    show_seams = traitlets.Bool(False).tag(sync=True)
    mode = traitlets.Unicode("sphere").tag(sync=True)
    height = traitlets.Int(400).tag(sync=True)
    caption = traitlets.Unicode("").tag(sync=True)
    net = traitlets.Dict(_net(), help="the cube net's grid and faces (conventions.LAYOUTS)",
                         read_only=True).tag(sync=True)

    _shown: Image.Image | None = None  # the downscaled image the browser has

    def __init__(
        self,
        panorama: PanoramaLike,
        yaw: float = 0.0,
        pitch: float = 0.0,
        fov: float = 90.0,
        show_seams: bool = False,
        height: int = 400,
        *,
        mode: str = "sphere",
        max_width: int = 2048,
        image_format: str = "jpeg",
        caption: str = "",
    ) -> None:
        """Show ``panorama`` (Panorama, path, bytes, PIL image or array), looking at yaw/pitch."""
        lo, hi = MAX_WIDTH_RANGE
        mw = _finite("max_width", max_width, f"a whole number from {lo} to {hi}")
        if not mw.is_integer() or not lo <= mw <= hi:
            raise ViewerInputError("max_width", max_width, f"a whole number from {lo} to {hi}")
        self._max_width = int(mw)
        super().__init__(yaw=yaw, pitch=pitch, fov=fov, show_seams=bool(show_seams),
                         height=height, mode=mode, image_format=image_format, caption=caption)
        self.set_panorama(panorama)

    @property
    def max_width(self) -> int:
        """The widest image this viewer sends to the browser, in pixels."""
        return self._max_width

    def set_panorama(self, panorama: PanoramaLike, caption: str | None = None) -> "Viewer360":
        """Show another panorama (same view angles); returns the viewer."""
        img, source_size = _shrunk(panorama, self._max_width)
        self._shown = img
        data = _encode(img, self.image_format)
        with self.hold_sync():
            self.faces, self.face_size = b"", 0
            self.source_size = source_size
            self.image_size = img.size
            self.image = data
            if caption is not None:
                self.caption = caption
            self._ensure_faces()
        return self

    def look(self, yaw: float | None = None, pitch: float | None = None,
             fov: float | None = None) -> "Viewer360":
        """Turn the view (degrees; None keeps the current value); returns the viewer."""
        # validate all three before changing any, so a bad value leaves the view as it was
        new = {k: v for k, v in (("yaw", yaw), ("pitch", pitch), ("fov", fov)) if v is not None}
        checked = {k: getattr(self, f"_valid_{k}")(v) for k, v in new.items()}
        with self.hold_sync():
            for k, v in checked.items():
                setattr(self, k, v)
        return self

    def view(self) -> dict[str, float]:
        """The current view: ``{"yaw": ..., "pitch": ..., "fov": ...}`` in degrees."""
        return {"yaw": self.yaw, "pitch": self.pitch, "fov": self.fov}

    def _ensure_faces(self) -> None:
        if self.mode != "sphere" and not self.faces and self._shown is not None:
            strip, face = _faces_strip(self._shown)
            with self.hold_sync():  # one message: the browser never sees one without the other
                self.face_size = face
                self.faces = _encode(strip, self.image_format)

    @traitlets.observe("mode")
    def _on_mode(self, change: dict[str, Any]) -> None:
        # faces are cut only when a cube mode is first asked for (from Python or the toolbar)
        self._ensure_faces()

    @traitlets.observe("image_format")
    def _on_format(self, change: dict[str, Any]) -> None:
        if self._shown is not None:  # re-encode what is shown
            with self.hold_sync():
                self.faces, self.face_size = b"", 0
                self.image = _encode(self._shown, self.image_format)
                self._ensure_faces()

    # --- validation: the same rules for values set from Python and from the browser -----
    @staticmethod
    def _valid_yaw(value: Any) -> float:
        f = _finite("yaw", value, "any angle in degrees (kept in [-180, 180))")
        return (f + 180.0) % 360.0 - 180.0

    @staticmethod
    def _valid_pitch(value: Any) -> float:
        f = _finite("pitch", value, "-90 to 90 degrees")
        if not -90.0 <= f <= 90.0:
            raise ViewerInputError("pitch", value, "-90 to 90 degrees")
        return f

    @staticmethod
    def _valid_fov(value: Any) -> float:
        allowed = f"{FOV_MIN:g} to {FOV_MAX:g} degrees"
        f = _finite("fov", value, allowed)
        if not FOV_MIN <= f <= FOV_MAX:
            raise ViewerInputError("fov", value, allowed)
        return f

    @traitlets.validate("yaw")
    def _v_yaw(self, proposal: dict[str, Any]) -> float:
        return self._valid_yaw(proposal["value"])

    @traitlets.validate("pitch")
    def _v_pitch(self, proposal: dict[str, Any]) -> float:
        return self._valid_pitch(proposal["value"])

    @traitlets.validate("fov")
    def _v_fov(self, proposal: dict[str, Any]) -> float:
        return self._valid_fov(proposal["value"])

    @traitlets.validate("mode")
    def _v_mode(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in MODES:
            raise ViewerInputError("mode", proposal["value"], " or ".join(map(repr, MODES)))
        return proposal["value"]

    @traitlets.validate("image_format")
    def _v_format(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in FORMATS:
            raise ViewerInputError("image_format", proposal["value"], " or ".join(map(repr, FORMATS)))
        return proposal["value"]

    @traitlets.validate("height")
    def _v_height(self, proposal: dict[str, Any]) -> int:
        lo, hi = HEIGHT_RANGE
        v = proposal["value"]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise ViewerInputError("height", v, f"a whole number of pixels from {lo} to {hi}")
        return int(v)

    def __repr__(self) -> str:
        w, h = self.image_size
        return (f"Viewer360({w}x{h} shown, yaw={self.yaw:.1f}, pitch={self.pitch:.1f}, "
                f"fov={self.fov:.1f}, mode={self.mode!r}, show_seams={self.show_seams})")
