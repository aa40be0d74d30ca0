"""Where the client talks to and with which credentials.

Invariant: the API secret lives only inside a `Credentials` object and leaves it only as
the value of an HTTP Basic ``Authorization`` header for the API host. Its ``repr``/``str``
show the key's last four characters at most and never the secret, so printing, logging
or pickling a client into an error message cannot leak it.
"""

from __future__ import annotations

import base64
import ipaddress
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
        from .redaction import remember

        remember(self.key, self.secret, self.authorization().split(" ", 1)[1])

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
    pair is set, when the base URL is not an http(s) URL, carries ``user:password@``, or
    is plain http:// to another machine while credentials are set.
    """
    env = os.environ if environ is None else environ
    key = _clean(api_key) or _clean(env.get(ENV_API_KEY))
    secret = _clean(api_secret) or _clean(env.get(ENV_API_SECRET))
    url = _clean(base_url) or _clean(env.get(ENV_BASE_URL))
    if (key is None) != (secret is None):
        missing = ENV_API_SECRET if secret is None else ENV_API_KEY
        raise ValueError(f"{missing} is not set while its partner is: set both the API key "
                         "and the API secret, or neither to use the offline emulator")
    if url is not None:
        name = "base_url" if _clean(base_url) else f"base_url ({ENV_BASE_URL})"
        url = _check_base_url(url, with_credentials=key is not None, name=name)
    creds = Credentials(key, secret) if key is not None and secret is not None else None
    return Settings(credentials=creds, base_url=url)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(url: str, *, with_credentials: bool, name: str = "base_url") -> str:
    """The base URL without a trailing slash; ``ValueError`` naming ``name`` (the
    argument or the variable it came from) when it is not http(s), carries a user name
    or password or a query string (either could hold a key: never shown), or would send
    Basic credentials in clear text to a host other than this machine."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{name}: got {_shown(url)!r}; expected an http(s) URL such as "
                         f"{SCENARIO_API_URL!r}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{name}: got {_shown(url)!r}; expected an http(s) URL such as "
                         f"{SCENARIO_API_URL!r}")
    if "@" in parts.netloc:
        raise ValueError(f"{name}: got {_shown(url)!r} with a user name or password in "
                         "it; credentials go in SCENARIO_SDK_API_KEY and "
                         "SCENARIO_SDK_API_SECRET (or api_key/api_secret), never in the URL")
    if parts.query or parts.fragment:
        raise ValueError(f"{name}: got {_shown(url)!r} with a query string or fragment, "
                         "which could carry a key; expected the API's address alone, such "
                         f"as {SCENARIO_API_URL!r} (credentials go in SCENARIO_SDK_API_KEY "
                         "and SCENARIO_SDK_API_SECRET)")
    if parts.scheme == "http" and with_credentials and not _is_loopback(host):
        raise ValueError(f"{name}: got {_shown(url)!r}; plain http:// would send the API "
                         "key and secret in clear text to another machine: use https:// "
                         "(http:// is allowed only for this machine, e.g. an emulator)")
    return url.rstrip("/")


def _shown(url: str) -> str:
    """``url`` as it may be shown: any ``user:password@`` part replaced by ``***@``,
    a query string's values and a fragment by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" in parts.netloc:
        parts = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1])
    if parts.query:
        names = [q.split("=", 1)[0] for q in parts.query.split("&") if q]
        parts = parts._replace(query="&".join(f"{n[:40]}=***" for n in names))
    if parts.fragment:
        parts = parts._replace(fragment="***")
    return parts.geturl()
