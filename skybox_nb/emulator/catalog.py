"""The models the offline emulator serves: Skybox Flux.1 and its siblings.

Invariant: each entry's inputs are the real model's as Scenario publishes them (names,
types, defaults, ranges, allowed values; see the facts file), so ``GET /models/{id}`` is
shaped like the real model record and `validation.validate_inputs` refuses the same
bodies here as it does in the client. What an entry adds is the emulator's own: a
made-up price, how many images a job makes, a size check, and which procedural stand-in
draws them (`render.py` for Skybox Flux.1, `siblings.py` for the others).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..contract import SKYBOX_FLUX, SKYBOX_FLUX_MODEL_ID, InputSpec, ModelSpec

__all__ = ["EmulatedModel", "MODELS", "SKYBOX_GPT", "SKYBOX_UPSCALER", "IMAGE_TO_SKYBOX",
           "SKYBOX_HDRI", "SKYBOX_GPT_ID", "UPSCALER_ID", "IMAGE_TO_SKYBOX_ID",
           "SKYBOX_HDRI_ID", "MAX_OUTPUT_PIXELS",
           "price", "num_outputs", "output_size"]

SKYBOX_GPT_ID = "model_scenario-skybox-gpt"
UPSCALER_ID = "model_sc-upscale-flux-skybox"
IMAGE_TO_SKYBOX_ID = "model_hunyuan-world-image-to-skybox"
# No public source names the model that makes HDRi skyboxes: the SDK documents only the job
# type and asset type "skybox-hdri" (kind "image-hdr", the .exr/.hdr at originalFileUrl).
# This id is the emulator's name for it, after that type; clients never rely on it: they
# follow originalFileUrl on any asset that has one.
SKYBOX_HDRI_ID = "model_scenario-skybox-hdri"
# The largest image the emulator draws (8192x4096, 8K for VR): beyond, a 400 names the
# input that asked for it. A limit of this emulator's memory, not a published one.
MAX_OUTPUT_PIXELS = 8192 * 4096
_SEED = dict(minimum=0, maximum=2147483647, integer=True, label="Seed",
             description="Same seed and inputs reproduce a result.")


def _spec(model_id: str, name: str, inputs: list[InputSpec]) -> ModelSpec:
    return ModelSpec(model_id, {s.name: s for s in inputs}, name=name)


SKYBOX_GPT = _spec(SKYBOX_GPT_ID, "Skybox GPT", [
    InputSpec("prompt", "string", required=True, label="Prompt", group="Prompt",
              description="The scene all around you."),
    InputSpec("referenceImages", "file_array", max_items=10, label="Reference Images",
              group="Prompt", description="Up to 10 asset ids whose look guides the result."),
    InputSpec("width", "number", default=2048, minimum=512, maximum=3840, integer=True,
              step=16, label="Width", group="Size", cost_impact=True,
              description="Pixels; a multiple of 16. Twice the height for a 2:1 panorama."),
    InputSpec("height", "number", default=1024, minimum=256, maximum=3840, integer=True,
              step=16, label="Height", group="Size", cost_impact=True,
              description="Pixels; a multiple of 16."),
    InputSpec("quality", "string", default="auto", allowed=("low", "medium", "high", "auto"),
              label="Quality", group="Size", cost_impact=True),
    InputSpec("seed", "number", group="Advanced", **_SEED),
])

SKYBOX_UPSCALER = _spec(UPSCALER_ID, "Skybox Upscaler", [
    InputSpec("image", "file", required=True, label="Skybox", group="Input",
              description="The asset id of the panorama to upscale (upload it first)."),
    InputSpec("upscaleFactor", "number", default=2, minimum=2, maximum=8, integer=True,
              label="Upscale Factor", group="Input", cost_impact=True),
    InputSpec("prompt", "string", label="Prompt", group="Input",
              description="What the panorama shows; guides the invented detail."),
    InputSpec("imagePrompt", "file_array", max_items=4, label="Image Prompt", group="Style",
              description="Up to 4 asset ids for the look of the detail."),
    InputSpec("imagePromptStrength", "number", default=0.6, minimum=0, maximum=1,
              label="Image Prompt Strength", group="Style"),
    InputSpec("controlnetConditioningScale", "number", default=0.5, minimum=0, maximum=1,
              label="ControlNet Conditioning Scale", group="Advanced"),
    InputSpec("strength", "number", default=0.6, minimum=0.01, maximum=1, label="Strength",
              group="Input", description="How much detail is invented: 0.6 invents, "
                                         "lower stays faithful to the input."),
    InputSpec("numInferenceSteps", "number", default=28, minimum=1, maximum=50, integer=True,
              label="Inference Steps", group="Advanced", cost_impact=True),
    InputSpec("detailsEnable", "boolean", default=True, label="Add Details", group="Advanced"),
    InputSpec("baseModel", "string", default="FLUX.1-dev",
              allowed=("FLUX.1-dev", "FLUX.1-Krea-dev"), label="Base Model", group="Advanced"),
    InputSpec("seed", "number", group="Advanced", **_SEED),
])

IMAGE_TO_SKYBOX = _spec(IMAGE_TO_SKYBOX_ID, "HunyuanWorld Image to Skybox", [
    InputSpec("image", "file", required=True, label="Photo", group="Input",
              description="The asset id of one photo; the skybox is built around it."),
    InputSpec("prompt", "string", label="Prompt", group="Input",
              description="Optional: what lies beyond the photo."),
    InputSpec("seed", "number", group="Advanced", **_SEED),
])

SKYBOX_HDRI = _spec(SKYBOX_HDRI_ID, "Skybox HDRi", [
    InputSpec("image", "file", required=True, label="Skybox", group="Input",
              description="The asset id of the skybox to turn into an HDRi (an EXR at "
                          "originalFileUrl; its url is a JPEG preview)."),
    InputSpec("seed", "number", group="Advanced", **_SEED),
])


@dataclass(frozen=True)
class EmulatedModel:
    """One model the emulator serves: its spec and the record fields around it."""

    spec: ModelSpec
    type: str  # Model.type in the official SDK
    capabilities: tuple[str, ...]
    summary: str
    price: Callable[[Mapping[str, Any]], float]

    def record(self, when: str) -> dict[str, Any]:
        """The model as ``GET /models/{id}`` returns it (``when``: its ISO dates)."""
        return {
            "id": self.spec.model_id,
            "name": self.spec.name,
            "type": self.type,
            "capabilities": list(self.capabilities),
            "collectionIds": [],
            "createdAt": when,
            "updatedAt": when,
            "custom": False,
            "exampleAssetIds": [],
            "privacy": "public",
            "source": "scenario",
            "status": "trained",
            "tags": ["skybox", "360", "equirectangular"],
            "trainingImagesNumber": 0,
            "shortDescription": f"{self.summary} (served by the skybox_nb offline emulator: "
                                "procedural images, not the model).",
            "inputs": self.spec.to_api_inputs(),
        }


def _flux_price(inputs: Mapping[str, Any]) -> float:
    from .runner import cu_cost

    return cu_cost(dict(inputs))


def _gpt_price(inputs: Mapping[str, Any]) -> float:
    """Made up: by quality, per 2048x1024 worth of pixels."""
    per = {"low": 3.0, "medium": 8.0, "high": 20.0, "auto": 8.0}[inputs.get("quality", "auto")]
    return round(per * int(inputs.get("width", 2048)) * int(inputs.get("height", 1024))
                 / (2048 * 1024), 2)


def _upscale_price(inputs: Mapping[str, Any]) -> float:
    """Made up: a Skybox Flux output's price times the square of the factor, so a 2x
    costs about four generated images (the facts: several times the generation)."""
    steps = int(inputs.get("numInferenceSteps", 28))
    return round((3 + steps / 10) * int(inputs.get("upscaleFactor", 2)) ** 2, 2)


MODELS: dict[str, EmulatedModel] = {
    SKYBOX_FLUX_MODEL_ID: EmulatedModel(SKYBOX_FLUX, "flux.1-lora", ("txt2img", "img2img"),
                                        "Equirectangular 360 skyboxes", _flux_price),
    SKYBOX_GPT_ID: EmulatedModel(SKYBOX_GPT, "gpt-image-1", ("txt2img", "img2img"),
                                 "360 skyboxes from a prompt and reference images", _gpt_price),
    UPSCALER_ID: EmulatedModel(SKYBOX_UPSCALER, "flux.1", ("img2img",),
                               "Upscales a 360 skybox, keeping its seam", _upscale_price),
    IMAGE_TO_SKYBOX_ID: EmulatedModel(IMAGE_TO_SKYBOX, "custom", ("img2img",),
                                      "One photo to a 360 skybox", lambda _inputs: 10.0),
    SKYBOX_HDRI_ID: EmulatedModel(SKYBOX_HDRI, "custom", ("img2img",),
                                  "A 360 skybox as an HDRi (OpenEXR)", lambda _inputs: 5.0),
}


def price(model_id: str, inputs: Mapping[str, Any],
          flux_price: Callable[[Mapping[str, Any]], float] | None = None) -> float:
    """The emulator's price of a job (``flux_price`` overrides Skybox Flux.1's)."""
    if model_id == SKYBOX_FLUX_MODEL_ID and flux_price is not None:
        return float(flux_price(inputs))
    return float(MODELS[model_id].price(inputs))


def num_outputs(model_id: str, inputs: Mapping[str, Any]) -> int:
    """How many images a job of this model makes (the siblings make one)."""
    return int(inputs.get("numOutputs", 2)) if model_id == SKYBOX_FLUX_MODEL_ID else 1


# What Skybox Flux returned when Scenario's skybox skill (2026) was written: 1536x768.
# The model's reference states no size; clients read it from the image, never assume it.
OUTPUT_SIZE = (1536, 768)


def output_size(model_id: str, inputs: Mapping[str, Any], input_size: tuple[int, int] | None,
                default: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) a job will draw: GPT's requested size, the upscaler's input
    times its factor, else ``default`` (the emulator's render size)."""
    if model_id == SKYBOX_GPT_ID:
        return int(inputs.get("width", 2048)), int(inputs.get("height", 1024))
    if model_id == SKYBOX_HDRI_ID and input_size is not None:
        return input_size
    if model_id == UPSCALER_ID and input_size is not None:
        f = int(inputs.get("upscaleFactor", 2))
        return input_size[0] * f, input_size[1] * f
    return default
