"""The skybox-flux contract: validation before anything is sent, bodies, fingerprints."""

import json
import math
import warnings

import numpy as np
import pytest

from skybox_nb.contract import SKYBOX_FLUX, STYLES, ModelSpec, style_label
from skybox_nb.errors import ValidationError
from skybox_nb.request import ModelRequest, RequestWarning, SkyboxRequest


def test_the_ten_fields_and_22_styles():
    assert list(SKYBOX_FLUX.inputs) == [
        "prompt", "style", "negativePrompt", "negativePromptStrength", "image",
        "strength", "numOutputs", "numInferenceSteps", "geometryEnforcement", "seed",
    ]
    assert len(STYLES) == 22 and len(set(STYLES)) == 22
    assert SKYBOX_FLUX.defaults() == {
        "style": "cinematic", "negativePromptStrength": 0, "strength": 0.8,
        "numOutputs": 2, "numInferenceSteps": 30, "geometryEnforcement": 0,
    }
    assert style_label("3d-cartoon") == "3D Cartoon"
    assert style_label("oil-painting") == "Oil Painting"


def test_body_leaves_unset_fields_out_and_uses_camel_case():
    r = SkyboxRequest("a forest at dawn", style="fantasy", num_outputs=4, seed=7,
                      geometry_enforcement=40)
    assert r.to_body() == {"prompt": "a forest at dawn", "style": "fantasy",
                           "numOutputs": 4, "geometryEnforcement": 40, "seed": 7}
    assert SkyboxRequest("x").to_body() == {"prompt": "x"}
    assert r.num_outputs_effective == 4 and SkyboxRequest("x").num_outputs_effective == 2


def test_numbers_are_normalised_to_json_types():
    r = SkyboxRequest("x", num_outputs=np.int64(3), seed=5.0, strength=np.float32(0.5),
                      image="asset_abc")
    body = r.to_body()
    assert body["numOutputs"] == 3 and type(body["numOutputs"]) is int
    assert body["seed"] == 5 and type(body["seed"]) is int
    assert type(body["strength"]) is float
    json.dumps(body)


def test_every_problem_is_listed_at_once_with_field_value_and_allowed():
    with pytest.raises(ValidationError) as info:
        SkyboxRequest("   ", style="oil paintng", num_outputs=True, num_inference_steps=20.5,
                      geometry_enforcement=math.inf, seed=-1, strength=2.0)
    err = info.value
    # In the model's own input order, whatever order they were passed in.
    assert err.fields == ["prompt", "style", "strength", "numOutputs", "numInferenceSteps",
                          "geometryEnforcement", "seed"]
    text = str(err)
    assert "did you mean 'oil-painting'" in text
    assert "got True" in text and "expected a number, got bool" in text
    assert "an integer from 20 to 50" in text and "must be a whole number" in text
    assert "not a finite number" in text
    assert "from 0 to 2147483647" in text
    assert "a finite number from 0.01 to 1" in text
    assert isinstance(err, ValueError)


@pytest.mark.parametrize("field,value", [
    ("num_outputs", 0), ("num_outputs", 5), ("num_inference_steps", 19),
    ("num_inference_steps", 51), ("geometry_enforcement", -0.1),
    ("geometry_enforcement", 100.5), ("negative_prompt_strength", 10.01),
    ("strength", 0.0), ("seed", 2147483648), ("num_outputs", "2"),
    ("style", "Cinematic"), ("seed", float("nan")), ("image", ""), ("image", 3),
])
def test_out_of_contract_values_are_refused(field, value):
    with pytest.raises(ValidationError) as info:
        SkyboxRequest("x", **{field: value})
    assert info.value.problems[0].value == value or value != value


@pytest.mark.parametrize("field,value", [
    ("num_outputs", 1), ("num_outputs", 4), ("num_inference_steps", 20),
    ("num_inference_steps", 50), ("geometry_enforcement", 0), ("geometry_enforcement", 100),
    ("negative_prompt_strength", 10), ("seed", 0), ("seed", 2147483647),
])
def test_bounds_are_inclusive(field, value):
    assert SkyboxRequest("x", **{field: value}).to_body()[SkyboxRequest.API_NAMES[field]] == value


def test_empty_and_missing_prompt():
    with pytest.raises(ValidationError, match="prompt"):
        SkyboxRequest("")
    with pytest.raises(ValidationError, match="required"):
        SkyboxRequest(None)  # type: ignore[arg-type]


def test_suspicious_combinations_warn_but_do_not_fail():
    with pytest.warns(RequestWarning, match="no init image"):
        r = SkyboxRequest("x", strength=0.4)
    assert r.to_body()["strength"] == 0.4
    with pytest.warns(RequestWarning, match="negativePromptStrength is 0"):
        r = SkyboxRequest("x", negative_prompt="people")
    assert len(r.warnings) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SkyboxRequest("x", negative_prompt="people", negative_prompt_strength=2,
                      image="asset_x", strength=0.4)


