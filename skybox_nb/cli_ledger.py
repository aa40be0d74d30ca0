"""`skybox-nb ledger ...`: commands on a library's ledger.

Invariant: like cli.py, this file parses arguments and prints; the work happens in
`ledger_rebuild`, the ledger itself and the client (``resume()``, ``reconcile()``), which
notebooks call the same way, so what a `DuplicateIntentError` hint names can be done from
a shell too. Each command is one subparser of the ``ledger`` group; new ones are added to
`add_parser` only. ``list`` and ``dismiss`` only read and write the ledger (no network);
``resume`` and ``reconcile`` use the backend the environment names, as ``generate`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .ledger import DEFAULT_LIBRARY, IntentRecord, Ledger

# What `list` shows by default: what is not settled yet.
_OPEN = ("submitting", "unknown", "running", "lost")


def _prompt(rec: IntentRecord) -> str:
    p = rec.request.get("prompt")
    return (p if isinstance(p, str) else rec.model_id)[:40]


def _row(rec: IntentRecord) -> dict:
    out = rec.output or (rec.files[0] if rec.files else None)
    return {"intent": rec.intent_id, "status": rec.status, "job": rec.job_id,
            "model": rec.model_id, "prompt": _prompt(rec), "cu": rec.cu_cost,
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.created_at)),
            "backend": rec.backend, "files": [str(f) for f in rec.files],
            "kind": rec.kind, "parent": rec.parent_id,
            "output": str(out) if out is not None else None,
            "error": (rec.error or "").splitlines()[0][:120] if rec.error else None}


def _line(r: dict) -> str:
    """One row as ``list`` prints it: a generation by its prompt, a child by what it is
    and the file it made."""
    if r["kind"] == "generation":
        cost = "?" if r["cu"] is None else f"{r['cu']:g}"
        return (f"{r['intent']}  {r['status']:<10} {r['job'] or '-':<28} {cost:>5} CU  "
                f"{r['created']}  {r['prompt']!r}")
    cost = "free" if r["kind"] == "repair" else (
        "? CU" if r["cu"] is None else f"{r['cu']:g} CU")
    made = Path(r["output"]).name if r["output"] else "-"
    return (f"{r['intent']}  {r['kind']:<7} {r['status']:<10} {r['job'] or '-':<28} "
            f"{cost:>7}  {r['created']}  -> {made}")


def _tree(rows: list[dict]) -> list[tuple[int, dict]]:
    """``rows`` with each child under its source (depth, row), sources newest first,
    children oldest first; a child whose source is not shown stands on its own."""
    shown = {r["intent"] for r in rows}
    kids: dict[str, list[dict]] = {}
    for r in rows:
        if r["parent"] in shown:
            kids.setdefault(r["parent"], []).append(r)
    out: list[tuple[int, dict]] = []
    seen: set[str] = set()

    def visit(r: dict, depth: int) -> None:
        out.append((depth, r))
        seen.add(r["intent"])
        for k in reversed(kids.get(r["intent"], [])):  # rows come newest first
            if k["intent"] not in seen:  # a hand-made cycle is shown once
                visit(k, depth + 1)

    for r in rows:
        if r["parent"] not in shown:
            visit(r, 0)
    for r in rows:  # rows in a hand-made cycle have no root: shown on their own
        if r["intent"] not in seen:
            visit(r, 0)
    return out


def _open(name: str, args: argparse.Namespace) -> Ledger | None:
    """The library's ledger, or None after saying on stderr why it cannot be opened."""
    try:
        return Ledger(args.library)
    except (OSError, ValueError) as e:
        print(f"skybox-nb ledger {name}: {e}", file=sys.stderr)
        return None


