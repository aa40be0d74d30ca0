"""`skybox-nb doctor`: check the credentials and the contract using only free calls, and
say what the service answers that differs from what we expect.

Invariant: only free, read-only calls are made (``GET /models/{id}``, a dry run of a
small request, ``GET /jobs``, then ``GET /jobs/{id}`` and ``GET /assets/{id}`` of what
the list names): nothing is started or billed. Each answer is read by the same parsers
the client uses, and compared field by field with the official SDK's models; the
capture written for a bug report holds the answers with every credential, signed-URL
query, account id and prompt text replaced by a placeholder. What the report shows (its
text, its JSON, its capture) passes through `redaction`: no credential-named field's
value, Basic/Bearer value or configured key or secret is ever printed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from .contract import SKYBOX_FLUX_MODEL_ID, ModelSpec
from .errors import SkyboxError
from .files import write_json_atomic
from .models import JOB_STATUSES, parse_asset, parse_estimate, parse_job, parse_job_list
from .redaction import PLACEHOLDER, is_credential_name, redact_value, scrub_text

__all__ = ["Check", "DoctorReport", "doctor", "redact"]

# The fields the official SDK's models list for a job and an asset (what we expect).
JOB_FIELDS = frozenset({"jobId", "jobType", "status", "progress", "createdAt", "updatedAt",
                        "metadata", "statusHistory", "billing", "authorId", "ownerId"})
ASSET_FIELDS = frozenset({"id", "url", "mimeType", "kind", "source", "status", "privacy",
                          "tags", "collectionIds", "editCapabilities", "metadata",
                          "properties", "authorId", "ownerId", "createdAt", "updatedAt",
                          "description"})
# Account ids and prompt text (credential-named fields are found by `redaction`).
_PRIVATE_KEYS = ("authorid", "ownerid", "email", "userid", "teamid", "prompt",
                 "negativeprompt", "name")


@dataclass
class Check:
    """One call: what was asked, whether it read, and what differs from expectations."""

    name: str
    ok: bool
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.notes = [scrub_text(n) for n in self.notes]

    def __str__(self) -> str:
        head = f"{'ok ' if self.ok else 'FAIL'}  {self.name}"
        return "\n".join([head] + [f"      {n}" for n in self.notes])


@dataclass
class DoctorReport:
    """Every check, the backend they ran against, and the redacted answers."""

    backend: str
    checks: list[Check] = field(default_factory=list)
    capture: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every call answered and read."""
        return all(c.ok for c in self.checks)

    def __str__(self) -> str:
        lines = [f"backend: {self.backend}"] + [str(c) for c in self.checks]
        differs = sum(len(c.notes) for c in self.checks)
        lines.append(("all calls answered and read" if self.ok else "some calls failed")
                     + (f"; {differs} difference(s) from the SDK's models" if differs else ""))
        return scrub_text("\n".join(lines))

    def to_dict(self, answers: bool = True) -> dict[str, Any]:
        """The report as JSON-ready data, redacted: backend, ok, when, the checks and
        (with ``answers``) the redacted answers."""
        return {"backend": scrub_text(self.backend), "ok": self.ok,
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "checks": redact_value([{"name": c.name, "ok": c.ok, "notes": c.notes}
                                        for c in self.checks]),
                **({"answers": redact(self.capture)} if answers else {})}

    def save(self, path: str | Path) -> Path:
        """Write the redacted capture (JSON) to ``path``; returns it."""
        return write_json_atomic(Path(path), self.to_dict())


def redact(value: Any, key: str = "") -> Any:
    """``value`` with account ids, prompts, credentials and signed URLs' queries
    replaced by placeholders (the shape, types and lengths of lists kept)."""
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if is_credential_name(key, value) and value not in (None, ""):
        return PLACEHOLDER
    if isinstance(value, str):
        if key.lower().replace("_", "") in _PRIVATE_KEYS:
            return PLACEHOLDER
        if value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            names = [q.split("=", 1)[0] for q in parts.query.split("&") if q]
            return (f"{parts.scheme}://{parts.hostname}"
                    + (f":{parts.port}" if parts.port else "") + parts.path
                    + (f"?{'&'.join(n + '=<redacted>' for n in names)}" if names else ""))
        return scrub_text(value)
    return value