def test_fingerprint_is_stable_and_tracks_effective_inputs():
    a = SkyboxRequest("x", seed=1)
    assert a.fingerprint == SkyboxRequest("x", seed=1).fingerprint
    # Spelling out a default is the same intent.
    assert a.fingerprint == SkyboxRequest("x", seed=1, style="cinematic", num_outputs=2).fingerprint
    assert a.fingerprint != SkyboxRequest("x", seed=2).fingerprint
    assert a.fingerprint != SkyboxRequest("x ", seed=1).fingerprint
    assert len(a.fingerprint) == 16 and int(a.fingerprint, 16) >= 0


def test_replace_revalidates_and_from_body_round_trips():
    r = SkyboxRequest("x", seed=1)
    assert r.replace(seed=None).to_body() == {"prompt": "x"}
    with pytest.raises(ValidationError):
        r.replace(num_outputs=9)
    body = {"prompt": "p", "style": "space", "numOutputs": 1, "seed": 3}
    assert SkyboxRequest.from_body(body).to_body() == body
    with pytest.raises(ValidationError, match="did you mean 'numOutputs'"):
        SkyboxRequest.from_body({"prompt": "p", "numOutput": 1})


def test_exports_use_environment_references_only():
    r = SkyboxRequest("it's a \"test\" with true and null", seed=3)
    curl, py = r.to_curl(), r.to_python()
    assert "$SCENARIO_SDK_API_KEY:$SCENARIO_SDK_API_SECRET" in curl
    assert 'os.environ["SCENARIO_SDK_API_SECRET"]' in py
    ns: dict = {}
    exec(py.split("client = ")[0] + "\n" + py.split("body = ")[1].split("response =")[0].join(["body = ", ""]), ns)
    assert ns["body"] == r.to_body()
    heredoc = curl.split("<<'EOF'\n")[1].rsplit("\nEOF", 1)[0]
    assert json.loads(heredoc) == r.to_body()


def test_spec_from_a_models_inputs_serves_sibling_models():
    gpt = ModelSpec.from_api({"model": {"id": "model_scenario-skybox-gpt", "inputs": [
        {"name": "prompt", "type": "string", "required": {"always": True}},
        {"name": "referenceImages", "type": "file_array", "maxLength": 10},
        {"name": "width", "type": "number", "min": 512, "max": 3840, "step": 16, "default": 2048},
        {"name": "quality", "type": "string", "allowedValues": ["low", "medium", "high", "auto"]},
    ]}})
    assert gpt["width"].integer and gpt["prompt"].required
    ok = ModelRequest(gpt, {"prompt": "p", "width": 1024, "quality": "high"})
    assert ok.to_body() == {"prompt": "p", "width": 1024, "quality": "high"}
    assert ok.fingerprint != ModelRequest(gpt, {"prompt": "p", "width": 1040, "quality": "high"}).fingerprint
    with pytest.raises(ValidationError) as info:
        ModelRequest(gpt, {"prompt": "p", "width": 5000, "quality": "ultra",
                           "referenceImages": ["a"] * 11})
    assert set(info.value.fields) == {"width", "quality", "referenceImages"}
    # The built-in spec survives a round trip through the API's shape.
    again = ModelSpec.from_api({"id": SKYBOX_FLUX.model_id, "inputs": SKYBOX_FLUX.to_api_inputs()})
    assert again.defaults() == SKYBOX_FLUX.defaults()
    assert [s.integer for s in again.inputs.values()] == [s.integer for s in SKYBOX_FLUX.inputs.values()]
    with pytest.raises(ValueError, match="unknown type"):
        ModelSpec.from_api({"id": "m", "inputs": [{"name": "x", "type": "blob"}]})


@pytest.mark.parametrize("call", [lambda: SkyboxRequest("x", numOutputs=3),
                                  lambda: SkyboxRequest("x").replace(numOutputs=3)])
def test_an_api_name_given_to_the_python_request_names_the_field_to_use(call):
    """``numOutputs=3`` (the API's name, as the reference and the SDK write it) is the
    likely slip: the error names the field, the value and the Python name to use; it was
    a bare TypeError that listed no allowed name."""
    with pytest.raises(ValidationError) as info:
        call()
    text = str(info.value)
    assert "numOutputs: got 3" in text and "did you mean 'num_outputs'" in text
    assert "num_inference_steps" in text  # what is allowed
    assert info.value.fields == ["numOutputs"]



def test_a_huge_value_is_shown_shortened_in_the_error():
    """A data URL or a 5000-character paste given to a field is named, not dumped whole."""
    for kw in ({"style": "c" * 5000}, {"seed": 1e300}, {"image": 7, "style": "x" * 10**6}):
        with pytest.raises(ValidationError) as info:
            SkyboxRequest("x", **kw)
        text = str(info.value)
        assert len(text) < 1500, len(text)
        for name in kw:
            assert f"{name}: got " in text
