"""`skybox-nb`: the command line. Each subcommand is one call into the package.

Invariant: this file parses arguments and prints; the work happens in the modules it
calls, which notebooks and widgets call the same way.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Callable, Sequence


def _emulator(args: argparse.Namespace) -> int:
    from .emulator import DEFAULT_JOB_DURATION, Emulator, parse_fault_spec

    try:
        faults = [parse_fault_spec(spec) for spec in args.fault]
        emu = Emulator(
            job_duration=DEFAULT_JOB_DURATION if args.job_duration is None else args.job_duration,
            host=args.host, port=args.port, api_key=args.api_key, api_secret=args.api_secret,
            allow_remote=args.allow_remote, quiet=False, lean=args.lean,
            allow_cancel=args.allow_cancel,
        )
        for kind, params in faults:
            emu.inject(kind, **params)
        emu.bind()  # now, so the printed URL has the real port
    except (ValueError, OSError) as exc:
        print(f"skybox-nb emulator: {exc}", file=sys.stderr)
        return 2
    print(f"OFFLINE EMULATOR of the Scenario API (procedural images, not the model) at "
          f"{emu.base_url} - Ctrl-C to stop", flush=True)
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        print("emulator stopped", file=sys.stderr)
    return 0


def _seconds(text: str) -> float:
    """An argparse type: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"got {text!r}; expected a number of seconds > 0")
    return value


# The option (or argument) of `generate` that sets each Skybox Flux.1 input.
_GENERATE_OPTIONS = {
    "prompt": "prompt", "style": "--style", "negativePrompt": "--negative-prompt",
    "negativePromptStrength": "--negative-prompt-strength", "image": "--image",
    "strength": "--strength", "numOutputs": "--num-outputs",
    "numInferenceSteps": "--steps", "geometryEnforcement": "--geometry-enforcement",
    "seed": "--seed",
}
# The option of `cubemap` for each parameter of the export call (named in its errors).
_CUBEMAP_OPTIONS = {"convention": "--convention", "layout": "--layout",
                    "face_size": "--face-size", "fmt": "--format", "quality": "--quality",
                    "compression": "--compression"}


def _generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .cliargs import UsageProblem, check_fields, check_image_file, run_and_list
    from .client import SkyboxClient
    from .errors import SkyboxError
    from .request import SkyboxRequest

    if args.model is not None or args.set:  # any model, checked by its own spec
        from .cli_family import generate_model

        if args.model is None:
            args.model = "model_scenario-skybox-flux"
        return generate_model(args)
    if args.prompt is None:
        print("error: prompt: required (or --model ID --set name=value ...)", file=sys.stderr)
        return 2
    # a file (even one named asset_...) is uploaded; anything else must be an asset id
    is_path = args.image is not None and (Path(args.image).is_file()
                                          or not args.image.startswith("asset_"))
    # Every field is judged before a client (or the emulator) starts. The exit status
    # stays what it was when the request refused them: 1 for a field, 2 for the file.
    for code, check in ((1, lambda: check_fields(
            {api: getattr(args, name) for name, api in SkyboxRequest.API_NAMES.items()
             if not (name == "image" and is_path)}, _GENERATE_OPTIONS)),
            (2, lambda: is_path and check_image_file(args.image, "--image"))):
        try:
            check()
        except UsageProblem as e:
            for line in str(e).splitlines():
                print(f"error: {line}", file=sys.stderr)
            return code
    try:
        with SkyboxClient(library=args.out, timeout=args.call_timeout) as client:
            print(f"backend: {client.backend}", file=sys.stderr)
            image = args.image
            if is_path:  # a file: upload it first
                image = client.upload(image)
                print(f"uploaded {args.image} as {image}", file=sys.stderr)
            request = SkyboxRequest(
                args.prompt, style=args.style, negative_prompt=args.negative_prompt,
                negative_prompt_strength=args.negative_prompt_strength, image=image,
                strength=args.strength, num_outputs=args.num_outputs,
                num_inference_steps=args.num_inference_steps,
                geometry_enforcement=args.geometry_enforcement, seed=args.seed)
            if args.dry_run:
                print(f"estimated cost: {client.estimate(request):g} CU (nothing was started)")
                return 0
            run_and_list(client, request, "generating", "panorama", timeout=args.timeout)
            return 0
    except (SkyboxError, ValueError, OSError) as e:  # settings, requests, calls, disk
        print(f"error: {e}", file=sys.stderr)
        return 1


