"""Requests to a Scenario model: validated before anything is sent, immutable, fingerprinted.

Invariant: a request object that exists is valid for its model's spec. Every problem is
reported at once in one `ValidationError` naming the field, the value received and what
is allowed. `to_body()` is exactly the JSON the API takes (camelCase, unset optional
fields left out); `fingerprint` identifies the intent (model + body with the service's
defaults filled in), so the ledger can tell an identical request apart from a new one.
Exports (`to_curl`, `to_python`) refer to credentials only through environment variables.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import pprint
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from .contract import (
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_BASE_URL,
    SCENARIO_API_URL,
    SKYBOX_FLUX,
    ModelSpec,
)
from .errors import ValidationError
from .validation import Problem, validate_inputs

__all__ = [
    "SkyboxRequest",
    "ModelRequest",
    "RequestWarning",
    "validate_inputs",
    "body_fingerprint",
]


class RequestWarning(UserWarning):
    """A request that is valid but probably not what was meant."""


def body_fingerprint(model_id: str, resolved_body: Mapping[str, Any]) -> str:
    """A stable 16-hex-digit digest of a model id and a body (key order does not matter)."""
    canon = json.dumps({"model": model_id, "body": resolved_body}, sort_keys=True,
                       separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()[:16]


class _BodyExports:
    """Shared by every request kind: fingerprint and copy-paste exports of ``to_body()``."""

    model_id: str
    spec: ModelSpec

    def to_body(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def resolved_body(self) -> dict[str, Any]:
        """The body with the service's documented defaults filled in for unset inputs."""
        return {**self.spec.defaults(), **self.to_body()}

    @property
    def fingerprint(self) -> str:
        """Identifies this intent: same model and same effective inputs, same fingerprint."""
        return body_fingerprint(self.model_id, self.resolved_body())

    def effective(self, name: str) -> Any:
        """The value the service will use for input ``name`` (set, else its default)."""
        return self.resolved_body().get(name)

    def to_curl(self, base_url: str | None = None) -> str:
        """A cURL command for this request. Credentials stay environment references."""
        base = base_url or f"${{{ENV_BASE_URL}:-{SCENARIO_API_URL}}}"
        body = json.dumps(self.to_body(), indent=2, ensure_ascii=False)
        return (
            f'curl -X POST "{base}/generate/custom/{self.model_id}" \\\n'
            f'  -u "${ENV_API_KEY}:${ENV_API_SECRET}" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            "  --data-binary @- <<'EOF'\n"
            f"{body}\nEOF"
        )

    def to_python(self) -> str:
        """A Python snippet with the official SDK. Credentials stay environment references."""
        body = pprint.pformat(self.to_body(), indent=4, sort_dicts=False)
        return (
            "import os\n"
            "from scenario_sdk import Scenario\n\n"
            "client = Scenario(\n"
            f'    api_key=os.environ["{ENV_API_KEY}"],\n'
            f'    api_secret=os.environ["{ENV_API_SECRET}"],\n'
            ")\n"
            f"body = {body}\n"
            f'response = client.generate.run_model(model_id="{self.model_id}", body=body)\n'
            "print(response.job.job_id)\n"
        )


def _raise_or_warn(spec: ModelSpec, problems: list[Problem], notes: list[str]) -> tuple[str, ...]:
    if problems:
        raise ValidationError(problems, model_id=spec.model_id)
    for n in notes:
        warnings.warn(n, RequestWarning, stacklevel=4)
    return tuple(notes)


