"""No credential leaves through a side door: the doctor's text and JSON, an error built
from a server answer that echoes our headers, a log record at DEBUG, a repr, a base
URL that carries a key. A distinctive fake key and secret are searched for everywhere
(as themselves and as the Basic token they make)."""

from __future__ import annotations

import base64
import json
import logging

import httpx
import pytest

from fast import emulator, fast_poll, fast_retry
from skybox_nb import errors
from skybox_nb.cli import main
from skybox_nb.client import SkyboxClient
from skybox_nb.config import resolve_settings
from skybox_nb.doctor import redact
from skybox_nb.redaction import scrub_text
from skybox_nb.request import SkyboxRequest

KEY, SECRET = "leakcheck-KEY-7f3a9b2c", "leakcheck-SECRET-e81d04aa"
TOKEN = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
BEARER = "eyJhbGciOiJIUzI1NiJ9.bearer-token-value-42"
FORBIDDEN = (KEY, SECRET, TOKEN, BEARER, "hunter2-password", "session-cookie-value")


def clean(*texts: str) -> None:
    for text in texts:
        for s in FORBIDDEN:
            assert s not in text, f"{s!r} leaked in {text[:200]!r}"


@pytest.fixture
def emu(monkeypatch):
    with emulator(api_key=KEY, api_secret=SECRET) as e:
        monkeypatch.setenv("SCENARIO_SDK_API_KEY", KEY)
        monkeypatch.setenv("SCENARIO_SDK_API_SECRET", SECRET)
        monkeypatch.setenv("SCENARIO_BASE_URL", e.base_url)
        yield e


