"""What a Scenario model accepts: one `InputSpec` per input, gathered in a `ModelSpec`.

Invariant: this module only describes inputs; it never sends anything. The built-in
`SKYBOX_FLUX` spec mirrors the model's published reference (`prompt` required, 22 styles,
the numeric ranges below). `ModelSpec.from_api` builds the same kind of spec from any
model's `GET /models/{modelId}` answer, so sibling models (skybox-gpt, the skybox
upscaler) are validated by the same machinery in `request.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = [
    "InputSpec",
    "ModelSpec",
    "SKYBOX_FLUX",
    "SKYBOX_FLUX_MODEL_ID",
    "SCENARIO_API_URL",
    "ENV_API_KEY",
    "ENV_API_SECRET",
    "ENV_BASE_URL",
    "STYLES",
    "STYLE_LABELS",
    "style_label",
    "JOB_STATUSES",
    "FINAL_STATUSES",
    "STATUS_SYNONYMS",
]

SKYBOX_FLUX_MODEL_ID = "model_scenario-skybox-flux"
SCENARIO_API_URL = "https://api.cloud.scenario.com/v1"
# The environment variables the official SDKs read; we read the same ones.
ENV_API_KEY = "SCENARIO_SDK_API_KEY"
ENV_API_SECRET = "SCENARIO_SDK_API_SECRET"
ENV_BASE_URL = "SCENARIO_BASE_URL"

# A job's statuses as the API names them (scenario-api-facts.md; expect others too), and
# the ones a job never leaves.
JOB_STATUSES = ("queued", "warming-up", "pending", "in-progress", "finalizing",
                "success", "failure", "canceled")
FINAL_STATUSES = frozenset({"success", "failure", "canceled"})
# Other words for those statuses seen in the vendor's own code: read as the status named.
STATUS_SYNONYMS = {"failed": "failure"}

# The 22 values the model accepts for `style`, in the order Scenario lists them.
STYLES: tuple[str, ...] = (
    "standard",
    "cinematic",
    "claymation",
    "cloud-skydome",
    "cyberpunk",
    "fantasy",
    "neon-tron",
    "photo",
    "psychedelic",
    "retro-fantasy",
    "scifi-concept-art",
    "space",
    "whimsical",
    "3d-cartoon",
    "cartoon",
    "comic",
    "manga",
    "ink",
    "pastel",
    "oil-painting",
    "enchanted",
    "manga-color",
)

_LABEL_OVERRIDES = {
    "standard": "Standard (neutral)",
    "3d-cartoon": "3D Cartoon",
    "scifi-concept-art": "Sci-Fi Concept Art",
    "neon-tron": "Neon Tron",
    "cloud-skydome": "Cloud Skydome",
    "manga-color": "Manga (Color)",
}

STYLE_LABELS: dict[str, str] = {
    s: _LABEL_OVERRIDES.get(s, s.replace("-", " ").title()) for s in STYLES
}


def style_label(style: str) -> str:
    """Return the readable label of a style value (``"oil-painting"`` -> ``"Oil Painting"``)."""
    return STYLE_LABELS.get(style, style)


# Input types as the API names them (see ModelInput.type in the official SDK).
_API_TYPES = {
    "boolean", "file", "file_array", "inputs_array", "model", "model_array",
    "number", "number_array", "string", "string_array",
}


@dataclass(frozen=True)
class InputSpec:
    """One input of a model.

    ``type`` is the API's type name (``string``, ``number``, ``boolean``, ``file`` for an
    asset id, ...). ``integer`` marks numbers that must be whole. ``minimum``/``maximum``
    are inclusive. ``allowed`` lists the only accepted values, when the model has such a
    list. ``default`` is what the service uses when the input is left out. ``step`` is
    the model's increment (a whole step above 1, e.g. 16, means multiples of it);
    ``group`` and ``cost_impact`` are the model record's UI group and whether the input
    changes the price.
    """

    name: str
    type: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    allowed: tuple[Any, ...] | None = None
    required: bool = False
    label: str = ""
    description: str = ""
    max_items: int | None = None
    step: float | None = None
    group: str = ""
    cost_impact: bool = False

    def describe_allowed(self) -> str:
        """A short human phrase for what this input accepts, used in error messages."""
        if self.allowed is not None:
            shown = ", ".join(repr(a) for a in self.allowed)
            return f"one of {shown}"
        if self.type == "number":
            kind = "an integer" if self.integer else "a finite number"
            if self.multiple_of:
                kind = f"a multiple of {self.multiple_of}"
            if self.minimum is not None and self.maximum is not None:
                lo, hi = _fmt(self.minimum), _fmt(self.maximum)
                return f"{kind} from {lo} to {hi}"
            if self.minimum is not None:
                return f"{kind} >= {_fmt(self.minimum)}"
            if self.maximum is not None:
                return f"{kind} <= {_fmt(self.maximum)}"
            return kind
        if self.type == "file":
            return "an asset id (upload the image first, e.g. client.upload(path))"
        if self.type == "file_array":
            n = f" (at most {self.max_items})" if self.max_items else ""
            return f"a list of asset ids{n}"
        if self.type == "boolean":
            return "true or false"
        if self.type == "string_array":
            return "a list of strings"
        if self.type == "string":
            return "a non-empty string" if self.required else "a string"
        return f"a value of type {self.type}"


    def __post_init__(self) -> None:
        # A number without a declared step gets the one a slider would use, so a spec
        # and the same spec read back from its API record compare equal.
        if self.type == "number" and self.step is None:
            auto = 1 if self.integer else (0.01 if (self.maximum or 0) <= 1 else 0.1)
            object.__setattr__(self, "step", auto)

    @property
    def multiple_of(self) -> int | None:
        """The step a whole number must be a multiple of (16 for a size), or None."""
        st = self.step
        if self.integer and st is not None and float(st).is_integer() and st > 1:
            return int(st)
        return None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True)
class ModelSpec:
    """All inputs of one model, keyed by their API (camelCase) name, in API order."""

    model_id: str
    inputs: Mapping[str, InputSpec] = field(default_factory=dict)
    name: str = ""

    def __getitem__(self, name: str) -> InputSpec:
        return self.inputs[name]

    def __contains__(self, name: object) -> bool:
        return name in self.inputs

    def defaults(self) -> dict[str, Any]:
        """The value the service uses for every input that has a default."""
        return {n: s.default for n, s in self.inputs.items() if s.default is not None}

    @classmethod
    def from_api(cls, model: Mapping[str, Any]) -> "ModelSpec":
        """Build a spec from a ``GET /models/{modelId}`` answer (or its ``model`` object).

        Numbers are integers when the model declares an integral ``step`` (1, 2, ...)
        together with integral bounds, which is how Scenario marks counts and seeds.
        Raises ``ValueError`` naming the offending input when the answer is malformed.
        """
        model = model.get("model", model) if isinstance(model, Mapping) else model
        if not isinstance(model, Mapping) or not isinstance(model.get("id"), str):
            raise ValueError("model answer has no string 'id'; expected GET /models/{id} JSON")
        raw_inputs = model.get("inputs") or []
        if not isinstance(raw_inputs, list):
            raise ValueError(f"model 'inputs' must be a list, got {type(raw_inputs).__name__}")
        inputs: dict[str, InputSpec] = {}
        for i, raw in enumerate(raw_inputs):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
                raise ValueError(f"model input #{i} has no string 'name'")
            typ = raw.get("type")
            if typ not in _API_TYPES:
                raise ValueError(f"model input {raw['name']!r} has unknown type {typ!r}")
            step = raw.get("step")
            lo, hi = (_bound(raw, k) for k in ("min", "max"))
            integer = (
                typ == "number"
                and isinstance(step, (int, float))
                and float(step).is_integer()
                and step >= 1
                and all(b is None or float(b).is_integer() for b in (lo, hi))
            )
            allowed = raw.get("allowedValues")
            req = raw.get("required")
            inputs[raw["name"]] = InputSpec(
                name=raw["name"],
                type=typ,
                default=raw.get("default"),
                minimum=None if lo is None else float(lo),
                maximum=None if hi is None else float(hi),
                integer=integer,
                allowed=tuple(allowed) if isinstance(allowed, list) and allowed else None,
                required=bool(isinstance(req, Mapping) and req.get("always")),
                label=str(raw.get("label") or ""),
                description=str(raw.get("description") or ""),
                max_items=_int_or_none(raw.get("maxLength")) if typ.endswith("_array") else None,
                step=float(step) if isinstance(step, (int, float)) and step > 0 else None,
                group=str(raw.get("group") or ""),
                cost_impact=raw.get("costImpact") is True,
            )
        return cls(model_id=model["id"], inputs=inputs, name=str(model.get("name") or ""))

    def to_api_inputs(self) -> list[dict[str, Any]]:
        """The inputs as ``GET /models/{id}`` lists them (used by the emulator)."""
        out = []
        for s in self.inputs.values():
            d: dict[str, Any] = {"name": s.name, "type": s.type}
            if s.label:
                d["label"] = s.label
            if s.description:
                d["description"] = s.description
            if s.default is not None:
                d["default"] = s.default
            if s.minimum is not None:
                d["min"] = s.minimum
            if s.maximum is not None:
                d["max"] = s.maximum
            if s.step is not None:
                d["step"] = _whole(s.step)
            if s.max_items is not None:
                d["maxLength"] = s.max_items
            if s.allowed is not None:
                d["allowedValues"] = list(s.allowed)
            if s.required:
                d["required"] = {"always": True}
            if s.group:
                d["group"] = s.group
            d["costImpact"] = s.cost_impact
            out.append(d)
        return out


def _bound(raw: Mapping[str, Any], key: str) -> float | None:
    """An input's ``min`` or ``max`` (None when absent); ``ValueError`` naming the input
    when it is not a finite number."""
    x = raw.get(key)
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise ValueError(f"model input {raw['name']!r}: {key} is {x!r:.40}; expected a "
                         "finite number")
    return float(x)


def _whole(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def _int_or_none(x: Any) -> int | None:
    return int(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def _flux_inputs() -> dict[str, InputSpec]:
    specs = [
        InputSpec("prompt", "string", required=True, label="Prompt", group="Prompt",
                  description="The scene all around you; the service wraps it for 360 itself."),
        InputSpec("style", "string", default="cinematic", allowed=STYLES, label="Style",
                  group="Prompt", description="The look of the panorama; 'standard' is neutral."),
        InputSpec("negativePrompt", "string", label="Negative Prompt", group="Prompt",
                  description="What to avoid; no effect unless negativePromptStrength > 0."),
        InputSpec("negativePromptStrength", "number", default=0, minimum=0, maximum=10,
                  label="Negative Prompt Strength", group="Prompt",
                  description="0 disables the negative prompt; 1 to 4 is usually enough."),
        InputSpec("image", "file", label="Init Image", group="Init image",
                  description="An asset id to start from (img2img)."),
        InputSpec("strength", "number", default=0.8, minimum=0.01, maximum=1,
                  label="Strength", group="Init image",
                  description="How much the init image is transformed."),
        InputSpec("numOutputs", "number", default=2, minimum=1, maximum=4, integer=True,
                  label="Number of Outputs", group="Generation", cost_impact=True),
        InputSpec("numInferenceSteps", "number", default=30, minimum=20, maximum=50,
                  integer=True, label="Inference Steps", group="Generation", cost_impact=True),
        InputSpec("geometryEnforcement", "number", default=0, minimum=0, maximum=100,
                  label="Geometry Enforcement", group="Generation",
                  description="0 uses the style's recommended level; raise it when the "
                              "seam or the poles look wrong."),
        InputSpec("seed", "number", minimum=0, maximum=2147483647, integer=True,
                  label="Seed", group="Generation",
                  description="Same seed and inputs reproduce a result."),
    ]
    return {s.name: s for s in specs}


SKYBOX_FLUX = ModelSpec(SKYBOX_FLUX_MODEL_ID, _flux_inputs(), name="Skybox Flux.1")