@dataclass(frozen=True)
class SkyboxRequest(_BodyExports):
    """One generation with Skybox Flux.1. Python names; ``to_body()`` gives the API's.

    Every field but ``prompt`` defaults to ``None``: left out of the body, so the service
    applies its default (style 'cinematic', 2 outputs, 30 steps, ...; see
    ``contract.SKYBOX_FLUX``). Construction validates; a bad value raises
    ``ValidationError`` listing every problem. ``replace(**changes)`` makes a new,
    re-validated request.
    """

    prompt: str
    style: str | None = None
    negative_prompt: str | None = None
    negative_prompt_strength: float | None = None
    image: str | None = None
    strength: float | None = None
    num_outputs: int | None = None
    num_inference_steps: int | None = None
    geometry_enforcement: float | None = None
    seed: int | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False, repr=False)

    model_id: ClassVar[str] = SKYBOX_FLUX.model_id
    spec: ClassVar[ModelSpec] = SKYBOX_FLUX
    # Python field name -> API name.
    API_NAMES: ClassVar[dict[str, str]] = {
        "prompt": "prompt",
        "style": "style",
        "negative_prompt": "negativePrompt",
        "negative_prompt_strength": "negativePromptStrength",
        "image": "image",
        "strength": "strength",
        "num_outputs": "numOutputs",
        "num_inference_steps": "numInferenceSteps",
        "geometry_enforcement": "geometryEnforcement",
        "seed": "seed",
    }

    def __new__(cls, *args: Any, **kwargs: Any) -> "SkyboxRequest":
        # An unknown keyword (most likely an API name such as numOutputs) is named with
        # the field to use, instead of the bare TypeError of a dataclass's __init__.
        unknown = [k for k in kwargs if k not in cls.API_NAMES and k != "warnings"]
        if unknown:
            raise ValidationError([_unknown_field(cls, k, kwargs[k]) for k in unknown],
                                  model_id=cls.model_id)
        return super().__new__(cls)

    def __post_init__(self) -> None:
        values = {api: getattr(self, py) for py, api in self.API_NAMES.items()}
        if self.prompt is None:
            values["prompt"] = None
        body, problems, notes = validate_inputs(self.spec, values)
        notes_t = _raise_or_warn(self.spec, problems, notes)
        for py, api in self.API_NAMES.items():
            if api in body:
                object.__setattr__(self, py, body[api])
        object.__setattr__(self, "warnings", notes_t)

    def to_body(self) -> dict[str, Any]:
        """The JSON body for ``POST /generate/custom/model_scenario-skybox-flux``."""
        return {
            api: getattr(self, py)
            for py, api in self.API_NAMES.items()
            if getattr(self, py) is not None
        }

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> "SkyboxRequest":
        """Build from an API body (camelCase). Unknown keys are reported as problems."""
        rev = {api: py for py, api in cls.API_NAMES.items()}
        unknown = [k for k in body if k not in rev]
        if unknown:
            # Let the shared validator name them, with suggestions.
            _, problems, _ = validate_inputs(cls.spec, {k: body[k] for k in unknown})
            raise ValidationError(problems, model_id=cls.model_id)
        # A body without a prompt gets the validator's "prompt: required", not a TypeError.
        return cls(**{"prompt": None, **{rev[k]: v for k, v in body.items()}})  # type: ignore[arg-type]

    def replace(self, **changes: Any) -> "SkyboxRequest":
        """A copy with some fields changed (``None`` unsets one), validated again."""
        return dataclasses.replace(self, **changes)

    @property
    def num_outputs_effective(self) -> int:
        """How many panoramas this request produces (the default is 2)."""
        return int(self.effective("numOutputs"))


def _unknown_field(cls: type, name: str, value: Any) -> Problem:
    """The problem of a keyword ``cls`` does not have, with the field meant when the
    name is an API name (``numOutputs`` -> ``num_outputs``) or close to a field's."""
    names = list(cls.API_NAMES)  # type: ignore[attr-defined]
    by_api = {api: py for py, api in cls.API_NAMES.items()}  # type: ignore[attr-defined]
    near = by_api.get(name) or next(iter(difflib.get_close_matches(name, names, n=1)), None)
    return Problem(name, value, f"the fields of {cls.__name__}: {', '.join(names)}",
                   f"unknown field; did you mean {near!r}?" if near else "unknown field")


@dataclass(frozen=True)
class ModelRequest(_BodyExports):
    """A request to any model whose ``ModelSpec`` is known (e.g. from ``GET /models/{id}``).

    ``inputs`` uses the API's names. Validation is the same as ``SkyboxRequest``'s.
    """

    spec: ModelSpec
    inputs: Mapping[str, Any]
    warnings: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        body, problems, notes = validate_inputs(self.spec, dict(self.inputs))
        notes_t = _raise_or_warn(self.spec, problems, notes)
        object.__setattr__(self, "inputs", body)
        object.__setattr__(self, "warnings", notes_t)

    @property
    def model_id(self) -> str:  # type: ignore[override]
        return self.spec.model_id

    def to_body(self) -> dict[str, Any]:
        """The JSON body for ``POST /generate/custom/{model_id}``."""
        return dict(self.inputs)
