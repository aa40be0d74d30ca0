"""The lighting pack against brute-force integrals over the sphere, and its files."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

from skybox_nb import lighting as L
from skybox_nb.cubemap import to_faces
from skybox_nb.dds import read_dds, write_dds
from skybox_nb.hdr import HdrPanorama, to_hdr
from skybox_nb.ktx2 import IDENTIFIER, read_ktx2, write_ktx2
from tests.lighting_support import sunny_sky, unit_vectors


def _field(h: int, w: int, fn) -> HdrPanorama:  # type: ignore[no-untyped-def]
    d = L._equirect_dirs(h, w)
    return HdrPanorama(np.ascontiguousarray(fn(d), np.float32))


def test_sh_is_exact_for_light_it_can_represent() -> None:
    # radiance made of the first nine harmonics: order-2 SH loses nothing
    rng = np.random.default_rng(1)
    coeffs = rng.normal(size=(9, 3)) * 0.3
    coeffs[0] = 3.0  # positive everywhere
    env = _field(256, 512, lambda d: L.sh_basis(d) @ coeffs)
    got = L.sh_project(env)
    assert np.allclose(got, coeffs, atol=2e-3)
    n = unit_vectors(40)
    brute = L.irradiance_brute(env, n, width=512)
    assert np.abs(L.sh_irradiance(got, n) - brute).max() < 0.005 * brute.mean()
    const = _field(64, 128, lambda d: np.ones(d.shape, np.float32))
    assert np.allclose(L.sh_irradiance(L.sh_project(const), n), math.pi, rtol=1e-3)


def _project_brute(hdr: HdrPanorama, sub: int = 2) -> np.ndarray:
    """(9, 3) SH projection integrals of the full-resolution panorama, computed apart from
    `sh_project`: no downscaling, each pixel's cell split into sub x sub parts, each part's
    solid angle cos(lat) dlat dlon and basis value at its own centre, in float64."""
    a = hdr.array.astype(np.float64)
    h, w = a.shape[:2]
    out = np.zeros((9, 3))
    for i in range(sub):
        for j in range(sub):
            lat = (0.5 - (np.arange(h) + (i + 0.5) / sub) / h) * math.pi
            lon = ((np.arange(w) + (j + 0.5) / sub) / w * 2 - 1) * math.pi
            cl = np.cos(lat)[:, None]
            d = np.stack(np.broadcast_arrays(cl * np.sin(lon), np.sin(lat)[:, None],
                                             cl * np.cos(lon)), axis=-1)
            dom = np.cos(lat)[:, None] * (math.pi / h / sub) * (2 * math.pi / w / sub)
            out += np.einsum("hwk,hw,hwc->kc", L.sh_basis(d), np.broadcast_to(dom, (h, w)), a)
    return out


def _kernel2(t: np.ndarray) -> np.ndarray:
    """The clamped cosine max(0, t) as order-2 SH keep it: sum over bands l <= 2 of
    A_l (2l + 1) / (4 pi) P_l(t) = 3/32 + t/2 + 15/32 t^2 (Ramamoorthi and Hanrahan)."""
    return 3 / 32 + t / 2 + 15 / 32 * t * t


def _skies() -> dict[str, HdrPanorama]:
    return {"no sun": to_hdr(sunny_sky(1024, sun=False)),
            "sun 4x sky": to_hdr(sunny_sky(1024), sun_to_sky=4.0),
            "sun 20x sky": to_hdr(sunny_sky(1024, sun_radius=1.0), sun_to_sky=20.0)}


def test_sh_coefficients_are_within_two_percent_of_brute_force_for_any_sky() -> None:
    """The nine coefficients against the projection integrals over the whole sphere, sun
    or no sun: each within 2% of its channel's DC term (the largest, total light)."""
    for name, hdr in _skies().items():
        brute = _project_brute(hdr)
        err = np.abs(L.sh_project(hdr) - brute) / np.abs(brute[0])
        assert err.max() < 0.02, (name, float(err.max()))


def test_sh_irradiance_against_brute_force_irradiance() -> None:
    """Two statements. (1) Any sky: the SH irradiance is the brute-force integral of the
    radiance against the order-2 kernel, within 2% of the mean irradiance (coefficients
    and band weights right). (2) Against the true clamped cosine, the difference is the
    order-2 truncation, which is physics, not a bug: it is below 2% for a smooth sky, and
    for any light at most max|kernel2 - max(0, t)| = 3/32 of the total power, i.e. 3/8 of
    the mean irradiance (reached by a point light at 90 degrees to the normal); a sun
    holding most of the energy comes near it (measured on 200 normals, as a fraction of
    the mean irradiance: a 4x sun, median 9%, max 29%; a 20x sun, median 11%, max 34%)."""
    n = unit_vectors(200, seed=2)
    for name, hdr in _skies().items():
        a = L._small(hdr.array, 512)
        h, w = a.shape[:2]
        d = L._equirect_dirs(h, w).reshape(-1, 3).astype(np.float64)
        la = a.reshape(-1, 3) * np.broadcast_to(L.solid_angles(h, w), (h, w)).reshape(-1, 1)
        t = n @ d.T
        brute2, brute = _kernel2(t) @ la, np.maximum(t, 0.0) @ la
        sh = L.sh_irradiance(L.sh_project(hdr), n)
        mean = la.sum(axis=0) / 4  # the exact mean over all normals: total power / 4
        assert (np.abs(sh - brute2) / mean).max() < 0.02, name
        truncation = np.abs(sh - brute) / mean
        assert truncation.max() <= 3 / 8 + 0.02, name
        if name == "no sun":
            assert truncation.max() < 0.02
        else:  # the sun's sharp terminator is beyond nine coefficients
            assert truncation.max() > 0.05, name


