"""Scrubbing takes time in proportion to the text: a server's error details (not cut
short like its message) may hold a long hyphenated run (ids joined, a kebab-case blob),
on which a credential-name pattern that backtracks over the whole run at every word
would hold the client for minutes while building the error."""

from __future__ import annotations

import time

from skybox_nb.errors import InvalidError
from skybox_nb.redaction import PLACEHOLDER, _secrets, scrub_text


def test_a_long_hyphenated_run_is_scrubbed_in_linear_time():
    text = "a-" * 20000
    t0 = time.perf_counter()
    assert scrub_text(text) == text
    err = InvalidError("bad", details={"ids": text, "note": "x-token-" * 5000})
    assert time.perf_counter() - t0 < 2.0
    assert err.details["ids"] == text


def test_credential_names_are_still_found(monkeypatch):
    import skybox_nb.redaction as redaction

    # other tests' keys ("secret"...) are remembered for the whole process
    monkeypatch.setattr(redaction, "_known", set())
    for text in ("x-api-key: abcdef123", "my_secret_value=hunter22",
                 "X-Amz-Security-Token=abc123&x=1", "password: 'p4ssw0rd'"):
        shown = scrub_text(text)
        assert PLACEHOLDER in shown, shown
        assert not any(v in shown for v in ("abcdef123", "hunter22", "abc123", "p4ssw0rd")), \
            (shown, _secrets())
