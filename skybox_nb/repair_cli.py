"""`skybox-nb repair PANO|DIR ... [--wrap] [--poles] [--out FILE|DIR]`: the repair on the
command line, one panorama or a batch.

Invariant: this module parses and prints; `repair.repair` does the work, in parallel
through `batch.cli_batch` (one progress bar, a bad file reported at the end), and the
repairs are recorded in this process once they are written. Each output is written
beside its target and renamed into place (`Panorama.save`), with a JSON sidecar whose
``repair`` entry names the source file and the steps taken and whose ``lineage`` entry
names the source (file, sha256, ids, or that it is unknown: `child_files`); it never
replaces an input and no two inputs share an output. A repair of a file the library's
ledger knows is recorded there as a free child of the file's row
(`ledger_children.record_repair`), and its sidecar then names that row; otherwise it
says why it is not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

from .batch import Outcome, add_jobs, cli_batch, find_panoramas
from .sidecar import path_for

__all__ = ["add_parser", "run", "repair_one", "outputs_for", "plot_path", "check_plots"]

SUFFIX = "-repaired"


def add_parser(sub: Any) -> None:
    """Register the ``repair`` subcommand on an argparse sub-parsers object."""
    r = sub.add_parser("repair", help="mend the wrap seam and the poles the seam check flags "
                       "(offline, free), in one panorama or many")
    r.add_argument("input", nargs="+", help="panorama files and folders of them")
    r.add_argument("--wrap", action="store_true", help="repair the wrap seam")
    r.add_argument("--poles", action="store_true", help="repair the poles")
    r.add_argument("--out", default=None,
                   help="the repaired file (one input), or the folder the repairs go to as "
                   f"<name>{SUFFIX}.png (several); default: beside each input, as "
                   f"<name>{SUFFIX}.png")
    r.add_argument("--pole-disc", type=float, default=None, metavar="DEG",
                   help="the radius in degrees (1 to 42) of every failing pole's mended "
                   "disc; default: as far as the artefact was measured to reach. Smaller "
                   "keeps more of the floor or sky around the pole")
    r.add_argument("--json", action="store_true", help="print the before/after report as JSON")
    r.add_argument("--plot", default=None, help="also save the before/after figure to this "
                   "PNG (one input) or, as <name>.png, into this folder (several, or a "
                   "folder given)")
    add_jobs(r)
    r.set_defaults(func=run)


def outputs_for(paths: list[Path], out: str | None) -> dict[Path, Path]:
    """Where each input's repair goes. One input: ``out`` itself (a file; in it as
    ``<name>-repaired.png`` when it is a folder), or beside the input. Several: in the
    folder ``out`` (or beside each input) as ``<name>-repaired.png``, a number added
    when two inputs share a name. Raises ValueError when an output, or its sidecar,
    would be an input's."""
    if len(paths) == 1 and out is not None and not _is_folder(out):
        targets = {paths[0]: Path(out)}
    else:
        taken: set[Path] = set()
        targets = {}
        for p in paths:
            folder = Path(out) if out is not None else p.parent
            name, n = f"{p.stem}{SUFFIX}", 1
            while (folder / f"{name}.png").resolve() in taken:
                n += 1
                name = f"{p.stem}{SUFFIX}-{n}"
            targets[p] = folder / f"{name}.png"
            taken.add(targets[p].resolve())
    inputs = {p.resolve() for p in paths}
    # pano.jpg's sidecar is pano.json, pano.png's too: writing one replaces the other's
    sides = {path_for(p).resolve(): p for p in paths}
    for p, t in targets.items():
        if t.resolve() in inputs:
            raise ValueError(f"--out: the repair of {p} would replace the input {t}; "
                             "choose another --out")
        other = sides.get(path_for(t).resolve())
        if other is not None:
            raise ValueError(f"--out: the repair of {p} written to {t} would replace the "
                             f"sidecar {path_for(t)} of the input {other}; choose another "
                             "--out")
        if _foreign_json(path_for(t)):
            raise ValueError(f"--out: the repair of {p} written to {t} would replace "
                             f"{path_for(t)}, a JSON file that is not a skybox-nb sidecar; "
                             "choose another --out")
    return targets


