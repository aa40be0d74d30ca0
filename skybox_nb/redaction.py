"""Hiding credentials in text and data we show: messages, details, reports, log lines.

Invariant: whatever passes through `scrub_text` or `redact_value` carries no value of
a credential-named field (api key, secret, token, authorization, password, cookie), no
HTTP Basic or Bearer credential, and none of the API keys and secrets this process was
configured with (the arguments given to `Credentials`, and the environment's
``SCENARIO_SDK_API_KEY`` / ``SCENARIO_SDK_API_SECRET``), wherever they sit in the text.
Each is replaced by `PLACEHOLDER`; everything else is left as it was.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Mapping

from .contract import ENV_API_KEY, ENV_API_SECRET

__all__ = ["PLACEHOLDER", "MIN_SECRET", "is_credential_name", "scrub_text", "redact_value",
           "remember"]

PLACEHOLDER = "<redacted>"

# Values shorter than this are not hunted in free text: a 2-letter test key would
# otherwise blank out every word it happens to be part of.
MIN_SECRET = 6

_known: set[str] = set()
_known_lock = threading.Lock()

# "Basic <token>" / "Bearer <token>" anywhere (a header echoed inside a message): a
# token-like run (12+ characters with a digit or one of +/=.), not an English word.
_AUTH_VALUE = re.compile(r"\b(Basic|Bearer)(\s+)(?=[A-Za-z0-9._~+/=-]*[0-9+/=.])"
                         r"[A-Za-z0-9._~+/=-]{12,}")
# An Authorization header's value, whatever its scheme: "authorization: <scheme> <value>".
_AUTH_HEADER = re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)"
                          r"((?:Basic|Bearer|Token|Digest)\s+)?(?!<redacted>|(?:Basic|Bearer|Token|Digest)\s)"
                          r"[^\s\"',;}]+")
# name=value, "name": "value" or name: value, for a credential-like name (a count of
# tokens, "max_tokens: 1024", is let through by `_named`). The match starts at
# the credential word (the name's start is kept as it is, so nothing before the word is
# scanned) and the rest of the name is bounded: unbounded, a long hyphenated run
# (a-b-c-...) was rescanned to its end from every word in it (quadratic: minutes for
# 100 KB).
# A credential word that only begins another word ("tokenizer", "tokenise", "secretary",
# "passwordless", "cookiecutter") is not one. Only those endings are named: a name joined
# in lower case ("secretkey", "secretaccesskey", "passwordhash", "tokenid": configparser
# keys, lower-cased headers, columns) is still a credential, as is camelCase ("secretKey").
_WORD_END = r"(?!(?-i:i[sz][aei]|ar[iy]|less|cutter))"
_WORDS = (r"api[-_]?key|private[-_]?key|secret|token|password|passwd|passphrase|cookie|"
          r"credential")
_NAMED_VALUE = re.compile(
    r"(?i)((?:" + _WORDS + ")" + _WORD_END + r"[\w.-]{0,64}"
    r"[\"']?\s*[:=]\s*[\"']?)(?!<redacted>)([^\s\"'&;,}]{3,})")
# "tokens" ending a name whose value is a number counts something ("max_tokens: 1024");
# with any other value ("refresh_tokens: ...") it holds credentials.
_COUNT_NAME = re.compile(r"(?i)tokens[\"']?\s*[:=]\s*[\"']?$")

# A field or header name holding a credential: one of the words, ending there, found in
# the name as it is (its "-" and "_" end a word: "secret_key", "X-Api-Key").
_CREDENTIAL_NAME = re.compile(r"(?i)(?:authorization|" + _WORDS + ")" + _WORD_END)


def remember(*values: str) -> None:
    """Add configured credential values to those `scrub_text` always hides."""
    with _known_lock:
        _known.update(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET)


def _secrets() -> list[str]:
    """The configured values to hide, longest first (so a key inside a token is not
    half replaced)."""
    with _known_lock:
        found = set(_known)
    for name in (ENV_API_KEY, ENV_API_SECRET):
        value = (os.environ.get(name) or "").strip()
        if len(value) >= MIN_SECRET:
            found.add(value)
    return sorted(found, key=len, reverse=True)


def is_credential_name(name: str, value: Any = None) -> bool:
    """True when a field or header called ``name`` holds a credential ("api_key",
    "X-Auth-Token", "secretKey"; not "tokenizer" or "secretary"). A name ending in
    "tokens" holds one unless ``value`` is a count ("max_tokens": 1024)."""
    text = str(name)
    if text.lower().endswith("tokens") and _is_count(value):
        text = text[:-len("tokens")]
    return _CREDENTIAL_NAME.search(text) is not None


def _is_count(value: Any) -> bool:
    """A number, or a string of digits (None too: a count not given)."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return True
    return isinstance(value, str) and value.strip().isdigit()


def _named(m: re.Match[str]) -> str:
    """A `_NAMED_VALUE` match with its value hidden, unless it is a count of tokens."""
    if _COUNT_NAME.search(m.group(1)) and _is_count(m.group(2)):
        return m.group(0)
    return m.group(1) + PLACEHOLDER


def scrub_text(text: str) -> str:
    """``text`` with every credential in it replaced by `PLACEHOLDER`."""
    if not isinstance(text, str) or not text:
        return text
    for value in _secrets():
        if value in text:
            text = text.replace(value, PLACEHOLDER)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + (m.group(2) or "") + PLACEHOLDER, text)
    text = _AUTH_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{PLACEHOLDER}", text)
    return _NAMED_VALUE.sub(_named, text)


def redact_value(value: Any) -> Any:
    """``value`` (JSON-like data) with credential-named fields' values replaced by
    `PLACEHOLDER` and every string scrubbed (`scrub_text`); shape and types kept."""
    if isinstance(value, Mapping):
        return {k: (PLACEHOLDER if is_credential_name(str(k), v) and v not in (None, "")
                    else redact_value(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    if isinstance(value, str):
        return scrub_text(value)
    return value
