"""Benchmark: what a user waits for when exporting a cubemap or checking seams, run as
the user runs it (the command, in a fresh process: start-up, decode, maps, sampling,
encode and writes included), against a plain OpenCV + numpy script in the same run.

Run:  .venv/bin/python benchmarks/bench_export.py [--quick] [--repeat N]

The panoramas (2048, 8192 and 16384 wide, JPEG quality 95, as Scenario and stitchers
deliver them) are made here: a smooth sky-like field with fine noise, so PNG encoding
costs what it costs on real images. Each size runs the baseline script, `skybox-nb
cubemap` and `skybox-nb seams` in turn, ``--repeat`` times, alternating, so all see the
same machine load; the table gives the median wall time and the peak resident memory of
each process (``os.wait4``'s ru_maxrss: the child alone). A second table has the warm,
in-process figures (maps cached, nothing decoded): what a notebook pays on a second call.

Targets (exit status 1 when one is missed): `skybox-nb cubemap` at most 0.8x the
baseline's wall time at 8192 and 16384 wide, and at 16384 wide no more peak memory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = (2048, 8192, 16384)
TIME = "/usr/bin/time"  # GNU time (Debian package "time")
RATIO_TARGET = 0.8

# The baseline: what someone who knows OpenCV writes in an afternoon. Maps for all six
# faces from their directions in numpy, one remap, six PNGs at compression 1 on two
# threads. Faces F R B L U D as py360convert orients them.
BASELINE = r'''
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import cv2
import numpy as np

src, out = sys.argv[1], Path(sys.argv[2])
img = cv2.imread(src)
h, w = img.shape[:2]
s = w // 4
g = (np.arange(s, dtype=np.float32) + 0.5) / s * 2 - 1
a, b = np.meshgrid(g, g)
one = np.ones_like(a)
faces = {"F": (a, -b, one), "R": (one, -b, -a), "B": (-a, -b, -one), "L": (-one, -b, a),
         "U": (a, one, b), "D": (a, -one, -b)}
d = np.concatenate([np.stack(v, -1) for v in faces.values()])
lon = np.arctan2(d[..., 0], d[..., 2])
lat = np.arctan2(d[..., 1], np.hypot(d[..., 0], d[..., 2]))
mx = ((lon / (2 * np.pi) + 0.5) * w - 0.5).astype(np.float32) % w
my = np.clip((0.5 - lat / np.pi) * h - 0.5, 0, h - 1).astype(np.float32)
del d, lon, lat
cube = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
out.mkdir(parents=True, exist_ok=True)

def write(i_name):
    i, name = i_name
    cv2.imwrite(str(out / f"{name}.png"), cube[i * s:(i + 1) * s],
                [cv2.IMWRITE_PNG_COMPRESSION, 1])

with ThreadPoolExecutor(2) as pool:
    list(pool.map(write, enumerate(faces)))
'''


def make_panorama(width: int, path: Path) -> None:
    """A sky-like JPEG: large smooth structures (upscaled random field) plus fine noise."""
    import cv2

    rng = np.random.default_rng(width)
    h = width // 2
    coarse = rng.random((16, 32, 3)).astype(np.float32)
    field = cv2.resize(coarse, (width, h), interpolation=cv2.INTER_CUBIC)
    mid = cv2.resize(rng.random((h // 32, width // 32, 3)).astype(np.float32), (width, h),
                     interpolation=cv2.INTER_LINEAR)
    img = field * 170 + mid * 60 + rng.normal(0, 3, (h, 1, 1)).astype(np.float32)
    img += rng.normal(0, 1.5, (h, width, 1)).astype(np.float32)
    cv2.imwrite(str(path), np.clip(img, 0, 255).astype(np.uint8),
                [cv2.IMWRITE_JPEG_QUALITY, 95])


def run(cmd: list[str], work: Path) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one fresh process running ``cmd``, measured
    by GNU time (a small parent: a child forked from this process would count this
    process's memory in its own peak)."""
    report = work / "time.txt"
    t = time.perf_counter()
    proc = subprocess.run([TIME, "-f", "%M", "-o", str(report), *cmd],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                         f"{proc.stderr.decode()}")
    return wall, int(report.read_text().split()[-1]) / 1024  # KB


