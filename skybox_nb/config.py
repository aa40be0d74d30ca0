"""Where the client talks to and with which credentials.

Invariant: the API secret lives only inside a `Credentials` object and leaves it only as
the value of an HTTP Basic ``Authorization`` header for the API host. Its ``repr``/``str``
show the key's last four characters at most and never the secret, so printing, logging
or pickling a client into an error message cannot leak it.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlsplit

from .contract import ENV_API_KEY, ENV_API_SECRET, ENV_BASE_URL, SCENARIO_API_URL

__all__ = ["Credentials", "resolve_settings", "Settings"]


@dataclass(frozen=True)
class Credentials:
    """An API key and secret. Compare and hash like values; never show the secret."""

    key: str = field(repr=False)
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        for name, value in (("api_key", self.key), ("api_secret", self.secret)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string (got an empty or "
                                 f"non-string value of type {type(value).__name__})")

    def authorization(self) -> str:
        """The value of the ``Authorization`` header: ``Basic base64(key:secret)``."""
        token = base64.b64encode(f"{self.key}:{self.secret}".encode("utf-8")).decode("ascii")
        return f"Basic {token}"

    def __repr__(self) -> str:
        tail = self.key[-4:] if len(self.key) > 8 else ""
        return f"Credentials(key='...{tail}', secret=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> tuple:  # pragma: no cover - refuse to serialise the secret
        raise TypeError("Credentials cannot be pickled (they would carry the secret)")


@dataclass(frozen=True)
class Settings:
    """The resolved connection settings: ``credentials`` is None when none were given."""

    credentials: Credentials | None
    base_url: str | None

    @property
    def host(self) -> str:
        """The API host name, for labels (``api.cloud.scenario.com``)."""
        return urlsplit(self.base_url or SCENARIO_API_URL).netloc


def _clean(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def resolve_settings(
    api_key: str | None = None,
    api_secret: str | None = None,
    base_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Arguments first, then ``SCENARIO_SDK_API_KEY`` / ``SCENARIO_SDK_API_SECRET`` /
    ``SCENARIO_BASE_URL`` (the official SDK's variables).

    Returns ``Settings(credentials=None, ...)`` when neither key nor secret is set (the
    client then starts the offline emulator). Raises ``ValueError`` when only one of the
    pair is set, or when the base URL is not an http(s) URL.
    """
    env = os.environ if environ is None else environ
    key = _clean(api_key) or _clean(env.get(ENV_API_KEY))
    secret = _clean(api_secret) or _clean(env.get(ENV_API_SECRET))
    url = _clean(base_url) or _clean(env.get(ENV_BASE_URL))
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url: got {url!r}; expected an http(s) URL such as "
                             f"{SCENARIO_API_URL!r}")
        url = url.rstrip("/")
    if (key is None) != (secret is None):
        missing = ENV_API_SECRET if secret is None else ENV_API_KEY
        raise ValueError(f"{missing} is not set while its partner is: set both the API key "
                         "and the API secret, or neither to use the offline emulator")
    creds = Credentials(key, secret) if key is not None and secret is not None else None
    return Settings(credentials=creds, base_url=url)
