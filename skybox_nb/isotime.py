"""Timestamps as Scenario's API writes them: ISO-8601, UTC, milliseconds, a ``Z``.

Invariant: the package formats and reads API timestamps here only, the emulator included
(this module imports nothing of the package, so it is part of the contract the emulator
may use); `parse_iso` accepts what `iso` writes and any ISO-8601 form (one without an
offset is UTC, as every API time is), and reads anything else as None rather than raising.
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
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError):
        return None
    if when.tzinfo is None:  # API times are UTC, never the local zone
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()
