"""What it costs to show a panorama in Viewer360: time to build the widget (decode, shrink,
encode) and the bytes that cross the comm channel, for the sizes Skybox Flux.1 produces.

Run: .venv/bin/python benchmarks/bench_viewer.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np

from skybox_nb.panorama import Panorama
from skybox_nb.widgets.viewer import Viewer360


def _sky(w: int, h: int) -> np.ndarray:
    """A smooth sky with some texture: closer to a real panorama's JPEG size than noise."""
    rng = np.random.default_rng(0)
    y = np.linspace(0, 1, h)[:, None, None]
    x = np.linspace(0, 2 * np.pi, w, endpoint=False)[None, :, None]
    base = np.concatenate([0.3 + 0.5 * y, 0.4 + 0.3 * y, 0.9 - 0.5 * y], axis=2)
    base = base + 0.05 * np.sin(7 * x + 3 * y) + 0.02 * rng.standard_normal((h, w, 1))
    return (np.clip(base, 0, 1) * 255).astype(np.uint8)


def _timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'source':<24}{'build s':>9}{'cube s':>9}{'image KB':>10}{'faces KB':>10}")
    for w, h in ((2048, 1024), (4096, 2048), (8192, 4096)):
        arr = _sky(w, h)
        pano = Panorama.load(arr)
        for label, src in ((f"ndarray {w}x{h}", arr), (f"Panorama {w}x{h}", pano)):
            build = _timed(lambda: Viewer360(src), args.repeat)
            v = Viewer360(src)
            cuts = []
            for _ in range(args.repeat):
                v.mode = "sphere"
                v.set_panorama(src)  # drops the faces
                t0 = time.perf_counter()
                v.mode = "cube"  # cuts and encodes the six faces
                cuts.append(time.perf_counter() - t0)
            cube_s = statistics.median(cuts)
            print(f"{label:<24}{build:>9.3f}{cube_s:>9.3f}{len(v.image) / 1024:>10.0f}"
                  f"{len(v.faces) / 1024:>10.0f}")


if __name__ == "__main__":
    main()
