"""Fault injection: the failures a real Scenario client must survive, on demand.

Invariant: a fault fires only on the routes it names, at most ``count`` times (``None`` =
until cleared), in the order faults were added; an unknown kind, route or parameter is
refused with a ValueError naming it, so a typo never silently injects nothing.

Kinds (parameters; ``route`` is one of ROUTES or ``"*"``; ``count`` defaults to 1):

- ``rate_limit(route="*", retry_after=1.0, count)``: 429 with Retry-After.
- ``server_error(route="*", status=500, echo=False, count)``: a 5xx JSON error; with
  ``echo`` its message and details repeat the request's headers, Authorization included,
  as a careless gateway's debug page does (what a client must never show or log).
- ``slow(route="*", delay=1.0, count)``: the answer comes after ``delay`` seconds.
- ``job_failure(count, moderation=False, error=None, hint=None)``: the next jobs end in
  ``failure`` with ``metadata.error`` and ``hint`` (a content-moderation text when
  ``moderation``).
- ``drop_before_accept(count)``: a generate connection is closed with no answer and no job.
- ``drop_after_accept(count)``: a generate creates its job, then the connection is closed
  with no answer (the case that makes a paid POST ambiguous).
- ``expire_urls(count)``: asset URLs handed out are already expired (403 on download).
- ``cut_download(count)``: a download sends half its bytes under the full Content-Length,
  then closes.
- ``bad_original(mode="missing", count)``: an HDRi's original file (``originalFileUrl``)
  is answered 404 (``missing``: the store lost it) or 200 with bytes that are no image
  (``corrupt``); the preview at ``url`` is served as usual.

The CLI takes the same faults as text: ``kind`` or ``kind:name=value,name=value``, e.g.
``rate_limit:route=generate,retry_after=2`` (``count=none`` means forever).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ROUTES", "KINDS", "Fault", "Faults", "parse_fault_spec"]

ROUTES = ("generate", "job", "jobs", "cancel", "asset", "download", "upload", "model",
          "teams", "limits", "upload_create", "upload_status", "upload_complete", "upload_part")

# kind -> (its parameters with their defaults, whether it takes a route)
KINDS: dict[str, tuple[dict[str, Any], bool]] = {
    "rate_limit": ({"retry_after": 1.0}, True),
    "server_error": ({"status": 500, "echo": False}, True),
    "slow": ({"delay": 1.0}, True),
    "job_failure": ({"moderation": False, "error": None, "hint": None}, False),
    "drop_before_accept": ({}, False),
    "drop_after_accept": ({}, False),
    "expire_urls": ({}, False),
    "cut_download": ({}, False),
    "bad_original": ({"mode": "missing"}, False),
}
# The ways `bad_original` spoils an original file.
BAD_ORIGINAL_MODES = ("missing", "corrupt")

# The route a fault without a route parameter acts on (None: not tied to a request).
_FIXED_ROUTE = {"drop_before_accept": "generate", "drop_after_accept": "generate",
                "expire_urls": "asset", "cut_download": "download", "job_failure": None,
                "bad_original": "download"}


@dataclass
class Fault:
    """One injected fault and how many more times it fires (None = forever)."""

    kind: str
    route: str | None
    params: dict[str, Any] = field(default_factory=dict)
    remaining: int | None = 1

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "route": self.route, "count": self.remaining, **self.params}


def _check(kind: str, params: dict[str, Any]) -> Fault:
    if kind not in KINDS:
        raise ValueError(f"fault kind: got {kind!r}; allowed: {', '.join(KINDS)}")
    defaults, routed = KINDS[kind]
    params = dict(params)
    count = params.pop("count", 1)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"fault count: got {count!r}; allowed: a whole number >= 1, or None (forever)")
    route = params.pop("route", "*") if routed else _FIXED_ROUTE[kind]
    if routed and route != "*" and route not in ROUTES:
        raise ValueError(f"fault route: got {route!r}; allowed: '*' or one of {', '.join(ROUTES)}")
    unknown = set(params) - set(defaults)
    if unknown:
        allowed = ", ".join(["count"] + (["route"] if routed else []) + list(defaults))
        raise ValueError(f"{kind} parameter: got {sorted(unknown)[0]!r}; allowed: {allowed}")
    values = {**defaults, **params}
    if kind == "server_error":
        st = values["status"]
        if isinstance(st, bool) or not isinstance(st, int) or not 500 <= st <= 599:
            raise ValueError(f"server_error status: got {st!r}; allowed: an integer from 500 to 599")
    for key in ("retry_after", "delay"):
        if key in values:
            v = values[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 3600:
                raise ValueError(f"{kind} {key}: got {v!r}; allowed: seconds from 0 to 3600")
            values[key] = float(v)
    if kind == "job_failure":
        values["moderation"] = bool(values["moderation"])
    if kind == "server_error":
        values["echo"] = bool(values["echo"])
    if kind == "bad_original" and values["mode"] not in BAD_ORIGINAL_MODES:
        raise ValueError(f"bad_original mode: got {values['mode']!r}; allowed: "
                         f"{', '.join(BAD_ORIGINAL_MODES)}")
    return Fault(kind=kind, route=route, params=values, remaining=count)


class Faults:
    """The active faults, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, kind: str, **params: Any) -> Fault:
        """Validate and add a fault; returns it. Raises ValueError naming a bad parameter."""
        fault = _check(kind, params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, kind: str, route: str | None = None) -> Fault | None:
        """Use up one firing of the first ``kind`` fault matching ``route``; None if none."""
        with self._lock:
            for f in self._faults:
                if f.kind == kind and f.route in ("*", route):
                    if f.remaining is not None:
                        f.remaining -= 1
                        if f.remaining <= 0:
                            self._faults.remove(f)
                    return f
        return None

    def active(self) -> list[dict[str, Any]]:
        """The faults still armed, as dicts."""
        with self._lock:
            return [f.to_dict() for f in self._faults]


def _value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("none", "null", "forever"):
        return None
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text.strip()


def parse_fault_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Parse ``"kind:name=value,..."`` into ``(kind, params)``; validates like `Faults.add`.

    Raises ValueError naming the part that is wrong.
    """
    kind, _, rest = spec.strip().partition(":")
    params: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"fault spec {spec!r}: expected name=value, got {part!r}")
        params[name.strip()] = _value(value)
    _check(kind.strip(), params)  # fail now, at start, rather than never firing
    return kind.strip(), params
