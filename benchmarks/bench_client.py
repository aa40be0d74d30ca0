"""Benchmark: a batch of skyboxes through the client against the emulator, versus the ideal.

Invariant: the ideal is measured in the same run, never assumed: it is the slowest job's
own duration on the server (created -> success, from its statusHistory) plus the time the
client takes to fetch every output (asset read, download, decode, atomic rename) with the
same client and parallelism, measured afterwards with no job running. The emulator runs
in a child process, as the real API runs elsewhere. The batch passes when it finishes
within ``--tolerance`` x that ideal, and when polling a long job costs at most
``--max-rate`` GET /jobs/{id} per job per second (counted by the emulator). Exits 1 when
either misses. The table also shows how late the client noticed a finished job (median
and worst).

    .venv/bin/python benchmarks/bench_client.py            # 16 x 4 outputs, 3 s jobs
    .venv/bin/python benchmarks/bench_client.py --async    # the same with AsyncSkyboxClient
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from skybox_nb.client import AsyncSkyboxClient, SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.isotime import parse_iso
from skybox_nb.request import SkyboxRequest


class ChildEmulator:
    """The emulator in its own process, so its rendering and serving do not share the
    client's interpreter (as the real API does not). ``stats()`` reads its admin route."""

    def __init__(self, job_duration: float, render_size: tuple[int, int]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_child, args=(child, job_duration, render_size),
                                 daemon=True)

    def __enter__(self) -> "ChildEmulator":
        self._proc.start()
        self.base_url, self.admin_url = self._conn.recv()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._conn.send("stop")
        self._proc.join(10)

    def stats(self) -> dict[str, Any]:
        return httpx.get(self.admin_url + "/stats", auth=("bench", "bench"), timeout=10).json()


def _serve_child(conn: Any, job_duration: float, render_size: tuple[int, int]) -> None:
    with Emulator(job_duration=job_duration, render_size=render_size) as emu:
        conn.send((emu.base_url, emu.admin_url))
        conn.recv()


def _ts(text: str) -> float:
    when = parse_iso(text)
    assert when is not None, f"not an ISO timestamp: {text!r}"
    return when


def server_end(job_raw: dict[str, Any]) -> float:
    """When the job reached its final status, by the server's clock (Unix seconds)."""
    return max(_ts(h["date"]) for h in job_raw.get("statusHistory") or [])


def server_duration(job_raw: dict[str, Any]) -> float:
    """Seconds from the job's creation to its final status, by the server's own clock."""
    return server_end(job_raw) - _ts(job_raw["createdAt"])


def _creds(emu: Any) -> tuple[str, str, str]:
    # The emulator takes any Basic credentials; these are not secrets.
    return "bench-key", "bench-secret", emu.base_url


def run_batch(emu: Any, lib: Path, reqs: list[SkyboxRequest], use_async: bool,
              seen: dict[str, float]) -> tuple[list, float]:
    """Run the batch with every request in flight at once; returns (results, seconds).
    ``seen`` gets, per job id, the wall-clock time the client first saw it final."""

    def on_progress(job: Any) -> None:
        if job.done:
            seen.setdefault(job.id, time.time())

    if use_async:
        async def go() -> list:
            async with AsyncSkyboxClient(*_creds(emu), library=lib) as ac:
                return await ac.run_many(reqs, max_in_flight=len(reqs), on_progress=on_progress)

        t0 = time.perf_counter()
        results = asyncio.run(go())
        return results, time.perf_counter() - t0
    with SkyboxClient(*_creds(emu), library=lib) as client:
        t0 = time.perf_counter()
        results = client.run_many(reqs, max_in_flight=len(reqs), on_progress=on_progress)
        return results, time.perf_counter() - t0


def fetch_time(emu: Any, lib: Path, results: list, use_async: bool) -> float:
    """Seconds to fetch every output again (asset read, download, decode, rename) with the
    batch's client and parallelism: what the downloads cost once all jobs are done."""
    if use_async:
        async def go() -> float:
            async with AsyncSkyboxClient(*_creds(emu), library=lib) as ac:
                async def one(i: int, r: Any) -> None:
                    for a in r.job.asset_ids:
                        await ac.download(await ac.asset(a), lib / f"refetch-{i}")

                t0 = time.perf_counter()
                await asyncio.gather(*(one(i, r) for i, r in enumerate(results)))
                return time.perf_counter() - t0

        return asyncio.run(go())

    def one(item: tuple[int, Any]) -> None:
        i, r = item
        for a in r.job.asset_ids:
            client.download(client.asset(a), lib / f"refetch-{i}")

    with SkyboxClient(*_creds(emu), library=lib) as client, \
            ThreadPoolExecutor(len(results)) as pool:
        t0 = time.perf_counter()
        list(pool.map(one, enumerate(results)))
        return time.perf_counter() - t0


