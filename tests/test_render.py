"""The emulator's procedural renderer: seamless by construction, broken on purpose below
the geometry threshold, deterministic, and responsive to prompt, style and negatives."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from skybox_nb.contract import STYLES
from skybox_nb.emulator.render import (
    EMULATOR_NOTICE,
    SEAM_ZONE,
    effective_geometry,
    encode_png,
    removed_elements,
    render,
    scene_from_prompt,
)
from skybox_nb.emulator.styles import GEOMETRY_THRESHOLD, LOOKS, look_for

SIZE = (256, 128)
PROMPTS = ["a city at night with mountains", "a sunny meadow with hills and clouds",
           "sunset over the ocean with distant hills", "deep space nebula"]


def seam_ratio(img: np.ndarray) -> float:
    """Mean difference across the wrap border (columns W-1 | 0) over the 95th percentile of
    the same measure between neighbouring columns inside: below 1 or so when the border
    is like any other column pair, several times more with a seam."""
    a = img.astype(float)
    inside = np.abs(np.diff(a, axis=1)).mean(axis=(0, 2))
    return float(np.abs(a[:, 0] - a[:, -1]).mean() / np.percentile(inside, 95))


def pole_ratio(img: np.ndarray) -> float:
    """Spread along the top and bottom rows (each one point on the sphere) over the image's
    typical neighbour-to-neighbour change: about 0 at clean poles."""
    a = img.astype(float)
    typical = np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=0)).mean()
    return float(max(a[0].std(axis=0).mean(), a[-1].std(axis=0).mean()) / typical)


def lum(img: np.ndarray) -> np.ndarray:
    return img.astype(float) @ np.array([0.299, 0.587, 0.114])


@pytest.mark.parametrize("style", STYLES)
def test_seam_and_poles_clean_at_high_enforcement_broken_at_low(style):
    prompt = PROMPTS[STYLES.index(style) % len(PROMPTS)]
    high = render(prompt, style, seed=3, size=SIZE, geometry_enforcement=100)
    default = render(prompt, style, seed=3, size=SIZE, geometry_enforcement=0)
    low = render(prompt, style, seed=3, size=SIZE, geometry_enforcement=5)
    for img in (high, default):
        assert seam_ratio(img) < 2.0 and pole_ratio(img) < 0.1
    assert seam_ratio(low) > 3.0 and pole_ratio(low) > 0.5
    # Away from the defect bands the picture is the same one.
    band_w, band_h = round(SEAM_ZONE * SIZE[0]), round(0.1 * SIZE[1])
    inner = (slice(band_h, SIZE[1] - band_h), slice(band_w, None))
    assert np.array_equal(low[inner], high[inner])


def test_large_images_upscaled_from_half_size_keep_the_border_where_it_belongs():
    size = (1024, 512)
    high = render(PROMPTS[0], "comic", seed=4, size=size, geometry_enforcement=100)
    low = render(PROMPTS[0], "comic", seed=4, size=size, geometry_enforcement=5)
    assert high.shape == (512, 1024, 3)
    assert seam_ratio(high) < 2.0 and pole_ratio(high) < 0.1
    assert seam_ratio(low) > 3.0 and pole_ratio(low) > 0.5


def test_defects_grow_as_the_level_falls():
    levels = [GEOMETRY_THRESHOLD, 40, 25, 10]
    imgs = [render(PROMPTS[1], "standard", seed=9, size=SIZE, geometry_enforcement=v) for v in levels]
    seams = [seam_ratio(i) for i in imgs]
    poles = [pole_ratio(i) for i in imgs]
    assert seams == sorted(seams) and poles == sorted(poles)
    assert seams[0] < 2.0 and poles[0] < 0.1 and seams[-1] > 3 and poles[-1] > 0.5


def test_zero_means_the_styles_default_and_defaults_are_clean():
    for style, look in LOOKS.items():
        assert effective_geometry(0, look) == look.default_geometry >= GEOMETRY_THRESHOLD
        assert effective_geometry(30, look) == 30
    assert look_for(None) is LOOKS["cinematic"]
    with pytest.raises(ValueError, match="style: got 'watercolour'"):
        look_for("watercolour")


def test_deterministic_in_its_inputs():
    base = dict(prompt=PROMPTS[0], style="comic", seed=5, size=SIZE, steps=30)
    first = render(**base)
    assert np.array_equal(first, render(**base))
    for change in (dict(prompt="a city at night with hills"), dict(style="cartoon"),
                   dict(seed=6), dict(steps=50)):
        assert not np.array_equal(first, render(**{**base, **change})), change
    assert render(**{**base, "size": (512, 256)}).shape == (256, 512, 3)


def test_the_22_styles_are_visibly_distinct():
    imgs = {s: render(PROMPTS[1], s, seed=2, size=(128, 64)).astype(float) for s in STYLES}
    for a, b in itertools.combinations(STYLES, 2):
        assert np.abs(imgs[a] - imgs[b]).mean() > 4.0, (a, b)


def test_prompt_words_choose_the_scene():
    assert scene_from_prompt("a city at night").ground == "city"
    assert scene_from_prompt("a city at night").time == "night"
    assert scene_from_prompt("sunset over the ocean").time == "sunset"
    assert scene_from_prompt("sunset over the ocean").ground == "water"
    assert scene_from_prompt("deep space nebula").time == "space"
    assert scene_from_prompt("a stormy sky").clouds > scene_from_prompt("a clear sky").clouds
    assert scene_from_prompt("anything", look_for("space")).time == "space"
    assert [scene_from_prompt(p).land for p in ("desert dunes", "a snowy pass", "pine woods",
                                                 "green hills")] == ["sand", "snow", "forest", "grass"]
    ground = {p: render(p, "standard", seed=1, size=SIZE)[-20:].reshape(-1, 3).mean(0)
              for p in ("a desert at noon", "a snowy field at noon")}
    assert ground["a snowy field at noon"].min() > ground["a desert at noon"][2] + 60  # white vs sand
    assert scene_from_prompt("anything", look_for("cloud-skydome")).ground == "none"
    night = lum(render("a city at night", "standard", seed=1, size=SIZE)).mean()
    day = lum(render("a city by day", "standard", seed=1, size=SIZE)).mean()
    assert night < 0.4 * day


def test_negative_prompt_removes_what_it_names_only_with_strength():
    def pair(prompt, negative):
        kept = render(prompt, "standard", seed=1, size=SIZE, negative_prompt=negative,
                      negative_strength=0)
        gone = render(prompt, "standard", seed=1, size=SIZE, negative_prompt=negative,
                      negative_strength=2)
        assert np.array_equal(kept, render(prompt, "standard", seed=1, size=SIZE))
        return kept, gone

    kept, gone = pair("a clear sunny day", "sun")
    assert (lum(kept) > 250).sum() > 20 and (lum(gone) > 250).sum() == 0
    kept, gone = pair("stormy clouds over the hills", "clouds, fog")
    texture = lambda x: np.abs(np.diff(x[: SIZE[1] // 2 - 8].astype(float), axis=1)).mean()  # noqa: E731
    assert texture(gone) < 0.4 * texture(kept)
    kept, gone = pair("a city at night", "buildings")
    windows = lambda x: ((x[..., 0] > 200) & (x[..., 1] > 150) & (x[..., 2] < 150)).sum()  # noqa: E731
    assert windows(kept) > 20 and windows(gone) == 0
    assert removed_elements("no city, no clouds", 0.5) == {"city": 0.5, "clouds": 0.5}
    assert removed_elements("blurry", 3) == {}


def test_init_image_blends_by_strength():
    init = np.zeros((50, 100, 3), np.uint8)
    init[..., 2] = 240  # a blue image of another size
    near = render("a desert", "standard", seed=1, size=SIZE, init_image=init, strength=0.05)
    far = render("a desert", "standard", seed=1, size=SIZE, init_image=init, strength=0.9)
    blue = np.array([0, 0, 240])
    assert np.abs(near - blue).mean() < 15 < np.abs(far - blue).mean()


def test_png_says_it_comes_from_the_emulator():
    png = encode_png(render("a lake", "photo", seed=1, size=(64, 32)), {"Source": "job x"})
    with Image.open(io.BytesIO(png)) as im:
        assert im.size == (64, 32)
        assert im.text["Comment"] == EMULATOR_NOTICE and "OFFLINE EMULATOR" in EMULATOR_NOTICE
        assert im.text["Source"] == "job x"


def test_bad_size_is_refused():
    with pytest.raises(ValueError, match="size"):
        render("x", size=(4, 2))


@pytest.mark.parametrize("style", STYLES)
def test_the_package_seam_check_agrees_with_the_simulation(style):
    """What the emulator simulates is what `skybox_nb.seams` detects: clean at high and
    default levels, flagged below the threshold, mild (40) and strong (10) alike."""
    from skybox_nb.seams import seam_report

    verdicts = {ge: seam_report(render(PROMPTS[0], style, seed=5, size=SIZE,
                                       geometry_enforcement=ge)).seamless
                for ge in (100, 0, 40, 10)}
    assert verdicts == {100: True, 0: True, 40: False, 10: False}


def test_the_seam_check_flags_a_full_size_sky_only_at_low_enforcement():
    from skybox_nb.seams import seam_report

    assert seam_report(render("a sunny meadow", "cinematic", seed=1)).seamless
    assert not seam_report(render("a sunny meadow", "cinematic", seed=1,
                                  geometry_enforcement=20)).seamless


def test_low_enforcement_draws_the_kinds_real_ai_skyboxes_show():
    """A partial wrap seam over a band of rows, a pinched zenith, a kaleidoscope nadir:
    what the package's check flags by its band and pole rules."""
    from skybox_nb.seams import seam_report

    prompt = "a sunny meadow with hills and clouds"
    high = render(prompt, "cinematic", seed=2, size=(1024, 512), geometry_enforcement=100)
    mild = render(prompt, "cinematic", seed=2, size=(1024, 512), geometry_enforcement=35)
    r = seam_report(mild)
    assert "band" in r.wrap.rules and r.wrap.score < r.wrap.threshold  # partial, not whole
    changed = np.flatnonzero(np.abs(mild[:, :4].astype(int) - high[:, :4]).sum(axis=(1, 2)))
    inner = changed[(changed > 0.1 * 512) & (changed < 0.9 * 512)]
    assert 0.15 * 512 <= inner.size < 0.5 * 512  # only a band of rows at the border
    low = seam_report(render(prompt, "cinematic", seed=2, size=(1024, 512),
                             geometry_enforcement=10))
    assert low.poles.bad == ["north", "south"]
    # the nadir is mirrored four-fold: each quarter of the bottom row repeats the first
    bottom = render(prompt, "cinematic", seed=2, size=(1024, 512), geometry_enforcement=10)[-1]
    assert np.array_equal(bottom[:128], bottom[256:384])
    assert np.array_equal(bottom[:128], bottom[255:127:-1])


