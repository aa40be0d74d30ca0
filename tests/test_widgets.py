"""The generator form, the gallery and the badge, driven from Python against an in-process
emulator: every control is set through ``.value`` and every button through ``.click()``."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import datetime, timezone

import ipywidgets as W
import pytest
from PIL import Image

from fast import emulator
from skybox_nb.client import SkyboxClient
from skybox_nb.contract import STYLE_LABELS, STYLES
from skybox_nb.emulator import Emulator
from skybox_nb.errors import SkyboxError, ValidationError
from skybox_nb.request import SkyboxRequest
from skybox_nb.widgets import Gallery, GeneratorForm, Viewer360, backend_badge, badge_html

KEY, SECRET = "canary-key-7f3a", "canary-secret-91bd"


def wait_until(cond, timeout=15.0, step=0.02):
    """Poll ``cond`` until it is truthy; fail the test after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def emu():
    with emulator(render_size=(256, 128)) as e:  # shared by the module: widgets only read
        yield e


@pytest.fixture()
def client(emu, tmp_path):
    c = SkyboxClient(api_key=KEY, api_secret=SECRET, emulator=emu,
                     library=str(tmp_path / "lib"))
    yield c
    c.close()


@pytest.fixture()
def form(client):
    f = GeneratorForm(client, prompt="a misty lake at dawn", estimate_delay=0.05)
    yield f
    f.wait(30)
    f.close()


def all_widget_text(widget) -> str:
    """Every string value and description under ``widget`` (to look for secrets)."""
    out = []
    stack = [widget]
    while stack:
        w = stack.pop()
        for name in ("value", "description", "placeholder", "tooltip"):
            v = getattr(w, name, None)
            if isinstance(v, str):
                out.append(v)
        stack.extend(getattr(w, "children", ()) or ())
    return "\n".join(out)


def test_style_dropdown_lists_all_22_with_readable_labels(form):
    opts = form.style.options
    assert [v for _, v in opts] == list(STYLES)
    assert [label for label, _ in opts] == [STYLE_LABELS[s] for s in STYLES]
    assert ("3D Cartoon", "3d-cartoon") in opts
    assert form.style.value == "cinematic"


def test_every_control_reaches_the_request_body_and_snippets(form):
    form.prompt.value = "a neon city at night"
    form.style.value = "cyberpunk"
    form.negative_prompt.value = "people"
    form.negative_prompt_strength.value = 2.5
    form.num_outputs.value = 3
    form.steps.value = 42
    form.geometry_enforcement.value = 60
    form.seed_mode.value = "lock"
    form.seed.value = 1234
    body = {"prompt": "a neon city at night", "style": "cyberpunk", "negativePrompt": "people",
            "negativePromptStrength": 2.5, "numOutputs": 3, "numInferenceSteps": 42,
            "geometryEnforcement": 60, "seed": 1234}
    assert form.request().to_body() == body
    assert json.loads(_unescape_pre(form.body_preview.value)) == body
    assert form.snippet.value == form.request().to_curl()
    form.snippet_kind.value = "Python"
    assert form.snippet.value == form.request().to_python()
    form.snippet_kind.value = "cURL"
    assert "$SCENARIO_SDK_API_KEY" in form.snippet.value  # an env reference, never the key
    text = all_widget_text(form.widget)
    assert KEY not in text and SECRET not in text


def _unescape_pre(value: str) -> str:
    import html as h
    import re

    return h.unescape(re.sub(r"</?pre[^>]*>", "", value))


def test_negative_note_is_visible_only_while_strength_is_zero(form):
    assert form.negative_note.layout.display == "none"  # no negative prompt: nothing to say
    form.negative_prompt.value = "clouds"
    assert form.negative_note.layout.display == ""
    assert "ignored" in form.negative_note.value
    assert form.validation.value == ""  # the contract's note is not shown twice
    form.style.value = "ink"
    form.strength.value = 0.5  # strength without an image: the contract's note, inline
    assert form.validation.value == ""  # (strength is left out while there is no image)
    form.negative_prompt_strength.value = 1.0
    assert form.negative_note.layout.display == "none"
    assert form.validation.value == ""
    form.negative_prompt_strength.value = 0.0
    assert form.negative_note.layout.display == ""
    form.negative_prompt.value = "  "
    assert form.negative_note.layout.display == "none"


def test_request_body_has_no_float_noise(form):
    form.negative_prompt.value = "fog"
    form.negative_prompt_strength.value = 0.1 + 0.2  # 0.30000000000000004 from a slider sum
    form.image.value = "asset_pastedFromScenario0001"
    form.strength.value = 0.8000000000000002
    body = form.request().to_body()
    assert body["negativePromptStrength"] == 0.3 and body["strength"] == 0.8
    assert "0000000" not in form.body_preview.value


