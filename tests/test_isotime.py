"""API timestamps: written as Scenario writes them, read back exactly, naive ones as UTC."""

from __future__ import annotations

import os
import subprocess
import sys

from skybox_nb.isotime import iso, parse_iso


def test_written_and_read_back_at_millisecond_resolution():
    assert iso(1706702400.1234) == "2024-01-31T12:00:00.123Z"
    assert parse_iso(iso(1706702400.1234)) == 1706702400.123
    assert parse_iso("2024-01-31T13:00:00+01:00") == parse_iso("2024-01-31T12:00:00Z")
    assert parse_iso("yesterday") is None and parse_iso(None) is None  # type: ignore[arg-type]


def test_a_time_without_offset_is_utc_whatever_the_local_zone():
    code = "from skybox_nb.isotime import parse_iso; print(parse_iso('2024-01-31T12:00:00'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TZ": "America/New_York"}).stdout
    assert float(out) == 1706702400.0
