"""ModelForm: a form for any Scenario model, its fields built from the model's own spec.

Invariant: every field comes from one `InputSpec` of the model's ``GET /models/{id}``
record (its type, default, range, step, allowed values, required rule, label,
description and group), and what the form sends is a `ModelRequest`, checked by the same
`validate_inputs` as Skybox Flux.1's hand-tuned form. An input left at the service's
default is left out of the body, so the service applies it. The form holds no logic of
its own: ``values``, ``request``, ``estimate``, ``generate``, ``set_values`` and
``upload_into`` are the calls its widgets make, and notebook code can make them too.
"""

from __future__ import annotations

import html
import warnings
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from ..contract import InputSpec, ModelSpec
from ..errors import ValidationError
from ..request import ModelRequest
from ..validation import validate_inputs
from .form_base import ESTIMATE_DELAY, FormBase
from .run_row import RunRow, error_html

if TYPE_CHECKING:  # pragma: no cover
    from ..client import SkyboxClient

__all__ = ["ModelForm"]

_DESC = {"description_width": "170px"}
_MID = "520px"
# Sliders only for ranges a slider can show; wider ones (seeds) are typed.
_SLIDER_SPAN = 10000


def _label(spec: InputSpec) -> str:
    return spec.label or spec.name


def _field(spec: InputSpec) -> W.Widget:
    """The widget for one input: a dropdown for allowed values, a slider for a bounded
    number, a checkbox for a boolean, text for the rest (asset ids, lists, seeds)."""
    desc = _label(spec) + (" *" if spec.required else "")
    common = dict(description=desc, style=_DESC, tooltip=spec.description or None)
    if spec.allowed is not None:
        options = [(str(a), a) for a in spec.allowed]
        if spec.default is None:
            options.insert(0, ("(not set)", None))
        return W.Dropdown(options=options, value=spec.default, layout=W.Layout(width=_MID), **common)
    if spec.type == "boolean":
        return W.Checkbox(value=bool(spec.default), indent=False, **common)
    bounded = spec.minimum is not None and spec.maximum is not None
    if spec.type == "number" and bounded and spec.default is not None \
            and spec.maximum - spec.minimum <= _SLIDER_SPAN:
        cls = W.IntSlider if spec.integer else W.FloatSlider
        kw = dict(min=spec.minimum, max=spec.maximum, step=spec.step or (1 if spec.integer else 0.01))
        if spec.integer:
            kw = {k: int(v) for k, v in kw.items()}
        return cls(value=spec.default, layout=W.Layout(width=_MID), **kw, **common)
    placeholder = spec.description or ""
    if spec.type == "number":
        placeholder = f"{spec.describe_allowed()} (empty: the service picks)"
    elif spec.type in ("file_array", "string_array"):
        placeholder = "comma-separated " + ("asset ids" if spec.type == "file_array" else "values")
    elif spec.type == "file":
        placeholder = "an asset id: upload, or paste one"
    if spec.type == "string" and spec.name.lower().endswith("prompt") and spec.name != "negativePrompt":
        return W.Textarea(value=spec.default or "", rows=2, placeholder=placeholder,
                          layout=W.Layout(width="95%"), **common)
    value = "" if spec.default is None else str(spec.default)
    return W.Text(value=value, placeholder=placeholder, layout=W.Layout(width=_MID), **common)


def _read(spec: InputSpec, widget: W.Widget) -> Any:
    """The widget's value as the API takes it (None: not set)."""
    v = widget.value
    if isinstance(widget, (W.Text, W.Textarea)):
        text = v.strip()
        if not text:
            return None
        if spec.type in ("file_array", "string_array"):
            return [t.strip() for t in text.split(",") if t.strip()]
        if spec.type == "number":
            try:
                number = float(text)
            except ValueError:
                return text  # validation names it: "expected a number, got str"
            return int(number) if number.is_integer() else number
        return v if spec.type == "string" else text
    return v


def _show(spec: InputSpec, value: Any) -> Any:
    """A value as the widget for ``spec`` holds it."""
    if spec.type in ("file_array", "string_array") and isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if spec.type == "number" and spec.allowed is None and (spec.default is None
                                                           or spec.minimum is None
                                                           or spec.maximum is None
                                                           or spec.maximum - spec.minimum > _SLIDER_SPAN):
        return "" if value is None else str(value)
    if spec.type in ("string", "file") and spec.allowed is None and value is None:
        return ""
    return value


def _same(value: Any, default: Any) -> bool:
    """True when ``value`` is the default (0.0 is 0; True is not 1)."""
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    return value == default


