"""Load: 200 generations through one client against an emulator that allows 4 parallel
jobs. All finish, the limit holds, every file decodes, and the ledger matches the disk.

The batch asks for more in flight (8) than the server allows (4), so the client's
handling of the ``parallel-custom-jobs`` 429 is part of what is measured.
"""

from __future__ import annotations

import time

from reliability_support import SIZE, check_library, make_client
from skybox_nb.emulator import Emulator
from skybox_nb.request import SkyboxRequest

N = 200
LIMIT = 4


def test_200_generations_with_a_parallel_limit_of_4(tmp_path, tally):
    requests = [SkyboxRequest(f"city skyline at night {i}", num_outputs=1, seed=i,
                              style=("cinematic", "manga", "fantasy", "space")[i % 4])
                for i in range(N)]
    with Emulator(job_duration=0.0, render_size=SIZE, max_parallel_jobs=LIMIT) as emu:
        with make_client(emu, tmp_path) as c:
            t0 = time.perf_counter()
            results = c.run_many(requests, max_in_flight=2 * LIMIT)
            seconds = time.perf_counter() - t0
            rows = c.ledger.generations()
        s = emu.stats()
    assert [r.job.succeeded for r in results] == [True] * N
    assert len({r.job.id for r in results}) == N  # one job per request, none shared
    assert s["jobs_created"] == N and s["max_running_jobs"] <= LIMIT
    refused = s["generate_posts"] - N  # 429s: each refused before a job existed
    assert refused >= 0
    assert len(rows) == N and {g.status for g in rows} == {"done"}
    assert {g.job_id for g in rows} == {r.job.id for r in results}
    counts = check_library(tmp_path)
    assert counts == {"rows": N, "done": N, "files": N}
    for r, req in zip(results, requests):  # results come back in request order
        assert r.request is req and r.files[0].name.startswith(r.job.id)
    tally.add("load", f"{N} generations, parallel-jobs limit {LIMIT}, {2 * LIMIT} in flight",
              N, "all finished; limit respected; every file decoded; ledger = disk",
              seconds=round(seconds, 2), per_second=round(N / seconds, 1),
              peak_running=s["max_running_jobs"], refused_posts=refused,
              job_polls=s["requests"].get("job", 0))
