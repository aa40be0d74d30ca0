"""GeneratorForm: ipywidgets controls bound to the Skybox Flux.1 contract.

Invariant: the form holds no generation logic of its own. Each control maps to one
``SkyboxRequest`` field (ranges, defaults and labels come from ``contract.SKYBOX_FLUX``),
and every button calls exactly one public method (``generate``, ``cancel``,
``reuse_seed``, ``clear_init_image``) that notebook code can call the same way. Anything
that waits on the network (estimates, uploads, jobs) runs on a background thread, so the
kernel stays usable; widgets are updated from those threads' callbacks.
"""

from __future__ import annotations

import html
import io
import json
import threading
import warnings
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import numpy as np

from ..contract import SKYBOX_FLUX, STYLES, STYLE_LABELS, style_label
from ..errors import SkyboxError, ValidationError
from ..request import SkyboxRequest, validate_inputs
from .badge import account_badge

if TYPE_CHECKING:  # pragma: no cover
    from ..client import Run, RunResult, SkyboxClient

__all__ = ["GeneratorForm", "RunRow"]

_WIDE = W.Layout(width="95%")
_DESC = {"description_width": "170px"}


# A note under a field, lined up with the field's input (past its description).
_NOTE = "margin:-6px 0 4px 176px;font-size:12px;"


def _mid() -> W.Layout:
    """The layout of a slider or short field: room for the label and a usable track."""
    return W.Layout(width="520px")


# Seconds of quiet after the last edit before the cost estimate is asked for.
ESTIMATE_DELAY = 0.4


def _whole(x: float) -> float | int:
    """``x`` as an int when it is whole, so the body says 60 rather than 60.0."""
    return int(x) if float(x).is_integer() else x


def _tidy(x: float) -> float | int:
    """A slider's value as the number it shows: without the float noise of its steps
    (0.8000000000000002 becomes 0.8; a value set in code, like 37.5, is kept), whole
    numbers as ints."""
    return _whole(round(float(x), 6))


def _init_image_info(image: Any) -> tuple[bytes | None, str | None]:
    """(a JPEG thumbnail, a warning when it is not 2:1) for an init image given as a
    path, bytes, PIL image or array; (None, None) when it cannot be read here."""
    from PIL import Image

    try:
        if isinstance(image, (str, Path)):
            im = Image.open(image)
        elif isinstance(image, (bytes, bytearray, memoryview)):
            im = Image.open(io.BytesIO(bytes(image)))
        elif isinstance(image, Image.Image):
            im = image
        else:
            im = Image.fromarray(np.asarray(image))
        im.load()
    except Exception:  # noqa: BLE001 - the upload itself reports an unreadable image
        return None, None
    w, h = im.size
    warn = None
    if abs(w / h - 2.0) > 0.02:
        warn = (f"the init image is {w}x{h} (ratio {w / h:.2f}), not 2:1: the model will "
                "stretch it to an equirectangular panorama; crop or pad it to 2:1 first")
    thumb = im.convert("RGB")
    thumb.thumbnail((192, 96))
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=85)
    return buf.getvalue(), warn


def _error_html(err: BaseException) -> str:
    """An error as inline HTML: the message, and the server's hint when there is one."""
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
        run.add_listener(self._draw)

    @property
    def request(self) -> SkyboxRequest:
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
        if what == "cancel_error" and run.cancel_error is not None:
            self.status.value = _error_html(run.cancel_error)
        elif what == "cancel":
            self.status.value = "cancelling…"
        elif run.job is not None:
            self.bar.value = run.progress
            self.status.value = html.escape(f"{run.job.status} · {run.job.id}")

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        """Show how the run ended (worker thread), then release ``result()``'s waiters."""
        if error is None:
            self.bar.value, self.bar.bar_style = 1.0, "success"
            files = len(result.files)
            cost = "" if result.cu_cost is None else f" · {result.cu_cost:g} CU"
            self.status.value = html.escape(f"success · {files} file{'s' * (files != 1)}{cost}")
            self._shown.set_result(result)
        else:
            self.error = error
            if self.canceled:
                self.bar.bar_style = "warning"
                self.status.value = "canceled"
            else:
                self.bar.bar_style = "danger"
                self.status.value = _error_html(error)
            self._shown.set_exception(error)


