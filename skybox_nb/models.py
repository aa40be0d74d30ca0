"""Jobs, assets and run results, parsed from the Scenario API's JSON.

Invariant: tolerant where the service is, strict where it matters. A `Job` needs only
``jobId`` and ``status`` (the model's reference prints ``{"jobId", "status",
"metadata": {"assetIds"}}``); every other field is parsed when present and of the type
the official SDK's models give it. A status word we do not know means "still running"
(logged once per word), never a failure that ends a paid run. An `Asset` needs its id
and url. Every number read is finite and within sane bounds: NaN, infinity or an
absurd value raises ``errors.ProtocolError`` naming the field, as does any malformed
field, never a ``KeyError`` or ``OverflowError`` deep in the client. Ids are safe
Scenario ids. ``raw`` keeps the server's JSON as received.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .contract import FINAL_STATUSES, JOB_STATUSES, STATUS_SYNONYMS
from .errors import ProtocolError
from .files import safe_id

__all__ = [
    "Job",
    "Asset",
    "RunResult",
    "JOB_STATUSES",
    "FINAL_STATUSES",
    "parse_job",
    "parse_asset",
    "parse_generate",
    "parse_job_list",
]

log = logging.getLogger("skybox_nb.client")


def _need(obj: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        value = None  # True is an int in Python, never a valid number here
    if not isinstance(value, types):
        raise ProtocolError(f"{where}.{key}: got {value!r:.80}; expected "
                            f"{_type_names(types)} (see the official SDK's {where} model)")
    return value


def _optional(obj: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str,
              default: Any) -> Any:
    """``obj[key]`` checked like `_need` when present (and not null), else ``default``."""
    return default if obj.get(key) is None else _need(obj, key, types, where)


def _type_names(types: type | tuple[type, ...]) -> str:
    ts = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in ts)


# No number in an answer is ever this large: beyond it the answer is not to be trusted.
ABSURD = 1e12
_unknown_statuses: set[str] = set()


def _number(value: Any, where: str = "answer", limit: float = ABSURD) -> int | float | None:
    """``value`` when it is a JSON number (True is an int in Python, never one here),
    None when it is not a number; a ``ProtocolError`` naming ``where`` when it is NaN,
    infinite or beyond ``limit`` in size."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError(f"{where}: got {value!r}; expected a finite number")
    if abs(value) > limit:
        raise ProtocolError(f"{where}: got {value!r:.40}; expected a number of at most "
                            f"{limit:g} in size")
    return value


def _status(value: str, where: str) -> str:
    """A job's status word (a synonym such as "failed" read as the status it names);
    one we do not know is logged once and read as running."""
    value = STATUS_SYNONYMS.get(value, value)
    if value not in JOB_STATUSES and value not in _unknown_statuses:
        _unknown_statuses.add(value)
        log.warning("%s.status: unknown status %r, read as still running (known: %s)",
                    where, value[:40], ", ".join(JOB_STATUSES))
    return value


