"""What the account allows, read tolerantly: missing figures stay unknown, the team is
picked only when it is unambiguous, and a key that may not read the limits gets None."""

from __future__ import annotations

import httpx
import pytest

from skybox_nb.account import parse_limits, pick_team
from skybox_nb.client import SkyboxClient
from skybox_nb.client.reads import within_limit
from skybox_nb.errors import ProtocolError


def test_limits_are_read_and_missing_parts_stay_unknown():
    full = {"plan": "pro", "limits": {"creativeUnits": 1000, "parallelCustomJobs": 5},
            "values": {"creativeUnits": 250.5}, "period": {"end": "2026-12-31T00:00:00.000Z"},
            "oneShotCreativeUnits": [{"remaining": 40}, {"remaining": 10}]}
    a = parse_limits("t1", full)
    assert a.creative_units_left == 1000 - 250.5 + 50 and a.parallel_jobs == 5
    assert a.summary() == "800 CU left · 5 parallel jobs"
    bare = parse_limits("t1", {"limits": {"parallelCustomJobs": "many"}, "values": []})
    assert bare.creative_units_left is None and bare.parallel_jobs is None
    assert bare.summary() == "limits not reported"
    assert parse_limits("t1", None).plan is None
    assert within_limit(8, a) == 5 and within_limit(3, a) == 3 and within_limit(8, bare) == 8
    assert within_limit(8, None) == 8


def test_the_team_is_picked_only_when_unambiguous():
    assert pick_team({"teams": [{"id": "a"}]}) == "a"
    two = {"teams": [{"id": "a", "context": {"userRole": "member"}},
                     {"id": "b", "context": {"userRole": "key"}}]}
    assert pick_team(two) == "b"
    with pytest.raises(ProtocolError, match="listed 2 teams; pass team_id"):
        pick_team({"teams": [{"id": "a"}, {"id": "b"}]})
    with pytest.raises(ProtocolError, match="without a 'teams' list"):
        pick_team({"items": []})


def test_a_key_that_may_not_read_the_limits_gets_none(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/teams"):
            return httpx.Response(200, json={"teams": [{"id": "team1"}]})
        return httpx.Response(403, json={"reason": "Forbidden: this key has no team scope"})

    with SkyboxClient(api_key="k", api_secret="s", base_url="https://api.example.test/v1",
                      library=str(tmp_path), transport=httpx.MockTransport(handler)) as c:
        assert c.account() is None
        with pytest.raises(ValueError, match="team_id: got 'a/b'"):
            c.account(team_id="a/b")
