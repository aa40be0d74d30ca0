"""Cube faces, conventions, layouts, export, the inverse and perspective views.

Each engine convention is proven by rendering the analytic scene at the directions the
ENGINE's own formulas give each face pixel (written out here from the engines' shader
code, independently of skybox_nb.conventions) and comparing with what to_faces produced.
"""

from __future__ import annotations

import math

import numpy as np
import py360convert
import pytest
from PIL import Image

from skybox_nb import cubemap, remap
from skybox_nb.cli import main
from skybox_nb.conventions import get_convention
from skybox_nb.cubemap import (assemble, export, from_faces, iter_faces, perspective,
                               to_faces)
from skybox_nb.panorama import Panorama, PanoramaError

from synthetic import colour_field, equirect_directions, render, textured

W, H = 256, 128
S = 64


@pytest.fixture(scope="module")
def colour() -> np.ndarray:
    return render(colour_field, W, H)


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    return render(textured, W, H)


def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Face texture coordinates s (left->right) and t (top->bottom) in 0..1, pixel centres."""
    c = (np.arange(size) + 0.5) / size
    t, s = np.meshgrid(c, c, indexing="ij")
    return s, t


def _pano_dir(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Direction in the panorama frame of longitude (0 = centre column, + right) / latitude."""
    return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)


# -- each engine, in its own words --------------------------------------------------------

