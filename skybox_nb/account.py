"""What the account allows: creative units left and the parallel-jobs limit.

Invariant: read-only and tolerant. The figures come from ``GET /teams/{teamId}/limits``
(the official SDK's ``teams.retrieve_limits``), the team from ``GET /teams`` when none is
given; a field the answer lacks stays None ("not known"), and nothing here ever guesses
a limit. Parsing is pure; the client makes the two calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import ProtocolError

__all__ = ["Account", "parse_limits", "pick_team"]


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


@dataclass(frozen=True)
class Account:
    """A team's plan and limits as Scenario reported them (None: not reported)."""

    team_id: str
    plan: str | None
    creative_units: float | None  # the plan's allowance this period
    creative_units_used: float | None  # used this period
    one_shot_left: float  # bought units still left (0 when none)
    parallel_jobs: int | None  # custom jobs that may run at once
    period_end: str | None

    @property
    def creative_units_left(self) -> float | None:
        """Allowance minus use, plus bought units left; None when either is unknown."""
        if self.creative_units is None or self.creative_units_used is None:
            return None
        return max(0.0, self.creative_units - self.creative_units_used) + self.one_shot_left

    def summary(self) -> str:
        """One line: ``"9,988 CU left · 10 parallel jobs"`` (unknown parts left out)."""
        parts = []
        left = self.creative_units_left
        if left is not None:
            parts.append(f"{left:,.0f} CU left")
        if self.parallel_jobs is not None:
            n = self.parallel_jobs
            parts.append(f"{n} parallel job{'s' * (n != 1)}")
        return " · ".join(parts) or "limits not reported"


def pick_team(data: Any) -> str:
    """The team id of a ``GET /teams`` answer: the only team, or the one the API key
    belongs to (role "key"). Raises ``ProtocolError`` when it cannot tell."""
    teams = data.get("teams") if isinstance(data, Mapping) else None
    if not isinstance(teams, list):
        raise ProtocolError("GET /teams answered without a 'teams' list")
    ids = [t["id"] for t in teams if isinstance(t, Mapping) and isinstance(t.get("id"), str)]
    if len(ids) == 1:
        return ids[0]
    keyed = [t["id"] for t in teams if isinstance(t, Mapping) and isinstance(t.get("id"), str)
             and isinstance(t.get("context"), Mapping) and t["context"].get("userRole") == "key"]
    if len(keyed) == 1:
        return keyed[0]
    raise ProtocolError(f"GET /teams listed {len(ids)} teams; pass team_id= to choose one")


def parse_limits(team_id: str, data: Any) -> Account:
    """An `Account` from a ``GET /teams/{teamId}/limits`` answer (missing parts None)."""
    data = data if isinstance(data, Mapping) else {}
    limits = data.get("limits") if isinstance(data.get("limits"), Mapping) else {}
    values = data.get("values") if isinstance(data.get("values"), Mapping) else {}
    period = data.get("period") if isinstance(data.get("period"), Mapping) else {}
    shots = data.get("oneShotCreativeUnits")
    one_shot = sum(_number(s.get("remaining")) or 0.0 for s in shots
                   if isinstance(s, Mapping)) if isinstance(shots, list) else 0.0
    parallel = _number(limits.get("parallelCustomJobs"))
    return Account(
        team_id=team_id,
        plan=data.get("plan") if isinstance(data.get("plan"), str) else None,
        creative_units=_number(limits.get("creativeUnits")),
        creative_units_used=_number(values.get("creativeUnits")),
        one_shot_left=one_shot,
        parallel_jobs=int(parallel) if parallel is not None and parallel >= 1 else None,
        period_end=period.get("end") if isinstance(period.get("end"), str) else None,
    )