def _cubemap(args: argparse.Namespace) -> int:
    from functools import partial

    from .batch import cli_batch
    from .cliargs import name_options
    from .cubemap import check_export_options

    options = dict(convention=args.convention, layout=args.layout, face_size=args.face_size,
                   fmt=args.fmt, quality=args.quality, compression=args.compression)
    try:
        check_export_options(**options)
    except ValueError as e:
        print(f"skybox-nb cubemap: {name_options(str(e), _CUBEMAP_OPTIONS)}", file=sys.stderr)
        return 2
    return cli_batch("cubemap", lambda many: partial(_cubemap_one, out_root=args.out,
                                                     many=many, stretch=args.stretch,
                                                     **options),
                     args.input, workers=args.jobs,
                     on_result=lambda o, many: print("\n".join(map(str, o.value))))


def _cubemap_one(path, out_root: str, many: bool, stretch: bool,  # type: ignore[no-untyped-def]
                 **options):
    """One panorama's cube files (a job for `batch.cli_batch`)."""
    from .cliargs import UsageProblem, face_size_note, load_panorama
    from .cubemap import export_to

    try:
        pano = load_panorama(str(path), stretch=stretch)
    except UsageProblem as e:  # its message names the file and what is wrong
        raise ValueError(str(e)) from None
    note = face_size_note(pano, options.get("face_size"))
    if note:
        print(note, file=sys.stderr)
    return export_to(path, out_root, nested=many, pano=pano, **options)


def _seams_one(path, plot: str | None, many: bool,  # type: ignore[no-untyped-def]
               stretch: bool = False, inputs: frozenset = frozenset()):
    """One panorama's seam report as (text, dict), its figure saved when asked (never
    over one of the ``inputs``, resolved paths: ValueError)."""
    import os
    from pathlib import Path

    from .cliargs import UsageProblem, load_panorama
    from .seams import seam_report

    try:  # a wrong ratio is a one-line note here: the check still says what it sees
        pano = load_panorama(str(path), stretch=stretch, strict=False)
    except UsageProblem as e:  # its message names the file and what is wrong
        raise ValueError(str(e)) from None
    report = seam_report(pano)
    if plot:
        # several inputs, or a folder given (one there, or a name ending with a slash):
        # one <name>.png each in that folder
        folder = many or Path(plot).is_dir() or plot.endswith(("/", os.sep))
        dest = Path(plot) / f"{Path(path).stem}.png" if folder else Path(plot)
        if dest.resolve() in inputs | {Path(path).resolve()}:
            raise ValueError(f"--plot: the figure of {path} would replace the input {dest}; "
                             "choose another --plot")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            report.plot().savefig(dest, dpi=100)
        except ValueError as e:  # a suffix matplotlib has no writer for
            raise ValueError(f"--plot: {e}") from None
    return str(report), report.to_dict()