def _list(args: argparse.Namespace) -> int:
    led = _open("list", args)
    if led is None:
        return 1
    try:
        recs = led.generations()
    finally:
        led.close()
    kids: dict[str, list[str]] = {}  # every row's children, shown or not
    for r in reversed(recs):  # oldest first
        if r.parent_id is not None:
            kids.setdefault(r.parent_id, []).append(r.intent_id)
    if not args.all:
        recs = [r for r in recs if r.status in _OPEN]
    rows = [{**_row(r), "children": kids.get(r.intent_id, [])} for r in recs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("nothing to settle" if not args.all else "the ledger is empty")
        return 0
    for depth, r in _tree(rows):
        lead = "  " * (depth - 1) + "  └ " if depth else ""
        line = _line(r)
        if depth == 0 and r["parent"]:
            line += f"  (made from {r['parent']})"
        print(lead + line)
        if r["error"] and r["status"] in ("unknown", "lost"):
            print("  " * depth + f"    {r['error']}")
    return 0


def _dismiss(args: argparse.Namespace) -> int:
    led = _open("dismiss", args)
    if led is None:
        return 1
    try:
        rec = led.dismiss(args.intent_id)
    except (KeyError, ValueError) as e:
        print(f"skybox-nb ledger dismiss: {str(e).strip(chr(39))}", file=sys.stderr)
        return 1
    finally:
        led.close()
    print(f"{rec.intent_id} dismissed: an identical request may be sent again")
    return 0


def _with_client(name: str, args: argparse.Namespace, work) -> int:  # type: ignore[no-untyped-def]
    from .client import SkyboxClient
    from .errors import SkyboxError

    try:
        with SkyboxClient(library=args.library) as client:
            print(f"backend: {client.backend}", file=sys.stderr)
            return int(work(client))
    except (SkyboxError, ValueError, OSError) as e:
        print(f"skybox-nb ledger {name}: {e}", file=sys.stderr)
        return 1


def _resume(args: argparse.Namespace) -> int:
    def work(client) -> int:  # type: ignore[no-untyped-def]
        results = client.resume()
        for res in results:
            print(f"{res.intent_id}  {res.job.id}: {len(res.files)} file(s)")
            for path in res.files:
                print(f"  {path.resolve()}")
        lost = client.ledger.generations("lost")
        print(f"{len(results)} generation(s) finished"
              + (f"; {len(lost)} lost (see 'skybox-nb ledger list')" if lost else ""))
        return 0
    return _with_client("resume", args, work)


def _reconcile(args: argparse.Namespace) -> int:
    def work(client) -> int:  # type: ignore[no-untyped-def]
        outcomes = client.reconcile()
        for o in outcomes:
            print(f"{o.intent_id}: {o.note}" + (f" ({o.job_id})" if o.job_id else ""))
        if not outcomes:
            print("no unknown intents to reconcile")
        return 0
    return _with_client("reconcile", args, work)


def _rebuild(args: argparse.Namespace) -> int:
    from .ledger_rebuild import rebuild

    try:
        report = rebuild(args.library)
    except (OSError, ValueError) as e:
        print(f"skybox-nb ledger rebuild: {e}", file=sys.stderr)
        return 1
    print(report)
    return 0


def _library_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("library", nargs="?", default=DEFAULT_LIBRARY,
                   help="library folder (default: %(default)s)")


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the ``ledger`` command group on the main parser's subparsers."""
    p = sub.add_parser("ledger", help="inspect and repair a library's ledger")
    group = p.add_subparsers(dest="ledger_command", required=True)
    r = group.add_parser(
        "rebuild", help="make a new ledger from the old one's readable rows and the "
        "sidecars of saved panoramas (the old file is kept beside it)")
    _library_arg(r)
    r.set_defaults(func=_rebuild)
    lst = group.add_parser("list", help="the generations not settled yet (submitting, "
                           "unknown, running, lost); --all for every one, each repair "
                           "and refine under its source")
    _library_arg(lst)
    lst.add_argument("--all", action="store_true", help="every row, settled ones too")
    lst.add_argument("--json", action="store_true", help="print the rows as JSON")
    lst.set_defaults(func=_list)
    res = group.add_parser("resume", help="finish every running job in the ledger: poll, "
                           "download (no new paid request)")
    _library_arg(res)
    res.set_defaults(func=_resume)
    rec = group.add_parser("reconcile", help="match 'unknown' intents (answer lost) to the "
                           "jobs Scenario lists, adopting exact single matches")
    _library_arg(rec)
    rec.set_defaults(func=_reconcile)
    dis = group.add_parser("dismiss", help="give up on an 'unknown' or 'lost' intent, so an "
                           "identical request may be sent again")
    dis.add_argument("intent_id", help="the intent's id (intent_...; see 'ledger list')")
    _library_arg(dis)
    dis.set_defaults(func=_dismiss)