def _obj(data: Any, key: str, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{where}: expected a JSON object, got {type(data).__name__}")
    inner = data.get(key)
    if not isinstance(inner, Mapping):
        raise ProtocolError(f"{where}: the answer has no '{key}' object")
    return inner


@dataclass(frozen=True)
class Job:
    """A Scenario job. ``progress`` is 0..1 (0 when the service does not say);
    ``done`` is True once the status is final; ``created_at`` is "" when not given."""

    id: str
    status: str
    progress: float
    asset_ids: tuple[str, ...]
    error: str | None
    hint: str | None
    cu_cost: float | None
    created_at: str
    model_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        """True when the job will not change any more (success, failure or canceled)."""
        return self.status in FINAL_STATUSES

    @property
    def inputs(self) -> Mapping[str, Any]:
        """The inputs the job ran with (``metadata.input``), or {} when not given."""
        meta = self.raw.get("metadata")
        inp = meta.get("input") if isinstance(meta, Mapping) else None
        return inp if isinstance(inp, Mapping) else {}

    @property
    def succeeded(self) -> bool:
        """True when the job ended in ``success``."""
        return self.status == "success"


@dataclass(frozen=True)
class Asset:
    """A Scenario asset. ``url`` is a temporary CDN link: download it promptly."""

    id: str
    url: str
    mime_type: str
    width: int | None
    height: int | None
    seed: str | None
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def output_index(self) -> int | None:
        """The asset's position among its job's outputs, when the server says."""
        for src in (self.metadata, self.raw):
            v = _number(src.get("outputIndex"), "Asset.outputIndex", 1e6)
            if v is not None:
                return int(v)
        return None


@dataclass(frozen=True)
class RunResult:
    """What ``client.run`` returns: the final job, the request, one file per output (in
    output order, ready for ``Panorama.load``), the assets, and the CU cost.
    ``originals``: per output, the original HDR file an HDRi asset kept at
    ``originalFileUrl`` (downloaded beside its preview), or None."""

    job: Job
    request: Any
    files: list[Path]
    assets: list[Asset]
    cu_cost: float | None
    intent_id: str | None = None
    originals: list[Path | None] = field(default_factory=list)

    def _repr_html_(self) -> str:
        import html

        names = "".join(f"<li><code>{html.escape(str(p))}</code></li>" for p in self.files)
        cost = "?" if self.cu_cost is None else f"{self.cu_cost:g}"
        return (f"<div><b>{html.escape(self.job.id)}</b>: {html.escape(self.job.status)}, "
                f"{len(self.files)} file(s), {cost} CU<ul>{names}</ul></div>")


def job_from_dict(j: Mapping[str, Any], where: str = "Job") -> Job:
    """Build a `Job` from the API's job object (``{"jobId": ..., "status": ...}``)."""
    if not isinstance(j, Mapping):
        raise ProtocolError(f"{where}: expected a JSON object, got {type(j).__name__}")
    job_id = safe_id(_need(j, "jobId", str, where), "job")
    status = _status(_need(j, "status", str, where), where)
    progress = float(_optional(j, "progress", (int, float), where, 0.0))
    _number(progress, f"{where}.progress", 100.0)
    if progress > 1.0:  # a percentage: some answers count 0..100
        progress /= 100.0
    created = _optional(j, "createdAt", str, where, "")
    meta = _optional(j, "metadata", Mapping, where, {})
    ids = meta.get("assetIds") or []
    if not isinstance(ids, list):
        raise ProtocolError(f"{where}.metadata.assetIds: expected a list, got {ids!r:.80}")
    try:
        asset_ids = tuple(safe_id(a, "asset") for a in ids)
    except ProtocolError as e:
        raise ProtocolError(f"{where}.metadata.assetIds: {e.message}") from None
    billing = j.get("billing")
    cost = (_number(billing.get("cuCost"), f"{where}.billing.cuCost")
            if isinstance(billing, Mapping) else None)
    cost = None if cost is None else float(cost)
    model_id = next((m for m in (j.get("modelId"), meta.get("modelId"))
                     if isinstance(m, str)), None)
    err, hint = meta.get("error"), meta.get("hint")
    return Job(
        id=job_id,
        status=status,
        progress=min(1.0, max(0.0, progress)),
        asset_ids=asset_ids,
        error=str(err) if err else None,
        hint=str(hint) if hint else None,
        cu_cost=cost,
        created_at=created,
        model_id=model_id,
        raw=dict(j),
    )


def parse_job(data: Any) -> Job:
    """Parse a ``GET /jobs/{id}`` (or cancel action) answer: ``{"job": {...}}``."""
    return job_from_dict(_obj(data, "job", "JobRetrieveResponse"))


def parse_generate(data: Any) -> tuple[Job, float | None]:
    """Parse a ``POST /generate/custom/{model}`` answer; returns (job, CU cost).

    The cost is ``creativeUnitsCost`` when present, else the job's ``billing.cuCost``.
    """
    job = job_from_dict(_obj(data, "job", "GenerateRunModelResponse"),
                        "GenerateRunModelResponse.job")
    cost = _number(data.get("creativeUnitsCost"), "GenerateRunModelResponse.creativeUnitsCost")
    return job, (job.cu_cost if cost is None else float(cost))


def parse_estimate(data: Any) -> float:
    """The CU cost from a dry-run (HTTP 269) answer (its ``job`` may be empty: ``{}``)."""
    if isinstance(data, Mapping):
        cost = _number(data.get("creativeUnitsCost"), "dry run.creativeUnitsCost")
        if cost is None:
            job = data.get("job")
            billing = job.get("billing") if isinstance(job, Mapping) else None
            cost = (_number(billing.get("cuCost"), "dry run.job.billing.cuCost")
                    if isinstance(billing, Mapping) else None)
        if cost is not None:
            return float(cost)
    raise ProtocolError("dry run answer carries no cost (expected 'creativeUnitsCost')")


def asset_from_dict(a: Mapping[str, Any], where: str = "Asset") -> Asset:
    """Build an `Asset` from the API's asset object."""
    if not isinstance(a, Mapping):
        raise ProtocolError(f"{where}: expected a JSON object, got {type(a).__name__}")
    asset_id = safe_id(_need(a, "id", str, where), "asset")
    url = _need(a, "url", str, where)
    mime = _optional(a, "mimeType", str, where, "")
    meta = _optional(a, "metadata", Mapping, where, {})

    def _int(key: str) -> int | None:
        v = _number(meta.get(key), f"{where}.metadata.{key}", 1e6)
        return None if v is None else int(v)

    seed = meta.get("seed")
    return Asset(
        id=asset_id,
        url=url,
        mime_type=mime,
        width=_int("width"),
        height=_int("height"),
        seed=None if seed is None else str(seed),
        metadata=dict(meta),
        raw=dict(a),
    )


def parse_asset(data: Any) -> Asset:
    """Parse a ``GET /assets/{id}`` or ``POST /assets`` answer: ``{"asset": {...}}``."""
    return asset_from_dict(_obj(data, "asset", "AssetRetrieveResponse"))


def parse_job_list(data: Any) -> tuple[list[Job], str | None]:
    """Parse a ``GET /jobs`` page: (jobs, next pagination token or None). A row that
    does not read as a job is left out (logged), so one odd row hides no other."""
    if not isinstance(data, Mapping) or not isinstance(data.get("jobs"), list):
        raise ProtocolError("JobListResponse: the answer has no 'jobs' list")
    jobs = []
    for i, row in enumerate(data["jobs"]):
        try:
            jobs.append(job_from_dict(row, f"JobListResponse.jobs[{i}]"))
        except (ProtocolError, ValueError) as e:
            log.warning("skipped a job listing row that does not read as a job: %s", e)
    token = data.get("nextPaginationToken")
    return jobs, token if isinstance(token, str) and token else None