def _seams(args: argparse.Namespace) -> int:
    import json
    from functools import partial

    from .batch import cli_batch

    found: dict[str, object] = {}

    def show(o, many):  # type: ignore[no-untyped-def]
        text, data = o.value
        if args.json:
            found[str(o.path)] = data
        else:
            print(f"== {o.path}\n{text}\n" if many else text)

    def failed(o, many):  # type: ignore[no-untyped-def]
        if args.json:  # a script reading stdout sees every file it asked about
            found[str(o.path)] = {"error": o.error}

    inputs = frozenset()
    if args.plot:  # a figure is never written over a panorama being checked
        from pathlib import Path

        from .batch import find_panoramas

        try:
            inputs = frozenset(Path(p).resolve() for p in find_panoramas(args.input))
        except (OSError, ValueError):
            pass  # cli_batch reports what it cannot find
    rc = cli_batch("seams", lambda many: partial(_seams_one, plot=args.plot, many=many,
                                                 stretch=args.stretch, inputs=inputs),
                   args.input, workers=args.jobs, on_result=show, on_error=failed)
    # One file checked: its report; several, or a failure: {path: report or {"error": why}}.
    if args.json and found:
        print(json.dumps(next(iter(found.values())) if len(found) == 1 and
                         len(args.input) == 1 and rc == 0 else found, indent=2))
    return rc  # a seam is a finding, not a failure; an unreadable file is


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    demo.interrupt_on_sigterm()  # a service manager's stop must not orphan lab or kernels
    if not args.headless:
        return demo.open_lab(port=args.port, open_browser=not args.no_browser)
    print(f"executing {demo.QUICKSTART} ({demo.backend_note()}) ...", flush=True)
    path = demo.run_headless(args.out)
    print(f"report written: {path}")
    return 0


def _notebooks(args: argparse.Namespace) -> int:
    from . import notebooks

    try:
        copies = notebooks.copy_to(args.dest, overwrite=args.overwrite)
    except OSError as e:
        print(f"skybox-nb notebooks: {e}", file=sys.stderr)
        return 2
    for path, written in copies:
        print(f"{'copied' if written else 'kept (yours)'}  {path}")
    if not all(w for _, w in copies):
        print("notebooks already there were kept; --overwrite replaces them", file=sys.stderr)
    return 0


def _add_emulator(sub: argparse._SubParsersAction) -> None:
    from .cliargs import port_arg

    e = sub.add_parser("emulator", help="run the offline Scenario API emulator")
    e.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    e.add_argument("--port", type=port_arg, default=8765, help="port (0 picks a free one)")
    e.add_argument("--allow-remote", action="store_true",
                   help="allow binding beyond loopback (the emulator has no real security)")
    e.add_argument("--job-duration", type=float, default=None,
                   help="seconds a job takes from queued to success (default: a few)")
    e.add_argument("--api-key", default=None, help="accept only this key (default: any)")
    e.add_argument("--api-secret", default=None, help="accept only this secret (default: any)")
    e.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="inject a fault at start, e.g. 'rate_limit:retry_after=2' "
                   "(repeatable; a wrong kind is answered with the list of kinds, and "
                   "skybox_nb.emulator.faults documents their parameters)")
    e.add_argument("--lean", action="store_true",
                   help="answer with only the fields the model's reference documents, plus "
                   "unknown extra fields")
    e.add_argument("--allow-cancel", action="store_true",
                   help="accept cancels (Scenario refuses them for custom-model jobs)")
    e.set_defaults(func=_emulator)