def test_level_zero_is_the_sky_and_rough_levels_match_the_reference_convolution() -> None:
    hdr = to_hdr(sunny_sky(256), sun_to_sky=1.0)
    spec, rough = L.prefilter_specular(hdr, size=32, levels=4, samples=1024)
    assert rough == [0, 1 / 3, 2 / 3, 1]
    assert [s.shape for s in spec] == [(6, 32 >> m, 32 >> m, 3) for m in range(4)]
    faces = to_faces(L._pyramid(hdr.array, 128)[0], 32, "generic")
    assert np.allclose(spec[0], np.stack(list(faces.values())))
    for m in (2, 3):
        d = L._cube_dirs(L.get_convention("generic"), 32 >> m)
        ref = L.ggx_reference(hdr, d.reshape(-1, 3), rough[m], width=256).reshape(d.shape)
        err = np.abs(spec[m] - ref) / ref.mean()
        assert err.mean() < 0.03 and np.percentile(err, 95) < 0.1, (m, err.mean())
    # rougher is blurrier: the sun's peak falls level by level
    peaks = [float(s.max()) for s in spec]
    assert peaks == sorted(peaks, reverse=True)


def test_brdf_lut_matches_a_direct_quadrature() -> None:
    lut = L.brdf_lut(32, samples=1024)
    assert lut.shape == (32, 32, 2)
    assert lut[0, -1].sum() == pytest.approx(1.0, abs=0.02)  # smooth, head-on: all reflected
    assert np.all(lut.sum(axis=2) <= 1.0 + 1e-3) and np.all(lut >= 0)
    # the same integral on a fine grid of light directions, uniform in solid angle
    th = (np.arange(400) + 0.5) / 400 * (math.pi / 2)
    ph = (np.arange(800) + 0.5) / 800 * 2 * math.pi
    th, ph = np.meshgrid(th, ph, indexing="ij")
    lx, ly, lz = np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)
    dw = np.sin(th) * (math.pi / 2 / 400) * (2 * math.pi / 800)
    for i, j in ((12, 8), (20, 20), (28, 4), (31, 30)):
        r, nov = (i + 0.5) / 32, (j + 0.5) / 32
        a = r * r
        vx, vz = math.sqrt(1 - nov * nov), nov
        hx, hy, hz = vx + lx, ly, vz + lz
        hn = np.sqrt(hx * hx + hy * hy + hz * hz)
        noh, voh = hz / hn, (vx * hx + vz * hz) / hn
        k = a / 2
        g = nov / (nov * (1 - k) + k) * lz / (lz * (1 - k) + k)
        f = L._ggx_d(noh, a) * g / (4 * nov)  # times (n.l) / (n.l) cancels
        fc = (1 - voh) ** 5
        want = ((f * (1 - fc) * dw).sum(), (f * fc * dw).sum())
        assert lut[i, j] == pytest.approx(want, abs=0.02), (r, nov)


def test_ktx2_cube_follows_the_specification_and_reads_back(tmp_path) -> None:
    rng = np.random.default_rng(3)
    levels = [rng.random((6, 16 >> m, 16 >> m, 3)).astype(np.float32) * 100 for m in range(5)]
    path = write_ktx2(levels, tmp_path / "c.ktx2")
    buf = path.read_bytes()
    assert buf[:12] == IDENTIFIER
    vk, type_size, w, h, depth, layers, faces, n, scheme = struct.unpack_from("<9I", buf, 12)
    assert (vk, type_size, w, h, depth, layers, faces, n, scheme) == (97, 2, 16, 16, 0, 0, 6, 5, 0)
    dfd_off, dfd_len = struct.unpack_from("<2I", buf, 48)
    assert dfd_off == 80 + 24 * 5 and dfd_len == 92  # header+index, level index; 4 samples
    offs = [struct.unpack_from("<3Q", buf, 80 + 24 * i) for i in range(5)]
    assert all(o % 8 == 0 and ln == raw == 6 * (16 >> i) ** 2 * 8
               for i, (o, ln, raw) in enumerate(offs))
    assert [o for o, _, _ in offs] == sorted((o for o, _, _ in offs), reverse=True)  # smallest first
    assert offs[0][0] + offs[0][1] == len(buf)
    tex = read_ktx2(path)
    assert tex.metadata["KTXwriter"].startswith("skybox-nb")
    for a, b in zip(tex.levels, levels):
        assert np.allclose(a[..., :3], b, rtol=1e-3) and np.all(a[..., 3] == 1)
    # 32-bit floats and a 2-channel image
    img = [rng.random((1, 8 >> m, 8 >> m, 2)).astype(np.float32) for m in range(4)]
    back = read_ktx2(write_ktx2(img, tmp_path / "i.ktx2", dtype=np.float32))
    assert back.vk_format == 103 and back.faces == 1
    assert all(np.array_equal(a, b) for a, b in zip(back.levels, img))