def test_img2img_at_low_strength_heals_an_init_images_seam_and_poles():
    """The refine loop offline: the broken panorama rolled half a turn as the init image,
    low strength, same prompt and seed; rolled back, the check passes."""
    from skybox_nb.seams import seam_report

    prompt, size = "a sunny meadow with hills and clouds", (1024, 512)
    broken = render(prompt, "cinematic", seed=2, size=size, geometry_enforcement=10)
    assert not seam_report(broken).seamless
    half = size[0] // 2
    out = render(prompt, "cinematic", seed=2, size=size, geometry_enforcement=10,
                 init_image=np.roll(broken, half, axis=1), strength=0.3)
    healed = seam_report(np.roll(out, -half, axis=1))
    assert healed.seamless, healed.defects
    # a high strength repaints: the model's own (weak) geometry is back
    redone = render(prompt, "cinematic", seed=2, size=size, geometry_enforcement=10,
                    init_image=np.roll(broken, half, axis=1), strength=0.9)
    assert not seam_report(np.roll(redone, -half, axis=1)).seamless


def test_heal_smooths_rows_over_the_same_arc_everywhere():
    from skybox_nb.emulator.render import heal

    img = np.zeros((64, 128, 3), np.float32)
    img[:, 64:] = 1.0  # a step at the middle column, and one at the border
    out = heal(img, 0.3)
    assert out.shape == img.shape and not np.shares_memory(out, img)
    mid = out[32]
    assert 0 < mid[64, 0] < 1 and np.all(np.diff(mid[56:72, 0]) >= 0)  # a ramp, not a step
    assert np.array_equal(heal(img, 0.0), img)
    # near a pole the window is wider: the ramp there is longer
    ramp = lambda row: int(((row[:, 0] > 0.01) & (row[:, 0] < 0.99)).sum())  # noqa: E731
    assert ramp(out[1]) > 2 * ramp(out[32])
