"""The Scenario client: `SkyboxClient` (blocking) and `AsyncSkyboxClient` over one core.

Invariant: every decision lives in the core (`core.Core`), whose operations are
generators that *yield* I/O effects (`effects`: send an API call, fetch a download into
a file, call blocking local work, sleep) and get the outcome sent back; the two clients
only perform those effects, one with ``httpx.Client`` and ``time``, the other with
``httpx.AsyncClient`` and ``asyncio``, so both behave identically by construction. The
paid generate POST is sent only after its intent is committed to the ledger, and resent
only when it provably never reached Scenario.

The modules, in the order data flows:

- `effects`: the effect types, the injected `Clock`, advancing an operation;
- `backend`: Scenario or the emulator, the credentials, the announcement;
- `calls`: a call with retries, the paid POST, the parallel-jobs slot gate;
- `intents`: submit, run, resume, follow a job to its files (the ledger's records);
- `reconcile`: list jobs, match an "unknown" intent to a job;
- `transfer`: upload checks and encode, verified downloads;
- `multipart`: a large upload in presigned parts (``POST /uploads``);
- `core`: the core's state and its operations;
- `handle`: `Run`, the handle ``submit()`` returns (status, progress, cancel, result);
- `base`, `blocking`, `aio`: the clients that perform the effects.
"""

from __future__ import annotations

from ..models import Asset, Job, RunResult
from .aio import AsyncSkyboxClient
from .blocking import SkyboxClient
from .handle import Run
from .reconcile import ReconcileOutcome
from .transfer import UPLOAD_MAX_BYTES, UPLOAD_MAX_SIDE

__all__ = ["SkyboxClient", "AsyncSkyboxClient", "Run", "RunResult", "Job", "Asset",
           "ReconcileOutcome", "UPLOAD_MAX_SIDE", "UPLOAD_MAX_BYTES"]
