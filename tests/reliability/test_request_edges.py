"""Request values at the edges of what Python can hold: an integer too large for a float
and text that cannot be encoded. Each is a `ValidationError` naming the field, at
validation, before any fingerprint, ledger row or POST.

Found: ``seed=10**400`` raised a bare ``OverflowError`` (int too large to convert to
float); a prompt with a lone surrogate (bytes that are not UTF-8 on a command line, which
Python decodes to U+DC80..U+DCFF) passed validation and failed later with a
``UnicodeEncodeError`` while fingerprinting.
"""

from __future__ import annotations

import pytest

from skybox_nb import cli
from skybox_nb.errors import ValidationError
from skybox_nb.request import SkyboxRequest

AREA = "bad input"

HUGE = [10**400, -(10**400), 2**1024, 10**309]


@pytest.mark.parametrize("field", ["seed", "num_outputs", "num_inference_steps",
                                   "geometry_enforcement", "strength",
                                   "negative_prompt_strength"])
def test_integers_beyond_any_float_are_out_of_range(field, tally):
    for value in HUGE:
        with pytest.raises(ValidationError) as info:
            SkyboxRequest("a canyon at dusk", **{field: value})
        text = str(info.value)
        assert "out of range" in text and "allowed" in text, text
        assert len(text) < 600, text  # the 400 digits are shortened, not printed
    tally.add(AREA, "request fields: integers beyond any float (10**400, 2**1024, ...)",
              len(HUGE), "ValidationError 'out of range' naming the field (was: OverflowError)")


SURROGATES = ["caf\udce9 terrace", "\udcff", "ok", "neon \ud83d city"]


@pytest.mark.parametrize("field,api_name", [("prompt", "prompt"), ("style", "style"),
                                            ("negative_prompt", "negativePrompt")])
def test_lone_surrogates_are_refused_at_validation(field, api_name, tally):
    bad = [s for s in SURROGATES if s != "ok"]
    for text in bad:
        kw = {"prompt": "a canyon", field: text}
        with pytest.raises(ValidationError) as info:
            SkyboxRequest(**kw)
        msg = str(info.value)
        assert f"{api_name}: got" in msg and "lone surrogate" in msg, msg
    tally.add(AREA, "text fields with lone surrogates (bad bytes on a command line)",
              len(bad), "ValidationError naming the field and the character "
              "(was: UnicodeEncodeError while fingerprinting)")


def test_cli_generate_with_undecodable_prompt_bytes(tmp_path, capsys, monkeypatch, tally):
    monkeypatch.delenv("SCENARIO_SDK_API_KEY", raising=False)
    monkeypatch.delenv("SCENARIO_SDK_API_SECRET", raising=False)
    # What Python makes of the bytes b"caf\xe9" in argv under a UTF-8 locale.
    prompt = b"caf\xe9 terrace".decode("utf-8", "surrogateescape")
    code = cli.main(["generate", prompt, "--out", str(tmp_path / "lib"), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 1 and "prompt: got" in err and "lone surrogate" in err, err
    tally.add(AREA, "skybox-nb generate with a prompt of non-UTF-8 bytes", 1,
              "exit 1, 'prompt: ... lone surrogate' (was: a traceback)")