def test_seed_box_says_when_it_clamped(form):
    form.seed_mode.value = "lock"
    form.seed.value = 99
    assert form.seed_note.value == ""
    form.seed.value = -5
    assert form.seed.value == 0 and "-5" in form.seed_note.value and "clamped to 0" in form.seed_note.value
    form.seed.value = 12
    assert form.seed_note.value == ""  # a value in range clears the note
    form.seed.value = 10**12
    top = form._seed_range[1]
    assert form.seed.value == top and f"clamped to {top}" in form.seed_note.value


def test_init_field_takes_a_path_shows_a_thumbnail_and_warns_off_2_to_1(form, tmp_path):
    square = tmp_path / "square init.png"
    Image.new("RGB", (64, 64), (200, 80, 20)).save(square)
    form.image.value = str(square)
    assert form.generate_button.disabled  # while the file uploads
    wait_until(lambda: form.image.value.startswith("asset_"))
    assert not form.generate_button.disabled and not form.strength.disabled
    assert form.init_preview.layout.display == "" and form.init_preview.value[:2] == b"\xff\xd8"
    assert "64x64" in form.init_note.value and "not 2:1" in form.init_note.value
    wide = tmp_path / "wide.png"
    Image.new("RGB", (128, 64), (20, 80, 200)).save(wide)
    form.set_init_image(str(wide))
    assert form.init_note.value == "" and form.init_preview.layout.display == ""


def test_init_field_errors_name_the_value_block_generate_and_clear(form, tmp_path):
    form.image.value = str(tmp_path / "missing.png")
    assert "missing.png" in form.init_note.value and "allowed" in form.init_note.value
    assert form.generate_button.disabled and form.strength.disabled
    form.image.value = str(tmp_path)
    assert "a folder" in form.init_note.value and form.generate_button.disabled
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"not a png")
    form.image.value = str(notes)
    wait_until(lambda: "notes.png" in form.init_note.value and "uploading" not in form.init_note.value)
    assert form.generate_button.disabled and form.image.value == str(notes)
    good = tmp_path / "good.png"
    Image.new("RGB", (128, 64)).save(good)
    form.image.value = str(good)
    wait_until(lambda: form.image.value.startswith("asset_"))
    assert form.init_note.value == "" and not form.generate_button.disabled


def test_geometry_enforcement_zero_is_labelled_as_the_style_default(form):
    assert "style's default" in form.geometry_note.value and "Cinematic" in form.geometry_note.value
    form.style.value = "oil-painting"
    assert "Oil Painting" in form.geometry_note.value
    form.geometry_enforcement.value = 70
    assert "overrides" in form.geometry_note.value
    assert form.request().to_body()["geometryEnforcement"] == 70
    assert type(form.request().to_body()["geometryEnforcement"]) is int
    form.set_values(geometry_enforcement=37.5)  # a level set in code is kept, not rounded
    assert form.request().geometry_enforcement == 37.5


def test_seed_random_lock_and_reuse(form, emu):
    assert form.seed.disabled and "seed" not in form.request().to_body()
    form.seed_mode.value = "lock"
    assert not form.seed.disabled
    form.seed.value = 99
    assert form.request().seed == 99
    form.seed_mode.value = "random"
    assert form.reuse_seed_button.disabled  # nothing to reuse yet
    form.num_outputs.value = 1
    gen = form.generate()
    res = gen.result(30)
    seed = int(res.assets[0].seed)
    wait_until(lambda: not form.reuse_seed_button.disabled)
    form.reuse_seed_button.click()
    assert form.seed_mode.value == "lock" and form.seed.value == seed
    assert form.request().seed == seed


def test_invalid_fields_are_shown_inline_and_nothing_is_sent(form, emu):
    before = emu.stats()["generate_posts"]
    form.prompt.value = "   "
    assert "prompt" in form.validation.value and "must not be empty" in form.validation.value
    assert form.generate_button.disabled
    assert form.generate() is None
    form.generate_button.click()  # disabled in the browser; from Python it must not raise
    assert form.body_preview.value == ""
    with pytest.raises(ValidationError) as info:
        form.set_values(num_outputs=9, steps=10)
    assert set(info.value.fields) == {"numOutputs", "numInferenceSteps"}
    assert form.num_outputs.value == 2  # nothing changed
    with pytest.raises(ValueError, match="unknown field"):
        form.set_values(colour="red")
    assert emu.stats()["generate_posts"] == before