def phase(name: str, duration: float, n: int, outputs: int, size: tuple[int, int],
          use_async: bool, in_process: bool) -> dict[str, Any]:
    """One batch on a fresh emulator with fixed job durations; returns its figures."""
    make = Emulator if in_process else ChildEmulator
    with make(job_duration=duration, render_size=size) as emu, \
            tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp)
        reqs = [SkyboxRequest(f"benchmark sky number {i}", num_outputs=outputs, seed=i)
                for i in range(n)]
        before = emu.stats()["requests"].get("job", 0)
        seen: dict[str, float] = {}
        results, elapsed = run_batch(emu, lib, reqs, use_async, seen)
        gets = emu.stats()["requests"].get("job", 0) - before
        assert len(results) == n and all(len(r.files) == outputs for r in results)
        slowest = max(server_duration(dict(r.job.raw)) for r in results)
        fetch = fetch_time(emu, lib, results, use_async)
        ideal = slowest + fetch
        # How long after a job ended (server clock, same machine) the client noticed.
        lags = sorted(seen[r.job.id] - server_end(dict(r.job.raw)) for r in results)
        return {
            "lag50": lags[len(lags) // 2], "lagmax": lags[-1],
            "phase": name, "jobs": n, "outputs": n * outputs, "elapsed": elapsed,
            "slowest": slowest, "fetch": fetch, "ideal": ideal, "ratio": elapsed / ideal,
            "gets_per_job": gets / n, "rate": gets / n / slowest,
        }


def main(argv: list[str] | None = None) -> int:
    """Run the batch and the steady-polling phases, print the table; 0 when both pass."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=16)
    p.add_argument("--outputs", type=int, default=4)
    p.add_argument("--duration", type=float, default=3.0, help="seconds per job (batch)")
    p.add_argument("--steady-duration", type=float, default=12.0,
                   help="seconds per job for the steady-state polling phase")
    p.add_argument("--size", default="256x128", help="render size WxH (small: measure the client)")
    p.add_argument("--tolerance", type=float, default=1.15)
    p.add_argument("--max-rate", type=float, default=1.0,
                   help="allowed GET /jobs/{id} per job per second at steady state")
    p.add_argument("--async", dest="use_async", action="store_true",
                   help="use AsyncSkyboxClient instead of SkyboxClient")
    p.add_argument("--in-process", action="store_true",
                   help="run the emulator in this process (it then competes for the GIL)")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    kind = "async" if args.use_async else "sync"
    rows = [
        phase(f"batch {kind} ({args.duration:g} s jobs)", args.duration, args.jobs,
              args.outputs, (w, h), args.use_async, args.in_process),
        phase(f"steady {kind} ({args.steady_duration:g} s jobs)", args.steady_duration,
              args.jobs, args.outputs, (w, h), args.use_async, args.in_process),
    ]
    head = (f"{'phase':<28}{'jobs':>5}{'files':>6}{'elapsed':>9}{'slowest':>9}{'fetch':>7}"
            f"{'ideal':>7}{'ratio':>7}{'GET/job':>9}{'GET/job/s':>10}{'lag50':>7}{'lagmax':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['phase']:<28}{r['jobs']:>5}{r['outputs']:>6}{r['elapsed']:>9.2f}"
              f"{r['slowest']:>9.2f}{r['fetch']:>7.2f}{r['ideal']:>7.2f}{r['ratio']:>7.3f}"
              f"{r['gets_per_job']:>9.1f}{r['rate']:>10.2f}{r['lag50']:>7.2f}{r['lagmax']:>7.2f}")
    batch, steady = rows
    ok_time = batch["ratio"] <= args.tolerance
    ok_rate = steady["rate"] <= args.max_rate
    print(f"\nbatch within {args.tolerance}x of ideal: {'yes' if ok_time else 'NO'} "
          f"({batch['ratio']:.3f}x)")
    print(f"steady polling <= {args.max_rate:g} GET/job/s: {'yes' if ok_rate else 'NO'} "
          f"({steady['rate']:.2f}; the batch phase, ramp-up included: {batch['rate']:.2f})")
    return 0 if ok_time and ok_rate else 1


if __name__ == "__main__":
    sys.exit(main())
