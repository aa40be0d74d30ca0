"""The emulator's state: jobs, assets and their files, multipart uploads, the counters.

Invariant: every read and write goes through one lock, so the HTTP threads and the job
threads see each job move forward one status at a time and never see an asset before its
file is complete on disk. Files live in a private temporary directory under names the
store makes up (a counter); an asset id is only ever a key in a dict, never part of a path,
so no request can make the emulator read a file outside its store.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contract import FINAL_STATUSES
from ..formats import by_mime
from ..processes import pid_alive
from .ids import new_id

__all__ = ["JobRecord", "AssetRecord", "UploadRecord", "Store", "suffix_of"]



def suffix_of(mime_type: str) -> str:
    """The file suffix of an asset's type (".bin" for a type the API does not serve)."""
    fmt = by_mime(mime_type)
    return fmt.suffix if fmt is not None and fmt.api else ".bin"


@dataclass
class JobRecord:
    """One generation job as the emulator tracks it."""

    id: str
    model_id: str
    input: dict[str, Any]
    num_outputs: int
    cu_cost: float
    created: float
    status: str = "queued"
    progress: float = 0.0
    updated: float = 0.0
    history: list[tuple[str, float]] = field(default_factory=list)
    asset_ids: list[str] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None

    @property
    def done(self) -> bool:
        """True once the job is success, failure or canceled."""
        return self.status in FINAL_STATUSES


@dataclass
class AssetRecord:
    """One asset: a generated panorama or an uploaded image, with its file."""

    id: str
    path: Path
    mime_type: str
    width: int
    height: int
    size: int
    created: float
    origin: str  # "generated" | "uploaded"
    metadata: dict[str, Any] = field(default_factory=dict)
    # An HDRi's original file (served at originalFileUrl) and its MIME type, else None.
    original: Path | None = None
    original_mime: str | None = None


@dataclass
class UploadRecord:
    """One multipart upload (``POST /v1/uploads``): what was announced, the parts
    received so far, and once completed the asset it became (or why it failed)."""

    id: str
    file_name: str
    content_type: str
    file_size: int
    kind: str
    parts_count: int
    created: float
    updated: float
    status: str = "pending"
    parts: dict[int, bytes] = field(default_factory=dict, repr=False)
    entity_id: str | None = None
    error: str | None = None


STORE_PREFIX = "skybox-emulator-"
_STORE_RE = re.compile(rf"^{STORE_PREFIX}(\d+)-")


