"""Benchmark: the seam check on real panoramas labelled by eye (`../shared/realpanos-dev/`),
against their labels, and how long a user waits for it.

Run:  .venv/bin/python benchmarks/bench_seams_real.py [--dir DIR] [--json] [--figures DIR]

Each image is checked cold, in a fresh process, as `skybox-nb seams FILE --json` runs it:
import, decode and check timed apart, with the process's peak memory. The baseline,
measured in the same run, is the same fresh process doing everything but the check
(import and decode). The confusion table compares each part's verdict (wrap seam, north
pole, south pole) with `LABELS.tsv`; parts labelled `unsure` are counted apart; each
flagged pole says which rules fired. The images are never copied into the project
(their licences are unclear): when the folder is absent the benchmark says so and exits 0.

The 2048x1024 figure is the whole command as a user runs it, `skybox-nb seams FILE`
(interpreter start, imports, decode, check, print), the fastest of three fresh processes
per image (the worst image counts), beside the same number (wall and CPU) for a bare
`python -c "import cv2, numpy; cv2.imread(FILE)"` measured in the same run, and the
largest ratio of the two on one image, which load on the shared machine moves less; the
check alone (after import and decode, wall and CPU) is printed too. The package's
bytecode is compiled by one untimed run first (into a folder of the benchmark's own),
as an installed package has it: pip compiles a wheel at install, while a Python that
writes no bytecode (PYTHONDONTWRITEBYTECODE) would compile every module in every run.

``--figures DIR`` writes, for every flagged image, the report figure before and after the
repair and the repaired panorama (PNG), to look at.

Targets (exit status 1 when one is missed):
  * every `visible` wrap seam flagged, and at least 85% of pole `artefact`s;
  * no part labelled `clean` flagged, and every image whose parts are all clean judged
    seamless as a whole (interior seams and cube edges included);
  * the whole cold `skybox-nb seams FILE` of a 2048x1024 image under 0.5 s;
  * after `repair.repair` every flagged wrap seam and pole passes, with at least 40 dB
    PSNR outside the changed mask (the repair leaves it bit-identical: infinite).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / ".." / "shared" / "realpanos-dev"
POLE_TARGET = 0.85
REPAIR_PSNR_DB = 40.0
CHECK_TARGET_S = 0.5
PYCACHE = Path(tempfile.gettempdir()) / "skybox-nb-bench-pycache"

# One cold run: a fresh interpreter, as every CLI call is.
_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from skybox_nb.panorama import Panorama
from skybox_nb.seams import seam_report
t1 = time.perf_counter()
pano = Panorama.load(sys.argv[1])
t2 = time.perf_counter()
out = {"import": t1 - t0, "decode": t2 - t1, "size": [pano.width, pano.height]}
if sys.argv[2] == "check":
    c2 = time.process_time()
    r = seam_report(pano)
    t3 = time.perf_counter()
    out["check"] = t3 - t2
    out["check_cpu"] = time.process_time() - c2
    out["wrap"] = r.wrap.ok
    out["north"] = r.poles.north.ok
    out["south"] = r.poles.south.ok
    out["seamless"] = r.seamless
    out["defects"] = r.defects
    out["rules"] = {p.name: p.rules for p in (r.poles.north, r.poles.south)}
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def cold(path: Path, what: str = "check") -> dict:
    """The child's figures for one image (``what`` = "check" or "baseline")."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), what], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout)


