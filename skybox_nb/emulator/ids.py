"""Identifiers shaped like Scenario's: a prefix, an underscore, 24 base62 characters.

Invariant: ids come from the operating system's CSPRNG (`secrets`), so they are unique in
practice and carry no information (no counter, no time) a client could come to rely on.
"""

from __future__ import annotations

import secrets
import string

__all__ = ["new_id", "BASE62", "ID_LENGTH"]

BASE62 = string.digits + string.ascii_letters
ID_LENGTH = 24


def new_id(prefix: str, length: int = ID_LENGTH) -> str:
    """Return ``f"{prefix}_"`` followed by ``length`` random base62 characters."""
    return prefix + "_" + "".join(secrets.choice(BASE62) for _ in range(length))
