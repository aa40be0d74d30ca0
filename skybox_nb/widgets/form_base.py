"""FormBase: what every generation form shares, between its fields and the client.

Invariant: a form's own class says only which fields it has and which request they make
(``request()``); FormBase owns the rest, once for every form: the live body and snippet,
the debounced and cached cost estimate (a slow answer never overwrites a newer one), and
the run of each Generate on a worker thread, its row drawn by `RunRow`, its result sent to
the gallery, every failure shown and none lost. Nothing here blocks the kernel.
"""

from __future__ import annotations

import html
import json
import threading
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..errors import ValidationError
from .badge import account_badge
from .run_row import RunRow, error_html

if TYPE_CHECKING:  # pragma: no cover
    from ..client import Run, SkyboxClient

__all__ = ["ESTIMATE_DELAY", "FormBase"]

# Seconds of quiet after the last edit before the cost estimate is asked for.
ESTIMATE_DELAY = 0.4


class FormBase:
    """The shared half of `GeneratorForm` and `ModelForm`. A subclass calls
    `_setup` first, builds its fields, passes them to `_assemble`, and implements
    ``request()`` (raising ``ValidationError`` when a field is invalid) and ``_refresh()``
    (run on every edit), which shows the request with `_show_request` or the problem with
    `_show_invalid`.

    Hooks, each a no-op here: ``_estimate_ready()`` (False holds the estimate back),
    ``_on_result(result)`` (before the gallery and the row see it) and
    ``_run_ended(run)`` (after every run, however it ended).
    """

    gallery: Any = None

    def _setup(self, client: "SkyboxClient | None", max_workers: int, estimate_delay: float,
               thread_name: str) -> None:
        """Take the client (default: ``SkyboxClient()``, the emulator without
        credentials) and start the worker pool and the estimate's state."""
        if client is None:
            from ..client import SkyboxClient

            client = SkyboxClient()
        self.client = client
        self.runs: list[RunRow] = []
        self.last_result: Any = None
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name)
        self._estimate_delay = estimate_delay
        self._estimate_timer: threading.Timer | None = None
        self._estimates: dict[str, float] = {}

    # ---- building -------------------------------------------------------------------

    def _outputs(self) -> None:
        """Make the widgets every form shows around its fields: the badge, Generate, the
        estimate, validation and error lines, the jobs, the body and the snippet."""
        self.badge = account_badge(self.client)
        self.generate_button = W.Button(description="Generate", button_style="primary",
                                        icon="play")
        self.cost = W.HTML("Estimate: …")
        self.validation = W.HTML()
        self.error = W.HTML()
        self.jobs = W.VBox()
        self.body_preview = W.HTML()
        self.snippet_kind = W.ToggleButtons(options=["cURL", "Python"], value="cURL",
                                            style={"button_width": "70px"})
        self.snippet = W.Textarea(rows=10, layout=W.Layout(width="95%"))

    def _assemble(self, fields: list[W.Widget]) -> None:
        """Lay the form out in two columns (they wrap on a narrow page): the fields on the
        left, what will be sent on the right; the jobs and errors below both."""
        sent = W.VBox([
            W.HTML("<b>Request body</b> (exactly what is sent)"),
            self.body_preview,
            W.HBox([W.HTML("<b>Snippet</b>&nbsp;"), self.snippet_kind]),
            self.snippet,
            W.HTML('<span style="font-size:12px;color:#555">No secrets: credentials stay '
                   "environment variables.</span>"),
        ], layout=W.Layout(flex="1 1 360px", min_width="360px"))
        self.widget = W.VBox([
            self.badge,
            W.HBox([W.VBox(fields, layout=W.Layout(width="680px")), sent],
                   layout=W.Layout(flex_flow="row wrap")),
            self.jobs,
            self.error,
        ])
        self.snippet_kind.observe(lambda _change: self._refresh(), names="value")
        self.generate_button.on_click(lambda _b: self.generate())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # ---- the request, shown ---------------------------------------------------------

    def request(self) -> Any:
        """The request the form describes; raises ``ValidationError``."""
        raise NotImplementedError

    def _refresh(self) -> None:
        """Bring every derived widget in line with the fields."""
        raise NotImplementedError

    def generate(self) -> RunRow | None:
        """Start the current request on a worker (see `_launch`); None when invalid."""
        raise NotImplementedError

    def _valid_request(self) -> Any:
        """The request, or None after `_show_invalid` said what is wrong with it."""
        try:
            return self.request()
        except ValidationError as err:
            self._show_invalid(err)
            return None

    def _show_invalid(self, err: ValidationError) -> None:
        """Say what is wrong, show no body, and hold Generate and the estimate back."""
        self.validation.value = error_html(err)
        self.body_preview.value = ""
        self.snippet.value = ""
        self.generate_button.disabled = True
        self.cost.value = "Estimate: fix the fields first"

    def _show_notes(self, notes: list[str]) -> None:
        """The contract's notes on a valid request, in amber (they do not hold Generate)."""
        self.validation.value = "".join(
            f'<div style="color:#92400e">Note: {html.escape(n)}</div>' for n in notes)

    def _show_request(self, req: Any) -> None:
        """Show the body and the snippet of ``req``, and its estimate (soon)."""
        body = json.dumps(req.to_body(), indent=2, ensure_ascii=False)
        self.body_preview.value = f"<pre style='margin:0'>{html.escape(body)}</pre>"
        self.snippet.value = req.to_curl() if self.snippet_kind.value == "cURL" else req.to_python()
        self._schedule_estimate(req)

    # ---- the estimate ---------------------------------------------------------------

    def _estimate_ready(self) -> bool:
        return True

    def _schedule_estimate(self, req: Any) -> None:
        """Debounce: ask for the estimate once the fields have been quiet a moment."""
        known = self._estimates.get(req.fingerprint)
        if known is not None:
            self.cost.value = f"Estimate: <b>{known:g} CU</b>"
            return
        self.cost.value = "Estimate: …"
        if self._estimate_timer is not None:
            self._estimate_timer.cancel()
        timer = threading.Timer(self._estimate_delay, self._estimate_quietly)
        timer.daemon = True
        self._estimate_timer = timer
        timer.start()

    def _estimate_quietly(self) -> None:
        if not self._estimate_ready():  # the form says what to fix; no price yet
            return
        try:
            self.estimate()
        except ValidationError:
            pass  # already shown inline
        except Exception as err:  # noqa: BLE001 - shown, never raised on a timer thread
            self.cost.value = f"Estimate unavailable: {html.escape(str(err).splitlines()[0])}"

    def estimate(self) -> float:
        """The CU cost of the current request (a dry run; cached per request
        fingerprint), also shown next to Generate. Raises ``ValidationError``."""
        req = self.request()
        cost = self._estimates.get(req.fingerprint)
        if cost is None:
            cost = float(self.client.estimate(req))
            self._estimates[req.fingerprint] = cost
        try:
            current = self.request().fingerprint
        except ValidationError:
            current = None
        if current == req.fingerprint:  # a slow answer must not overwrite a newer one
            self.cost.value = f"Estimate: <b>{cost:g} CU</b>"
        return cost

    # ---- runs -----------------------------------------------------------------------

    def _launch(self, run: "Run") -> RunRow:
        """Show ``run`` as a new row and run it on a worker; returns the row."""
        gen = RunRow(run)
        self.runs.append(gen)
        self.jobs.children = (*self.jobs.children, gen.row)
        self._pool.submit(self._run, gen)
        return gen

    def _on_result(self, result: Any) -> None:
        pass

    def _run_ended(self, run: "Run") -> None:
        pass

    def _run(self, gen: RunRow) -> None:
        run = gen.run
        try:
            if not run.set_running_or_notify_cancel():  # cancelled before it started
                gen.finish(error=CancelledError("canceled before it was sent"))
                return
            try:
                result = run.execute()
            except BaseException as err:  # noqa: BLE001 - every failure is shown, not lost
                if not gen.canceled:  # shown before the row's result is released, for waiters
                    self.error.value = error_html(err)
                run.set_exception(err)
                gen.finish(error=err)
            else:
                self.last_result = result
                self._on_result(result)
                if self.gallery is not None:
                    try:
                        self.gallery.add(result)
                    except Exception as err:  # noqa: BLE001
                        self.error.value = error_html(err)
                run.set_result(result)
                gen.finish(result)
        finally:
            self._run_ended(run)

    def active(self) -> list[RunRow]:
        """The generations still running."""
        return [g for g in self.runs if not g.done]

    def wait(self, timeout: float | None = None) -> list[Any]:
        """Block until every generation started so far has ended; returns their
        results (an exception object in place of a failed one)."""
        out = []
        for g in list(self.runs):
            try:
                out.append(g.result(timeout))
            except Exception as err:  # noqa: BLE001
                out.append(err)
        return out

    def close(self) -> None:
        """Stop the background workers (running jobs are left to finish)."""
        if self._estimate_timer is not None:
            self._estimate_timer.cancel()
        self._pool.shutdown(wait=False)
