"""RunRow: one Generate as a progress row, a thin view over the client's `Run` handle.

Invariant: the row only draws what its `Run` reports (status, job id, progress, a
refused cancel, the outcome) and releases ``result()``'s waiters only after it has shown
how the run ended; it holds no request, job or cancel logic of its own. ``error_html``
is the one way the widgets show an error inline (escaped, with the server's hint).
"""

from __future__ import annotations

import html
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..errors import CancelRefusedError, SkyboxError

if TYPE_CHECKING:  # pragma: no cover
    from ..client import Run, RunResult
    from ..request import SkyboxRequest

__all__ = ["RunRow", "error_html"]


def error_html(err: BaseException) -> str:
    """An error as inline HTML: the message, and the server's hint when there is one;
    every part escaped."""
    if isinstance(err, SkyboxError):
        text = f"[{err.kind}] {err.message}"
        hint = err.hint
    else:
        text, hint = f"{type(err).__name__}: {err}", None
    out = f'<pre style="color:#b91c1c;white-space:pre-wrap;margin:0">{html.escape(text)}</pre>'
    if hint:
        out += f'<div style="color:#92400e"><b>Hint:</b> {html.escape(hint)}</div>'
    return out


class RunRow:
    """One Generate as a progress row: a thin view over the client's `Run` handle,
    which holds the request, the job, the status and the cancel. The row only draws;
    ``result(timeout)`` returns once the form has shown the outcome (gallery included).
    """

    def __init__(self, run: "Run") -> None:
        self.run = run
        self.error: BaseException | None = None
        self._shown: Future = Future()
        prompt = getattr(run.request, "prompt", None) or run.request.model_id
        short = prompt if len(prompt) <= 40 else prompt[:39] + "…"
        self.bar = W.FloatProgress(value=0.0, min=0.0, max=1.0, layout=W.Layout(width="240px"))
        self.status = W.HTML("submitting…")
        self.row = W.HBox([W.Label(short, layout=W.Layout(width="260px")), self.bar, self.status])
        self._started = time.monotonic()
        run.add_listener(self._draw)

    def elapsed(self) -> str:
        """Time since Generate, as the row shows it ("8 s", "2 min 05 s")."""
        s = int(time.monotonic() - self._started)
        return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"

    @property
    def request(self) -> "SkyboxRequest":
        """The request being run."""
        return self.run.request

    @property
    def job(self) -> Any:
        """The latest job seen (None until Scenario answered)."""
        return self.run.job

    @property
    def done(self) -> bool:
        """True once the run has ended and the form has shown how."""
        return self._shown.done()

    @property
    def canceled(self) -> bool:
        """True when Cancel was asked for and the job ended canceled (or never started)."""
        return self.run.canceled

    def result(self, timeout: float | None = None) -> "RunResult":
        """Wait for the run and return its ``RunResult``; raises the run's error."""
        return self._shown.result(timeout)

    def cancel(self) -> bool:
        """Cancel the run (see `Run.cancel`); False if it had already ended."""
        return False if self.done else self.run.cancel()

    def _draw(self, run: "Run", what: str) -> None:
        if what == "cancel_error" and isinstance(run.cancel_error, CancelRefusedError):
            self.status.value = html.escape(
                "Scenario will not cancel this job: it keeps running and will be billed; "
                "its outputs are still downloaded here when it ends.")
        elif what == "cancel_error" and run.cancel_error is not None:
            self.status.value = error_html(run.cancel_error)
        elif what == "cancel":
            self.status.value = "stopping…"
        elif run.job is not None:
            self.bar.value = run.progress
            # a cancel asked for is said until the run ends (the call goes in the background)
            asked = "stopping… · " if run.cancel_asked and not run.job.done else ""
            self.status.value = html.escape(
                f"{asked}{run.job.status} · {run.job.id} · {self.elapsed()}")

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        """Show how the run ended (worker thread), then release ``result()``'s waiters."""
        if error is None:
            self.bar.value, self.bar.bar_style = 1.0, "success"
            files = len(result.files)
            cost = "" if result.cu_cost is None else f" · {result.cu_cost:g} CU"
            self.status.value = html.escape(
                f"success · {files} file{'s' * (files != 1)}{cost} · {self.elapsed()}")
            self._shown.set_result(result)
        else:
            self.error = error
            if self.canceled:
                self.bar.bar_style = "warning"
                self.status.value = "canceled"
            else:
                self.bar.bar_style = "danger"
                self.status.value = error_html(error)
            self._shown.set_exception(error)
