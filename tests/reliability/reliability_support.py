"""Helpers of the reliability suite: a client with fast settings, and the checks every fault
scenario ends with, plus the tally of what was tried.

Invariant: every scenario ends by proving the same three things with `check_library`:
no partial or temporary file is left in the library, every image there decodes in
full, and every ledger row is consistent with the files on disk (no lost record). The
tally only counts; it never changes what a test asserts.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from fast import SIZE, fast_poll, fast_retry  # noqa: F401 (SIZE: every image here)
from skybox_nb.client import SkyboxClient
from skybox_nb.emulator import Emulator
from skybox_nb.ledger import Ledger


def make_client(emu: Emulator, library: Path, **kw: Any) -> SkyboxClient:
    """A client on ``emu`` writing into ``library``, with fast retries and polls."""
    kw.setdefault("retry", fast_retry())
    kw.setdefault("poll", fast_poll)
    return SkyboxClient(emulator=emu, library=library, **kw)


def decodes(path: Path) -> tuple[int, int]:
    """Decode an image fully; returns its size (raises if it is partial or not an image)."""
    with Image.open(path) as im:
        im.load()
        return im.size


def check_library(library: Path) -> dict[str, int]:
    """Assert the library holds no partial file, only decodable images, and a ledger
    consistent with the disk. Returns counts: {"rows", "done", "files"}."""
    leftovers = [p.name for p in library.rglob("*")
                 if p.name.endswith(".part") or p.name.startswith(".")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    images = sorted(library.glob("*.png"))
    for p in images:
        assert decodes(p) == SIZE, p
    ledger = Ledger(library)
    try:
        rows = ledger.generations()
    finally:
        ledger.close()
    owned: set[Path] = set()
    for rec in rows:
        if rec.status == "done":
            assert rec.job_id and rec.job_status == "success", rec
            assert len(rec.files) == len(rec.asset_ids) >= 1, rec
            for f in rec.files:
                f = Path(f)
                assert f.is_file() and f.name.startswith(rec.job_id), (rec, f)
                side = json.loads(f.with_suffix(".json").read_text())
                assert side["job"]["id"] == rec.job_id and side["intent_id"] == rec.intent_id
                owned.add(f.resolve())
        elif rec.status in ("running", "failed", "canceled"):
            assert rec.job_id, rec  # a job exists: the row must say which
        else:  # submitting, unknown, refused, dismissed: no job is known
            assert rec.job_id is None and not rec.files, rec
    # A file on disk belongs to a finished row, or to a job still being fetched.
    pending = {r.job_id for r in rows if r.status == "running"}
    for p in images:
        assert p.resolve() in owned or p.name.split("-")[0] in pending, f"orphan file {p.name}"
    return {"rows": len(rows), "done": sum(r.status == "done" for r in rows),
            "files": len(images)}


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``pred`` until it returns something truthy; returns it (fails after timeout)."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- the tally behind RELIABILITY.md ------------------------------------------------------

class Tally:
    """Rows of (area, scenario) -> how many times tried, and what happened."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(
            lambda: {"tried": 0, "notes": [], "figures": {}})

    def add(self, area: str, scenario: str, tried: int = 1, note: str | None = None,
            **figures: Any) -> None:
        """Count ``tried`` more trials of a scenario; keep its latest note and figures."""
        row = self.rows[(area, scenario)]
        row["tried"] += tried
        if note and note not in row["notes"]:
            row["notes"].append(note)
        row["figures"].update(figures)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"area": a, "scenario": s, **v} for (a, s), v in self.rows.items()]


TALLY = Tally()