def test_doctor_text_and_json_show_no_credential(emu, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    assert main(["doctor"]) == 0
    text = capsys.readouterr()
    assert main(["doctor", "--json"]) == 0
    js = capsys.readouterr()
    report = json.loads(js.out)
    assert report["ok"] is True and {c["name"] for c in report["checks"]} >= {"dry run"}
    assert "offline emulator" not in report["backend"] or emu.base_url.split("/v1")[0] in report["backend"]
    clean(text.out, text.err, js.out, js.err, caplog.text)


def test_doctor_on_a_server_that_echoes_headers_shows_none(emu, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    emu.inject("server_error", route="*", echo=True, count=None)
    assert main(["doctor"]) == 1
    text = capsys.readouterr()
    assert "FAIL" in text.out and "authorization: Basic <redacted>" in text.out  # the echo was seen, and scrubbed
    assert main(["doctor", "--json"]) == 1
    js = capsys.readouterr()
    assert json.loads(js.out)["ok"] is False
    clean(text.out, text.err, js.out, js.err, caplog.text)


def test_a_401_and_an_echoing_500_raise_errors_without_credentials(emu, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with SkyboxClient(KEY, "wrong-" + SECRET, emu.base_url, library=tmp_path / "a",
                      retry=fast_retry(), poll=fast_poll) as c:
        with pytest.raises(errors.AuthError) as auth:
            c.estimate(SkyboxRequest("a bay", num_outputs=1))
        clean(str(auth.value), repr(auth.value), repr(c), caplog.text)
    with SkyboxClient(KEY, SECRET, emu.base_url, library=tmp_path / "b",
                      retry=fast_retry(1), poll=fast_poll) as c:
        emu.inject("server_error", route="*", echo=True, count=None)
        with pytest.raises(errors.ServerError) as boom:
            c.generate(SkyboxRequest("a bay", num_outputs=1))
        emu.faults.clear()
        assert "request headers were" in boom.value.message  # the echo came through...
        rows = c.ledger.generations()
        ledger_text = json.dumps([r.error for r in rows])
        clean(str(boom.value), repr(boom.value), json.dumps(boom.value.details),
              ledger_text, caplog.text, repr(c), repr(c._core.where.credentials))
        result = c.run(SkyboxRequest("a quiet bay", num_outputs=1, seed=2))
        files = [p.read_bytes().decode("latin-1") for p in (tmp_path / "b").rglob("*")
                 if p.is_file()]
        clean(caplog.text, repr(result), *files)
    assert "GET /jobs/" in caplog.text  # the DEBUG logs did record the calls


def test_errors_redact_credential_named_fields_and_auth_values():
    body = {"message": f"denied: Authorization: Bearer {BEARER}; also Basic {TOKEN}",
            "details": {"apiKey": KEY, "x-api-secret": SECRET, "accessToken": BEARER,
                        "password": "hunter2-password", "Cookie": "session-cookie-value",
                        "nested": [{"set-cookie": "session-cookie-value"}], "limit": 3}}
    err = errors.error_from_response(500, json.dumps(body).encode(), {})
    clean(str(err), repr(err), json.dumps(err.details))
    assert err.details["limit"] == 3 and err.details["apiKey"] == "<redacted>"
    assert "Bearer <redacted>" in err.message
    plain = errors.error_from_response(502, f"upstream said token={BEARER}", {})
    clean(str(plain))
    clean(json.dumps(redact(body)))
    assert scrub_text(f"Authorization: Basic {TOKEN}") == "Authorization: Basic <redacted>"


def test_scrub_text_hides_the_configured_values_wherever_they_are(monkeypatch):
    monkeypatch.setenv("SCENARIO_SDK_API_KEY", KEY)
    monkeypatch.setenv("SCENARIO_SDK_API_SECRET", SECRET)
    shown = scrub_text(f"the key {KEY} and the secret {SECRET} in a sentence")
    clean(shown)
    assert "in a sentence" in shown


@pytest.mark.parametrize("url, what", [
    ("https://api.test/v1?apiKey=" + KEY, "query"),
    (f"https://{KEY}:{SECRET}@api.test/v1", "user"),
])
def test_a_base_url_carrying_a_key_is_refused_naming_the_variable(monkeypatch, url, what):
    monkeypatch.setenv("SCENARIO_SDK_API_KEY", KEY)
    monkeypatch.setenv("SCENARIO_SDK_API_SECRET", SECRET)
    monkeypatch.setenv("SCENARIO_BASE_URL", url)
    with pytest.raises(ValueError) as info:
        resolve_settings()
    assert "SCENARIO_BASE_URL" in str(info.value) and what in str(info.value)
    clean(str(info.value))
    with pytest.raises(ValueError) as given:
        resolve_settings(KEY, SECRET, base_url=url)
    assert "base_url" in str(given.value) and "SCENARIO_BASE_URL" not in str(given.value)
    clean(str(given.value))
    assert main(["doctor"]) == 1


def test_reprs_of_settings_client_and_run_show_no_credential(emu, tmp_path):
    with SkyboxClient(KEY, SECRET, emu.base_url, library=tmp_path, poll=fast_poll) as c:
        run = c.submit(SkyboxRequest("a bay", num_outputs=1, seed=4))
        run.result(timeout=30)
        clean(repr(resolve_settings()), repr(c), repr(c._core), repr(c._core.where),
              repr(run), repr(c._http.headers), str(vars(c)))


def test_a_count_of_tokens_is_not_taken_for_a_credential():
    """"tokens" at a name's end counts something; a token itself is still hidden."""
    from skybox_nb.redaction import PLACEHOLDER, is_credential_name, redact_value, scrub_text

    assert scrub_text("out of tokens: 1024") == "out of tokens: 1024"
    assert scrub_text("max_tokens=2048, access_token=abc123def456") == \
        f"max_tokens=2048, access_token={PLACEHOLDER}"
    assert scrub_text("refresh-token: zz9plural") == f"refresh-token: {PLACEHOLDER}"
    assert redact_value({"max_tokens": 1024, "token": "t0k3n-value"}) == \
        {"max_tokens": 1024, "token": PLACEHOLDER}
    assert not is_credential_name("total_tokens")
    assert is_credential_name("tokens_secret") and is_credential_name("X-Auth-Token")


@pytest.fixture
def no_remembered(monkeypatch):
    """Other tests configure clients with words as keys ("secret"), which the process
    then hides wherever they appear: these tests judge the name rules alone."""
    import skybox_nb.redaction as redaction

    monkeypatch.setattr(redaction, "_known", set())
    for name in (redaction.ENV_API_KEY, redaction.ENV_API_SECRET):
        monkeypatch.delenv(name, raising=False)


def test_a_word_that_only_begins_like_a_credential_is_kept(no_remembered):
    """"tokenizer", "secretary", "passwordless" name harmless values; camelCase and
    plurals of the credential words ("secretKey", "credentials") are still hidden."""
    from skybox_nb.redaction import PLACEHOLDER, is_credential_name, redact_value, scrub_text

    for text in ("tokenizer: clip-l", "secretary: Ann-Marie", "passwordless: enabled"):
        assert scrub_text(text) == text
    assert redact_value({"tokenizer": "t5-xxl", "secretary": "Ann"}) == \
        {"tokenizer": "t5-xxl", "secretary": "Ann"}
    for text in ("secretKey: abc123xyz", "SECRET_KEY=abc123xyz", "credentials: abc123xyz",
                 "cookies=abc123xyz", "apiKeyId: abc123xyz"):
        assert scrub_text(text).endswith(PLACEHOLDER), text
    for name in ("secretKey", "apiKeyId", "passwords", "credentials", "X-Api-Key",
                 "secret_key", "secret-key", "SECRET_KEY", "password_hash", "api_key_id",
                 "access_token_value", "apikey"):
        assert is_credential_name(name), name
    for name in ("tokenizer", "secretary", "cookiecutter", "max_tokens"):
        assert not is_credential_name(name), name


@pytest.mark.parametrize("name", ["secretkey", "secretaccesskey", "passwordhash", "tokenid",
                                  "apikeyid", "tokenvalue", "secretvalue", "cookievalue"])
def test_a_credential_name_written_all_lower_case_stays_a_credential(name, no_remembered):
    """Names joined in lower case (configparser keys, lower-cased headers, DB columns:
    "secretaccesskey", "passwordhash") were hidden before the word-end rule; they must stay so."""
    from skybox_nb.redaction import is_credential_name, redact_value

    value = "abc123xyzQ"
    assert is_credential_name(name)
    assert value not in str(redact_value({name: value}))
    for text in (f"{name}={value}", f'"{name}": "{value}"', f"{{'{name}': '{value}'}}",
                 f"?{name}={value}&x=1", f"{name}: {value}"):
        assert value not in scrub_text(text), text


def test_tokens_count_only_when_their_value_is_a_number_and_more_credential_words(no_remembered):
    """"max_tokens: 1024" is a count; "refresh_tokens: ..." holds credentials. A private
    key, a passphrase and a dotted name ("secret.key") are hidden too."""
    from skybox_nb.redaction import PLACEHOLDER, redact_value

    assert scrub_text("max_tokens: 1024 and total_tokens=77") == \
        "max_tokens: 1024 and total_tokens=77"
    for text in ("refresh_tokens=abc123def456", "private_key: abc123def456",
                 "passphrase=abc123def456", "secret.key=abc123def456"):
        assert scrub_text(text).endswith(PLACEHOLDER), text
    assert redact_value({"max_tokens": 1024, "total_tokens": "77", "refresh_tokens": ["a1b2c3d4"]}) \
        == {"max_tokens": 1024, "total_tokens": "77", "refresh_tokens": PLACEHOLDER}
