"""Run the reliability suite and write its figures into RELIABILITY.md.

    .venv/bin/python tests/reliability/report.py

Invariant: every number in the generated table comes from the run this script just did
(the suite's tally, pytest's own counts, the wall clock); nothing is typed in by hand.
Only the part of RELIABILITY.md between the two markers is replaced, so the prose
around it stays as written. Exits with pytest's status.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "RELIABILITY.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


def run_suite(out: Path) -> tuple[int, str, float]:
    """Run pytest on this folder with the tally going to ``out``; returns (exit code,
    pytest's summary line, wall seconds)."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__).parent), "-q", "-p",
         "no:cacheprovider", "--durations=5"],
        cwd=ROOT, env={**os.environ, "SKYBOX_RELIABILITY_OUT": str(out)},
        capture_output=True, text=True)
    seconds = time.monotonic() - t0
    sys.stdout.write(proc.stdout[-3000:])
    sys.stderr.write(proc.stderr[-3000:])
    summary = next((line.strip("= ") for line in reversed(proc.stdout.splitlines())
                    if re.search(r"\d+ (passed|failed)", line)), "no summary")
    return proc.returncode, summary, seconds


def _figures(fig: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in fig.items())


def table(rows: list[dict]) -> str:
    """The markdown table: one line per scenario, grouped by area."""
    lines = ["| area | what was tried | times | what happened | figures |",
             "|---|---|---:|---|---|"]
    for r in sorted(rows, key=lambda r: (r["area"], r["scenario"])):
        lines.append(f"| {r['area']} | {r['scenario']} | {r['tried']} | "
                     f"{'; '.join(r['notes'])} | {_figures(r['figures'])} |")
    return "\n".join(lines)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tally.json"
        code, summary, seconds = run_suite(out)
        data = json.loads(out.read_text()) if out.exists() else {"rows": []}
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join([
        START,
        f"Run {when} on {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}: "
        f"**{summary}** in **{seconds:.0f} s** wall time "
        f"(`python tests/reliability/report.py`).",
        "",
        table(data["rows"]),
        f"\nTotal trials: {sum(r['tried'] for r in data['rows'])}.",
        END,
    ])
    text = DOC.read_text() if DOC.exists() else f"# Reliability\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    DOC.write_text(head + body + rest.split(END, 1)[1])
    print(f"wrote {DOC} ({summary}, {seconds:.0f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
