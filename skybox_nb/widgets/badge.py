"""The backend badge: one line saying whether results come from Scenario or the emulator.

Invariant: the badge is built only from ``client.is_emulator``, ``client.backend`` and
the account's figures (creative units left, parallel jobs), which never hold a credential; a person can never mistake the emulator's procedural
images for the model's, because the emulator badge says so in words, not only in colour.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as W

__all__ = ["badge_html", "backend_badge", "account_badge"]

_STYLE = (
    "display:inline-block;padding:2px 10px;border-radius:10px;font-size:12px;"
    "font-weight:600;color:white;background:{bg}"
)


def badge_html(client: Any, account: Any = None) -> str:
    """The badge as an HTML snippet for ``client`` (anything with ``is_emulator`` and
    ``backend``), with ``account.summary()`` (creative units left, parallel jobs) when
    given. Returns a ``<span>`` naming the backend."""
    label = html.escape(str(client.backend))
    if account is not None:
        label += " · " + html.escape(account.summary())
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


def account_badge(client: Any) -> W.HTML:
    """:func:`backend_badge`, completed with the account's limits once read: they are
    asked for on a background thread (a network call), and left out when the client
    cannot read them (an old client, or a key without access)."""
    badge = backend_badge(client)
    if not callable(getattr(client, "account", None)):
        return badge

    def fill() -> None:
        try:
            account = client.account()
        except Exception:  # noqa: BLE001 - the limits are a courtesy; the badge stays
            return
        if account is not None:
            badge.value = badge_html(client, account)

    threading.Thread(target=fill, daemon=True, name="skybox-account").start()
    return badge