def test_cost_estimate_is_shown_before_generating(form, client, emu):
    posts = emu.stats()["generate_posts"]
    form.num_outputs.value = 4
    expected = client.estimate(form.request())
    wait_until(lambda: f"{expected:g} CU" in form.cost.value)
    form.num_outputs.value = 1
    one = client.estimate(form.request())
    wait_until(lambda: f"{one:g} CU" in form.cost.value)
    assert form.estimate() == one
    assert emu.stats()["generate_posts"] == posts  # dry runs are not paid posts
    # Debounced: a burst of edits asks for one estimate, not one per edit.
    def dry_runs():
        st = emu.stats()
        return st["requests"].get("generate", 0) - st["generate_posts"]

    slow = GeneratorForm(client, prompt="a canyon", estimate_delay=0.5)
    wait_until(lambda: "CU" in slow.cost.value)
    before = dry_runs()
    for steps in range(21, 41):
        slow.steps.value = steps
    wait_until(lambda: dry_runs() > before and "CU" in slow.cost.value)
    time.sleep(0.6)
    assert dry_runs() - before == 1
    assert slow.cost.value == f"Estimate: <b>{client.estimate(slow.request()):g} CU</b>"
    slow.close()


def test_init_image_upload_enables_strength_and_clear_disables_it(form):
    assert form.strength.disabled and "strength" not in form.request().to_body()
    buf = io.BytesIO()
    Image.new("RGB", (64, 32), (10, 120, 200)).save(buf, "PNG")
    form.init_upload.value = ({"name": "init.png", "type": "image/png", "size": len(buf.getvalue()),
                               "content": memoryview(buf.getvalue()),
                               "last_modified": datetime.now(timezone.utc)},)
    # The worker puts the placeholder back just after it sets the id: wait for both.
    wait_until(lambda: form.image.value.startswith("asset_")
               and "uploading" not in form.image.placeholder)
    assert not form.strength.disabled
    form.strength.value = 0.35
    body = form.request().to_body()
    assert body["image"] == form.image.value and body["strength"] == 0.35
    form.clear_image_button.click()
    assert form.image.value == "" and form.strength.disabled and form.init_upload.value == ()
    assert "image" not in form.request().to_body()
    assert "uploading" not in form.image.placeholder
    form.init_upload.value = ({"name": "notes.png", "type": "image/png", "size": 9,
                               "content": memoryview(b"not a png"),
                               "last_modified": datetime.now(timezone.utc)},)
    wait_until(lambda: "notes.png" in form.init_note.value)  # refused, named, under the field
    assert form.image.value == "" and "uploading" not in form.image.placeholder
    assert not form.generate_button.disabled  # no init image is a valid request
    form.image.value = "asset_pastedFromScenario0001"  # an id pasted from Scenario's web app
    assert not form.strength.disabled
    assert form.request().to_body()["image"] == "asset_pastedFromScenario0001"


def test_generate_click_fills_the_gallery_with_small_previews(client):
    gallery = Gallery(client, thumb_width=160)
    form = GeneratorForm(client, gallery=gallery, prompt="a desert under stars",
                         estimate_delay=0.05)
    assert gallery.form is form
    form.set_values(num_outputs=3, style="space", seed=5)
    form.generate_button.click()
    wait_until(lambda: len(gallery) == 3)
    gen = form.runs[-1]
    res = gen.result(30)
    assert gen.bar.value == 1.0 and gen.bar.bar_style == "success"
    assert "success" in gen.status.value
    assert re.search(r" · \d+ s$", gen.status.value)  # the row says how long it took
    for card, item in zip(gallery.cards.children, gallery.items):
        im = Image.open(io.BytesIO(card.children[0].value))
        assert im.format == "JPEG" and im.width <= 160
        caption = card.children[1].value
        assert f"seed {item.seed}" in caption and "Space" in caption
        assert "geometry style default" in caption and "256x128" in caption
    captions = [card.children[1].value for card in gallery.cards.children]
    cost = f"job {res.cu_cost:g} CU for 3 outputs"
    assert sum(cost in c for c in captions) == 1  # the job's cost once, not once per output
    assert sum("same job" in c for c in captions) == 2
    assert [it.path for it in gallery.items] == list(res.files)
    assert len(gallery.cards.children[0].children[0].value) < res.files[0].stat().st_size
    form.close()