class ModelForm(FormBase):
    """A generation form for any model: ``ModelForm(client, "model_scenario-skybox-gpt")``.

    ``model`` is a model id (its spec is read with ``client.model_spec``) or a
    `ModelSpec`. Fields appear in the model's order under its group headings; the body,
    a cURL or Python snippet and the cost estimate follow every edit; Generate runs the
    request in the background (``gallery.add`` gets each result). Display the form by
    leaving it last in a cell; ``GeneratorForm(client, model=...)`` builds one too.
    """

    def __init__(self, client: "SkyboxClient | None" = None, model: str | ModelSpec = "",
                 gallery: Any = None, *, values: dict[str, Any] | None = None,
                 max_workers: int = 4, estimate_delay: float = ESTIMATE_DELAY) -> None:
        self._setup(client, max_workers, estimate_delay, "skybox-model-form")
        self.spec = model if isinstance(model, ModelSpec) else self.client.model_spec(model)
        self.model_id = self.spec.model_id
        self.gallery = gallery
        self._build()
        if values:
            self.set_values(**values)
        self._refresh()

    # ---- building -------------------------------------------------------------------

    def _build(self) -> None:
        self._outputs()
        self.fields: dict[str, W.Widget] = {}
        rows: list[W.Widget] = [W.HTML(f"<b>{html.escape(self.spec.name or self.model_id)}</b> "
                                       f"<code>{html.escape(self.model_id)}</code>")]
        group = None
        for spec in self.spec.inputs.values():
            if spec.group and spec.group != group:
                group = spec.group
                rows.append(W.HTML(f'<div style="margin-top:6px;color:#374151"><b>'
                                   f"{html.escape(group)}</b></div>"))
            w = _field(spec)
            self.fields[spec.name] = w
            if spec.type in ("file", "file_array"):
                up = W.FileUpload(accept="image/*", multiple=spec.type == "file_array",
                                  description="Upload")
                up.observe(lambda ch, name=spec.name: self._on_upload(name, ch), names="value")
                rows.append(W.HBox([w, up]))
            else:
                rows.append(w)
            if spec.cost_impact:
                w.tooltip = (w.tooltip or "") + " (changes the cost)"
        rows += [W.HBox([self.generate_button, self.cost]), self.validation]
        self._assemble(rows)
        for w in self.fields.values():
            w.observe(lambda _change: self._refresh(), names="value")

    # ---- the request ----------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The inputs the form sends (API names): what is set and differs from the
        service's default, and every required input."""
        out = {}
        for name, spec in self.spec.inputs.items():
            v = _read(spec, self.fields[name])
            if v is None or (not spec.required and _same(v, spec.default)):
                continue
            out[name] = v
        return out

    def request(self) -> ModelRequest:
        """The `ModelRequest` the form describes; raises ``ValidationError`` (shown
        inline too) when an input is invalid."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # notes are shown inline instead
            return ModelRequest(self.spec, self.values())

    def set_values(self, **values: Any) -> None:
        """Set inputs by API name (``None`` resets one to its default). Each value is
        checked against the spec first: a bad one raises ``ValidationError`` naming the
        input, the value and what is allowed, and nothing changes."""
        unknown = sorted(set(values) - set(self.spec.inputs))
        given = {k: v for k, v in values.items() if v is not None}
        _, problems, _ = validate_inputs(self.spec, given)
        problems = [p for p in problems if p.field in given or p.field in unknown]
        if problems:
            raise ValidationError(problems, model_id=self.model_id)
        for name, value in values.items():
            spec = self.spec[name]
            self.fields[name].value = _show(spec, spec.default if value is None else value)
        self._refresh()

    # ---- live state -----------------------------------------------------------------

    def _refresh(self) -> None:
        req = self._valid_request()
        if req is None:
            return
        self._show_notes(req.warnings)
        self.generate_button.disabled = False
        self._show_request(req)

    # ---- actions --------------------------------------------------------------------

    def generate(self) -> RunRow | None:
        """Run the current request in the background; returns its `RunRow` (call
        ``.result()`` to wait; ``.run`` is the client's `Run` handle), or None when the
        form is invalid (shown inline)."""
        try:
            req = self.request()
        except ValidationError as err:
            self.validation.value = error_html(err)
            return None
        self.error.value = ""
        from ..client import Run

        return self._launch(Run(self.client, req))

    def upload_into(self, name: str, image: Any) -> str:
        """Upload ``image`` (path, bytes, PIL image or array) and put its asset id in
        input ``name`` (appended for a list input). Returns the asset id."""
        spec = self.spec[name]
        if spec.type not in ("file", "file_array"):
            raise ValueError(f"upload_into: {name!r} is a {spec.type} input; allowed: "
                             "an input of type file or file_array")
        asset_id = self.client.upload(image)
        if spec.type == "file":
            self.set_values(**{name: asset_id})
        else:
            current = _read(spec, self.fields[name]) or []
            self.set_values(**{name: [*current, asset_id]})
        return asset_id

    def _on_upload(self, name: str, change: dict) -> None:
        files = change["new"]
        if not files:
            return

        def work() -> None:
            for f in files:
                try:
                    self.upload_into(name, bytes(f["content"]))
                except Exception as err:  # noqa: BLE001 - e.g. not an image: shown inline
                    self.error.value = error_html(err)

        self._pool.submit(work)
