"""Benchmark: 4 outputs at 2048x1024 from the offline emulator, end to end, in under 2 s.

End to end means what a client does: POST the generate, poll the job until success, then
fetch each asset and download its PNG over HTTP. The emulator runs with job_duration=0 at
the model's real size. Baselines measured in the same run: rendering + PNG encoding of one
image in-process (no HTTP), and a single-output job end to end. Prints a table; exits 1
when the median 4-output time misses the target.

    .venv/bin/python benchmarks/bench_emulator.py [--runs 5] [--target 2.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import httpx

from skybox_nb.emulator import Emulator
from skybox_nb.emulator.render import encode_png, render
from skybox_nb.models import FINAL_STATUSES

FLUX = "/generate/custom/model_scenario-skybox-flux"


def end_to_end(http: httpx.Client, outputs: int, seed: int) -> tuple[float, int]:
    """Seconds from POST to the last byte of the last download, and the bytes received."""
    t0 = time.perf_counter()
    r = http.post(FLUX, json={"prompt": "a mountain lake at sunset with clouds", "seed": seed,
                              "numOutputs": outputs, "style": "cinematic"})
    r.raise_for_status()
    job_id = r.json()["job"]["jobId"]
    while (job := http.get(f"/jobs/{job_id}").json()["job"])["status"] not in FINAL_STATUSES:
        time.sleep(0.01)
    assert job["status"] == "success", job
    received = 0
    for asset_id in job["metadata"]["assetIds"]:
        url = http.get(f"/assets/{asset_id}").json()["asset"]["url"]
        png = httpx.get(url).content
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        received += len(png)
    return time.perf_counter() - t0, received


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--target", type=float, default=2.0, help="seconds for 4 outputs (median)")
    args = ap.parse_args(argv)

    render_times = []
    for i in range(args.runs):
        t0 = time.perf_counter()
        encode_png(render("a mountain lake at sunset with clouds", "cinematic", seed=100 + i))
        render_times.append(time.perf_counter() - t0)

    with Emulator(job_duration=0.0) as emu, \
            httpx.Client(base_url=emu.base_url, auth=("bench", "bench"), timeout=60) as http:
        one = [end_to_end(http, 1, 200 + i) for i in range(args.runs)]
        four = [end_to_end(http, 4, 300 + i) for i in range(args.runs)]

    rows = [
        ("render + PNG, 1 image, in-process", [t for t in render_times], None),
        ("1 output, POST -> poll -> download", [t for t, _ in one], one[0][1]),
        ("4 outputs, POST -> poll -> download", [t for t, _ in four], four[0][1]),
    ]
    load = ", load average %.1f on %d cores" % (os.getloadavg()[0], os.cpu_count() or 1)
    print(f"offline emulator, 2048x1024, job_duration=0, {args.runs} runs each{load}")
    print(f"{'what':40} {'median s':>9} {'best s':>8} {'worst s':>8} {'MB':>6}")
    for name, times, size in rows:
        mb = f"{size / 1e6:6.1f}" if size else f"{'':6}"
        print(f"{name:40} {statistics.median(times):9.3f} {min(times):8.3f} {max(times):8.3f} {mb}")
    med4 = statistics.median(t for t, _ in four)
    per_image = med4 / 4
    print(f"4 outputs: {med4:.3f} s median = {per_image:.3f} s per image "
          f"({per_image / statistics.median(render_times):.2f}x rendering one image alone); "
          f"target < {args.target:.1f} s: {'MET' if med4 < args.target else 'MISSED'}")
    return 0 if med4 < args.target else 1


if __name__ == "__main__":
    sys.exit(main())
