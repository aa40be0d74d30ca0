"""`skybox-nb repair PANO [--wrap] [--poles] --out FILE`: the repair on the command line.

Invariant: this module parses and prints; `repair.repair` does the work. The output is
written beside its target and renamed into place (`Panorama.save`), with a JSON sidecar
whose ``repair`` entry names the source file and the steps taken.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register the ``repair`` subcommand on an argparse sub-parsers object."""
    r = sub.add_parser("repair", help="mend the wrap seam and the poles the seam check flags "
                       "(offline, free)")
    r.add_argument("input", help="the panorama to repair")
    r.add_argument("--wrap", action="store_true", help="repair the wrap seam")
    r.add_argument("--poles", action="store_true", help="repair the poles")
    r.add_argument("--out", required=True, help="where to write the repaired panorama")
    r.add_argument("--json", action="store_true", help="print the before/after report as JSON")
    r.add_argument("--plot", default=None, help="also save the before/after figure to this PNG")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Repair ``args.input`` (both parts unless --wrap or --poles narrows it) into
    ``args.out``; print the check before and after. Returns the exit code."""
    from .panorama import Panorama
    from .repair import repair

    try:
        pano = Panorama.load(args.input, ratio="warn")
    except (OSError, ValueError) as e:
        print(f"skybox-nb repair: cannot read {args.input}: {e}", file=sys.stderr)
        return 2
    both = not (args.wrap or args.poles)
    result = repair(pano, wrap=both or args.wrap, poles=both or args.poles)
    try:
        out = result.panorama.save(args.out)
    except (OSError, ValueError) as e:
        print(f"skybox-nb repair: cannot write {args.out}: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**result.to_dict(), "out": str(out)}, indent=2))
    else:
        print("before: " + str(result.before).replace("\n", "\n  "))
        for step in result.steps or ["nothing to repair"]:
            print(f"repair: {step}")
        print("after: " + str(result.after).replace("\n", "\n  "))
        print(f"wrote {out} ({100 * result.changed:.1f}% of pixels changed, the rest "
              "bit-identical)")
    if args.plot:
        result.plot().savefig(args.plot, dpi=100)
    return 0
