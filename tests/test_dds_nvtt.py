"""Our DDS files read by a reader we did not write: NVIDIA Texture Tools' ``nvddsinfo``
(Debian's libnvtt-bin, installed by ``./dev test``) must see the header we mean: size,
mip count, the DX10 extension with its DXGI float format, and the cube flags in both
the DDS caps and the DX10 misc field (or neither, for a plain image). Pixel values are
checked by our own reader (tests/test_lighting.py): no registry package here decodes
float DDS (OpenImageIO 3.2's reader refuses DXGI format 10; Pillow reads no float DDS)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from skybox_nb.dds import write_dds


def _info(path) -> str:
    exe = shutil.which("nvddsinfo")
    if exe is None:
        raise RuntimeError("this test needs nvddsinfo: apt-get install -y libnvtt-bin "
                           "(./dev test installs it)")
    run = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _field(text: str, name: str) -> str:
    return re.search(rf"^\s*{re.escape(name)}:\s*(.+)$", text, re.M).group(1).strip()


@pytest.mark.parametrize("dtype,dxgi", [(np.float16, "10 (R16G16B16A16_FLOAT)"),
                                        (np.float32, "2 (R32G32B32A32_FLOAT)")])
def test_nvddsinfo_reads_our_cube_with_its_mips(tmp_path, dtype, dxgi) -> None:
    rng = np.random.default_rng(0)
    levels = [rng.random((6, s, s, 3), np.float32) for s in (32, 16, 8, 4)]
    text = _info(write_dds(levels, tmp_path / "cube.dds", dtype))
    assert (_field(text, "Width"), _field(text, "Height")) == ("32", "32")
    assert _field(text, "Mipmap count") == "4"
    assert _field(text, "FourCC") == "'DX10'"
    assert _field(text, "DXGI Format") == dxgi
    assert "DDSCAPS2_CUBEMAP" in text and "DDSCAPS2_CUBEMAP_ALL_FACES" in text
    assert "DDSCAPS_MIPMAP" in text and "DDSD_MIPMAPCOUNT" in text
    assert _field(text, "Misc flag") == "4"  # D3D11_RESOURCE_MISC_TEXTURECUBE
    assert _field(text, "Array size") == "1"
    assert _field(text, "Resource dimension") == "3 (TEXTURE2D)"


def test_nvddsinfo_sees_a_plain_image_without_cube_flags(tmp_path) -> None:
    text = _info(write_dds([np.zeros((1, 16, 32, 2), np.float32)], tmp_path / "lut.dds"))
    assert (_field(text, "Width"), _field(text, "Height")) == ("32", "16")
    assert "CUBEMAP" not in text and _field(text, "Misc flag") == "0"
    assert _field(text, "DXGI Format").startswith("34 ")  # R16G16_FLOAT


def test_nvddsinfo_reads_the_lighting_packs_specular_cube(tmp_path) -> None:
    from skybox_nb.lighting import lighting_pack
    from tests.lighting_support import sunny_sky

    pack = lighting_pack(sunny_sky(128), tmp_path, size=16)
    text = _info(pack.files["specular.dds"])
    assert _field(text, "Width") == "16"
    assert _field(text, "Mipmap count") == str(len(pack.specular))
    assert "DDSCAPS2_CUBEMAP_ALL_FACES" in text and _field(text, "Misc flag") == "4"