def test_dds_cube_reads_back_and_headers_are_checked(tmp_path) -> None:
    rng = np.random.default_rng(4)
    levels = [rng.random((6, 8 >> m, 8 >> m, 4)).astype(np.float32) for m in range(4)]
    path = write_dds(levels, tmp_path / "c.dds")
    buf = path.read_bytes()
    assert buf[:4] == b"DDS " and buf[84:88] == b"DX10"
    assert struct.unpack_from("<5I", buf, 128) == (10, 3, 4, 1, 0)  # RGBA16F, 2D, cube, 1
    back = read_dds(path)
    assert all(np.allclose(a, b, rtol=1e-3) for a, b in zip(back, levels))
    (tmp_path / "cut.dds").write_bytes(buf[:-10])
    with pytest.raises(ValueError, match="bytes of data"):
        read_dds(tmp_path / "cut.dds")
    (tmp_path / "bad.ktx2").write_bytes(b"KTX 11" + bytes(100))
    with pytest.raises(ValueError, match="no KTX 2.0 identifier"):
        read_ktx2(tmp_path / "bad.ktx2")


@pytest.mark.parametrize("levels, msg", [
    ([], "got no level"),
    ([np.zeros((6, 8, 8, 3)), np.zeros((6, 3, 3, 3))], r"levels\[1\]: shape"),
    ([np.zeros((5, 8, 8, 3))], r"levels\[0\]: shape"),
])
def test_bad_mip_chains_are_refused(tmp_path, levels, msg) -> None:
    with pytest.raises(ValueError, match=msg):
        write_ktx2(levels, tmp_path / "x.ktx2")
    assert not list(tmp_path.iterdir())


def test_pack_writes_every_file_and_the_preview_is_lit_from_the_sun(tmp_path) -> None:
    hdr = to_hdr(sunny_sky(512, sun_yaw=60, sun_pitch=30))
    pack = L.lighting_pack(hdr, tmp_path / "pack", size=32, lut_size=16)
    assert sorted(pack.files) == sorted(
        ["sh.json", "specular.json", "specular.ktx2", "specular.dds", "irradiance.ktx2",
         "irradiance.dds", "brdf_lut.ktx2", "brdf_lut.png"])
    doc = json.loads((tmp_path / "pack" / "sh.json").read_text())
    assert np.allclose(doc["radiance"], pack.sh, atol=1e-6) and len(doc["irradiance"]) == 9
    assert json.loads((tmp_path / "pack" / "specular.json").read_text())["roughness"] == \
        pack.roughness
    assert len(read_ktx2(pack.files["specular.ktx2"]).levels) == len(pack.specular) == 4
    pic = L.render_spheres(pack, hdr, size=64, view_yaw=0.0)
    assert pic.shape == (64, 64 * 5, 3) and pic.dtype == np.uint8
    diffuse = pic[:, 128:192].astype(float).sum(axis=2)
    # the sun is up and to the right: the diffuse sphere's upper right is its brightest part
    assert diffuse[8:28, 36:56].mean() > diffuse[36:56, 8:28].mean() + 40


def test_the_preview_faces_away_from_the_sun_so_the_spheres_are_lit_in_front() -> None:
    hdr = to_hdr(sunny_sky(512, sun_yaw=60, sun_pitch=30))
    pack = L.lighting_pack(hdr, size=32, lut_size=16)
    pic = L.render_spheres(pack, hdr, size=64).astype(float).sum(axis=2)
    behind = L.render_spheres(pack, hdr, size=64, view_yaw=60.0).astype(float).sum(axis=2)
    c = (np.arange(64) + 0.5) / 32 - 1
    r = np.hypot(*np.meshgrid(c, c))
    centre, rim = r < 0.5, (r > 0.75) & (r < 0.95)

    def centre_over_rim(img: np.ndarray) -> float:
        d = img[:, 128:192]  # the diffuse sphere
        return d[centre].mean() / d[rim].mean()

    assert centre_over_rim(pic) > 1.1  # lit from the front: the middle is brightest
    assert centre_over_rim(behind) < centre_over_rim(pic) - 0.15  # into the sun: rim-lit
    img, caption = L.preview(hdr, sphere_size=48, pack_size=16)
    assert img.shape == (48 + 22, 48 * 5, 3) and "yaw 60, pitch 30" in caption
