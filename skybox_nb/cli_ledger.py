"""`skybox-nb ledger ...`: commands on a library's ledger.

Invariant: like cli.py, this file parses arguments and prints; the work happens in
`ledger_rebuild` (and the ledger itself), which notebooks call the same way. Each command
is one subparser of the ``ledger`` group; new ones are added to `add_parser` only.
"""

from __future__ import annotations

import argparse
import sys

from .ledger import DEFAULT_LIBRARY


def _rebuild(args: argparse.Namespace) -> int:
    from .ledger_rebuild import rebuild

    try:
        report = rebuild(args.library)
    except (OSError, ValueError) as e:
        print(f"skybox-nb ledger rebuild: {e}", file=sys.stderr)
        return 1
    print(report)
    return 0


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the ``ledger`` command group on the main parser's subparsers."""
    p = sub.add_parser("ledger", help="inspect and repair a library's ledger")
    group = p.add_subparsers(dest="ledger_command", required=True)
    r = group.add_parser(
        "rebuild", help="make a new ledger from the old one's readable rows and the "
        "sidecars of saved panoramas (the old file is kept beside it)")
    r.add_argument("library", nargs="?", default=DEFAULT_LIBRARY,
                   help="library folder (default: %(default)s)")
    r.set_defaults(func=_rebuild)
