"""Where requests go: Scenario's API or an offline emulator, and with which credentials.

Invariant: the credentials are held here and leave only as the API client's
``Authorization`` header (`Backend.auth_headers`); an emulator is given its own keys,
never the environment's; an emulator started here is owned here and stopped by
`Backend.close`; the "no credentials, offline emulator" line is said once per process.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from .. import __version__
from ..config import Credentials, Settings
from ..contract import SCENARIO_API_URL
from ..ledger import Ledger

__all__ = ["Backend", "report_leftovers", "backend_key"]

log = logging.getLogger("skybox_nb.client")
_EMULATOR_ANNOUNCED = False


def backend_key(base_url: str, emulator: Any, creds: Credentials | None) -> str:
    """Which backend a ledger row's job belongs to: Scenario's URL and the account (a
    digest of the API key, never the key), or this one emulator instance (its URL and
    start time: its jobs vanish with it)."""
    if emulator is not None:
        started = getattr(emulator, "started_at", None)
        return f"emulator {base_url}" + (f" started {started:.3f}" if started else "")
    digest = hashlib.sha256(creds.key.encode()).hexdigest()[:12] if creds else "none"
    return f"{base_url} key#{digest}"


class Backend:
    """The API's base URL, the credentials, and the emulator in use (if any)."""

    def __init__(self, settings: Settings, emulator: Any = None,
                 owns_emulator: bool = False) -> None:
        self.emulator = emulator
        self.owns_emulator = owns_emulator
        self._started_for_lack_of_credentials = False
        creds = settings.credentials
        if emulator is None and creds is None:
            if settings.base_url is not None:
                raise ValueError(
                    f"a base URL is set ({settings.base_url}) but no API key and secret: set "
                    "SCENARIO_SDK_API_KEY and SCENARIO_SDK_API_SECRET, or unset "
                    "SCENARIO_BASE_URL to use the built-in offline emulator")
            from ..emulator import DEFAULT_JOB_DURATION, Emulator

            # A few seconds per job, as `skybox-nb emulator` runs it, so progress shows.
            emulator = self.emulator = Emulator(job_duration=DEFAULT_JOB_DURATION,
                                                quiet=True).start()
            self.owns_emulator = self._started_for_lack_of_credentials = True
        if emulator is not None:
            self.base_url = str(emulator.base_url).rstrip("/")
            if creds is None:
                key = getattr(emulator, "api_key", None) or "offline-emulator"
                secret = getattr(emulator, "api_secret", None) or "offline-emulator"
                creds = Credentials(key, secret)
            self.label = f"offline emulator at {self.base_url.rsplit('/v1', 1)[0]}"
        else:
            self.base_url = settings.base_url or SCENARIO_API_URL
            self.label = f"Scenario API ({settings.host})"
        self._creds = creds
        self.is_emulator = emulator is not None
        self.key = backend_key(self.base_url, emulator, creds)

    def announce(self) -> None:
        """Say where requests go: a warning, once per process, when an emulator was
        started because no credentials are set; otherwise an info line for an emulator."""
        global _EMULATOR_ANNOUNCED
        if self._started_for_lack_of_credentials:
            if not _EMULATOR_ANNOUNCED:  # once per process: one clear line, not a stream
                _EMULATOR_ANNOUNCED = True
                log.warning("skybox_nb: no Scenario credentials set, so requests go to the "
                            "%s (procedural images, not Skybox Flux.1's)", self.label)
        elif self.is_emulator:
            log.info("skybox_nb: using the %s", self.label)

    @property
    def credentials(self) -> Credentials | None:
        """The credentials in use, for the API transport to scrub from answers only."""
        return self._creds

    def auth_headers(self) -> dict[str, str]:
        """The API client's default headers (the only place the credentials go)."""
        assert self._creds is not None
        return {"Authorization": self._creds.authorization(),
                "User-Agent": f"skybox-nb/{__version__}", "Accept": "application/json"}

    def close(self) -> None:
        """Stop the emulator if this backend owns it."""
        if self.owns_emulator and self.emulator is not None:
            self.emulator.stop()


def report_leftovers(ledger: Ledger) -> None:
    """Say once, at start, what an earlier session left for this one to settle."""
    active, unknown = len(ledger.active()), len(ledger.unresolved())
    if active:
        log.warning("skybox_nb: %d job(s) of an earlier session are not downloaded yet: "
                    "client.resume() finishes them (no new request is sent)", active)
    if unknown:
        log.warning("skybox_nb: %d request(s) in the ledger may have started jobs whose "
                    "answers were lost: client.reconcile() matches them to Scenario's "
                    "jobs (identical requests are blocked until then)", unknown)
