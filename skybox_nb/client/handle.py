"""`Run`: the handle of one request run in the background, as ``submit()`` returns it.

Invariant: a run is cancelled at most once and never paid for in vain when avoidable:
cancelled before it starts, its paid POST is never sent; cancelled before Scenario
answered with the job id, the job is cancelled as soon as the id is known; cancelled
later, at once. Asking never blocks the caller (a notebook's kernel, a widget's click):
the cancel call is sent from a thread of its own, and the run says it was asked
(``cancel_asked``) at once and ``canceled`` once it ended so. A `Run` is a
``concurrent.futures.Future`` (``result()``, ``done()``,
``add_done_callback``, ``concurrent.futures.wait`` all work) whose ``cancel()`` cancels
the job, and it says at any time what is known: the job, its status and progress.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, Callable

from ..errors import SkyboxError
from ..models import Job, RunResult

__all__ = ["Run"]

# Called with the run and what changed: "progress", "cancel" or "cancel_error".
Listener = Callable[["Run", str], Any]


class Run(Future):
    """One request, run by ``client.run()`` on a worker; the future of its `RunResult`.

    ``job`` is the latest job seen (None until Scenario answered the POST), ``status``
    and ``progress`` follow it; ``cancel()`` asks for the job to be cancelled (see the
    module's invariant) and ``canceled`` says whether it ended so. ``on_progress(job)``
    is called on every status/progress change, as ``client.run`` calls it; listeners
    added with `add_listener` are called on every change, cancel included.
    """

    def __init__(self, client: Any, request: Any,
                 on_progress: Callable[[Job], Any] | None = None) -> None:
        super().__init__()
        self.request = request
        self.job: Job | None = None
        self.cancel_error: SkyboxError | None = None  # why a cancel was not done
        self._client = client
        self._on_progress = on_progress
        self._listeners: list[Listener] = []
        self._guard = threading.Lock()
        self._cancel_asked = False
        # Set once the cancel call (sent in the background) has had its answer.
        self.cancel_sent = threading.Event()

    # -- what is known ------------------------------------------------------------------

    @property
    def status(self) -> str:
        """"waiting" (not started), "submitting" (no job id yet), then the job's status;
        "canceled" when cancelled before it started."""
        if Future.cancelled(self):
            return "canceled"
        if self.job is None:
            return "submitting" if self.running() or self.done() else "waiting"
        return self.job.status

    @property
    def progress(self) -> float:
        """The job's progress from 0 to 1 (0 until it is known)."""
        return float(self.job.progress or 0.0) if self.job is not None else 0.0

    @property
    def cancel_asked(self) -> bool:
        """True once ``cancel()`` was asked for (the job may still be running)."""
        return self._cancel_asked or Future.cancelled(self)

    @property
    def canceled(self) -> bool:
        """True when a cancel was asked for and the run did not succeed."""
        job = self.job
        return Future.cancelled(self) or (self._cancel_asked and (job is None
                                                                  or not job.succeeded))

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(run, what)`` on every change: ``what`` is "progress" (a new job
        state), "cancel" (a cancel was asked) or "cancel_error" (see ``cancel_error``)."""
        self._listeners.append(fn)

    # -- control --------------------------------------------------------------------------

    def cancel(self) -> bool:
        """Cancel the run: never start it, or cancel its job now, or as soon as its id
        is known. Returns at once (the cancel call goes from a background thread; see
        ``cancel_sent``): True if a cancel was asked for, False if the run had ended."""
        if Future.cancel(self):  # not started: the paid POST is never sent
            self._notify("cancel")
            self.cancel_sent.set()
            return True
        if self.done():
            return False
        with self._guard:
            if self._cancel_asked:  # asked already: cancelled at most once
                return True
            self._cancel_asked = True
            job = self.job
        self._notify("cancel")
        if job is not None and not job.done:
            self._send_cancel_soon(job)
        return True

    def execute(self) -> RunResult:
        """Run the request to its end in this thread (``client.run``); returns the
        result or raises its error. Whoever calls it settles the future afterwards."""
        return self._client.run(self.request, on_progress=self._progress)

    def run_to_end(self) -> None:
        """The worker's task: unless cancelled already, `execute` and settle the future."""
        if not self.set_running_or_notify_cancel():
            return
        try:
            result = self.execute()
        except BaseException as err:  # noqa: BLE001 - the future carries every failure
            self.set_exception(err)
        else:
            self.set_result(result)

    # -- internals -------------------------------------------------------------------------

    def _progress(self, job: Job) -> None:
        with self._guard:
            first = self.job is None
            self.job = job
            cancel_now = first and self._cancel_asked and not job.done
        if self._on_progress is not None:
            self._on_progress(job)
        self._notify("progress")
        if cancel_now:  # cancel was asked before the job id was known
            self._send_cancel_soon(job)

    def _send_cancel_soon(self, job: Job) -> None:
        """Send the cancel from a thread of its own: the caller (a kernel) never waits
        for the service's answer, nor for its retries."""
        threading.Thread(target=self._send_cancel, args=(job,), daemon=True,
                         name="skybox-cancel").start()

    def _send_cancel(self, job: Job) -> None:
        try:
            self._client.cancel(job)
        except SkyboxError as err:  # e.g. the job ended meanwhile: say so, never raise
            self.cancel_error = err
            self._notify("cancel_error")
        except Exception as err:  # noqa: BLE001 - a background thread reports, never raises
            self.cancel_error = SkyboxError(f"the cancel could not be sent ({type(err).__name__}: {err})")
            self._notify("cancel_error")
        finally:
            self.cancel_sent.set()

    def _notify(self, what: str) -> None:
        for fn in list(self._listeners):
            fn(self, what)
