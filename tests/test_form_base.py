"""FormBase, the half every generation form shares: the body and snippet shown, the
estimate cached and never overwritten by a stale answer, and every run shown and sent to
the gallery, however it ends; plus error_html, the one way the widgets show an error."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import ipywidgets as W
import pytest

from skybox_nb.errors import SkyboxError, ValidationError
from skybox_nb.validation import Problem
from skybox_nb.widgets.form_base import FormBase
from skybox_nb.widgets.run_row import RunRow, error_html

pytestmark = pytest.mark.timeout(60)


class FakeRequest:
    def __init__(self, text: str) -> None:
        self.prompt = text
        self.fingerprint = f"fp-{text}"
        self.model_id = "model_x"

    def to_body(self) -> dict:
        return {"prompt": self.prompt}

    def to_curl(self) -> str:
        return f"curl -d {self.prompt}"

    def to_python(self) -> str:
        return f"run({self.prompt!r})"


class FakeClient:
    """Prices a request by its length; runs answer or fail as told."""

    is_emulator, backend = True, "offline emulator (test)"

    def __init__(self, fail: BaseException | None = None) -> None:
        self.estimates: list[str] = []
        self.fail = fail
        self.release = threading.Event()
        self.release.set()

    def estimate(self, req: FakeRequest) -> float:
        self.estimates.append(req.prompt)
        return float(len(req.prompt))

    def account(self) -> None:
        return None

    def run(self, req: FakeRequest, on_progress=None):
        self.release.wait(10)
        if self.fail is not None:
            raise self.fail
        return SimpleNamespace(files=["a.png"], cu_cost=3.0, assets=[], request=req)


class TextForm(FormBase):
    """The smallest form: one text field; an empty one is invalid."""

    def __init__(self, client, gallery=None) -> None:
        self._setup(client, 2, 0.01, "test-form")
        self.gallery = gallery
        self.events: list[str] = []
        self._outputs()
        self.text = W.Text(value="sky")
        self._assemble([self.text, self.generate_button, self.cost, self.validation])
        self.text.observe(lambda _c: self._refresh(), names="value")
        self._refresh()

    def request(self) -> FakeRequest:
        if not self.text.value:
            raise ValidationError([Problem("prompt", "", "a non-empty text")], model_id="model_x")
        return FakeRequest(self.text.value)

    def _refresh(self) -> None:
        try:
            req = self.request()
        except ValidationError as err:
            self._show_invalid(err)
            return
        self.generate_button.disabled = False
        self._show_request(req)

    def generate(self) -> RunRow:
        from skybox_nb.client import Run

        return self._launch(Run(self.client, self.request()))

    def _on_result(self, result) -> None:
        self.events.append("result")

    def _run_ended(self, run) -> None:
        self.events.append("ended")


def wait_until(cond, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_the_body_snippet_and_estimate_follow_the_fields():
    client = FakeClient()
    form = TextForm(client)
    assert "&quot;prompt&quot;: &quot;sky&quot;" in form.body_preview.value
    assert form.snippet.value == "curl -d sky"
    wait_until(lambda: "3 CU" in form.cost.value)
    form.snippet_kind.value = "Python"
    assert form.snippet.value == "run('sky')"
    assert client.estimates == ["sky"]  # cached per fingerprint: asked once
    form.text.value = ""
    assert "[invalid] 1 invalid field for model_x" in form.validation.value
    assert form.generate_button.disabled and form.body_preview.value == ""
    assert form.cost.value == "Estimate: fix the fields first"
    form.close()


def test_a_slow_estimate_never_overwrites_a_newer_one():
    client = FakeClient()
    slow = threading.Event()
    plain = client.estimate

    def estimate(req):
        if req.prompt == "sky":
            slow.wait(10)  # the answer for "sky" arrives after the field changed
        return plain(req)

    client.estimate = estimate
    form = TextForm(client)
    time.sleep(0.1)  # the debounced estimate for "sky" is now waiting on the service
    form.text.value = "a longer sky"
    wait_until(lambda: "12 CU" in form.cost.value)
    slow.set()
    wait_until(lambda: "fp-sky" in form._estimates)
    time.sleep(0.05)
    assert "12 CU" in form.cost.value
    form.close()


def test_a_run_goes_to_the_gallery_and_its_row_shows_the_cost():
    gallery = SimpleNamespace(added=[], add=lambda r: gallery.added.append(r))
    form = TextForm(FakeClient(), gallery=gallery)
    row = form.generate()
    result = row.result(10)
    assert gallery.added == [result] and form.last_result is result
    assert "success · 1 file · 3 CU" in row.status.value and row.bar.bar_style == "success"
    assert form.wait(5) == [result] and form.active() == []
    assert form.events == ["result", "ended"]
    assert form.jobs.children == (row.row,)
    form.close()


def test_a_failed_run_is_shown_and_returned_not_lost():
    form = TextForm(FakeClient(fail=SkyboxError("the service said no <b>", hint="try later")))
    row = form.generate()
    with pytest.raises(SkyboxError):
        row.result(10)
    assert "the service said no &lt;b&gt;" in form.error.value and "try later" in form.error.value
    assert row.bar.bar_style == "danger" and form.events == ["ended"]
    assert isinstance(form.wait(5)[0], SkyboxError)
    form.close()


def test_a_run_cancelled_before_it_started_still_ends_the_run():
    client = FakeClient()
    client.release.clear()
    form = TextForm(client)
    busy = [form.generate(), form.generate()]  # both workers wait in client.run
    late = form.generate()
    assert late.cancel()
    client.release.set()
    with pytest.raises(Exception):
        late.result(10)
    assert late.canceled and late.status.value == "canceled"
    assert all(r.result(10) for r in busy)
    wait_until(lambda: form.events.count("ended") == 3)
    form.close()


def test_error_html_escapes_and_keeps_the_hint():
    out = error_html(SkyboxError("<script>x</script>", hint="a & b"))
    assert "<script>" not in out and "&lt;script&gt;" in out and "a &amp; b" in out
    assert "ValueError: bad &lt;value&gt;" in error_html(ValueError("bad <value>"))
