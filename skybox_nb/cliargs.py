"""What the command line adds around the package's calls: arguments read the way people
type them, problems said in one line, progress that suits where the output goes.

Invariant: every problem reaches the user as one line naming the argument, the value and
what to do (an `ArgumentError` for argparse, a `UsageProblem` for the subcommands), never
as a Python warning with a source line or a traceback; nothing here does the work itself.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, TextIO

if TYPE_CHECKING:  # the contract is imported by the functions that read it: `seams` needs none
    from .contract import ModelSpec

__all__ = ["Parser", "UsageProblem", "style_arg", "spec_arg", "port_arg", "spec_help",
           "check_fields", "check_image_file", "name_options", "load_panorama",
           "face_size_note", "Progress", "run_and_list"]


class UsageProblem(Exception):
    """A problem with what the user gave: its message is one line, printed as is."""


# argparse's own words for a value it could not take, and ours, which say what is allowed
_REWORD = [
    (re.compile(r"invalid int value: ('.*')"), r"got \1; allowed: a whole number"),
    (re.compile(r"invalid float value: ('.*')"), r"got \1; allowed: a number"),
    (re.compile(r"invalid choice: ('.*') \(choose from (.*)\)", re.S), r"got \1; allowed: one of \2"),
]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line that names the argument, the value and
    what is allowed (argparse's "invalid int value" says only the first two), followed by
    where the options are listed, instead of the whole usage block. Subcommands' parsers
    are made with the same class."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        """As argparse's, except that a subcommand refuses what it does not know itself,
        so the message names the subcommand and its own close option."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and " " in self.prog:  # a subcommand's parser ("skybox-nb ledger list")
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        for pattern, words in _REWORD:
            message = pattern.sub(words, message)
        unknown = re.match(r"unrecognized arguments: (\S+)", message)
        if unknown:
            import difflib  # only for a mistake: not in every cold run

            options = [o for o in self._option_string_actions if o.startswith("--")]
            near = difflib.get_close_matches(unknown.group(1).split("=")[0], options, n=1)
            message += f" (did you mean {near[0]}?)" if near else ""
        self.exit(2, f"{self.prog}: error: {message}\n({self.prog} --help lists what it takes)\n")


def _whole_or_number(text: str, integer: bool) -> float | int:
    value = float(text)  # "1e3", " 4 " and "nan" parse; validation judges the value
    if integer:
        if not value.is_integer():
            raise ValueError(text)
        return int(value)
    return value


def spec_arg(api_name: str) -> Callable[[str], Any]:
    """An argparse type for the Skybox Flux.1 number input ``api_name``: the text as an
    int or float, or an ArgumentTypeError naming the value and what the contract allows.
    The range itself is judged with the other fields (`check_fields`)."""
    from .contract import SKYBOX_FLUX

    spec = SKYBOX_FLUX[api_name]

    def parse(text: str) -> float | int:
        try:
            return _whole_or_number(text, spec.integer)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(
                f"got {text!r}; allowed: {spec.describe_allowed()}") from None

    parse.__name__ = api_name  # what argparse would call the type in its own messages
    return parse