class GeneratorForm:
    """A form for Skybox Flux.1 requests: fields, live body preview and snippets, cost
    estimate, Generate / Cancel with per-job progress, and inline errors.

    ``client`` defaults to ``SkyboxClient()`` (the offline emulator when no credentials
    are set). ``gallery``, when given, receives every finished result
    (``gallery.add(result)``) and can call back into the form (reuse seed, init image).
    Display the form by leaving it last in a cell.

    ``model`` another than Skybox Flux.1 (``"model_scenario-skybox-gpt"``, the skybox
    upscaler, any id) gives a `ModelForm` built from that model's ``GET /models/{id}``.
    """

    def __new__(cls, client: "SkyboxClient | None" = None, gallery: Any = None, *,
                model: str | None = None, **kwargs: Any) -> Any:
        if model is None or model == SKYBOX_FLUX.model_id:
            return super().__new__(cls)
        from .model_form import ModelForm

        prompt = kwargs.pop("prompt", "")
        if prompt:
            kwargs["values"] = {"prompt": prompt, **kwargs.get("values", {})}
        return ModelForm(client, model, gallery, **kwargs)

    def __init__(
        self,
        client: "SkyboxClient | None" = None,
        gallery: Any = None,
        *,
        model: str | None = None,
        prompt: str = "",
        max_workers: int = 4,
        estimate_delay: float = ESTIMATE_DELAY,
    ) -> None:
        if client is None:
            from ..client import SkyboxClient

            client = SkyboxClient()
        self.client = client
        self.gallery = None
        self.runs: list[RunRow] = []
        self.last_result: Any = None
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="skybox-form")
        self._estimate_delay = estimate_delay
        self._estimate_timer: threading.Timer | None = None
        self._estimates: dict[str, float] = {}
        self._build(prompt)
        if gallery is not None:
            self.attach(gallery)
        self._refresh()

    # ---- building -------------------------------------------------------------------

    def _build(self, prompt: str) -> None:
        spec = SKYBOX_FLUX
        self.badge = account_badge(self.client)
        self.prompt = W.Textarea(value=prompt, description="Prompt", style=_DESC, layout=_WIDE,
                                 placeholder=spec["prompt"].description, rows=2)
        self.style = W.Dropdown(options=[(STYLE_LABELS[s], s) for s in STYLES],
                                value=spec["style"].default, description="Style", style=_DESC,
                                layout=_mid())
        self.negative_prompt = W.Text(description="Negative prompt", style=_DESC, layout=_WIDE,
                                      placeholder="what to avoid, e.g. 'people, text'")
        nps = spec["negativePromptStrength"]
        self.negative_prompt_strength = W.FloatSlider(
            value=nps.default, min=nps.minimum, max=nps.maximum, step=0.1,
            description="Negative strength", style=_DESC, layout=_mid())
        self.negative_note = W.HTML(
            f'<div style="{_NOTE}color:#92400e">The negative prompt is ignored while its '
            "strength is 0: try 1 to 4.</div>")
        self.init_upload = W.FileUpload(accept="image/*", multiple=False, description="Upload init")
        self.image = W.Text(description="Init image", style=_DESC,
                            layout=W.Layout(width="440px", flex="0 1 auto"),
                            placeholder="a file path or asset id; or upload, or 'Init' on a result")
        self.clear_image_button = W.Button(description="Clear", icon="times",
                                           layout=W.Layout(width="80px", flex="0 0 auto"))
        self.init_upload.layout = W.Layout(flex="0 0 auto")
        # what the init field holds: its thumbnail, and a problem or a warning below it
        self.init_preview = W.Image(format="jpeg", layout=W.Layout(
            display="none", max_width="192px", margin="0 0 4px 176px"))
        self.init_note = W.HTML()
        self._init_problem: str | None = None
        st = spec["strength"]
        self.strength = W.FloatSlider(value=st.default, min=st.minimum, max=st.maximum,
                                      step=0.01, description="Strength", style=_DESC, layout=_mid(),
                                      disabled=True)
        no = spec["numOutputs"]
        self.num_outputs = W.IntSlider(value=no.default, min=int(no.minimum), max=int(no.maximum),
                                       description="Outputs", style=_DESC, layout=_mid())
        ns = spec["numInferenceSteps"]
        self.steps = W.IntSlider(value=ns.default, min=int(ns.minimum), max=int(ns.maximum),
                                 description="Steps", style=_DESC, layout=_mid())
        ge = spec["geometryEnforcement"]
        # A float slider in whole steps: the contract takes any number from 0 to 100, and
        # set_values must not round a level given in code.
        self.geometry_enforcement = W.FloatSlider(
            value=ge.default, min=ge.minimum, max=ge.maximum, step=1, readout_format=".0f",
            description="Geometry enforcement", style=_DESC, layout=_mid())
        self.geometry_note = W.HTML()
        sd = spec["seed"]
        self.seed_mode = W.ToggleButtons(options=[("Random", "random"), ("Lock", "lock")],
                                         value="random", style={"button_width": "80px"})
        # not a BoundedIntText: that one clamps silently; this form clamps and says so
        self._seed_range = (int(sd.minimum), int(sd.maximum))
        self.seed = W.IntText(value=0, description="Seed", style=_DESC, disabled=True,
                              layout=W.Layout(width="340px"))
        self.seed_note = W.HTML()
        self.reuse_seed_button = W.Button(description="Reuse last seed", icon="repeat",
                                          disabled=True)
        self.generate_button = W.Button(description="Generate", button_style="primary",
                                        icon="play")
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True)
        self.cost = W.HTML("Estimate: …")
        self.validation = W.HTML()
        self.error = W.HTML()
        self.jobs = W.VBox()
        self.body_preview = W.HTML()
        self.snippet_kind = W.ToggleButtons(options=["cURL", "Python"], value="cURL",
                                            style={"button_width": "70px"})
        self.snippet = W.Textarea(rows=10, layout=_WIDE)

        # Two columns (they wrap on a narrow page): the fields on the left, what will be
        # sent on the right; the jobs and errors below both.
        fields = W.VBox([
            self.prompt,
            self.style,
            self.negative_prompt,
            self.negative_prompt_strength,
            self.negative_note,
            W.HBox([self.image, self.init_upload, self.clear_image_button],
                   layout=W.Layout(flex_flow="row nowrap")),
            self.init_note,
            self.init_preview,
            self.strength,
            self.num_outputs,
            self.steps,
            self.geometry_enforcement,
            self.geometry_note,
            W.HBox([self.seed, self.seed_mode, self.reuse_seed_button]),
            self.seed_note,
            W.HBox([self.generate_button, self.cancel_button, self.cost]),
            self.validation,
        ], layout=W.Layout(width="680px"))
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
            W.HBox([fields, sent], layout=W.Layout(flex_flow="row wrap")),
            self.jobs,
            self.error,
        ])

        for w in (self.prompt, self.style, self.negative_prompt, self.negative_prompt_strength,
                  self.image, self.strength, self.num_outputs, self.steps,
                  self.geometry_enforcement, self.seed, self.seed_mode, self.snippet_kind):
            w.observe(lambda _change: self._refresh(), names="value")
        self.init_upload.observe(self._on_upload, names="value")
        self.seed.observe(self._clamp_seed, names="value")
        self.generate_button.on_click(lambda _b: self.generate())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.reuse_seed_button.on_click(lambda _b: self.reuse_seed())
        self.clear_image_button.on_click(lambda _b: self.clear_init_image())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):  # what a saved notebook shows before it is run
            bundle["text/plain"] = 'GeneratorForm: the Skybox Flux.1 form. Run this cell to use it (widgets need a running kernel).'
        return bundle

    # ---- the request ----------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The request fields the form holds now (Python names; unset ones left out)."""
        v: dict[str, Any] = {
            "prompt": self.prompt.value,
            "style": self.style.value,
            "num_outputs": self.num_outputs.value,
            "num_inference_steps": self.steps.value,
            "geometry_enforcement": _tidy(self.geometry_enforcement.value),
        }
        if self.negative_prompt.value.strip():
            v["negative_prompt"] = self.negative_prompt.value
            v["negative_prompt_strength"] = _tidy(self.negative_prompt_strength.value)
        if self.image.value.strip().startswith("asset_"):  # a path is uploaded first
            v["image"] = self.image.value.strip()
            v["strength"] = _tidy(self.strength.value)
        if self.seed_mode.value == "lock":
            v["seed"] = self.seed.value
        return v

    def request(self) -> SkyboxRequest:
        """The ``SkyboxRequest`` the form describes. Raises ``ValidationError`` when a
        field is invalid (e.g. an empty prompt); the form shows the same text inline."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # notes are shown inline instead
            return SkyboxRequest(**self.values())

    def set_values(self, **values: Any) -> None:
        """Set form fields by ``SkyboxRequest`` field name (``steps`` is accepted for
        ``num_inference_steps``; ``seed=None`` means random). Every value is checked
        against the contract first: a bad one raises ``ValidationError`` naming the
        field, the value and what is allowed, and nothing is changed."""
        values = dict(values)
        if "steps" in values:
            values["num_inference_steps"] = values.pop("steps")
        names = SkyboxRequest.API_NAMES
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"set_values: unknown field(s) {unknown}; allowed: "
                             + ", ".join([*names, "steps"]))
        given = {names[k]: v for k, v in values.items()}
        _, problems, _ = validate_inputs(SKYBOX_FLUX, given)
        # Only the fields given are judged (the prompt may be filled in later).
        problems = [p for p in problems if p.field in given and given[p.field] is not None]
        if problems:
            raise ValidationError(problems, model_id=SKYBOX_FLUX.model_id)
        widgets = {
            "prompt": self.prompt, "style": self.style, "negative_prompt": self.negative_prompt,
            "negative_prompt_strength": self.negative_prompt_strength, "image": self.image,
            "strength": self.strength, "num_outputs": self.num_outputs,
            "num_inference_steps": self.steps, "geometry_enforcement": self.geometry_enforcement,
        }
        for name, value in values.items():
            if name == "seed":
                self.seed_mode.value = "random" if value is None else "lock"
                if value is not None:
                    self.seed.value = int(value)
            elif name in ("prompt", "negative_prompt", "image"):
                widgets[name].value = value or ""
            elif value is not None:
                widgets[name].value = value
        self._refresh()

    # ---- live state -----------------------------------------------------------------

    def _refresh(self) -> None:
        """Bring every derived widget in line with the fields (runs on each edit)."""
        self._check_init_field()
        has_image = "image" in self.values()
        self.strength.disabled = not has_image
        self.seed.disabled = self.seed_mode.value != "lock"
        nps_zero = self.negative_prompt_strength.value == 0
        has_negative = bool(self.negative_prompt.value.strip())
        self.negative_note.layout.display = "" if nps_zero and has_negative else "none"
        if self.geometry_enforcement.value == 0:
            note = f"0 = the style's default level ({style_label(self.style.value)})"
        else:
            note = "overrides the style's default level"
        note = html.escape(note, quote=False)
        self.geometry_note.value = f'<div style="{_NOTE}color:#555">{note}</div>'
        try:
            req = self.request()
        except ValidationError as err:
            self.validation.value = _error_html(err)
            self.body_preview.value = ""
            self.snippet.value = ""
            self.generate_button.disabled = True
            self.cost.value = "Estimate: fix the fields first"
            return
        if self._init_problem is not None:  # shown under the field
            self.validation.value = ""
            self.generate_button.disabled = True
            self.cost.value = "Estimate: fix the init image first"
            return
        # The contract's notes, less the one the note under the negative strength shows.
        shown = [n for n in req.warnings
                 if not (nps_zero and "negativePrompt" in n)]
        notes = "".join(f'<div style="color:#92400e">Note: {html.escape(n)}</div>'
                        for n in shown)
        self.validation.value = notes
        self.generate_button.disabled = False
        body = json.dumps(req.to_body(), indent=2, ensure_ascii=False)
        self.body_preview.value = f"<pre style='margin:0'>{html.escape(body)}</pre>"
        self.snippet.value = req.to_curl() if self.snippet_kind.value == "cURL" else req.to_python()
        self._schedule_estimate(req)

    def _schedule_estimate(self, req: SkyboxRequest) -> None:
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
        if self._init_problem is not None:  # the form says what to fix; no price yet
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

    # ---- actions (each button calls exactly one of these) ---------------------------

    def generate(self) -> RunRow | None:
        """Start a generation of the current request on a background thread and return
        its `RunRow` (``.result()`` waits; ``.run`` is the client's `Run` handle). An
        invalid form returns None and shows why inline, instead of raising."""
        try:
            req = self.request()
        except ValidationError as err:
            self.validation.value = _error_html(err)
            return None
        self.error.value = ""
        from ..client import Run

        gen = RunRow(Run(self.client, req))
        self.runs.append(gen)
        self.jobs.children = (*self.jobs.children, gen.row)
        self.cancel_button.disabled = False
        self._pool.submit(self._run, gen)
        return gen

    def _run(self, gen: RunRow) -> None:
        run = gen.run
        if not run.set_running_or_notify_cancel():  # cancelled before it started
            gen.finish(error=CancelledError("canceled before it was sent"))
            self.cancel_button.disabled = not self.active()
            return
        try:
            result = run.execute()
        except BaseException as err:  # noqa: BLE001 - every failure is shown, not lost
            if not gen.canceled:  # shown before the row's result is released, for waiters
                self.error.value = _error_html(err)
            run.set_exception(err)
            gen.finish(error=err)
        else:
            self.last_result = result
            self.reuse_seed_button.disabled = self.last_seed() is None
            if self.gallery is not None:
                try:
                    self.gallery.add(result)
                except Exception as err:  # noqa: BLE001
                    self.error.value = _error_html(err)
            run.set_result(result)
            gen.finish(result)
        finally:
            self.cancel_button.disabled = not self.active()

    def active(self) -> list[RunRow]:
        """The generations still running."""
        return [g for g in self.runs if not g.done]

    def cancel(self) -> int:
        """Cancel every running generation of this form; returns how many were asked."""
        return sum(g.cancel() for g in self.active())

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

    def last_seed(self) -> int | None:
        """The seed of the first output of the last successful run, if known."""
        assets = getattr(self.last_result, "assets", None) or []
        seed = assets[0].seed if assets else None
        return None if seed is None else int(seed)

    def reuse_seed(self, seed: int | None = None) -> int:
        """Lock the seed to ``seed`` (default: the last result's). Returns the seed."""
        seed = self.last_seed() if seed is None else seed
        if seed is None:
            raise ValueError("reuse_seed: no seed given and no finished result to take one from")
        self.set_values(seed=int(seed))
        return int(seed)

    def set_init_image(self, image: Any, preview: Any = None, name: str | None = None) -> str:
        """Use ``image`` as the init image: an asset id (str) is used as is; a path,
        bytes, PIL image or array is uploaded first (``client.upload``). The field then
        shows its thumbnail (of ``preview``, a path or image, for an asset id) and a
        warning when it is not 2:1. Returns the asset id now in the form. An upload that
        fails raises, and the field says why, naming the file (``name`` for bytes)."""
        label = name or (str(image) if isinstance(image, (str, Path)) else "the image given")
        try:
            if isinstance(image, str) and image.startswith("asset_"):
                asset_id = image
            else:
                asset_id = self.client.upload(image)
                preview = image if preview is None else preview
        except Exception as err:
            self._init_failure = (str(image) if isinstance(image, (str, Path)) else "",
                                  f"init image {label}: {err}")
            self._refresh()
            raise
        thumb, warn = _init_image_info(preview) if preview is not None else (None, None)
        self._init_failure = None
        self._shown_init = (asset_id, thumb, warn)
        self.set_values(image=asset_id)
        return asset_id

    def clear_init_image(self) -> None:
        """Remove the init image (and so disable strength)."""
        self._init_failure = None
        self.init_upload.value = ()
        self.set_values(image=None)

    # (asset id, its thumbnail, its 2:1 warning) of the init image set last
    _shown_init: tuple[str, bytes | None, str | None] = ("", None, None)
    # (the field's text, the message) of the last init image that failed to upload
    _init_failure: tuple[str, str] | None = None
    _pending_path: str | None = None

    def _check_init_field(self) -> None:
        """Judge the init field's text: empty, an asset id, or a file path (uploaded on a
        worker, then replaced by its asset id); anything else is a problem that names the
        value and disables Generate until the field is fixed. A failed upload stays
        shown until the next init image succeeds or the field changes."""
        value = self.image.value.strip()
        failed_text, failure = self._init_failure or (None, None)
        asset_id, thumb, warn = self._shown_init
        if failure is not None and value == failed_text:
            # an empty field after a failed upload is valid (no init image), a path is not
            self._show_init(problem=failure, blocking=bool(value))
        elif not value:
            self._show_init()
        elif value.startswith("asset_"):
            ours = value == asset_id
            self._show_init(warning=warn if ours else None, thumb=thumb if ours else None)
        elif Path(value).expanduser().is_file():
            self._show_init(busy=f"uploading {value}…")
            if self._pending_path != value:
                self._pending_path = value
                self._pool.submit(self._upload_path, value)
        elif Path(value).expanduser().is_dir():
            self._show_init(problem=f"init image: got {value!r}, a folder; allowed: an "
                                    "image file or an asset id (asset_...)")
        else:
            self._show_init(problem=f"init image: got {value!r}; allowed: an image file "
                                    "that exists, or an asset id (asset_...)")

    def _upload_path(self, path: str) -> None:
        try:
            self.set_init_image(str(Path(path).expanduser()), name=path)
        except Exception:  # noqa: BLE001 - set_init_image showed it under the field
            pass
        finally:
            self._pending_path = None

    def _show_init(self, problem: str | None = None, warning: str | None = None,
                   thumb: bytes | None = None, busy: str | None = None,
                   blocking: bool = True) -> None:
        """Show the init field's state under it: a problem (red; Generate waits when it
        is ``blocking``), a warning (amber) or work in progress, and the thumbnail."""
        self._init_problem = (problem if blocking else None) or busy  # Generate waits
        if problem:
            text, colour = problem, "#b91c1c"
        elif busy:
            text, colour = busy, "#555"
        else:
            text, colour = warning, "#92400e"
        self.init_note.value = (f'<div style="{_NOTE}color:{colour};white-space:normal;'
                                f'line-height:1.35">'
                                f"{html.escape(text)}</div>" if text else "")
        if thumb:
            self.init_preview.value = thumb
        self.init_preview.layout.display = "" if thumb and not problem else "none"

    def _clamp_seed(self, change: dict) -> None:
        """Keep the seed in the contract's range, and say so when a value was clamped."""
        lo, hi = self._seed_range
        value = change["new"]
        if lo <= value <= hi:
            if not self.seed_note.value.startswith(f'<div data-clamped="{value}"'):
                self.seed_note.value = ""
            return
        clamped = min(max(value, lo), hi)
        self.seed_note.value = (f'<div data-clamped="{clamped}" style="{_NOTE}color:#92400e">'
                                f"seed {value} is outside {lo} to {hi}: clamped to {clamped}"
                                "</div>")
        self.seed.value = clamped

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        content = bytes(files[0]["content"])
        placeholder, self.image.placeholder = self.image.placeholder, "uploading…"

        def work() -> None:
            try:
                self.set_init_image(content, name=str(files[0].get("name") or "upload"))
            except Exception:  # noqa: BLE001 - e.g. not an image: shown under the field
                pass
            finally:
                self.image.placeholder = placeholder

        self._pool.submit(work)

    def attach(self, gallery: Any) -> None:
        """Send finished results to ``gallery`` and let it call back into this form."""
        self.gallery = gallery
        if getattr(gallery, "form", None) is not self:
            gallery.form = self

    def close(self) -> None:
        """Stop the background workers (running jobs are left to finish)."""
        if self._estimate_timer is not None:
            self._estimate_timer.cancel()
        self._pool.shutdown(wait=False)