def _gl_face(face: str, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """OpenGL cube-map table (spec 8.13): face, sc, tc -> direction r. Images are uploaded
    top row first (t = 0 is the first row), as three.js does (flipY false)."""
    sc, tc = 2 * s - 1, 2 * t - 1
    one = np.ones_like(sc)
    return {
        "+X": np.stack([one, -tc, -sc], -1), "-X": np.stack([-one, -tc, sc], -1),
        "+Y": np.stack([sc, one, tc], -1), "-Y": np.stack([sc, -one, -tc], -1),
        "+Z": np.stack([sc, -tc, one], -1), "-Z": np.stack([-sc, -tc, -one], -1),
    }[face]


def _threejs_equirect(d: np.ndarray) -> np.ndarray:
    """three.js equirectUv(dir): u = atan(z, x) / 2pi + 0.5, v = asin(y) / pi + 0.5 (v = 1
    is the image's top row) -> our panorama direction for that texel."""
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    u = np.arctan2(d[..., 2], d[..., 0]) / (2 * np.pi) + 0.5
    v = np.arcsin(np.clip(d[..., 1], -1, 1)) / np.pi + 0.5
    return _pano_dir((u - 0.5) * 2 * np.pi, (v - 0.5) * np.pi)


def _unity_panoramic(d: np.ndarray) -> np.ndarray:
    """Unity Skybox/Panoramic ToRadialCoords: u = 0.5 - atan2(z, x) / 2pi, latitude from
    acos(y) with the image's top row at +Y -> our panorama direction."""
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    u = 0.5 - np.arctan2(d[..., 2], d[..., 0]) / (2 * np.pi)
    colat = np.arccos(np.clip(d[..., 1], -1, 1))
    return _pano_dir((u - 0.5) * 2 * np.pi, np.pi / 2 - colat)


def _unity_face(face: str, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Unity (Direct3D-style, left-handed: +X right, +Y up, +Z forward) faces, each seen
    from inside and upright; Up's bottom edge meets Front [+Z], Down's top edge meets it."""
    a, b = 2 * s - 1, 2 * t - 1
    one = np.ones_like(a)
    return {
        "front": np.stack([a, -b, one], -1), "back": np.stack([-a, -b, -one], -1),
        "left": np.stack([one, -b, -a], -1), "right": np.stack([-one, -b, a], -1),
        "up": np.stack([a, one, b], -1), "down": np.stack([a, -one, -b], -1),
    }[face]


def _generic_face(face: str, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """py360convert's xyzcube: F z=+, R x=+, B z=-, L x=-, U y=+, D y=- (x right, y up)."""
    a, b = 2 * s - 1, 2 * t - 1
    one = np.ones_like(a)
    return {
        "F": np.stack([a, -b, one], -1), "R": np.stack([one, -b, -a], -1),
        "B": np.stack([-a, -b, -one], -1), "L": np.stack([-one, -b, a], -1),
        "U": np.stack([a, one, b], -1), "D": np.stack([a, -one, -b], -1),
    }[face]


_AXIS = {"px": "+X", "nx": "-X", "py": "+Y", "ny": "-Y", "pz": "+Z", "nz": "-Z"}


def engine_direction(convention: str, face: str, size: int) -> np.ndarray:
    """Panorama-frame direction that ``convention``'s engine shows at each face pixel."""
    s, t = _pixel_grid(size)
    if convention == "generic":
        return _generic_face(face, s, t)
    if convention == "unity":
        return _unity_panoramic(_unity_face(face, s, t))
    r = _gl_face(_AXIS[face], s, t)
    if convention == "threejs":  # background shader: textureCube(map, vec3(-x, y, z))
        world = r * np.array([-1.0, 1.0, 1.0])
    else:
        world = r
    return _threejs_equirect(world)


@pytest.mark.parametrize("convention,names", [
    ("generic", ["F", "R", "B", "L", "U", "D"]),
    ("unity", ["front", "back", "left", "right", "up", "down"]),
    ("threejs", ["px", "nx", "py", "ny", "pz", "nz"]),
    ("opengl", ["px", "nx", "py", "ny", "pz", "nz"]),
])
@pytest.mark.parametrize("scene", [colour_field, textured])
def test_each_convention_matches_the_engine_rendering(convention, names, scene):
    pano = render(scene, W, H)
    faces = to_faces(pano, S, convention)
    assert list(faces) == names
    for name in names:
        expected = np.clip(scene(engine_direction(convention, name, S)), 0, 255)
        err = np.abs(faces[name].astype(float) - expected)
        # bilinear resampling of a 256-wide panorama: well under a grey level on average
        assert err.mean() < 1.5, (convention, name, err.mean())
        assert np.percentile(err, 99) < 12, (convention, name)


def test_a_wrong_orientation_would_be_caught(texture):
    """The comparison above is sharp: a face flipped, rotated or swapped fails it."""
    faces = to_faces(texture, S, "unity")
    expected = textured(engine_direction("unity", "up", S))
    good = np.abs(faces["up"] - expected).mean()
    for wrong in (faces["up"][::-1], faces["up"][:, ::-1], np.rot90(faces["up"]), faces["down"]):
        assert np.abs(wrong - expected).mean() > 10 * good


def test_engine_landmarks(colour):
    """Plain statements of where things are, read off the colour field (R=x, G=y, B=z)."""
    def centre(face):
        return face[S // 2 - 1:S // 2 + 1, S // 2 - 1:S // 2 + 1].mean(axis=(0, 1)) / 127.5 - 1

    g = to_faces(colour, S, "generic")
    np.testing.assert_allclose(centre(g["F"]), [0, 0, 1], atol=0.05)  # panorama centre
    np.testing.assert_allclose(centre(g["R"]), [1, 0, 0], atol=0.05)  # 90 deg right
    np.testing.assert_allclose(centre(g["U"]), [0, 1, 0], atol=0.05)
    u = to_faces(colour, S, "unity")  # Skybox/Panoramic puts the image centre at +X
    np.testing.assert_allclose(centre(u["left"]), [0, 0, 1], atol=0.05)
    np.testing.assert_allclose(centre(u["front"]), [-1, 0, 0], atol=0.05)
    t = to_faces(colour, S, "threejs")  # world +X (the image centre) is the nx file
    np.testing.assert_allclose(centre(t["nx"]), [0, 0, 1], atol=0.05)
    np.testing.assert_allclose(centre(t["pz"]), [1, 0, 0], atol=0.05)
    # Up's bottom edge meets Front's top edge in Unity (same sky on both sides)
    assert np.abs(u["up"][-1].astype(float) - u["front"][0]).mean() < 3


def test_generic_faces_agree_with_py360convert(texture):
    ours = to_faces(texture, S, "generic")
    ref = py360convert.e2c(texture, face_w=S, mode="bilinear", cube_format="dict")
    for k in "FRBLUD":
        # py360convert samples at the face edges, we at pixel centres: a 1/S scale apart
        assert np.abs(ours[k].astype(float) - ref[k]).mean() < 4, k


@pytest.mark.parametrize("convention", ["generic", "unity", "threejs", "opengl"])
def test_cross_layouts_are_continuous_nets(convention, texture):
    faces = to_faces(texture, S, convention)
    h = assemble(faces, "hcross", convention).astype(float)
    assert h.shape == (3 * S, 4 * S, 3)
    # inside the middle row every face meets its neighbour: the jump across a cell border
    # is like the jump between any two columns
    row = h[S:2 * S]
    jumps = np.abs(np.diff(row, axis=1)).mean(axis=(0, 2))
    ordinary = np.median(jumps)
    assert all(jumps[c * S - 1] < 4 * ordinary + 1 for c in (1, 2, 3))
    # up above front, down below front
    assert np.abs(h[S - 1, S:2 * S] - h[S, S:2 * S]).mean() < 4 * ordinary + 1
    assert np.abs(h[2 * S - 1, S:2 * S] - h[2 * S, S:2 * S]).mean() < 4 * ordinary + 1
    v = assemble(faces, "vcross", convention).astype(float)
    assert v.shape == (4 * S, 3 * S, 3)
    # the back face hangs under the down face, upside down, and meets it
    assert np.abs(v[3 * S - 1, S:2 * S] - v[3 * S, S:2 * S]).mean() < 4 * ordinary + 1


def test_strips_follow_the_convention_order(texture):
    faces = to_faces(texture, S, "unity")
    hs = assemble(faces, "hstrip", "unity")
    vs = assemble(faces, "vstrip", "unity")
    assert hs.shape == (S, 6 * S, 3) and vs.shape == (6 * S, S, 3)
    order = ["left", "right", "up", "down", "front", "back"]  # +X -X +Y -Y +Z -Z
    for i, name in enumerate(order):
        assert np.array_equal(hs[:, i * S:(i + 1) * S], faces[name])
        assert np.array_equal(vs[i * S:(i + 1) * S], faces[name])
    g = assemble(to_faces(texture, S), "hstrip")
    assert np.array_equal(g, py360convert.cube_dict2h(to_faces(texture, S)))


def test_round_trip_error_bounds(texture, colour):
    for img, mean_bound, p99_bound in ((colour, 0.5, 2.0), (texture, 2.0, 9.0)):
        back = from_faces(to_faces(img, W // 4), H)
        err = np.abs(back.astype(float) - img)
        assert back.shape == img.shape and back.dtype == img.dtype
        assert err.mean() < mean_bound and np.percentile(err, 99) < p99_bound
        finer = np.abs(from_faces(to_faces(img, W // 2), H).astype(float) - img)
        assert finer.mean() < err.mean()  # bigger faces lose less
    for conv in ("unity", "threejs", "opengl"):
        back = from_faces(to_faces(texture, W // 4, conv), H, conv)
        assert np.abs(back.astype(float) - texture).mean() < 2.0


def test_yaw_turns_the_sky(texture):
    turned = to_faces(texture, S, yaw=90.0)
    plain = to_faces(texture, S)
    assert np.abs(turned["F"].astype(float) - plain["R"]).mean() < 1.0
    back = from_faces(turned, H, yaw=90.0)
    assert np.abs(back.astype(float) - texture).mean() < 2.0


def test_perspective_looks_where_asked(colour):
    def centre(view):
        h, w = view.shape[:2]
        return view[h // 2 - 1:h // 2 + 1, w // 2 - 1:w // 2 + 1].mean(axis=(0, 1)) / 127.5 - 1

    np.testing.assert_allclose(centre(perspective(colour, size=(32, 32))), [0, 0, 1], atol=0.05)
    np.testing.assert_allclose(centre(perspective(colour, yaw=90, size=(32, 32))), [1, 0, 0],
                               atol=0.05)
    np.testing.assert_allclose(centre(perspective(colour, pitch=90, size=(32, 32))), [0, 1, 0],
                               atol=0.05)
    np.testing.assert_allclose(centre(perspective(colour, pitch=-90, size=(32, 32))),
                               [0, -1, 0], atol=0.05)
    view = perspective(colour, fov=90, size=(64, 32))
    assert view.shape == (32, 64, 3)
    # the right edge of a 90 degree view looks 45 degrees right (minus half a pixel)
    edge = view[15:17, -1].mean(axis=0) / 127.5 - 1
    ang = math.radians(45) - math.atan(1 / 64)
    np.testing.assert_allclose(edge, [math.sin(ang), 0, math.cos(ang)], atol=0.05)
    np.testing.assert_allclose(
        perspective(colour, fov=60, size=(16, 16)).astype(float),
        np.clip(colour_field(_view_dirs(60, 16)), 0, 255), atol=3)
    with pytest.raises(ValueError, match="fov"):
        perspective(colour, fov=180)
    with pytest.raises(ValueError, match="size"):
        perspective(colour, size=(0, 10))
    with pytest.raises(ValueError, match="yaw"):
        perspective(colour, yaw=float("nan"))


def _view_dirs(fov: float, n: int) -> np.ndarray:
    t = math.tan(math.radians(fov) / 2)
    c = ((np.arange(n) + 0.5) / n * 2 - 1) * t
    y, x = np.meshgrid(-c, c, indexing="ij")
    return np.stack([x, y, np.ones_like(x)], -1)


def test_opencv_and_pure_paths_agree(texture, monkeypatch):
    assert remap.backend() == "opencv"
    fast = (to_faces(texture, S, "unity"), perspective(texture, 30, 20, 70, (48, 32)))
    fast_back = from_faces(fast[0], H, "unity")
    monkeypatch.setenv("SKYBOX_NB_NO_OPENCV", "1")
    assert remap.backend() == "scipy"
    pure = (to_faces(texture, S, "unity"), perspective(texture, 30, 20, 70, (48, 32)))
    pure_back = from_faces(pure[0], H, "unity")
    for name in fast[0]:
        d = np.abs(fast[0][name].astype(int) - pure[0][name])
        assert d.max() <= 2 and d.mean() < 0.3, name  # OpenCV weights are 1/32 pixel
    assert np.abs(fast[1].astype(int) - pure[1]).max() <= 2
    assert np.abs(fast_back.astype(int) - pure_back).max() <= 2
    monkeypatch.setattr(remap, "FORCE_PURE", True)
    monkeypatch.delenv("SKYBOX_NB_NO_OPENCV")
    assert remap.backend() == "scipy"


def _direct_faces(img: np.ndarray, size: int, convention: str, yaw: float) -> np.ndarray:
    """The faces as the package built them before maps were derived: every face's map
    computed from its own directions (the definition), then one sampling pass."""
    conv = get_convention(convention)
    h, w = img.shape[:2]
    maps = [remap.equirect_coords(*cubemap._lonlat(cubemap.face_directions(conv, n, size),
                                                   math.radians(yaw)), w, h)
            for n in conv.names]
    return remap.sample(img, np.concatenate([m[0] for m in maps]),
                        np.concatenate([m[1] for m in maps]))


@pytest.mark.parametrize("convention", ["generic", "unity", "threejs", "opengl"])
def test_derived_maps_give_the_same_faces_as_direct_ones(convention, texture):
    """Two canonical maps turned, flipped and mirrored into six: the same pixels (within
    1 grey level, OpenCV's 1/32-pixel weights at a rounding edge) as building each face's
    map from its directions, at any yaw, even and odd sizes, in every layout."""
    for size, yaw in ((S, 0.0), (48, 37.5), (32, -200.0), (33, 90.0)):
        faces = to_faces(texture, size, convention, yaw=yaw)
        ours = np.concatenate(list(faces.values()))
        direct = _direct_faces(texture, size, convention, yaw)
        assert np.abs(ours.astype(int) - direct).max() <= 1, (size, yaw)
        streamed = dict(iter_faces(texture, size, convention, yaw=yaw))
        assert list(streamed) == list(faces)
        assert all(np.array_equal(streamed[n], faces[n]) for n in faces)
    direct = _direct_faces(texture, S, convention, 0.0)
    names = get_convention(convention).names
    old = {n: direct[i * S:(i + 1) * S] for i, n in enumerate(names)}
    new = to_faces(texture, S, convention)
    for layout in ("hcross", "vcross", "hstrip", "vstrip"):
        d = assemble(new, layout, convention).astype(int) - assemble(old, layout, convention)
        assert np.abs(d).max() <= 1, layout


def test_maps_are_cached_and_faces_share_one_buffer(texture):
    remap.clear_cache()
    to_faces(texture, 32, "threejs")
    keys = sorted(remap._cache)  # two canonical maps serve all six faces
    assert keys == [("cube", "pole", H, W, 32), ("cube", "side", H, W, 32)]
    mx, _ = remap._cache[keys[0]]
    assert not mx.flags.writeable
    faces = to_faces(texture, 32, "unity", yaw=10)
    assert sorted(remap._cache) == keys  # reused, not rebuilt, by any convention and yaw
    base = faces["front"].base
    assert base is not None and all(f.base is base for f in faces.values())


def test_dtypes_and_channels_are_kept():
    rgb = render(textured, W, H)
    rgba = np.dstack([rgb, np.full((H, W), 200, np.uint8)])
    gray = rgb[:, :, 0]
    deep = rgb.astype(np.uint16) * 257
    flt = rgb.astype(np.float32) / 255
    out = {k: to_faces(v, 16) for k, v in dict(rgba=rgba, gray=gray, deep=deep, flt=flt).items()}
    assert out["rgba"]["F"].shape == (16, 16, 4) and (out["rgba"]["U"][..., 3] == 200).all()
    assert out["gray"]["F"].shape == (16, 16, 1)
    assert out["deep"]["F"].dtype == np.uint16
    assert np.abs(out["deep"]["F"] / 257 - out["flt"]["F"] * 255).max() < 1.0
    assert out["flt"]["F"].dtype == np.float32


def test_bad_inputs_get_clear_errors(texture):
    with pytest.raises(ValueError, match="convention: got 'unreal'"):
        to_faces(texture, 16, "unreal")
    with pytest.raises(ValueError, match="face_size"):
        to_faces(texture, 0)
    with pytest.raises(PanoramaError, match="regular photo"):
        to_faces(np.zeros((120, 160, 3), np.uint8), 16)
    with pytest.raises(PanoramaError, match="NaN"):
        to_faces(np.full((16, 32, 3), np.nan, np.float32))
    faces = to_faces(texture, 16)
    with pytest.raises(ValueError, match="missing"):
        from_faces({k: v for k, v in faces.items() if k != "U"})
    with pytest.raises(ValueError, match="layout"):
        assemble(faces, "diamond")


def test_export_writes_engine_files(tmp_path, texture):
    pano = Panorama(texture)
    six = export(pano, tmp_path / "u", "unity", "six", face_size=32)
    assert [p.name for p in six] == [f"{n}.png" for n in
                                     ("front", "back", "left", "right", "up", "down")]
    faces = to_faces(pano, 32, "unity")
    for p in six:
        assert np.array_equal(np.asarray(Image.open(p)), faces[p.stem])
    three = export(pano, tmp_path / "t", "threejs", "six", face_size=32, fmt="jpg", prefix="sky_")
    assert [p.name for p in three] == [f"sky_{n}.jpg" for n in ("px", "nx", "py", "ny", "pz", "nz")]
    for layout, size in (("hcross", (128, 96)), ("vcross", (96, 128)), ("hstrip", (192, 32)),
                         ("vstrip", (32, 192))):
        (path,) = export(pano, tmp_path / "l", "generic", layout, face_size=32, fmt="webp")
        assert path.name == f"{layout}.webp" and Image.open(path).size == size
    with pytest.raises(ValueError, match="layout: got 'cross'"):
        export(pano, tmp_path, layout="cross")
    with pytest.raises(ValueError, match="fmt"):
        export(pano, tmp_path, fmt="gif")
    with pytest.raises(ValueError, match="prefix"):
        export(pano, tmp_path, prefix="../x")


def test_cli_cubemap(tmp_path, texture, capsys):
    src = tmp_path / "pano.png"
    Image.fromarray(texture).save(src)
    rc = main(["cubemap", str(src), "--face-size", "32", "--layout", "six", "--convention",
               "threejs", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out.split()
    assert rc == 0 and [p.split("/")[-1] for p in out] == [
        f"{n}.png" for n in ("px", "nx", "py", "ny", "pz", "nz")]
    assert main(["cubemap", str(src), "--layout", "nope", "--out", str(tmp_path)]) == 2
    assert "layout: got 'nope'" in capsys.readouterr().err
    assert main(["cubemap", str(tmp_path / "missing.png")]) == 2


def test_equirect_directions_helper_matches_remap_convention():
    """The test scene and the package agree on which pixel is which direction."""
    d = equirect_directions(8, 4)
    lon = np.arctan2(d[..., 0], d[..., 2])
    lat = np.arcsin(d[..., 1])
    x, y = remap.equirect_coords(lon, lat, 8, 4)
    np.testing.assert_allclose(x, np.tile(np.arange(8), (4, 1)), atol=1e-4)
    np.testing.assert_allclose(y, np.tile(np.arange(4)[:, None], (1, 8)), atol=1e-4)


def test_angles_must_be_finite(texture):
    for bad in (float("nan"), float("inf"), "90", True):
        with pytest.raises(ValueError, match="yaw: got"):
            to_faces(texture, 16, yaw=bad)
        with pytest.raises(ValueError, match="pitch: got"):
            perspective(texture, pitch=bad)
    with pytest.raises(ValueError, match="yaw: got"):
        from_faces(to_faces(texture, 16), yaw=float("nan"))


def test_the_input_is_sampled_in_place(texture, monkeypatch):
    seen = []
    real = remap._cv2.remap

    def spy(src, *args, **kw):
        seen.append(src)
        return real(src, *args, **kw)

    monkeypatch.setattr(remap._cv2, "remap", spy)
    pano = Panorama(texture)
    to_faces(pano, 16)
    perspective(pano, size=(8, 8))
    assert len(seen) == 7 and all(np.shares_memory(s, texture) for s in seen)  # 6 faces