def sweep_dead_stores(root: str | os.PathLike | None = None) -> int:
    """Delete store folders (under ``root``, the temp dir by default) left by emulators
    whose process died without closing; returns how many went. Live owners' are kept."""
    removed = 0
    for p in Path(root or tempfile.gettempdir()).glob(f"{STORE_PREFIX}*"):
        hit = _STORE_RE.match(p.name)
        if hit and p.is_dir() and not pid_alive(int(hit.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
    return removed


class Store:
    """Thread-safe jobs, assets and counters, with files in a private temporary directory."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        sweep_dead_stores()
        # The owner's pid in the name lets a later emulator remove this folder if our
        # process is killed before close() (a restarted kernel, say).
        self._dir = tempfile.TemporaryDirectory(prefix=f"{STORE_PREFIX}{os.getpid()}-")
        self._counter = 0
        self.jobs: dict[str, JobRecord] = {}
        self.assets: dict[str, AssetRecord] = {}
        self.requests: dict[str, int] = {}
        self.generate_posts = 0
        self.jobs_created = 0
        self.max_running_jobs = 0
        self.uploads: dict[str, UploadRecord] = {}
        self.parts_received = 0
        self.parts_with_credentials = 0

    # ----------------------------------------------------------------- jobs
    def add_job(self, model_id: str, inputs: dict[str, Any], num_outputs: int,
                cu_cost: float) -> JobRecord:
        """Create a queued job and return it."""
        now = time.time()
        with self.lock:
            job = JobRecord(id=new_id("job"), model_id=model_id, input=dict(inputs),
                            num_outputs=num_outputs, cu_cost=cu_cost, created=now,
                            updated=now, history=[("queued", now)])
            self.jobs[job.id] = job
            self.jobs_created += 1
            self.max_running_jobs = max(self.max_running_jobs, self.running_jobs())
            return job

    def running_jobs(self) -> int:
        """How many jobs are not final (queued or in progress)."""
        with self.lock:
            return sum(1 for j in self.jobs.values() if not j.done)

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job with this id, or None."""
        with self.lock:
            return self.jobs.get(job_id)

    def advance(self, job: JobRecord, status: str | None = None, progress: float | None = None,
                **fields: Any) -> bool:
        """Move a job on; returns False (and changes nothing) when it is already final."""
        with self.lock:
            if job.done:
                return False
            now = time.time()
            if progress is not None:
                job.progress = max(job.progress, min(1.0, float(progress)))
            for k, v in fields.items():
                setattr(job, k, v)
            if status is not None and status != job.status:
                job.status = status
                job.history.append((status, now))
            job.updated = now
            return True

    def spent_creative_units(self) -> float:
        """Creative Units billed so far: every job's cost but failed ones' (refunded)."""
        with self.lock:
            return round(sum(j.cu_cost for j in self.jobs.values() if j.status != "failure"), 2)

    def list_jobs(self) -> list[JobRecord]:
        """All jobs, newest first."""
        with self.lock:
            return sorted(self.jobs.values(), key=lambda j: (j.created, j.id), reverse=True)

    # ----------------------------------------------------------------- assets
    def new_file(self, data: bytes, suffix: str) -> Path:
        """Write ``data`` to a new file of the store and return its path."""
        with self.lock:
            self._counter += 1
            path = Path(self._dir.name) / f"{self._counter:08d}{suffix}"
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # complete on disk before anyone can see it
        return path

    def add_asset(self, data: bytes, *, mime_type: str, width: int, height: int, origin: str,
                  metadata: dict[str, Any] | None = None,
                  original: tuple[bytes, str] | None = None) -> AssetRecord:
        """Store a file and register it as an asset; returns the record. ``original``
        (bytes, MIME type): the file an HDRi keeps beside its preview."""
        path = self.new_file(data, suffix_of(mime_type))
        orig = self.new_file(original[0], ".orig") if original else None
        rec = AssetRecord(id=new_id("asset"), path=path, mime_type=mime_type,
                          width=width, height=height, size=len(data), created=time.time(),
                          origin=origin, metadata=dict(metadata or {}), original=orig,
                          original_mime=original[1] if original else None)
        with self.lock:
            self.assets[rec.id] = rec
        return rec

    def get_asset(self, asset_id: str) -> AssetRecord | None:
        """The asset with this id (a dict lookup, never a path), or None."""
        with self.lock:
            return self.assets.get(asset_id)

    # ----------------------------------------------------------------- uploads
    def add_upload(self, **fields: Any) -> UploadRecord:
        """Register a new pending multipart upload and return it."""
        now = time.time()
        rec = UploadRecord(id=new_id("upload"), created=now, updated=now, **fields)
        with self.lock:
            self.uploads[rec.id] = rec
        return rec

    def get_upload(self, upload_id: str) -> UploadRecord | None:
        """The upload with this id (a dict lookup), or None."""
        with self.lock:
            return self.uploads.get(upload_id)

    # ----------------------------------------------------------------- counters
    def count_request(self, route: str) -> None:
        """Count one request on ``route``."""
        with self.lock:
            self.requests[route] = self.requests.get(route, 0) + 1

    def count_generate_post(self) -> None:
        """Count one paid generate POST received (whatever its answer)."""
        with self.lock:
            self.generate_posts += 1

    def stats(self) -> dict[str, Any]:
        """Counters: paid generate POSTs received, jobs created, peak running jobs, routes."""
        with self.lock:
            return {
                "generate_posts": self.generate_posts,
                "jobs_created": self.jobs_created,
                "max_running_jobs": self.max_running_jobs,
                "running_jobs": self.running_jobs(),
                "requests": dict(self.requests),
                "assets": len(self.assets),
                "uploads": len(self.uploads),
                "parts_received": self.parts_received,
                "parts_with_credentials": self.parts_with_credentials,
            }

    def close(self) -> None:
        """Delete the files."""
        self._dir.cleanup()
