"""Image formats: the one table of the files the package reads, writes and serves.

Invariant: every file suffix, MIME type and Pillow format name the package uses comes
from `FORMATS`, so adding or dropping a format is one row. ``api`` marks the formats
Scenario's assets come in and uploads may use (PNG, JPEG, WebP); ``xmp`` those a
panorama's GPano XMP packet is written into. This module imports nothing of the package,
so the emulator may use it as part of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ImageFormat", "FORMATS", "API_FORMATS", "by_pillow", "by_mime", "by_suffix",
           "listed"]


@dataclass(frozen=True)
class ImageFormat:
    """One format: Pillow's name, its MIME type, the suffix written and other suffixes
    read as it, and whether the API uses it and GPano XMP goes into it."""

    pillow: str
    mime: str
    suffix: str
    aliases: tuple[str, ...] = ()
    api: bool = False
    xmp: bool = False

    @property
    def suffixes(self) -> tuple[str, ...]:
        """Every suffix read as this format, the written one first."""
        return (self.suffix, *self.aliases)


FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat("PNG", "image/png", ".png", api=True, xmp=True),
    ImageFormat("JPEG", "image/jpeg", ".jpg", (".jpeg",), api=True, xmp=True),
    ImageFormat("WEBP", "image/webp", ".webp", api=True, xmp=True),
    ImageFormat("TIFF", "image/tiff", ".tif", (".tiff",)),
)
API_FORMATS: tuple[ImageFormat, ...] = tuple(f for f in FORMATS if f.api)


def by_pillow(name: str | None) -> ImageFormat | None:
    """The format of a Pillow format name (``Image.format``), or None."""
    return next((f for f in FORMATS if f.pillow == name), None)


def by_mime(mime: str | None) -> ImageFormat | None:
    """The format of a MIME type, or None."""
    return next((f for f in FORMATS if f.mime == mime), None)


def by_suffix(suffix: str) -> ImageFormat | None:
    """The format of a file suffix or name (``".JPG"``, ``"jpeg"``), or None."""
    key = "." + str(suffix).lower().lstrip(".")
    return next((f for f in FORMATS if key in f.suffixes), None)


def listed(formats: tuple[ImageFormat, ...] = API_FORMATS) -> str:
    """The formats' names for a message: ``"PNG, JPEG or WebP"``."""
    names = ["WebP" if f.pillow == "WEBP" else f.pillow for f in formats]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