def _fields(where: str, got: Mapping[str, Any], expected: frozenset[str]) -> list[str]:
    missing, extra = sorted(expected - set(got)), sorted(set(got) - expected)
    notes = []
    if missing:
        notes.append(f"{where}: no {', '.join(missing)} (the SDK's model lists them)")
    if extra:
        notes.append(f"{where}: fields the SDK's model does not list: {', '.join(extra)}")
    return notes


def doctor(client: Any, model_id: str = SKYBOX_FLUX_MODEL_ID) -> DoctorReport:
    """Run the free checks through ``client`` (a `SkyboxClient`); returns the report."""
    report = DoctorReport(client.backend)
    http = client._http  # raw answers: the doctor looks at exactly what came back

    def get(name: str, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = http.request(method, path, **kw)
        except Exception as e:  # noqa: BLE001 - a doctor reports every failure
            report.checks.append(Check(name, False, [f"no answer: {type(e).__name__}: {e}"]))
            return None
        try:
            data = resp.json()
        except ValueError:
            data = None
        report.capture.append({"call": name, "status": resp.status_code,
                               "body": redact(data) if data is not None else
                               scrub_text(resp.text[:300])})
        if resp.status_code >= 300:
            from .errors import error_from_response

            err = error_from_response(resp.status_code, resp.content, resp.headers)
            report.checks.append(Check(name, False, [str(err).splitlines()[0]]))
            return None
        return resp.status_code, data

    def read(name: str, parse: Any, data: Any, notes: list[str]) -> Any:
        try:
            out = parse(data)
        except (SkyboxError, ValueError) as e:
            report.checks.append(Check(name, False, notes + [f"does not read: {e}"]))
            return None
        report.checks.append(Check(name, True, notes))
        return out

    got = get(f"GET /models/{model_id}", "GET", f"/models/{model_id}")
    if got is not None:
        read(f"GET /models/{model_id}", lambda d: ModelSpec.from_api(d["model"]), got[1], [])
    body = {"prompt": "doctor check", "numOutputs": 1}
    got = get("dry run", "POST", f"/generate/custom/{model_id}", json=body,
              params={"dryRun": "true"})
    if got is not None:
        status, data = got
        notes = [] if status == 269 else [f"answered HTTP {status} (expected 269)"]
        job = data.get("job") if isinstance(data, Mapping) else None
        if job == {}:
            notes.append("dry run: the job is empty (as recorded from the service; the "
                         "SDK's model requires a whole job)")
        read("dry run", parse_estimate, data, notes)
    got = get("GET /jobs", "GET", "/jobs", params={"pageSize": "5"})
    listed: list[Any] = []
    if got is not None:
        rows = got[1].get("jobs") if isinstance(got[1], Mapping) else None
        notes = []
        for i, row in enumerate(rows if isinstance(rows, list) else []):
            if isinstance(row, Mapping):
                notes += _fields(f"jobs[{i}]", row, JOB_FIELDS)
                st = row.get("status")
                if isinstance(st, str) and st not in JOB_STATUSES:
                    notes.append(f"jobs[{i}].status: {st!r} is not one of the SDK's words")
        parsed = read("GET /jobs", parse_job_list, got[1], sorted(set(notes)))
        listed = parsed[0] if parsed else []
    if listed:
        jid = listed[0].id
        got = get("GET /jobs/{id}", "GET", f"/jobs/{jid}")
        if got is not None:
            job = got[1].get("job") if isinstance(got[1], Mapping) else None
            read("GET /jobs/{id}", parse_job, got[1],
                 _fields("job", job, JOB_FIELDS) if isinstance(job, Mapping) else [])
        aid = next((a for j in listed for a in j.asset_ids), None)
        if aid is not None:
            got = get("GET /assets/{id}", "GET", f"/assets/{aid}")
            if got is not None:
                asset = got[1].get("asset") if isinstance(got[1], Mapping) else None
                notes = _fields("asset", asset, ASSET_FIELDS) if isinstance(asset, Mapping) else []
                url = asset.get("url") if isinstance(asset, Mapping) else None
                if isinstance(url, str):
                    path = urlsplit(url).path
                    signed = "Signature=" in url
                    notes.append(f"asset url: {'signed' if signed else 'unsigned'}, "
                                 f"{'an extension' if '.' in path.rsplit('/', 1)[-1] else 'no extension'}")
                read("GET /assets/{id}", parse_asset, got[1], notes)
    return report
