"""Reads about what can be asked: a model's inputs, and what the account allows.

Invariant: read-only calls (retried like any read), kept once read: a model's spec per
id for the client's life, the account until read again. A key that may not read the
team's limits (403, 404, or an answer we cannot place) leaves them unknown (None):
nothing is guessed, and batches then keep the caller's own bound.
"""

from __future__ import annotations

import re
from typing import Any

from ..account import Account, parse_limits, pick_team
from ..contract import ModelSpec
from ..errors import ForbiddenError, NotFoundError, ProtocolError
from ..retry import RetryPolicy
from .calls import call
from .effects import Op

__all__ = ["model_spec", "account", "path_id", "within_limit"]

_PATH_ID = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


def path_id(value: Any, name: str) -> str:
    """``value`` when it can be one segment of an API path (a model or team id); raises
    ``ValueError`` naming ``name`` otherwise, so no id can add a separator to a URL."""
    if not isinstance(value, str) or not _PATH_ID.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"{name}: got {value!r}; allowed: letters, digits, '_', '-' and '.' "
                         "such as 'model_scenario-skybox-gpt'")
    return value


def model_spec(retry: RetryPolicy, specs: dict[str, ModelSpec], model_id: str) -> Op[ModelSpec]:
    """``GET /models/{id}`` as a `ModelSpec`, kept in ``specs``."""
    mid = path_id(model_id, "model_id")
    if mid not in specs:
        data = yield from call(retry, "GET", f"/models/{mid}", "model")
        try:
            specs[mid] = ModelSpec.from_api(data)
        except ValueError as e:
            raise ProtocolError(f"GET /models/{mid}: {e}") from None
    return specs[mid]


def account(retry: RetryPolicy, team_id: str | None = None) -> Op[Account | None]:
    """``GET /teams`` (when no ``team_id``), then ``GET /teams/{id}/limits``; None when
    the key may not read them."""
    try:
        if team_id is None:
            team_id = pick_team((yield from call(retry, "GET", "/teams", "teams")))
        tid = path_id(team_id, "team_id")
        data = yield from call(retry, "GET", f"/teams/{tid}/limits", "limits")
    except (ForbiddenError, NotFoundError, ProtocolError):
        return None
    return parse_limits(tid, data)


def within_limit(n: int, known: Account | None) -> int:
    """``n`` jobs in flight, at most the account's parallel-jobs limit when known."""
    limit = known.parallel_jobs if known is not None else None
    return n if limit is None else max(1, min(n, limit))
