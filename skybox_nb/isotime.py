"""Timestamps as Scenario's API writes them: ISO-8601, UTC, milliseconds, a ``Z``.

Invariant: the package formats and reads API timestamps here only (the emulator keeps
its own copy on purpose, as it imports nothing but the contract); `parse_iso` accepts
what `iso` writes and any ISO-8601 form with an offset or ``Z``, and reads anything
else as None rather than raising.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["iso", "parse_iso"]


def iso(ts: float) -> str:
    """Unix seconds as ``2026-01-31T12:00:00.000Z``."""
    text = datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_iso(text: str) -> float | None:
    """Unix seconds of an ISO-8601 timestamp, or None when ``text`` is not one."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError, TypeError):
        return None
