"""An HDRi's original HDR file: fetched beside its preview, never at the cost of the run.

Invariant: once a paid job's panorama is on disk, a failure to fetch its original file
(missing, refused, unreadable after the retries) never fails the run nor leaves its
ledger row short of done: it is said by an `OriginalMissingWarning` (and a log line)
naming the job, the asset and how to fetch it later, and `download_originals` fetches
it later from the ledger's record with free reads only (``GET /jobs``, ``GET /assets``
and the download): nothing is generated or paid again.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from .. import sidecar
from ..errors import ClientClosedError, InvalidError, OriginalMissingWarning, SkyboxError
from ..files import safe_id
from ..models import Asset, Job, RunResult
from .effects import Call, Op

__all__ = ["fetch_or_warn", "download_originals", "note_original"]

log = logging.getLogger("skybox_nb.client")


def fetch_or_warn(core: Any, job: Job, asset: Asset, image: Path
                  ) -> Op[tuple[Path | None, Asset]]:
    """The original of ``asset`` beside ``image`` (see `transfer.download_original`):
    (its path, the asset), (None, asset) when it has none, and (None, asset) with an
    `OriginalMissingWarning` when it could not be fetched."""
    try:
        return (yield from core.download_original(asset, image))
    except ClientClosedError:  # the client is closing: the run stops, it is not a loss
        raise
    except SkyboxError as e:
        text = (f"job {job.id}: the panorama {image.name} is saved, but the original HDR "
                f"file of asset {asset.id} could not be fetched ({e.message}); fetch it "
                f"later, free: client.download_originals({job.id!r})")
        log.warning("%s", text)
        warnings.warn(OriginalMissingWarning(text, job_id=job.id, asset_id=asset.id,
                                             image=image), stacklevel=2)
        return None, asset


def note_original(image: Path, original: Path, asset: Asset) -> None:
    """Name ``original`` in the generation sidecar of ``image`` (blocking: a `Call`). A
    sidecar that no longer reads as a JSON object is kept aside as ``<name>.unreadable``
    and a new one names the image and its original."""
    side = sidecar.path_for(image)
    try:
        data = sidecar.load(side) if side.is_file() else {"file": image.name}
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict):
        side.replace(side.with_name(side.name + ".unreadable"))
        data = {"file": image.name}
    data["original"] = {"file": original.name, "mimeType": asset.raw.get("originalMimeType")}
    sidecar.write(image, data)


def download_originals(core: Any, job: RunResult | Job | str) -> Op[list[Path | None]]:
    """Fetch the original HDR files of a finished job's outputs beside its saved images
    (the ledger's record of it); returns, per output, the original's path or None when
    the asset has none. Raises ``InvalidError`` when the ledger holds no finished
    generation of that job, and the download's error when the store still fails."""
    if isinstance(job, RunResult):
        job = job.job
    jid = safe_id(job.id if isinstance(job, Job) else job, "job")
    rec = yield Call(core.ledger.by_job, (jid,))
    if rec is None or rec.status != "done" or not rec.files:
        raise InvalidError(f"job: got {jid!r}; expected a job whose generation finished "
                           f"in this client's ledger ({core.ledger.library}) with its "
                           "files saved")
    fresh = yield from core.job(jid)
    out: list[Path | None] = []
    for aid, image in zip(fresh.asset_ids, rec.files):
        asset = yield from core.asset(aid)
        original, asset = yield from core.download_original(asset, Path(image))
        if original is not None:
            yield Call(note_original, (Path(image), original, asset))
        out.append(original)
    return out