def test_stop_waiting_on_a_job_the_service_will_not_cancel(tmp_path):
    with Emulator(job_duration=1.5, render_size=(64, 32)) as slow:  # refuses, as Scenario
        c = SkyboxClient(api_key=KEY, api_secret=SECRET, emulator=slow,
                         library=str(tmp_path / "refused"))
        form = GeneratorForm(c, prompt="a stormy sea", estimate_delay=0.05)
        assert form.cancel_button.description == "Stop waiting"
        gen = form.generate()
        wait_until(lambda: gen.job is not None)
        form.cancel_button.click()
        wait_until(lambda: "billed" in gen.status.value)
        assert "keeps running" in gen.status.value
        res = gen.result(30)  # followed to its end: what was paid for is downloaded
        assert res.job.succeeded and all(p.exists() for p in res.files)
        assert c.ledger.by_job(res.job.id).status == "done"
        form.close()
        c.close()


def test_a_double_click_on_generate_sends_one_paid_post(tmp_path):
    with Emulator(job_duration=0.3, render_size=(64, 32)) as slow:
        slow.inject("slow", route="generate", delay=0.5)  # the POST takes a while
        c = SkyboxClient(api_key=KEY, api_secret=SECRET, emulator=slow,
                         library=str(tmp_path / "dbl"))
        form = GeneratorForm(c, prompt="twin peaks", estimate_delay=0.05)
        form.generate_button.click()
        assert form.generate_button.disabled  # while its request is being submitted
        form.generate_button.click()  # the second click of a double click
        assert len(form.runs) == 1
        form.runs[0].result(30)
        wait_until(lambda: not form.generate_button.disabled)
        assert slow.stats()["generate_posts"] == 1
        form.close()
        c.close()


def test_generate_does_not_block_and_cancel_cancels(emu, tmp_path):
    with Emulator(job_duration=3.0, render_size=(256, 128), allow_cancel=True) as slow:
        c = SkyboxClient(api_key=KEY, api_secret=SECRET, emulator=slow,
                         library=str(tmp_path / "slow"))
        form = GeneratorForm(c, prompt="a stormy sea", estimate_delay=0.05)
        t0 = time.monotonic()
        form.generate_button.click()
        assert time.monotonic() - t0 < 1.0  # the kernel is free while the 3 s job runs
        gen = form.runs[-1]
        assert not gen.done and not form.cancel_button.disabled
        wait_until(lambda: gen.job is not None)
        form.cancel_button.click()
        with pytest.raises(Exception):
            gen.result(30)
        assert c.job(gen.job.id).status == "canceled"
        assert gen.canceled and gen.bar.bar_style == "warning" and gen.status.value == "canceled"
        assert form.error.value == ""  # a cancel the user asked for is not an error
        wait_until(lambda: form.cancel_button.disabled)
        form.close()
        c.close()


def test_cancel_returns_at_once_while_the_service_is_slow_to_answer(tmp_path):
    with Emulator(job_duration=3.0, render_size=(64, 32), allow_cancel=True) as slow:
        slow.inject("slow", route="cancel", delay=2.0)  # the cancel call takes 2 s
        c = SkyboxClient(api_key=KEY, api_secret=SECRET, emulator=slow,
                         library=str(tmp_path / "slowcancel"))
        form = GeneratorForm(c, prompt="a stormy sea", estimate_delay=0.05)
        gen = form.generate()
        wait_until(lambda: gen.job is not None)
        t0 = time.monotonic()
        form.cancel_button.click()
        assert time.monotonic() - t0 < 0.5  # the kernel is not held for the 2 s call
        assert not gen.done  # asked, not yet done: the row says so
        assert gen.status.value.startswith("stopping")
        with pytest.raises(Exception):
            gen.result(30)
        assert c.job(gen.job.id).status == "canceled"
        assert gen.canceled and gen.status.value == "canceled"
        assert form.error.value == ""
        form.close()
        c.close()


@pytest.mark.parametrize("moderation", [False, True])
def test_a_failed_job_shows_the_servers_hint_inline(form, emu, moderation):
    # With moderation the emulator words the error itself (a content-policy text).
    emu.inject("job_failure", moderation=moderation,
               error=None if moderation else "The GPU fell over", hint="Try again in a minute")
    try:
        gen = form.generate()
        with pytest.raises(SkyboxError) as info:
            gen.result(30)
    finally:
        emu.clear_faults()
    assert info.value.kind == ("moderated" if moderation else "job_failed")
    assert f"[{info.value.kind}]" in form.error.value
    assert "Try again in a minute" in form.error.value
    assert "Try again in a minute" in gen.status.value
    assert gen.bar.bar_style == "danger" and not gen.canceled


