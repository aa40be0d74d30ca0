"""What the command line adds around the package's calls: arguments read the way people
type them, problems said in one line, progress that suits where the output goes.

Invariant: every problem reaches the user as one line naming the argument, the value and
what to do (an `ArgumentError` for argparse, a `UsageProblem` for the subcommands), never
as a Python warning with a source line or a traceback; nothing here does the work itself.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, TextIO

from .contract import SKYBOX_FLUX, STYLE_LABELS, STYLES

__all__ = ["UsageProblem", "style_arg", "spec_help", "load_panorama", "face_size_note",
           "Progress"]


class UsageProblem(Exception):
    """A problem with what the user gave: its message is one line, printed as is."""


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").replace("_", " ").split())


def style_arg(text: str) -> str:
    """A style by its value (``oil-painting``) or its label (``"Oil Painting"``, any case);
    an unknown one raises ArgumentTypeError with the closest style."""
    wanted = _norm(text)
    for value in STYLES:
        if wanted in (_norm(value), _norm(STYLE_LABELS[value])):
            return value
    names = {_norm(v): v for v in STYLES} | {_norm(STYLE_LABELS[v]): v for v in STYLES}
    near = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.5)
    hint = f"did you mean {names[near[0]]!r}? " if near else ""
    raise argparse.ArgumentTypeError(
        f"got {text!r}; {hint}allowed: a style or its label, one of {', '.join(STYLES)}")


def spec_help(api_name: str, text: str = "") -> str:
    """Help for an option from the model's contract: ``text``, the allowed values and the
    default (a ``%`` is escaped for argparse)."""
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
    from PIL import Image

    from .panorama import Panorama

    p = Path(path)
    if p.is_dir():
        raise UsageProblem(f"{path}: is a folder; give an image file (a 2:1 equirectangular "
                           "panorama)")
    if not p.is_file():
        raise UsageProblem(f"cannot read {path}: no such file")
    try:
        with Image.open(p) as im:
            w, h = im.size
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

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
