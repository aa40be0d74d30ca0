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
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import numpy as np

from ..contract import SKYBOX_FLUX, STYLES, STYLE_LABELS, style_label
from ..errors import ValidationError
from ..request import SkyboxRequest, validate_inputs
from .form_base import ESTIMATE_DELAY, FormBase
from .run_row import RunRow, error_html

if TYPE_CHECKING:  # pragma: no cover
    from ..client import Run, SkyboxClient

__all__ = ["GeneratorForm", "RunRow"]

_WIDE = W.Layout(width="95%")
_DESC = {"description_width": "170px"}


# A note under a field, lined up with the field's input (past its description).
_NOTE = "margin:-6px 0 4px 176px;font-size:12px;"


def _mid() -> W.Layout:
    """The layout of a slider or short field: room for the label and a usable track."""
    return W.Layout(width="520px")


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


class GeneratorForm(FormBase):
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
        self._setup(client, max_workers, estimate_delay, "skybox-form")
        self._submit_lock = threading.Lock()
        self._submitting = False  # a Generate's paid POST is on its way: no second one
        self._build(prompt)
        if gallery is not None:
            self.attach(gallery)
        self._refresh()

    # ---- building -------------------------------------------------------------------

    def _build(self, prompt: str) -> None:
        spec = SKYBOX_FLUX
        self._outputs()
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
        # Scenario refuses to cancel custom-model jobs: the honest word is "stop waiting"
        # (a cancel is still asked for, in case the service accepts it).
        self.cancel_button = W.Button(description="Stop waiting", icon="stop", disabled=True,
                                      tooltip="A generation the service will not cancel "
                                      "keeps running and is billed; its outputs are still "
                                      "downloaded when it ends.")
        self._assemble([
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
        ])
        for w in (self.prompt, self.style, self.negative_prompt, self.negative_prompt_strength,
                  self.image, self.strength, self.num_outputs, self.steps,
                  self.geometry_enforcement, self.seed, self.seed_mode):
            w.observe(lambda _change: self._refresh(), names="value")
        self.init_upload.observe(self._on_upload, names="value")
        self.seed.observe(self._clamp_seed, names="value")
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
        req = self._valid_request()
        if req is None:
            return
        if self._init_problem is not None:  # shown under the field
            self.validation.value = ""
            self.generate_button.disabled = True
            self.cost.value = "Estimate: fix the init image first"
            return
        # The contract's notes, less the one the note under the negative strength shows.
        self._show_notes([n for n in req.warnings if not (nps_zero and "negativePrompt" in n)])
        self.generate_button.disabled = self._submitting
        self._show_request(req)

    def _estimate_ready(self) -> bool:
        return self._init_problem is None  # the form says what to fix; no price yet

    # ---- actions (each button calls exactly one of these) ---------------------------

    def generate(self) -> RunRow | None:
        """Start a generation of the current request on a background thread and return
        its `RunRow` (``.result()`` waits; ``.run`` is the client's `Run` handle). An
        invalid form returns None and shows why inline, instead of raising. While the
        previous Generate's request is being submitted (no job id yet), Generate is
        disabled and a call returns None: a double click never pays twice."""
        with self._submit_lock:
            if self._submitting:
                return None
            try:
                req = self.request()
            except ValidationError as err:
                self.validation.value = error_html(err)
                return None
            self._submitting = True
        self.generate_button.disabled = True
        self.error.value = ""
        from ..client import Run

        run = Run(self.client, req)
        run.add_listener(self._submitted)
        self.cancel_button.disabled = False
        return self._launch(run)

    def _on_result(self, result: Any) -> None:
        self.reuse_seed_button.disabled = self.last_seed() is None

    def _run_ended(self, run: "Run") -> None:
        self._submitted(run, "ended")
        self.cancel_button.disabled = not self.active()

    def _submitted(self, run: "Run", what: str) -> None:
        """Generate is enabled again once the run's job id is known, or it ended."""
        if self._submitting and (run.job is not None or what == "ended"):
            self._submitting = False
            self._refresh()

    def cancel(self) -> int:
        """Stop waiting for every running generation of this form, asking Scenario to
        cancel each; returns how many were asked. Where the service refuses (it does for
        custom-model generations), the job keeps running and is billed, and its row
        keeps following it so its outputs are still downloaded."""
        return sum(g.cancel() for g in self.active())

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
