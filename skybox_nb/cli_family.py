"""`skybox-nb generate --model ID --set name=value ...` and `skybox-nb upscale FILE ...`.

Invariant: this module parses and prints; a model's inputs are checked by its own spec
(``GET /models/{id}``) through `ModelRequest`, and the upscale is `upscale.upscale`, the
call notebooks and the gallery make. The quote is printed before anything is paid, and
every `upscale` argument is checked (the file, the upscaler's published ranges) before a
client, or the emulator, starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from .contract import InputSpec, ModelSpec

__all__ = ["parse_set", "generate_model", "upscale_command", "add_upscale_parser"]

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text  # the spec's check names it: "expected a number, got str"


def parse_set(spec: ModelSpec, pairs: list[str],
              upload: Callable[[str], str]) -> dict[str, Any]:
    """``name=value`` pairs as the API takes them, each value read by its input's type
    (numbers, true/false, comma-separated lists; a file path for an asset input is
    uploaded with ``upload``). Raises ``ValueError`` for a pair without ``=``; an
    unknown name or a bad value is left for the spec's validation to name."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--set: got {pair!r}; allowed: name=value, e.g. upscaleFactor=4")
        s: InputSpec | None = spec.inputs.get(name)
        kind = s.type if s is not None else "string"
        if kind == "number":
            out[name] = _number(text)
        elif kind == "boolean":
            low = text.strip().lower()
            out[name] = True if low in _TRUE else False if low in _FALSE else text
        elif kind in ("file_array", "string_array", "number_array"):
            items = [t.strip() for t in text.split(",") if t.strip()]
            if kind == "file_array":
                items = [upload(t) if Path(t).is_file() else t for t in items]
            out[name] = [_number(t) for t in items] if kind == "number_array" else items
        elif kind == "file":
            out[name] = upload(text) if Path(text).is_file() else text
        else:
            out[name] = text
    return out


def generate_model(args: argparse.Namespace) -> int:
    """Run any model: its spec from the service, inputs from ``--set`` (and the prompt),
    with `generate`'s --timeout and --call-timeout."""
    from .client import SkyboxClient
    from .cliargs import run_and_list
    from .errors import SkyboxError
    from .request import ModelRequest

    try:
        with SkyboxClient(library=args.out, timeout=args.call_timeout) as client:
            print(f"backend: {client.backend}", file=sys.stderr)
            spec = client.model_spec(args.model)

            def upload(path: str) -> str:
                aid = client.upload(path)
                print(f"uploaded {path} as {aid}", file=sys.stderr)
                return aid

            values = parse_set(spec, args.set, upload)
            if args.prompt is not None:
                values.setdefault("prompt", args.prompt)
            request = ModelRequest(spec, values)
            cost = client.estimate(request)
            print(f"estimated cost: {cost:g} CU")
            if args.dry_run:
                print("nothing was started (--dry-run)")
                return 0
            run_and_list(client, request, f"running {spec.model_id}", "image",
                         timeout=args.timeout)
            return 0
    except (SkyboxError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


# The option (or argument) of `upscale` that sets each upscaler input.
_UPSCALE_OPTIONS = {"image": "input", "upscaleFactor": "--factor", "strength": "--strength"}


def _cu_limit(text: str) -> float:
    """An argparse type for ``--max-cost``: a number of CU >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"got {text!r}; allowed: a number of CU >= 0 "
                                         "(0 refuses any cost)")
    return value


def _check_upscale_args(args: argparse.Namespace) -> None:
    """Judge what `upscale` was given before a client (or the emulator) starts: the input
    file and the upscaler's inputs against its published ranges. Raises UsageProblem."""
    from .cliargs import check_fields, check_image_file
    from .emulator.catalog import SKYBOX_UPSCALER  # the upscaler's inputs as published

    if Path(args.input).exists() or not args.input.startswith("asset_"):
        check_image_file(args.input, _UPSCALE_OPTIONS["image"])
    check_fields({"upscaleFactor": args.factor, "strength": args.strength},
                 _UPSCALE_OPTIONS, model=SKYBOX_UPSCALER)


def upscale_command(args: argparse.Namespace) -> int:
    """``skybox-nb upscale``: quote, run, save, re-check the seam; prints all three.
    Every argument is checked first: a bad one starts nothing (exit status 2)."""
    from .client import SkyboxClient
    from .cliargs import Progress, UsageProblem
    from .errors import SkyboxError
    from .upscale import UpscaleRefused, upscale

    try:
        _check_upscale_args(args)
    except UsageProblem as e:
        for line in str(e).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2

    def confirm(quote: float, request: Any) -> bool:
        print(f"quote: {quote:g} CU to upscale {args.input} x{args.factor} "
              f"(strength {request.inputs['strength']:g})", flush=True)
        return True

    try:
        with SkyboxClient(library=args.library) as client:
            print(f"backend: {client.backend}", file=sys.stderr)
            with Progress("upscaling") as bar:  # a bar on a terminal, else plain lines
                done = upscale(client, args.input, args.factor, args.strength,
                               out_dir=args.out, repair=args.repair, confirm=confirm,
                               max_cost=args.max_cost, on_progress=bar.show)
            w, h = done.size
            print(f"upscaled: {done.file.resolve()} ({w}x{h}, {done.quote:g} CU)")
            print(f"seam: {done.verdict()}")
            if done.repaired is not None:
                print(f"repaired: {done.repaired.resolve()}")
            return 0
    except UpscaleRefused as e:
        print(f"refused: {e}", file=sys.stderr)
        return 3
    except (SkyboxError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def add_upscale_parser(sub: Any) -> None:
    """Register ``upscale`` on the CLI's subparsers."""
    from .upscale import FAITHFUL_STRENGTH

    u = sub.add_parser("upscale", help="upscale a skybox with Scenario's skybox upscaler "
                       "(quote first, seam re-checked)")
    u.add_argument("input", help="a panorama file (its asset is reused when Scenario still "
                   "has it, else it is uploaded) or an asset id")
    u.add_argument("--factor", type=int, default=2, help="2 to 8 (default: %(default)s)")
    u.add_argument("--strength", type=float, default=FAITHFUL_STRENGTH,
                   help="invented detail, 0.01 to 1; the model's 0.6 invents, lower stays "
                   "faithful (default: %(default)s)")
    u.add_argument("--out", default="upscaled", help="folder for the result (default: %(default)s)")
    u.add_argument("--library", default="skybox-library", help="library folder (ledger)")
    u.add_argument("--max-cost", type=_cu_limit, default=None, metavar="CU",
                   help="refuse (exit 3) when the quote is above this many CU (>= 0)")
    u.add_argument("--repair", action="store_true",
                   help="mend a wrap seam the upscaler broke (the original is kept)")
    u.set_defaults(func=upscale_command)