def test_gallery_actions(client, tmp_path):
    gallery = Gallery(client, thumb_width=128, out_dir=tmp_path / "exports")
    form = GeneratorForm(client, gallery=gallery, prompt="snowy peaks", estimate_delay=0.05)
    form.set_values(num_outputs=1, seed=77)
    form.generate().result(30)
    card = gallery.cards.children[0]
    item = card.item

    form.set_values(seed=None)
    card.buttons["Seed"].click()
    assert form.seed_mode.value == "lock" and form.seed.value == item.seed == 77

    card.buttons["Init"].click()
    assert form.image.value == item.asset_id  # the result's own asset: nothing uploaded again
    assert not form.strength.disabled and form.init_preview.layout.display == ""
    assert client.asset(form.image.value).width == 256

    card.buttons["Seams"].click()
    report = gallery.seam_check(item)
    assert isinstance(report.seamless, bool)
    outs = gallery.output.outputs
    assert outs[0]["text"].startswith("Card 1 (seed 77") and "seam check" in outs[0]["text"]
    assert len(outs) == 3 and card.layout.border == "2px solid #2563eb"  # names its card
    assert "text/html" in outs[1]["data"] and "image/png" in outs[2]["data"]

    gallery.convention.value = "threejs"
    card.buttons["Cube"].click()
    files = sorted(p.name for p in (tmp_path / "exports" / item.path.stem / "threejs").iterdir())
    assert files == ["nx.png", "ny.png", "nz.png", "px.png", "py.png", "pz.png"]
    gallery.convention.value, gallery.layout.value = "unity", "hcross"
    gallery.out_dir.value = str(tmp_path / "engine")
    card.buttons["Cube"].click()
    (cross,) = (tmp_path / "engine" / item.path.stem / "unity").iterdir()
    assert Image.open(cross).size == (4 * 64, 3 * 64)  # face size = width / 4
    gallery.out_dir.value = str(tmp_path / "exports")

    card.buttons["360"].click()
    shown = gallery.output.outputs[1]["data"]["application/vnd.jupyter.widget-view+json"]
    viewer = gallery.view(item)
    assert isinstance(viewer, Viewer360) and shown["model_id"] != viewer.model_id

    card.buttons["Save"].click()
    saved = tmp_path / "exports" / item.path.name
    assert saved.is_file()
    assert b"GPano" in saved.read_bytes()
    form.close()


def test_history_survives_a_restart(emu, tmp_path):
    lib = str(tmp_path / "lib")
    c1 = SkyboxClient(api_key=KEY, api_secret=SECRET, emulator=emu, library=lib)
    c1.run(SkyboxRequest("a quiet forest", num_outputs=2, seed=3, style="ink"))
    c1.close()
    c2 = SkyboxClient(api_key=KEY, api_secret=SECRET, emulator=emu, library=lib)
    gallery = Gallery(c2)
    gallery.history_button.click()
    assert len(gallery) == 2
    assert {it.style for it in gallery.items} == {"ink"}
    assert [it.seed for it in gallery.items] == [3, 4]  # from the files' sidecars
    assert all(it.path.is_file() and it.job_id for it in gallery.items)
    assert gallery.load_history() == 0  # nothing shown twice
    new = c2.run(SkyboxRequest("a quiet forest", num_outputs=1, seed=9, style="ink"))
    gallery.add(new)  # a new result comes first, before the history
    assert [it.seed for it in gallery.items] == [9, 3, 4]
    assert [card.item for card in gallery.cards.children] == gallery.items
    c2.close()


def test_badge_names_the_backend(client):
    class Real:
        is_emulator = False
        backend = "Scenario API (api.cloud.scenario.com)"

    class Offline:
        is_emulator = True
        backend = "offline emulator at http://127.0.0.1:1/v1"

    assert "Scenario API" in badge_html(Real()) and "EMULATOR" not in badge_html(Real())
    assert "OFFLINE EMULATOR" in badge_html(Offline()) and "not the model" in badge_html(Offline())
    assert isinstance(backend_badge(Offline()), W.HTML)


def test_badge_of_a_real_client_on_the_emulator_says_so(client):
    assert client.is_emulator
    html = badge_html(client)
    assert "OFFLINE EMULATOR" in html and client.backend in html
    form = GeneratorForm(client, prompt="x")
    # The backend at once; the account's limits join it once read (in the background).
    assert form.badge.value in (html, badge_html(client, client.account()))
    wait_until(lambda: form.badge.value == badge_html(client, client.account()))
    assert "CU left" in form.badge.value and "OFFLINE EMULATOR" in form.badge.value
    form.close()
