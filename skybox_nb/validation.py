"""Checking values against a model's inputs: the words of every refusal, on both sides of
the wire.

Invariant: this module knows the contract (`contract.py`) and nothing else of the package:
no transport, no exceptions of the client. `validate_inputs` reports every problem of a
body at once as `Problem` values (field, value received, what is allowed); the client
raises them as one `ValidationError` before sending, and the emulator answers them as a
400 naming the field, so a request is refused in the same words wherever it is checked.
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping

from .contract import InputSpec, ModelSpec

__all__ = ["Problem", "validate_inputs"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: the field, the value received, what is allowed."""

    field: str
    value: Any
    allowed: str
    message: str = ""

    def __str__(self) -> str:
        msg = f"{self.field}: got {_clip(repr(self.value))}; allowed: {self.allowed}"
        return msg + (f" ({self.message})" if self.message else "")


def _closest(value: str, options: tuple[Any, ...] | list[str]) -> str | None:
    opts = [str(o) for o in options]
    norm = value.strip().lower().replace(" ", "-").replace("_", "-")
    if norm in opts:
        return norm
    hits = difflib.get_close_matches(norm, opts, n=1, cutoff=0.5)
    return hits[0] if hits else None


def _check_number(spec: InputSpec, value: Any) -> tuple[Any, Problem | None]:
    allowed = spec.describe_allowed()
    # bool is an int subclass in Python: True would silently become 1.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value, Problem(spec.name, value, allowed, f"expected a number, got {type(value).__name__}")
    try:
        f = float(value)
    except OverflowError:  # an integer beyond any float (10**400): no range allows it
        return value, Problem(spec.name, _short(value), allowed, "out of range")
    if not math.isfinite(f):
        return value, Problem(spec.name, value, allowed, "not a finite number")
    if spec.integer:
        if not f.is_integer():
            return value, Problem(spec.name, value, allowed, "must be a whole number")
        value = int(f)
    elif isinstance(value, numbers.Integral):
        value = int(value)
    else:
        value = f  # numpy floats etc. become plain floats so the body is JSON
    if (spec.minimum is not None and f < spec.minimum) or (
        spec.maximum is not None and f > spec.maximum
    ):
        return value, Problem(spec.name, value, allowed, "out of range")
    step = spec.multiple_of
    if step and value % step:
        near = round(value / step) * step
        return value, Problem(spec.name, value, allowed, f"not a multiple of {step}; try {near}")
    return value, None


def _clip(text: str, keep: int = 60) -> str:
    """``text``, its middle cut out when longer than ``keep`` characters (a pasted data
    URL or a number of 300 digits is named, not dumped)."""
    if len(text) <= keep + 20:
        return text
    return f"{text[:keep - 20]}...{text[-20:]} ({len(text)} chars)"


def _short(value: Any) -> Any:
    """``value``, or a shortened text of it when its repr would flood a message."""
    text = repr(value)
    return value if len(text) <= 60 else f"{text[:28]}...{text[-28:]} ({len(text)} chars)"


def _unencodable(value: str) -> str | None:
    """Why ``value`` cannot be sent as UTF-8 JSON (a lone surrogate, as bad bytes on a
    command line decode to), or None when it can."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        return (f"character {e.start} ({value[e.start]!r}) is a lone surrogate, not text; "
                "the text probably came from bytes in another encoding: retype it or "
                "decode it as UTF-8")
    return None


def _check_one(spec: InputSpec, value: Any) -> tuple[Any, Problem | None]:
    """Validate and normalise one value; returns (normalised value, problem or None)."""
    allowed = spec.describe_allowed()
    if spec.type == "number":
        value, problem = _check_number(spec, value)
        if problem is None and spec.allowed is not None and value not in spec.allowed:
            problem = Problem(spec.name, value, allowed)
        return value, problem
    if spec.type in ("string", "file"):
        if not isinstance(value, str):
            return value, Problem(spec.name, value, allowed, f"expected a string, got {type(value).__name__}")
        bad = _unencodable(value)
        if bad:
            return value, Problem(spec.name, value, allowed, bad)
        if spec.required and not value.strip():
            return value, Problem(spec.name, value, allowed, "must not be empty")
        if spec.type == "file" and not value.strip():
            return value, Problem(spec.name, value, allowed, "empty asset id")
        if spec.allowed is not None and value not in spec.allowed:
            near = _closest(value, spec.allowed)
            msg = f"did you mean {near!r}?" if near else "unknown value"
            return value, Problem(spec.name, value, allowed, msg)
        return value, None
    if spec.type == "boolean":
        if not isinstance(value, bool):
            return value, Problem(spec.name, value, allowed, f"expected true or false, got {type(value).__name__}")
        return value, None
    if spec.type in ("file_array", "string_array", "number_array"):
        if not isinstance(value, (list, tuple)):
            return value, Problem(spec.name, value, allowed, "expected a list")
        if spec.max_items is not None and len(value) > spec.max_items:
            return value, Problem(spec.name, value, allowed, f"{len(value)} items")
        item_type = {"file_array": str, "string_array": str}.get(spec.type)
        if item_type and not all(isinstance(v, item_type) for v in value):
            return value, Problem(spec.name, value, allowed, "every item must be a string")
        bad = next((b for v in value if isinstance(v, str) for b in [_unencodable(v)] if b), None)
        if bad:
            return value, Problem(spec.name, value, allowed, bad)
        return list(value), None
    return value, None  # other API types (model, inputs_array): passed through as given


def validate_inputs(
    spec: ModelSpec, values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Problem], list[str]]:
    """Check API-named ``values`` against ``spec``.

    Returns ``(body, problems, warnings)``: the normalised body with ``None`` values left
    out, every problem found, and warnings for valid-but-suspicious combinations.
    """
    body: dict[str, Any] = {}
    problems: list[Problem] = []
    notes: list[str] = []
    for name, value in values.items():
        if value is None:
            continue
        s = spec.inputs.get(name)
        if s is None:
            near = _closest(name, list(spec.inputs))
            problems.append(Problem(name, value, f"one of the inputs of {spec.model_id}: "
                                    + ", ".join(spec.inputs),
                                    f"unknown field; did you mean {near!r}?" if near else "unknown field"))
            continue
        value, problem = _check_one(s, value)
        if problem:
            problems.append(problem)
        else:
            body[name] = value
    for name, s in spec.inputs.items():
        if s.required and values.get(name) is None:
            problems.append(Problem(name, None, s.describe_allowed(), "required"))
    # Combinations the skybox models document as having no effect.
    if "strength" in body and "image" in spec.inputs and "image" not in body:
        notes.append("strength is set but no init image is given: it has no effect "
                     "until 'image' is set (an uploaded asset id).")
    if "negativePrompt" in body and "negativePromptStrength" in spec.inputs:
        nps = body.get("negativePromptStrength", spec["negativePromptStrength"].default or 0)
        if not nps:
            notes.append("negativePrompt is set but negativePromptStrength is 0: the "
                         "negative prompt is ignored until its strength is above 0 (try 1 to 4).")
    if "width" in spec.inputs and "height" in spec.inputs and ("width" in body or "height" in body):
        w = body.get("width", spec["width"].default)
        h = body.get("height", spec["height"].default)
        if isinstance(w, int) and isinstance(h, int) and w != 2 * h:
            notes.append(f"width x height is {w}x{h}, not 2:1: the result will not be an "
                         f"equirectangular panorama (try {2 * h}x{h}).")
    return body, problems, notes