def command_seconds(path: Path, runs: int = 3) -> tuple[float, float, float, float]:
    """The fastest of ``runs`` whole `skybox-nb seams FILE` processes (wall seconds, and
    the CPU seconds of that command, which a busy machine inflates less), and of as many
    bare `python -c "import cv2, numpy; cv2.imread(FILE)"` (the baseline: wall, CPU)."""
    exe = Path(sys.executable).with_name("skybox-nb")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "skybox_nb.cli"]
    base = [sys.executable, "-c", f"import cv2, numpy; cv2.imread({str(path)!r})"]

    # An installed package has its bytecode (pip compiles it at install): where this
    # Python writes none (PYTHONDONTWRITEBYTECODE) the commands get a bytecode folder of
    # their own, filled by one untimed run first.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    subprocess.run(cli + ["seams", str(path)], capture_output=True, check=False, cwd=ROOT,
                   env=env)

    def fastest(cmd: list[str]) -> tuple[float, float]:
        best, cpu = float("inf"), float("inf")
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=False, cwd=ROOT, env=env)
            best = min(best, time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = min(cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return best, cpu

    (wall, cpu), (base_wall, base_cpu) = fastest(cli + ["seams", str(path)]), fastest(base)
    return wall, cpu, base_wall, base_cpu


def confusion(labels: list[dict], results: dict[str, dict]) -> dict[str, dict[str, list[str]]]:
    """{part: {"<label> flagged" | "<label> passed": [files]}} for wrap, north, south."""
    table: dict[str, dict[str, list[str]]] = {}
    for part in ("wrap", "north", "south"):
        cells: dict[str, list[str]] = {}
        for row in labels:
            r = results[row["file"]]
            key = f"{row[part]} {'passed' if r[part] else 'flagged'}"
            cells.setdefault(key, []).append(row["file"])
        table[part] = cells
    return table


def check_repairs(folder: Path, results: dict[str, dict], failures: list[str],
                  figures: Path | None = None) -> dict:
    """Repair every image the check flagged (in this process) and check again: every
    flagged wrap seam and pole must pass after, with >= `REPAIR_PSNR_DB` outside the
    mask. Appends to ``failures``; returns the figures per image. With ``figures``, the
    report figures before and after and the repaired panorama are written there."""
    from skybox_nb.panorama import Panorama
    from skybox_nb.repair import repair

    out: dict[str, dict] = {}
    flagged = [f for f, r in results.items() if not (r["wrap"] and r["north"] and r["south"])]
    print(f"\nrepair of the {len(flagged)} flagged images (wrap and poles), checked again")
    print(f"{'file':<30} {'changed':>8} {'PSNR out':>9} {'seconds':>8}  after")
    for f in flagged:
        t = time.perf_counter()
        r = repair(Panorama.load(folder / f))
        secs = time.perf_counter() - t
        still = [p for p, ok in (("wrap", r.after.wrap.ok), ("north", r.after.poles.north.ok),
                                 ("south", r.after.poles.south.ok)) if not ok]
        db = r.psnr_outside()
        out[f] = {"changed": r.changed, "psnr_outside_db": None if db == float("inf") else db,
                  "seconds": secs, "still_failing": still, "steps": r.steps}
        print(f"{f:<30} {100 * r.changed:7.1f}% {db:9.1f} {secs:8.1f}  "
              f"{'passes' if not still else 'still fails: ' + ', '.join(still)}")
        if figures is not None:
            figures.mkdir(parents=True, exist_ok=True)
            stem = Path(f).stem
            r.before.plot().savefig(figures / f"{stem}-before.png", dpi=60)
            r.after.plot().savefig(figures / f"{stem}-after.png", dpi=60)
            r.panorama.save(figures / f"{stem}-repaired.png")
        if still:
            failures.append(f"after repair {f} still fails: {', '.join(still)}")
        if db < REPAIR_PSNR_DB:
            failures.append(f"repair of {f}: PSNR outside the mask {db:.1f} dB < "
                            f"{REPAIR_PSNR_DB} dB")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                    help="the labelled set (default ../shared/realpanos-dev)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    ap.add_argument("--figures", type=Path, default=None,
                    help="write report figures and repaired panoramas of flagged images here")
    args = ap.parse_args(argv)
    labels_path = args.dir / "LABELS.tsv"
    if not labels_path.is_file():
        print(f"skipped: no labelled real panoramas at {args.dir} (LABELS.tsv missing); "
              "this benchmark needs ../shared/realpanos-dev, which is not part of the project")
        return 0
    with open(labels_path, newline="", encoding="utf-8") as f:
        labels = [{"file": r["file"], "wrap": r["wrap"], "north": r["north"],
                   "south": r["south"]} for r in csv.DictReader(f, delimiter="\t")]

    results: dict[str, dict] = {}
    print(f"{'file':<30} {'size':>10} {'import':>7} {'decode':>7} {'check':>7} {'peak MB':>8}"
          f"  {'base':>6}  verdict")
    for row in labels:
        path = args.dir / row["file"]
        r = cold(path)
        base = cold(path, "baseline")
        r["baseline"] = base["import"] + base["decode"]
        results[row["file"]] = r
        parts = [p if p == "wrap" else f"{p} ({'+'.join(r['rules'][p])})"
                 for p in ("wrap", "north", "south") if not r[p]]
        verdict = "seamless" if r["seamless"] else "flagged: " + (", ".join(parts) or "other")
        print(f"{row['file']:<30} {r['size'][0]:>5}x{r['size'][1]:<4} {r['import']:7.2f} "
              f"{r['decode']:7.2f} {r['check']:7.2f} {r['peak_mb']:8.0f}  {r['baseline']:6.2f}"
              f"  {verdict}")

    table = confusion(labels, results)
    print("\nconfusion table (label vs check; unsure counted apart)")
    print(f"{'part':<6} {'label':<9} {'flagged':>8} {'passed':>7}")
    for part, cells in table.items():
        for lab in ("visible", "artefact", "clean", "unsure"):
            fl, ok = len(cells.get(f"{lab} flagged", [])), len(cells.get(f"{lab} passed", []))
            if fl or ok:
                print(f"{part:<6} {lab:<9} {fl:>8} {ok:>7}")

    failures = []
    missed = table["wrap"].get("visible passed", [])
    if missed:
        failures.append(f"visible wrap seams passed: {', '.join(missed)}")
    art = [(p, f) for p in ("north", "south") for lab in ("artefact flagged", "artefact passed")
           for f in table[p].get(lab, []) if lab.endswith("flagged")]
    total = sum(len(table[p].get(k, [])) for p in ("north", "south")
                for k in ("artefact flagged", "artefact passed"))
    share = len(art) / total if total else 1.0
    print(f"\npole artefacts flagged: {len(art)}/{total} = {100 * share:.0f}% "
          f"(target >= {100 * POLE_TARGET:.0f}%)")
    if share < POLE_TARGET:
        failures.append(f"pole artefacts flagged {100 * share:.0f}% < {100 * POLE_TARGET:.0f}%")
    false = [f"{f} ({p})" for p in table for f in table[p].get("clean flagged", [])]
    if false:
        failures.append(f"clean parts flagged: {', '.join(false)}")
    clean_images = [r["file"] for r in labels if all(r[p] == "clean" for p in ("wrap", "north",
                                                                              "south"))]
    not_seamless = [f for f in clean_images if not results[f]["seamless"]]
    print(f"clean images judged seamless: {len(clean_images) - len(not_seamless)}/"
          f"{len(clean_images)}")
    if not_seamless:
        failures.append("clean images not seamless: " + "; ".join(
            f"{f}: {results[f]['defects']}" for f in not_seamless))
    at_2k = [args.dir / f for f, r in results.items() if r["size"] == [2048, 1024]]
    if at_2k:
        # The fastest of three fresh processes per image, then the worst image: on a
        # 2-core machine shared with other work the fastest run is the steadiest estimate.
        runs = {p.name: [cold(p) for _ in range(3)] for p in at_2k}
        best = {f: min(x["check"] for x in rs) for f, rs in runs.items()}
        cpu = {f: min(x["check_cpu"] for x in rs) for f, rs in runs.items()}
        whole = {p.name: command_seconds(p) for p in at_2k}
        worst = max(w for w, _, _, _ in whole.values())
        ratio = max(w / b for w, _, b, _ in whole.values())
        print(f"cold `skybox-nb seams FILE` at 2048x1024 (whole process: start, imports, "
              f"decode, check; fastest of 3): worst image {worst:.2f} s wall "
              f"({max(c for _, c, _, _ in whole.values()):.2f} s CPU), baseline "
              f"`python -c 'import cv2, numpy; cv2.imread(FILE)'` "
              f"{max(b for _, _, b, _ in whole.values()):.2f} s wall "
              f"({max(c for _, _, _, c in whole.values()):.2f} s CPU), at most {ratio:.2f}x "
              f"the baseline's wall on one image, over {len(whole)} images "
              f"(target < {CHECK_TARGET_S} s); the check alone {max(best.values()):.2f} s "
              f"wall, {max(cpu.values()):.2f} s CPU; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
              + "; the package's bytecode compiled once first, as pip does at install")
        if worst >= CHECK_TARGET_S:
            failures.append(f"cold `skybox-nb seams` at 2048x1024 {worst:.2f} s >= "
                            f"{CHECK_TARGET_S} s")
    whole = [r["import"] + r["decode"] + r["check"] for r in results.values()]
    print(f"whole cold job per image (import + decode + check): "
          f"{min(whole):.2f}-{max(whole):.2f} s; baseline without the check "
          f"{min(r['baseline'] for r in results.values()):.2f}-"
          f"{max(r['baseline'] for r in results.values()):.2f} s")
    repaired = check_repairs(args.dir, results, failures, args.figures)
    if args.json:
        print(json.dumps({"results": results, "confusion": table, "repairs": repaired},
                         indent=1))
    for f in failures:
        print("MISSED:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