def _add_generate(sub: argparse._SubParsersAction) -> None:
    from .cliargs import spec_arg, spec_help, style_arg

    g = sub.add_parser("generate", help="generate skyboxes and save them",
                       description="Generate skyboxes with Skybox Flux.1 (or --model) and save "
                       "them in the library. Options left out use the service's defaults.")
    g.add_argument("prompt", nargs="?", default=None,
                   help="what is all around you, e.g. 'a misty pine forest at dawn'")
    g.add_argument("--model", default=None, help="any model id, e.g. model_scenario-skybox-gpt; "
                   "its inputs come from --set and are checked by its spec")
    g.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="an input of --model by its API name, e.g. width=1024 (repeatable)")
    g.add_argument("--style", type=style_arg, default=None, metavar="STYLE",
                   help=spec_help("style", "a style or its label, e.g. 'oil painting'"))
    g.add_argument("--negative-prompt", default=None, help="what to avoid (needs a strength)")
    g.add_argument("--negative-prompt-strength", type=spec_arg("negativePromptStrength"),
                   default=None,
                   help=spec_help("negativePromptStrength", "0 ignores the negative prompt"))
    g.add_argument("--image", default=None, help="init image: a file path or an asset id")
    g.add_argument("--strength", type=spec_arg("strength"), default=None,
                   help=spec_help("strength", "how far from the init image"))
    g.add_argument("--num-outputs", type=spec_arg("numOutputs"), default=None,
                   help=spec_help("numOutputs"))
    g.add_argument("--steps", dest="num_inference_steps", type=spec_arg("numInferenceSteps"),
                   default=None,
                   help=spec_help("numInferenceSteps"))
    g.add_argument("--geometry-enforcement", type=spec_arg("geometryEnforcement"),
                   default=None,
                   help=spec_help("geometryEnforcement", "0 = the style's own level"))
    g.add_argument("--seed", type=spec_arg("seed"), default=None,
                   help="the same seed and inputs give the same picture; allowed: 0 to "
                   "2147483647 (default: random)")
    g.add_argument("--out", default="skybox-library", help="library folder (default: %(default)s)")
    g.add_argument("--dry-run", action="store_true", help="only estimate the cost")
    g.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="give up waiting after this long (the job keeps running; "
                        "`skybox-nb ledger resume` fetches it later); default: no limit")
    g.add_argument("--call-timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="the longest one API call may take, all of it (default: 30)")
    g.set_defaults(func=_generate)


def _add_cubemap(sub: argparse._SubParsersAction) -> None:
    from .batch import add_jobs
    from .codec import DEFAULT_COMPRESSION, DEFAULT_QUALITY
    from .conventions import CONVENTIONS
    from .cubemap import LAYOUT_NAMES

    c = sub.add_parser("cubemap", help="convert panoramas to cubemap faces")
    c.add_argument("input", nargs="+", help="2:1 equirectangular images, and folders of them")
    c.add_argument("--face-size", type=int, default=None,
                   help="pixels per face side (default: a quarter of the panorama's width)")
    c.add_argument("--layout", default="six",
                   help=f"one of {', '.join(LAYOUT_NAMES)}: six files, or one image in a "
                   "cross or strip (default: %(default)s)")
    c.add_argument("--convention", default="generic",
                   help=f"face names and orientation: {', '.join(CONVENTIONS)} "
                   "(default: %(default)s)")
    c.add_argument("--format", dest="fmt", default="png",
                   help="png, jpg, webp, tif or exr (default: %(default)s); exr is half "
                   "float in linear light, the 8-bit panorama decoded from sRGB")
    c.add_argument("--quality", type=int, default=DEFAULT_QUALITY,
                   help="jpg/webp quality 1-100 (default: %(default)s)")
    c.add_argument("--compression", type=int, default=DEFAULT_COMPRESSION,
                   help="png compression 0-9 (default: %(default)s, fast)")
    c.add_argument("--out", default="cubemap", help="output folder; with several inputs, "
                   "one subfolder per panorama (default: %(default)s)")
    c.add_argument("--stretch", action="store_true",
                   help="resize an image that is not 2:1 to 2:1 instead of refusing it")
    add_jobs(c)
    c.set_defaults(func=_cubemap)


def _add_seams(sub: argparse._SubParsersAction) -> None:
    from .batch import add_jobs

    s = sub.add_parser("seams", help="check the wrap seam, the poles and the cube edges")
    s.add_argument("input", nargs="+", help="2:1 equirectangular images, and folders of them")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument("--plot", default=None, help="also save the seam figure to this PNG "
                   "(with several inputs: a folder, one <name>.png each)")
    s.add_argument("--stretch", action="store_true",
                   help="resize an image that is not 2:1 to 2:1 first (default: check it as it is)")
    add_jobs(s)
    s.set_defaults(func=_seams)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    from .cliargs import port_arg

    d = sub.add_parser("demo", help="open the quickstart notebook (offline on the emulator "
                       "when no credentials are set)")
    d.add_argument("--headless", action="store_true",
                   help="execute the quickstart and write an HTML report instead")
    d.add_argument("--out", default="skybox-report", help="report folder (--headless)")
    d.add_argument("--port", type=port_arg, default=8888,
                   help="JupyterLab's port on 127.0.0.1; a busy one, or 0, picks a free one "
                   "(default: %(default)s)")
    d.add_argument("--no-browser", action="store_true",
                   help="print JupyterLab's link instead of opening a browser")
    d.set_defaults(func=_demo)


def _add_notebooks(sub: argparse._SubParsersAction) -> None:
    n = sub.add_parser("notebooks", help="copy the notebooks shipped with the package into a "
                       "folder, to open them in Jupyter")
    n.add_argument("dest", nargs="?", default="skybox-notebooks",
                   help="folder to copy them into (default: %(default)s)")
    n.add_argument("--overwrite", action="store_true",
                   help="replace notebooks already in the folder (default: keep them)")
    n.set_defaults(func=_notebooks)


def _elsewhere(module: str, name: str = "add_parser") -> Callable[[argparse._SubParsersAction],
                                                                   None]:
    """The parser builder ``name`` of module ``module``, imported when it is called."""
    return lambda sub: getattr(importlib.import_module(f".{module}", __package__), name)(sub)


# Each subcommand's parser builder, in the order `--help` lists them. A builder imports
# what its options need, so a run builds (and imports for) its own subcommand only.
_COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "emulator": _add_emulator, "generate": _add_generate, "cubemap": _add_cubemap,
    "seams": _add_seams, "repair": _elsewhere("repair_cli"), "demo": _add_demo,
    "export": _elsewhere("engine_cli"), "upscale": _elsewhere("cli_family", "add_upscale_parser"),
    "notebooks": _add_notebooks, "ledger": _elsewhere("cli_ledger"),
    "doctor": _elsewhere("cli_doctor"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser for every subcommand, or only for ``command`` when it names
    one (what a run of that subcommand needs: its options and nothing else's imports)."""
    from . import __version__
    from .cliargs import Parser

    p = Parser(
        prog="skybox-nb",
        description="360 skyboxes with Scenario's Skybox Flux.1 (offline emulator when "
        "SCENARIO_SDK_API_KEY / SCENARIO_SDK_API_SECRET are not set).",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Not required here: `main` says a subcommand is missing only when nothing else was
    # typed wrong, so `skybox-nb --bogus` names --bogus instead.
    sub = p.add_subparsers(dest="command", required=False)
    for name, add in _COMMANDS.items():
        if command is None or name == command:
            add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``skybox-nb``; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # A run names its subcommand first: only that parser is built. Anything else (no
    # subcommand, an option first, a misspelt name) gets the whole parser and its help.
    only = argv[0] if argv and argv[0] in _COMMANDS else None
    if only == "seams" and "numpy" not in sys.modules:
        # numpy's OpenBLAS starts a thread per core at import that spins waiting for work:
        # 0.15 s of CPU a run, taken from the check's own OpenCV threads on a busy machine,
        # for a command that does no large linear algebra. A value the user set is kept;
        # once numpy is loaded (main called in-process) it is too late and left alone.
        import os

        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = build_parser(only)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.error("the following arguments are required: command")
    previous = _terminate_as_interrupt()
    try:
        rc = int(args.func(args) or 0)
        if sys.stdout is not None:  # None when started with stdout closed
            sys.stdout.flush()  # here, so a reader gone by now is met below, not at exit
        return rc
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, _Terminated)
        print("terminated" if terminated else "interrupted", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        return _reader_gone()
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a CI timeout), unwound like Ctrl-C: a batch's workers are
    stopped and files being written are removed, instead of the process just ending."""


def _terminate_as_interrupt() -> Any:
    """Have SIGTERM raise `_Terminated` while a command runs; returns the handler it
    replaced (None when it could not be set: not the main thread)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise _Terminated

    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:  # signal only works in the main thread
        return None


def _reader_gone() -> int:
    """The exit status when stdout's reader stopped reading (``| head``): 141, a shell's
    for a writer ended by SIGPIPE. What is still buffered goes to the null device, so
    the interpreter's last flush does not fail again with a traceback."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (in-process)
        pass
    return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
