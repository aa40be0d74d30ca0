"""`skybox-nb doctor`: the free contract checks of `doctor.py`, from a shell.

Invariant: like cli.py, this file parses arguments and prints; `doctor.doctor` does the
work. With credentials in the environment it checks the real service (free calls only);
without, the built-in emulator. Its ledger is a temporary folder: a doctor leaves no
library behind.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile


def _doctor(args: argparse.Namespace) -> int:
    from .client import SkyboxClient
    from .doctor import doctor
    from .errors import SkyboxError
    from .redaction import scrub_text

    try:
        with tempfile.TemporaryDirectory(prefix="skybox-doctor-") as tmp, \
                SkyboxClient(library=tmp) as client:
            report = doctor(client, args.model)
    except (SkyboxError, ValueError, OSError) as e:
        print(scrub_text(f"skybox-nb doctor: {e}"), file=sys.stderr)
        return 1
    if args.json:  # machine-readable, as redacted as the text
        print(json.dumps(report.to_dict(answers=False), indent=2))
    else:
        print(report)
    if args.capture:
        path = report.save(args.capture)
        print(f"redacted capture (safe to attach to a bug report): {path}")
    return 0 if report.ok else 1


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register ``doctor`` on the main parser's subparsers."""
    d = sub.add_parser("doctor", help="check the credentials and what the service answers, "
                       "with free calls only (the emulator without credentials)")
    d.add_argument("--model", default="model_scenario-skybox-flux", help="model to check")
    d.add_argument("--capture", default=None, metavar="PATH",
                   help="also write the redacted answers to this JSON file")
    d.add_argument("--json", action="store_true",
                   help="print the report as JSON (redacted like the text) instead of text")
    d.set_defaults(func=_doctor)