def _is_folder(out: str) -> bool:
    """``--out`` names a folder: one that exists, or a name ending with a slash."""
    return Path(out).is_dir() or out.endswith(("/", os.sep))


def _foreign_json(side: Path) -> bool:
    """True when ``side`` exists and is not a panorama sidecar (one names its image in
    ``file``): writing a repair's sidecar there would destroy someone's file."""
    if not side.exists():
        return False
    from .sidecar import load

    try:
        data = load(side)
    except (OSError, ValueError):
        return True
    return not (isinstance(data, dict) and isinstance(data.get("file"), str))


def _prepare_folders(targets: dict[Path, Path], given: bool) -> None:
    """Make the folders the repairs of the inputs that exist go to; raises ValueError
    naming --out (``given``) when one cannot be made or written in, before any work."""
    fix = ("allowed: a folder you can write in" if given
           else "give --out a folder you can write in")
    for folder in sorted({t.parent for p, t in targets.items() if p.is_file()}):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(f"--out: cannot make the folder {folder} "
                             f"({e.strerror or e}); {fix}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            where = "" if given else " (beside the input)"
            raise ValueError(f"--out: cannot write in {folder}{where}; {fix}")


def plot_path(path: Path, plot: str, many: bool) -> Path:
    """Where the before/after figure of ``path`` goes: ``plot`` itself (one input), or
    ``<name>.png`` in the folder ``plot`` (several, or a folder given)."""
    return Path(plot) / f"{path.stem}.png" if many or Path(plot).is_dir() else Path(plot)


def check_plots(targets: dict[Path, Path], plot: str) -> None:
    """Raise ValueError when a figure would be written over an input or a repair (a
    ``--plot`` folder holding the inputs names each figure like its panorama)."""
    many = len(targets) > 1
    taken = {p.resolve(): f"the input {p}" for p in targets}
    taken.update({t.resolve(): f"the repair {t}" for t in targets.values()})
    for p in targets:
        dest = plot_path(p, plot, many)
        if dest.resolve() in taken:
            raise ValueError(f"--plot: the figure of {p} would replace "
                             f"{taken[dest.resolve()]}; choose another --plot")


def repair_one(path: Path, targets: dict[Path, Path], wrap: bool, poles: bool,
               plot: str | None, many: bool, pole_disc: float | None = None) -> dict[str, Any]:
    """Repair the panorama at ``path`` into ``targets[path]`` (a job for
    `batch.cli_batch`, run in a worker). Returns the report as JSON types, with ``out``
    and ``text`` (the before/after check in words)."""
    from .child_files import entry, save_child, source_of
    from .ledger_children import repair_summary
    from .panorama import Panorama
    from .repair import repair

    from .cliargs import UsageProblem, load_panorama

    try:  # a wrong ratio is a one-line note, as for `seams`: the repair works on it as is
        pano = load_panorama(str(path), strict=False)
    except UsageProblem as e:  # its message names the file and what is wrong
        raise ValueError(str(e)) from None
    result = repair(pano, wrap=wrap, poles=poles, pole_disc=pole_disc)
    summary = repair_summary(result, wrap, poles)
    source = source_of(path)  # the row, if any, is named once recorded (in `_record`)
    try:
        out, _ = save_child(result.panorama, targets[path],
                            entry("repair", source, summary))
    except OSError as e:  # named as the user gave it, not as the temp file written first
        raise OSError(f"--out: cannot write {targets[path]} ({e.strerror or e}); allowed: "
                      "a file in a folder you can write in") from None
    if plot:
        dest = plot_path(path, plot, many)
        dest.parent.mkdir(parents=True, exist_ok=True)
        result.plot().savefig(dest, dpi=100)
    lossy = out.suffix.lower() in (".jpg", ".jpeg", ".webp")
    text = "\n".join([
        "before: " + str(result.before).replace("\n", "\n  "),
        *(f"repair: {step}" for step in result.steps or ["nothing to repair"]),
        "after: " + str(result.after).replace("\n", "\n  "),
        f"wrote {out} ({100 * result.changed:.1f}% of pixels changed, the rest "
        "bit-identical" + ("; this format's lossy encoding then touches every pixel: "
                           "write .png to keep them" if lossy else "") + ")"])
    return {"report": {**result.to_dict(), "out": str(out)}, "text": text,
            "summary": summary, "source": source}


def _unrecorded(source: Path, info: dict[str, Any], why: str) -> str:
    """The line saying a repair is not in a ledger, and what its sidecar says instead."""
    if info.get("known") == "unknown":
        return (f"not recorded in a ledger: the source {source.name} is unknown (a plain "
                "file: no sidecar, no ledger row); its sidecar says so")
    ids = ", ".join(f"{k} {info[k]}" for k in ("intent_id", "job_id", "asset_id")
                    if info.get(k))
    return f"not recorded in a ledger: {why}; its sidecar names the source ({ids})"


def _record(source: Path, summary: dict[str, Any]) -> str:
    """Record a repair in the ledger of the library ``source`` lies in; returns a line
    saying where, or why it is not (empty when nothing was repaired)."""
    from .ledger import Ledger
    from .ledger_children import library_of, record_repair

    if not summary["summary"]["steps"]:
        return ""
    info = summary.get("source") or {}
    library = library_of(source)
    if library is None:
        return _unrecorded(source, info, f"{source.parent} holds no ledger")
    ledger = Ledger(library)
    try:
        child = record_repair(ledger, source, Path(summary["report"]["out"]),
                              summary["summary"], source_info=info)
    finally:
        ledger.close()
    if child is None:
        return _unrecorded(source, info, f"the ledger in {library} has no row for "
                           f"{source.name}")
    return f"recorded in {library} as {child}, a repair of its source"


def run(args: argparse.Namespace) -> int:
    """Repair every panorama named (both parts unless --wrap or --poles narrows it) and
    print the check before and after of each. Returns the exit code."""
    both = not (args.wrap or args.poles)
    paths = find_panoramas(args.input)
    from .repair import check_pole_disc

    try:
        check_pole_disc(args.pole_disc, name="--pole-disc", unset="no --pole-disc")
        if len(paths) > 1 and args.out is not None and Path(args.out).suffix:
            raise ValueError(f"--out: got {args.out!r} for {len(paths)} panoramas; allowed: "
                             "a folder (the repairs go in it as <name>-repaired.png)")
        targets = outputs_for(paths, args.out)
        if args.plot:
            check_plots(targets, args.plot)
        _prepare_folders(targets, args.out is not None)
    except ValueError as e:
        print(f"skybox-nb repair: {e}", file=sys.stderr)
        return 2
    found: dict[str, Any] = {}

    def show(o: Outcome, many: bool) -> None:
        summary = o.value
        try:
            note = _record(o.path, summary)
        except (OSError, ValueError) as e:  # the repair is written; say what failed
            note = f"not recorded in the ledger: {e}"
        if args.json:
            found[str(o.path)] = summary["report"]
            if note:  # stdout holds JSON only
                print(f"{o.path}: {note}", file=sys.stderr)
        else:
            print(f"== {o.path}\n{summary['text']}" if many else summary["text"])
            if note:
                print(note)

    def failed(o: Outcome, many: bool) -> None:
        if args.json:  # a script reading stdout sees every file it asked about
            found[str(o.path)] = {"error": o.error}

    rc = cli_batch("repair", lambda many: partial(repair_one, targets=targets,
                                                  wrap=both or args.wrap,
                                                  poles=both or args.poles,
                                                  plot=args.plot, many=many,
                                                  pole_disc=args.pole_disc),
                   args.input, workers=args.jobs, on_result=show, on_error=failed)
    # One file repaired: its report; several, or a failure: {path: report or {"error": why}}.
    if args.json and found:
        one = len(found) == 1 and len(args.input) == 1 and rc == 0  # as `seams` decides
        print(json.dumps(next(iter(found.values())) if one else found, indent=2))
    return rc