def cold_table(sizes: tuple[int, ...], repeat: int, work: Path) -> dict:
    exe = str(Path(sys.executable).with_name("skybox-nb"))
    base_script = work / "baseline.py"
    base_script.write_text(BASELINE)
    rows = {}
    for width in sizes:
        src = work / f"pano_{width}.jpg"
        make_panorama(width, src)
        jobs = {
            "baseline script (PNG)": [sys.executable, str(base_script), str(src),
                                      str(work / "base")],
            "skybox-nb cubemap (PNG)": [exe, "cubemap", str(src), "--out", str(work / "ours")],
            "skybox-nb cubemap --format jpg": [exe, "cubemap", str(src), "--format", "jpg",
                                               "--out", str(work / "oursj")],
            "skybox-nb seams": [exe, "seams", str(src)],
        }
        got: dict[str, list[tuple[float, float]]] = {k: [] for k in jobs}
        for _ in range(repeat):
            for name, cmd in jobs.items():  # alternating: the same load for every command
                got[name].append(run(cmd, work))
        rows[width] = {k: (statistics.median(w for w, _ in v), max(m for _, m in v))
                       for k, v in got.items()}
        print(f"  {width}: " + ", ".join(f"{k} {w:.2f} s" for k, (w, _) in rows[width].items()),
              file=sys.stderr, flush=True)
    return rows


def warm_table(sizes: tuple[int, ...], work: Path) -> list[tuple]:
    from skybox_nb import remap
    from skybox_nb.codec import encode
    from skybox_nb.cubemap import _canonical_maps, to_faces
    from skybox_nb.panorama import Panorama
    from skybox_nb.seams import seam_report

    out = []
    for width in sizes:
        pano = Panorama.load(work / f"pano_{width}.jpg")
        h, s = width // 2, width // 4
        remap.clear_cache()
        t = time.perf_counter()
        _canonical_maps("side", h, width, s)
        _canonical_maps("pole", h, width, s)
        maps = time.perf_counter() - t
        to_faces(pano, s)
        faces = min(_timed(lambda: to_faces(pano, s)) for _ in range(3))
        f = to_faces(pano, s)
        png = min(_timed(lambda: [encode(x, "png") for x in f.values()]) for _ in range(2))
        seams = min(_timed(lambda: seam_report(pano)) for _ in range(2))
        out.append((width, s, maps, faces, png, seams))
        remap.clear_cache()
    return out


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2048 and 8192 only")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = SIZES[:2] if args.quick else SIZES
    if not os.path.exists(TIME):
        raise SystemExit(f"{TIME} is needed for peak memory: apt-get install -y time")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cold = cold_table(sizes, args.repeat, work)
        warm = warm_table(sizes, work)
    print(f"Cold, whole process, median of {args.repeat} alternating runs "
          f"(load average {load:.1f} on {os.cpu_count()} CPUs at start):\n")
    print("| panorama | command | wall | vs baseline | peak memory |")
    print("|---|---|---|---|---|")
    failed = []
    for width, row in cold.items():
        base_wall, base_mem = row["baseline script (PNG)"]
        for name, (wall, mem) in row.items():
            print(f"| {width}x{width // 2} | {name} | {wall:.2f} s | "
                  f"{wall / base_wall:.2f}x | {mem:.0f} MB |")
        ours_wall, ours_mem = row["skybox-nb cubemap (PNG)"]
        if width >= 8192 and ours_wall > RATIO_TARGET * base_wall:
            failed.append(f"{width}: cubemap {ours_wall:.2f} s > {RATIO_TARGET} x baseline "
                          f"{base_wall:.2f} s")
        if width >= 16384 and ours_mem > base_mem:
            failed.append(f"{width}: cubemap peak {ours_mem:.0f} MB > baseline {base_mem:.0f} MB")
    print("\nWarm, in-process (maps: cold build of the two canonical maps; faces: fastest "
          "of 3 to_faces with maps cached; PNG: six faces encoded one after another):\n")
    print("| panorama | face | maps cold | to_faces warm | 6 PNGs, 1 thread | seam report |")
    print("|---|---|---|---|---|---|")
    for width, s, maps, faces, png, seams in warm:
        print(f"| {width}x{width // 2} | {s} | {maps * 1000:.0f} ms | {faces * 1000:.0f} ms | "
              f"{png:.2f} s | {seams * 1000:.0f} ms |")
    for f in failed:
        print(f"TARGET MISSED: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
