"""Benchmark: a 4096x2048 skybox to HDR, lighting pack and engine folder, cold, as a user runs it.

Run:  .venv/bin/python benchmarks/bench_lighting.py [--width 4096] [--runs 3]

Each run is a fresh Python process (imports, decode and encode included), so every
figure is a cold one:
  * the stages in a fresh process: decode the PNG, `to_hdr` (the estimate), SH
    projection, the GGX specular mip chain (256-pixel faces, 7 levels), the KTX2 write
    of that chain, the half-float EXR write;
  * the whole command `skybox-nb export PANO --engine unity --hdr --pack --pack-size 256`
    against `skybox-nb cubemap PANO` (the plain export, the baseline) in the same run,
    alternating, with each process's peak memory (max RSS).
The median of ``--runs`` runs is reported. The panorama is made here (a clear sky with
a sun), so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
from skybox_nb.panorama import Panorama
from skybox_nb.hdr import to_hdr, write_hdr
from skybox_nb.lighting import sh_project, prefilter_specular
from skybox_nb.ktx2 import write_ktx2
out = {"import": time.perf_counter() - t0}
def step(name, fn):
    t = time.perf_counter(); r = fn(); out[name] = time.perf_counter() - t; return r
pano = step("decode", lambda: Panorama.load(sys.argv[1]))
hdr = step("to_hdr", lambda: to_hdr(pano))
step("sh", lambda: sh_project(hdr))
spec, rough = step("specular_256", lambda: prefilter_specular(hdr, 256))
step("ktx2_write", lambda: write_ktx2(spec, sys.argv[2] + "/specular.ktx2"))
step("exr_write", lambda: write_hdr(hdr, sys.argv[2] + "/sky.exr"))
out["levels"] = len(spec)
print(json.dumps(out))
"""


def _run(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one child process, from its own rusage."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # reaps it, with its resource usage
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{cmd[0]} failed:\n{err.read()[-2000:]}")
        return wall, usage.ru_maxrss / 1024, out.read()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    exe = Path(sys.executable).with_name("skybox-nb")
    with tempfile.TemporaryDirectory() as tmp:
        pano = Path(tmp) / "pano.png"
        # made in a child: a forked child's peak RSS starts from this process's size
        _run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[3]); "
              "from PIL import Image; from tests.lighting_support import sunny_sky; "
              "Image.fromarray(sunny_sky(int(sys.argv[2]))).save(sys.argv[1], compress_level=1)",
              str(pano), str(args.width), str(ROOT)])
        stages: list[dict] = []
        whole: dict[str, list[tuple[float, float]]] = {"cubemap (baseline)": [], "export unity --hdr --pack": []}
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}"
            out.mkdir()
            _, _, text = _run([sys.executable, "-c", _STAGES, str(pano), str(out)])
            stages.append(json.loads(text))
            wall, peak, _ = _run([str(exe), "cubemap", str(pano), "--out", str(out / "cube")])
            whole["cubemap (baseline)"].append((wall, peak))
            wall, peak, _ = _run([str(exe), "export", str(pano), "--engine", "unity", "--hdr",
                                  "--pack", "--pack-size", "256", "--out", str(out / "unity")])
            whole["export unity --hdr --pack"].append((wall, peak))
    print(f"{args.width}x{args.width // 2}, cold, fresh process each run, median of {args.runs}"
          f" ({os.cpu_count()} cores)")
    print("\nstage                      seconds")
    for key in stages[0]:
        if key != "levels":
            print(f"  {key:24s} {statistics.median(s[key] for s in stages):7.2f}")
    print(f"  (specular: {stages[0]['levels']} mip levels from 256 px)")
    print("\nwhole command                     wall s   peak RSS MiB")
    for name, runs in whole.items():
        print(f"  {name:31s} {statistics.median(w for w, _ in runs):6.2f}   "
              f"{max(p for _, p in runs):8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
