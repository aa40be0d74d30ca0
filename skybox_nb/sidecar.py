"""The JSON sidecar beside an image (``<stem>.json``): its one writer and its one reader.

Invariant: a sidecar is written whole or not at all (temp file and rename) and never
carries a URL (asset URLs are presigned, short-lived links); it comes in two shapes, a
generation's (written by the client: request, job, asset, times, backend) and a saved
panorama's (``{"file", "metadata"}``), and `read` turns either into the same flat
metadata (prompt, style, seed, job_id, asset_id, model_id, cu_cost, backend, source).
A missing, unreadable or foreign sidecar reads as no metadata, never as an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from . import __version__
from .isotime import iso

if TYPE_CHECKING:  # pragma: no cover
    from .models import Asset, Job

__all__ = ["path_for", "generation", "write", "write_metadata", "remove_if_describes",
           "load", "is_generation", "is_generation_file", "read"]

# The request fields a sidecar's reader lifts into the metadata.
_REQUEST_KEYS = ("prompt", "style", "seed", "negativePrompt", "geometryEnforcement",
                 "numInferenceSteps", "strength")


def path_for(image: Path) -> Path:
    """Where the sidecar of ``image`` lives."""
    return Path(image).with_suffix(".json")


def generation(image: Path, *, body: Mapping[str, Any], model_id: str, intent_id: str,
               intent_created: float, job: Job, asset: Asset, index: int, saved: float,
               backend: str, original: Path | None = None) -> dict[str, Any]:
    """The sidecar of output ``index`` of a generation: what was asked, what Scenario
    answered (job, asset, cost), when (Unix seconds ``intent_created`` and ``saved``),
    where requests went (``backend``), and the HDRi ``original`` file saved beside the
    image (from ``originalFileUrl``), if any."""
    raw_job = job.raw
    meta = {k: v for k, v in asset.metadata.items() if "url" not in k.lower()}
    return {
        "file": Path(image).name,
        "request": dict(body),
        "model_id": model_id,
        "seed": asset.seed,
        "output_index": index,
        "job": {"id": job.id, "status": job.status, "createdAt": job.created_at,
                "updatedAt": raw_job.get("updatedAt"),
                "statusHistory": raw_job.get("statusHistory"),
                "billing": raw_job.get("billing")},
        "asset": {"id": asset.id, "mimeType": asset.mime_type, "width": asset.width,
                  "height": asset.height, "metadata": meta},
        "cu_cost": job.cu_cost,
        "times": {"intent": iso(intent_created), "job_created": job.created_at,
                  "saved": iso(saved)},
        "intent_id": intent_id,
        "backend": backend,
        "made_by": f"skybox_nb {__version__}",
        **({"original": {"file": Path(original).name,
                         "mimeType": asset.raw.get("originalMimeType")}} if original else {}),
    }


def write(image: Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as the sidecar of ``image`` (atomically); returns its path."""
    from .files import write_json_atomic  # here: reading a panorama needs no writer

    return write_json_atomic(path_for(image), dict(data))


def write_metadata(image: Path, metadata: Mapping[str, Any]) -> Path:
    """Give a saved panorama its metadata as a sidecar, replacing the sidecar of a file
    saved there before. Returns the sidecar's path."""
    from .files import write_json_atomic

    return write_json_atomic(path_for(image),
                             {"file": Path(image).name, "metadata": dict(metadata)})


def remove_if_describes(image: Path) -> bool:
    """Remove the sidecar beside ``image`` if it says it describes a file of that name
    (an image saved there before, now replaced); returns True if one was removed."""
    side = path_for(image)
    try:
        data = load(side)
    except (OSError, ValueError):
        return False
    if isinstance(data, dict) and data.get("file") == Path(image).name:
        side.unlink(missing_ok=True)
        return True
    return False


def load(side: Path) -> Any:
    """The JSON of the sidecar file ``side`` as written; raises OSError or ValueError
    when it cannot be read as JSON."""
    return json.loads(Path(side).read_text(encoding="utf-8"))


def is_generation(data: Any) -> bool:
    """True for a generation's sidecar (written by the client: it names its request and
    job), False for a saved panorama's or anything else."""
    return (isinstance(data, dict) and isinstance(data.get("job"), dict)
            and isinstance(data.get("request"), dict))


def is_generation_file(side: Path) -> bool:
    """True when the file ``side`` is a readable generation's sidecar."""
    try:
        return is_generation(load(side))
    except (OSError, ValueError):
        return False


def read(image: Path) -> dict[str, Any]:
    """The flat metadata of the sidecar beside ``image`` ({} when there is none)."""
    side = path_for(image)
    if not side.is_file() or side == Path(image):
        return {}
    try:
        data = load(side)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    req = data.get("request") if isinstance(data.get("request"), dict) else {}
    out: dict[str, Any] = {k: req[k] for k in _REQUEST_KEYS if k in req}
    if isinstance(data.get("metadata"), dict):  # written by write_metadata
        out.update(data["metadata"])
    if data.get("seed") is not None:
        out["seed"] = data["seed"]
    job = data.get("job")
    if isinstance(job, dict) and job.get("id"):
        out["job_id"] = job["id"]
    asset = data.get("asset")
    if isinstance(asset, dict) and asset.get("id"):
        out["asset_id"] = asset["id"]
    for k in ("model_id", "cu_cost", "backend"):
        if data.get(k) is not None:
            out[k] = data[k]
    original = data.get("original")
    if isinstance(original, dict) and isinstance(original.get("file"), str):
        out["original_file"] = original["file"]  # an HDRi's .exr/.hdr beside the image
    backend = str(data.get("backend") or "")
    meta = asset.get("metadata") if isinstance(asset, dict) else None
    if "emulator" in backend.lower() or "emulator" in json.dumps(meta or {}).lower():
        out["source"] = "emulator"
    elif backend:
        out["source"] = "scenario"
    return out
