"""The backend badge: one line saying whether results come from Scenario or the emulator.

Invariant: the badge is built only from ``client.is_emulator`` and ``client.backend``,
which never hold a credential; a person can never mistake the emulator's procedural
images for the model's, because the emulator badge says so in words, not only in colour.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as W

__all__ = ["badge_html", "backend_badge"]

_STYLE = (
    "display:inline-block;padding:2px 10px;border-radius:10px;font-size:12px;"
    "font-weight:600;color:white;background:{bg}"
)


def badge_html(client: Any) -> str:
    """The badge as an HTML snippet for ``client`` (anything with ``is_emulator`` and
    ``backend``). Returns a ``<span>`` naming the backend."""
    label = html.escape(str(client.backend))
    if client.is_emulator:
        text = f"OFFLINE EMULATOR: procedural images, not the model ({label})"
        bg = "#b45309"
    else:
        text = label
        bg = "#047857"
    return f'<span class="skybox-badge" style="{_STYLE.format(bg=bg)}">{text}</span>'


def backend_badge(client: Any) -> W.HTML:
    """An ipywidgets ``HTML`` showing :func:`badge_html` for ``client``."""
    return W.HTML(badge_html(client))