def port_arg(text: str) -> int:
    """An argparse type for a TCP port: 0 (any free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; allowed: an integer from 0 (any free port) to 65535")
    return port


def check_fields(values: dict[str, Any], options: dict[str, str],
                 model: ModelSpec | None = None) -> None:
    """Judge the inputs in ``values`` (API names, None for "not given") against
    ``model``'s contract (Skybox Flux.1 by default) before anything starts; an input left
    out of ``values`` is not judged. Raises UsageProblem with a line per problem, each
    naming the option as typed (``options`` maps API name -> option) and the API's name
    for it, the value and what is allowed."""
    from .contract import SKYBOX_FLUX
    from .validation import validate_inputs

    def name(field: str) -> str:
        option = options.get(field, field)
        return option if option.lstrip("-") == field else f"{option} ({field})"

    _, problems, _ = validate_inputs(SKYBOX_FLUX if model is None else model, values)
    problems = [p for p in problems if p.field in values]  # e.g. not the upscaler's image
    if problems:
        raise UsageProblem("\n".join(
            f"{name(p.field)}: got {p.value!r}; allowed: {p.allowed}"
            + (f" ({p.message})" if p.message else "") for p in problems))


def check_image_file(path: str, option: str) -> None:
    """Raise UsageProblem unless ``path`` is an image file that can be read (any size)."""
    from PIL import Image

    p = Path(path)
    if p.is_dir():
        raise UsageProblem(f"{option}: got {path!r}, a folder; allowed: an image file "
                           "(PNG, JPEG, WebP) or an asset id (asset_...)")
    if not p.is_file():
        raise UsageProblem(f"{option}: got {path!r}, no such file; allowed: an image file "
                           "(PNG, JPEG, WebP) or an asset id (asset_...)")
    try:
        with Image.open(p) as im:
            im.verify()
    except Exception as e:  # noqa: BLE001 - PIL raises several kinds for a bad file
        raise UsageProblem(f"{option}: {path} is not a readable image ({e}); allowed: "
                           "a PNG, JPEG or WebP file, or an asset id (asset_...)") from None


def name_options(message: str, options: dict[str, str]) -> str:
    """``message`` from a package call whose first word is a parameter (``fmt: got
    'gif'; ...``), with that word replaced by the option the user typed (``--format``)."""
    head, sep, rest = message.partition(":")
    return f"{options[head]}{sep}{rest}" if sep and head in options else message


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").replace("_", " ").split())


def style_arg(text: str) -> str:
    """A style by its value (``oil-painting``) or its label (``"Oil Painting"``, any case);
    an unknown one raises ArgumentTypeError with the closest style."""
    from .contract import STYLE_LABELS, STYLES

    wanted = _norm(text)
    for value in STYLES:
        if wanted in (_norm(value), _norm(STYLE_LABELS[value])):
            return value
    names = {_norm(v): v for v in STYLES} | {_norm(STYLE_LABELS[v]): v for v in STYLES}
    import difflib  # only for a mistake: not in every cold run

    near = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.5)
    hint = f"did you mean {names[near[0]]!r}? " if near else ""
    raise argparse.ArgumentTypeError(
        f"got {text!r}; {hint}allowed: a style or its label, one of {', '.join(STYLES)}")


def spec_help(api_name: str, text: str = "") -> str:
    """Help for an option from the model's contract: ``text``, the allowed values and the
    default (a ``%`` is escaped for argparse)."""
    from .contract import SKYBOX_FLUX

    spec = SKYBOX_FLUX[api_name]
    default = "the service's" if spec.default is None else f"{spec.default:g}" \
        if isinstance(spec.default, (int, float)) else repr(spec.default)
    allowed = spec.describe_allowed()
    return (f"{text + '; ' if text else ''}allowed: {allowed} (default: {default})"
            .replace("%", "%%"))


def load_panorama(path: str, stretch: bool = False, strict: bool = True) -> Any:
    """Load ``path`` as a Panorama for a subcommand.

    A folder, a missing file or an unreadable image raises UsageProblem saying so. A
    picture that is not 2:1 is resized to 2:1 with ``stretch``; without it, it raises
    UsageProblem when ``strict`` and is otherwise used as it is, with a one-line note on
    stderr. Returns the Panorama.
    """
    from .panorama import Panorama, image_size

    p = Path(path)
    if p.is_dir():
        raise UsageProblem(f"{path}: is a folder; give an image file (a 2:1 equirectangular "
                           "panorama)")
    if not p.is_file():
        raise UsageProblem(f"cannot read {path}: no such file")
    try:
        w, h = image_size(p)
    except OSError as e:
        raise UsageProblem(f"cannot read {path}: not an image ({e})") from None
    off = abs(w / h - 2.0) > 1e-9
    if off and stretch:
        mode = "stretch"
    elif off and strict and abs(w / h - 2.0) / 2.0 > 0.02:
        raise UsageProblem(f"{path}: {w}x{h} is {w / h:.3g}:1, not 2:1 like an "
                           f"equirectangular panorama; --stretch resizes it to "
                           f"{2 * h}x{h} (if it really covers 360 degrees)")
    else:
        mode = "ignore"
        if off:
            print(f"note: {path} is {w}x{h} ({w / h:.3g}:1), not 2:1; used as it is "
                  "(--stretch resizes it)", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # said above, in one line
        try:
            return Panorama.load(p, ratio=mode)
        except (OSError, ValueError) as e:
            raise UsageProblem(f"cannot read {path}: {e}") from None


def face_size_note(pano: Any, face_size: int | None) -> str | None:
    """A one-line warning when ``face_size`` asks for more pixels than the panorama holds
    (a face covers a quarter of its width), else None."""
    native = pano.width // 4
    if face_size is not None and face_size > native:
        return (f"warning: --face-size {face_size} is larger than this {pano.width}x"
                f"{pano.height} panorama gives ({native} px per face): the faces are "
                "upsampled, not sharper")
    return None


class Progress:
    """A job's progress on ``stream``: a tqdm bar on a terminal, else one plain line per
    change of status (logs and pipes get no carriage returns)."""

    def __init__(self, desc: str, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.desc = desc
        self._clock = clock
        self._start = clock()
        self._last: tuple[str, int] | None = None
        self._bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self._bar = tqdm(total=100, unit="%", desc=desc, file=self.stream,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}")

    def update(self, status: str, progress: float | None, job_id: str = "") -> None:
        """Show the job's ``status`` and ``progress`` (0 to 1)."""
        pct = round((progress or 0.0) * 100)
        if self._bar is not None:
            self._bar.update(pct - self._bar.n)
            self._bar.set_postfix_str(f"{status} {job_id}")
            return
        if (status, pct // 25) != self._last:  # a line per status, and per quarter
            self._last = (status, pct // 25)
            elapsed = self._clock() - self._start
            print(f"{self.desc}: {status} {pct}% {job_id} ({elapsed:.0f} s)".rstrip(),
                  file=self.stream, flush=True)

    def show(self, job: Any) -> None:
        """Show a `Job`'s status and progress: a client's ``on_progress`` callback."""
        self.update(job.status, job.progress, job.id)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_and_list(client: Any, request: Any, desc: str, noun: str = "image",
                 timeout: float | None = None) -> Any:
    """Run ``request`` on ``client`` with `Progress` (``desc`` names the work), then print
    how many ``noun``(s) the job made, its cost and where, and each file's full path, one
    a line. Past ``timeout`` seconds the client's DeadlineError (naming the job, which
    keeps running) is raised. Returns the RunResult."""
    with Progress(desc) as bar:  # a bar on a terminal, else plain lines
        result = client.run(request, on_progress=bar.show, timeout=timeout)
    cost = "?" if result.cu_cost is None else f"{result.cu_cost:g}"
    print(f"{len(result.files)} {noun}(s) from {result.job.id} ({cost} CU) in "
          f"{client.ledger.library.resolve()}:")
    for path in result.files:
        print(f"  {Path(path).resolve()}")
    return result
