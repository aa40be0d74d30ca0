"""skybox_nb: create 360 skyboxes with Scenario's Skybox Flux.1 from Jupyter.

Data moves one way: request -> client -> ledger -> panorama -> cubemap / seams / plots /
viewer. Names are imported lazily so that ``import skybox_nb`` stays fast and a notebook
only pays for the parts it uses.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "SkyboxRequest": "request",
    "ModelRequest": "request",
    "STYLES": "contract",
    "SKYBOX_FLUX": "contract",
    "ModelSpec": "contract",
    "SkyboxClient": "client",
    "AsyncSkyboxClient": "client",
    "Run": "client",
    "RunResult": "client",
    "Ledger": "ledger",
    "Panorama": "panorama",
    "SeamReport": "seams",
    "seam_report": "seams",
    "Emulator": "emulator",
    "sweep": "sweeps",
    # the errors a caller catches (all are SkyboxError; see skybox_nb.errors)
    **{name: "errors" for name in (
        "SkyboxError", "AuthError", "ForbiddenError", "QuotaError", "ModeratedError",
        "RateLimitError", "InvalidError", "ValidationError", "NotFoundError", "TransportError",
        "DeadlineError", "ServerError", "ProtocolError", "JobFailedError", "DuplicateIntentError")},
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'skybox_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
