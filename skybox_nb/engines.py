"""Engine presets: one folder per engine holding exactly what that engine imports, its
settings, and a README saying what to do with it.

Invariant: the sky an engine shows from these files is the panorama as `perspective`
shows it: the panorama's centre (yaw 0) is where the README says it is, nothing is
mirrored, up is up. The faces come from `cubemap.export` in the engine's `conventions`
entry; the equirect engines get the panorama itself with the rotation their mapping
needs. Blender and three.js are proven by rendering (tests/test_engine_renders.py).

Engines: ``unity`` (Skybox/6 Sided material and faces, a horizontal cross that imports
as a Cubemap, and with ``hdr`` a Skybox/Panoramic material on the .exr), ``godot``
(Environment with a PanoramaSkyMaterial, and a WorldEnvironment scene), ``unreal``
(a Radiance .hdr for the HDRI Backdrop and its import settings), ``blender`` (a script
that sets the world) and ``threejs`` (faces px nx py ny pz nz and a page that shows
them). ``hdr`` adds the HDR estimate (`hdr.to_hdr`); ``pack`` the lighting pack.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .cubemap import assemble, export, to_faces
from .files import write_json_atomic
from .hdr import HdrPanorama, original_of, to_hdr, write_hdr
from .panorama import as_array, to_uint8, write_image

__all__ = ["ENGINES", "export_engine", "EngineExport", "BLENDER_ROTATION_Z", "hdr_origin"]

ENGINES = ("unity", "godot", "unreal", "blender", "threejs")
# Cycles looks an equirect up with its centre at world +X (u = 0.5 - atan2(y, x) / 2pi): the
# Mapping node turns it so the panorama's centre faces +Y (what the Front view looks at).
BLENDER_ROTATION_Z = -90.0


@dataclass
class EngineExport:
    """The folder written for one engine: its files (README first) and what the
    estimate found, when there was one."""

    engine: str
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    hdr: HdrPanorama | None = None

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.files[:8])
        more = f" (+{len(self.files) - 8})" if len(self.files) > 8 else ""
        return f"EngineExport({self.engine!r}, {str(self.out_dir)!r}: {names}{more})"


def _write_text(path: Path, text: str) -> Path:
    from .files import commit_file, temp_path

    tmp = temp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        return commit_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _guid(*parts: str) -> str:
    """A stable 32-hex-digit Unity GUID for a file name in an export."""
    return hashlib.md5("/".join(("skybox-nb",) + parts).encode()).hexdigest()


def export_engine(pano: Any, engine: str, out_dir: str | os.PathLike, *, hdr: bool = False,
                  pack: bool = False, face_size: int | None = None,
                  sun_to_sky: float | None = 4.0, exposure: float = 0.0,
                  pack_size: int = 128) -> EngineExport:
    """Write ``engine``'s folder for ``pano`` into ``out_dir`` and return what was
    written. ``hdr``: also (or, for equirect engines, instead) the HDR estimate with
    ``sun_to_sky`` and ``exposure`` (an `HdrPanorama` given as ``pano`` is used as it
    is); ``pack``: the lighting pack (specular face ``pack_size``) in ``lighting/``."""
    key = str(engine).strip().lower().replace("three.js", "threejs")
    if key not in ENGINES:
        raise ValueError(f"engine: got {engine!r}; allowed: {', '.join(ENGINES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(pano, HdrPanorama):
        est: HdrPanorama | None = pano
        ldr = (np.clip(_srgb(pano.array), 0, 1) * 255 + 0.5).astype(np.uint8)
        hdr = True
    else:
        ldr = to_uint8(as_array(pano))[:, :, :3] if as_array(pano).shape[2] >= 3 else \
            np.repeat(to_uint8(as_array(pano)), 3, axis=2)
        # Scenario's original HDR file beside a downloaded HDRi preview wins over any
        # estimate (to_hdr reads it); otherwise the 8-bit pixels are estimated from.
        source = pano if original_of(pano) is not None else ldr
        est = to_hdr(source, sun_to_sky=sun_to_sky, exposure=exposure) if hdr or pack else None
    result = EngineExport(key, out, hdr=est)
    files = {"unity": _unity, "godot": _godot, "unreal": _unreal, "blender": _blender,
             "threejs": _threejs}[key](ldr, est if hdr else None, out, face_size)
    if pack and est is not None:
        from .lighting import lighting_pack

        lp = lighting_pack(est, out / "lighting", size=pack_size)
        files += list(lp.files.values())
        files.append(_write_text(out / "lighting" / "README.md", _PACK_README))
    if est is not None:  # say which light the HDR files hold: measured or estimated
        files[0] = _write_text(files[0], files[0].read_text(encoding="utf-8")
                               + "\n## Where the HDR light comes from\n\n" + hdr_origin(est))
    result.files = files
    return result


def hdr_origin(est: HdrPanorama) -> str:
    """One paragraph saying whether ``est`` is Scenario's original HDR file or our
    estimate from the 8-bit panorama (for an export's README and the CLI)."""
    if est.assumptions.get("original"):
        return (f"Scenario's original HDR file `{Path(est.source).name}` (the asset's "
                "`originalFileUrl`; its `url` is only a JPEG preview): measured light, "
                "nothing estimated.\n")
    if est.source != "estimate":
        return f"The HDR file `{Path(est.source).name}` given as input, used as it is.\n"
    return ("An estimate from the 8-bit panorama (`skybox_nb.hdr.to_hdr`): sRGB decoded to "
            "linear light, highlights expanded, the sun found and scaled to a sun-to-sky "
            f"ratio of {est.assumptions.get('sun_to_sky')}. The sun's true brightness was not "
            "recorded in the 8-bit image.\n")


def _srgb(lin: np.ndarray) -> np.ndarray:
    from .hdr import linear_to_srgb

    return linear_to_srgb(lin)


def _readme(out: Path, text: str) -> Path:
    return _write_text(out / "README.md", text.strip() + "\n")


# ---------------------------------------------------------------- Unity

def _unity_meta(guid: str, cube: bool = False) -> str:
    shape, gen = (2, 6) if cube else (1, 0)  # TextureImporterShape.Cube, AutoCubemap
    return f"""fileFormatVersion: 2
guid: {guid}
TextureImporter:
  serializedVersion: 12
  mipmaps:
    enableMipMap: {1 if cube else 0}
  isReadable: 0
  textureFormat: 1
  maxTextureSize: 8192
  textureSettings:
    serializedVersion: 2
    filterMode: 1
    aniso: 0
    wrapU: 1
    wrapV: 1
    wrapW: 1
  textureShape: {shape}
  generateCubemap: {gen}
  cubemapConvolution: 0
  seamlessCubemap: 1
  textureType: 0
  alphaUsage: 0
"""


def _unity_material(name: str, shader_guid_file: tuple[str, int], textures: dict[str, str],
                    floats: dict[str, float]) -> str:
    tex = "".join(f"""    - {prop}:
        m_Texture: {{fileID: 2800000, guid: {guid}, type: 3}}
        m_Scale: {{x: 1, y: 1}}
        m_Offset: {{x: 0, y: 0}}
""" for prop, guid in textures.items())
    fl = "".join(f"    - {k}: {v:g}\n" for k, v in floats.items())
    return f"""%YAML 1.1
%TAG !u! tag:unity3d.com,2011:
--- !u!21 &2100000
Material:
  serializedVersion: 8
  m_ObjectHideFlags: 0
  m_Name: {name}
  m_Shader: {{fileID: {shader_guid_file[1]}, guid: {shader_guid_file[0]}, type: 0}}
  m_SavedProperties:
    serializedVersion: 3
    m_TexEnvs:
{tex}    m_Floats:
{fl}    m_Colors:
    - _Tint: {{r: 0.5, g: 0.5, b: 0.5, a: 0.5}}
"""


# Unity's built-in shaders live in one file (guid 0000000000000000f000000000000000); the
# fileIDs are those of Skybox/6 Sided and Skybox/Panoramic.
_BUILTIN = "0000000000000000f000000000000000"
_SIX_SIDED, _PANORAMIC = 104, 108
_UNITY_PROPS = {"front": "_FrontTex", "back": "_BackTex", "left": "_LeftTex",
                "right": "_RightTex", "up": "_UpTex", "down": "_DownTex"}


def _unity(ldr: np.ndarray, est: HdrPanorama | None, out: Path,
           face_size: int | None) -> list[Path]:
    faces = export(ldr, out, convention="unity", layout="six", face_size=face_size)
    files = list(faces)
    for p in faces:
        files.append(_write_text(p.with_name(p.name + ".meta"), _unity_meta(_guid(p.name))))
    textures = {_UNITY_PROPS[p.stem]: _guid(p.name) for p in faces}
    files.append(_write_text(out / "Skybox6Sided.mat", _unity_material(
        "Skybox6Sided", (_BUILTIN, _SIX_SIDED), textures, {"_Exposure": 1, "_Rotation": 0})))
    cross = write_image(assemble(to_faces(ldr, face_size, "unity"), "hcross", "unity"),
                        out / "skybox_cross.png")
    files += [cross, _write_text(out / "skybox_cross.png.meta",
                                 _unity_meta(_guid(cross.name), cube=True))]
    if est is not None:
        exr = write_hdr(est, out / "skybox.exr")
        files += [exr, _write_text(out / "skybox.exr.meta", _unity_meta(_guid(exr.name))),
                  _write_text(out / "SkyboxPanoramic.mat", _unity_material(
                      "SkyboxPanoramic", (_BUILTIN, _PANORAMIC),
                      {"_MainTex": _guid(exr.name)},
                      {"_Exposure": 1, "_Rotation": 0, "_Mapping": 1, "_ImageType": 0,
                       "_Layout": 0, "_MirrorOnBack": 0}))]
    hdr_line = ("- `SkyboxPanoramic.mat` (Skybox/Panoramic on `skybox.exr`, linear HDR): "
                "the same sky with real light, for lighting and reflections.\n"
                if est is not None else "")
    files.insert(0, _readme(out, f"""
# Unity skybox

Copy this folder into `Assets/` (the `.meta` files carry the import settings and link the
materials to their textures), then Window > Rendering > Lighting > Environment >
Skybox Material:

- `Skybox6Sided.mat` (Skybox/6 Sided) with `front back left right up down.png`
  (Front [+Z], Back [-Z], Left [+X], Right [-X], Up [+Y], Down [-Y]).
- `skybox_cross.png` imports as a Cubemap (Texture Shape: Cube, Mapping: Auto, from the
  horizontal cross), for Skybox/Cubemap or a reflection probe.
{hdr_line}
Orientation: the same sky Skybox/Panoramic shows at Rotation 0: the panorama's centre
is at +X (the texture named `left`). Set the material's Rotation to turn the sky.
Faces are clamped (Wrap Mode: Clamp) so no seam shows between them.
"""))
    return files


# ---------------------------------------------------------------- Godot 4

def _godot(ldr: np.ndarray, est: HdrPanorama | None, out: Path,
           face_size: int | None) -> list[Path]:
    image = write_hdr(est, out / "panorama.exr") if est is not None else \
        write_image(ldr, out / "panorama.png")
    res = f"res://skybox/{image.name}"
    energy = 1.0
    env = f"""[gd_resource type="Environment" load_steps=4 format=3]

[ext_resource type="Texture2D" path="{res}" id="1_pano"]

[sub_resource type="PanoramaSkyMaterial" id="PanoramaSkyMaterial_1"]
panorama = ExtResource("1_pano")
energy_multiplier = {energy}

[sub_resource type="Sky" id="Sky_1"]
sky_material = SubResource("PanoramaSkyMaterial_1")
radiance_size = 3

[resource]
background_mode = 2
sky = SubResource("Sky_1")
sky_rotation = Vector3(0, 3.14159, 0)
ambient_light_source = 3
reflected_light_source = 2
tonemap_mode = 3
"""
    scene = """[gd_scene load_steps=2 format=3]

[ext_resource type="Environment" path="res://skybox/sky_environment.tres" id="1_env"]

[node name="WorldEnvironment" type="WorldEnvironment"]
environment = ExtResource("1_env")
"""
    files = [image, _write_text(out / "sky_environment.tres", env),
             _write_text(out / "world_environment.tscn", scene)]
    kind = "linear HDR (OpenEXR, half float)" if est is not None else "8-bit sRGB"
    files.insert(0, _readme(out, f"""
# Godot 4 sky

Copy this folder to `res://skybox/` (the resources refer to that path; edit the
`path=` lines if you put it elsewhere). Then either instance `world_environment.tscn`
in your scene, or give your WorldEnvironment node `sky_environment.tres`.

- `{image.name}`: the panorama, {kind}, used by a `PanoramaSkyMaterial`
  (Environment: Background Sky, ambient and reflections from the sky, ACES tonemap).
- Import setting for the panorama: in the Import dock keep Mipmaps on and set
  Compress > Mode to "Lossless" or "VRAM Uncompressed" for HDR.

Orientation: Godot's sky shader puts a panorama's centre at world +Z, behind a default
camera (which looks along -Z), its right-hand side towards -X, not mirrored. The
environment turns the sky half a turn (`sky_rotation = Vector3(0, PI, 0)`), so a
default camera faces the panorama's centre; change the Y angle (radians) to turn it.
Checked by rendering: Godot 3.2 (GLES3) draws this panorama with this rotation as our
perspective views show it, in six directions (tests/test_engine_renders.py); Godot 4's
PanoramaSkyMaterial looks a direction up the same way as Godot 3's PanoramaSky
(u = atan2(x, -z) / 2pi, v = acos(y) / pi in both engines' sky shaders).
"""))
    return files


# ---------------------------------------------------------------- Unreal

def _unreal(ldr: np.ndarray, est: HdrPanorama | None, out: Path,
            face_size: int | None) -> list[Path]:
    lin = est if est is not None else to_hdr(ldr, sun_to_sky=None, highlight_boost=1.0)
    image = write_hdr(lin, out / "skybox.hdr")
    settings = {
        "texture": {"file": image.name, "imports_as": "TextureCube (long-lat .hdr)",
                    "compression_settings": "TC_HDR", "mip_gen_settings": "TMGS_FromTextureGroup",
                    "lod_group": "TEXTUREGROUP_Skybox", "srgb": False},
        "hdri_backdrop": {"Cubemap": image.stem, "Intensity": 1.0, "Size": 150.0,
                          "Projection Center": [0, 0, 1.7], "Lighting Distance Factor": 0.5,
                          "Use Camera Projection": False},
        "sky_light": {"Source Type": "SLS_SpecifiedCubemap", "Cubemap": image.stem,
                      "Source Cubemap Angle": 0.0},
    }
    files = [image, write_json_atomic(out / "unreal_settings.json", settings)]
    kind = "the HDR estimate" if est is not None else "the panorama in linear light (no HDR estimate: add --hdr)"
    files.insert(0, _readme(out, f"""
# Unreal Engine (5.x) sky

`skybox.hdr` is {kind}, a Radiance long-lat image: drag it into the Content Browser and
it imports as a TextureCube.

1. Texture settings: Compression Settings = HDR, Texture Group = Skybox, sRGB off
   (`unreal_settings.json` lists them).
2. Enable the HDRI Backdrop plugin, drop an HDRI Backdrop actor, set its Cubemap to the
   imported texture (it adds a Sky Light using the same cube). Size 150 m and a
   Projection Center at camera height (1.7 m) suit a ground-level scene.

Orientation (not rendered: Unreal does not run on our test machines). The convention,
from Unreal's long-lat cube import (`DirectionToLongLat` in its texture compressor, as
published ports of it read): a direction is looked up at u = (1 + atan2(x, -z) / pi) / 2,
v = acos(y) / pi in the cube's face space, the same equirectangular mapping as Godot's
and Blender's, so the sky is neither mirrored nor upside down; the face space's axes then
follow Unreal's Z-up cube faces, so where the panorama's centre lands in the world
is the one thing to check by eye: turn the backdrop actor
about Z (or the Sky Light's Source Cubemap Angle) until the centre faces where you want;
nothing needs mirroring.
"""))
    return files


# ---------------------------------------------------------------- Blender

_BLENDER_SCRIPT = '''"""Set this Blender scene's world to the skybox panorama (written by skybox-nb).

Run it in Blender's Text Editor (Run Script) or with `blender -P blender_world.py`.
The panorama's centre faces +Y (what the Front view looks towards), its right-hand
side +X, up is +Z; nothing is mirrored. STRENGTH scales the light.
"""
import math
import os

import bpy

IMAGE_NAME = {image!r}
EXPORTED_AT = {absolute!r}  # where the image was written, if this file was moved alone
ROTATION_Z = {rotation!r}  # degrees: turns the image centre from +X (Blender's default) to +Y
STRENGTH = 1.0


def image_path():
    here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else ""
    near = os.path.join(here, IMAGE_NAME)
    return near if here and os.path.exists(near) else EXPORTED_AT


def set_world(scene=None):
    scene = scene or bpy.context.scene
    world = scene.world or bpy.data.worlds.new("Skybox")
    scene.world = world
    world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    nodes.clear()
    coord = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    mapping.vector_type = "POINT"
    mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(ROTATION_Z))
    env = nodes.new("ShaderNodeTexEnvironment")
    env.image = bpy.data.images.load(image_path(), check_existing=True)
    env.interpolation = "Linear"
    env.projection = "EQUIRECTANGULAR"
    background = nodes.new("ShaderNodeBackground")
    background.inputs["Strength"].default_value = STRENGTH
    output = nodes.new("ShaderNodeOutputWorld")
    links.new(coord.outputs["Generated"], mapping.inputs["Vector"])
    links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    links.new(env.outputs["Color"], background.inputs["Color"])
    links.new(background.outputs["Background"], output.inputs["Surface"])
    for i, node in enumerate((coord, mapping, env, background, output)):
        node.location = (i * 250 - 500, 0)
    return world


set_world()
'''


def _blender(ldr: np.ndarray, est: HdrPanorama | None, out: Path,
             face_size: int | None) -> list[Path]:
    image = write_hdr(est, out / "panorama.exr") if est is not None else \
        write_image(ldr, out / "panorama.png")
    script = _write_text(out / "blender_world.py", _BLENDER_SCRIPT.format(
        image=image.name, absolute=str(image.resolve()), rotation=BLENDER_ROTATION_Z))
    return [_readme(out, f"""
# Blender world

`blender_world.py` sets the scene's world to `{image.name}` (Environment Texture, a
Mapping node turned {BLENDER_ROTATION_Z:g} degrees about Z): open it in the Text Editor
and Run Script, or `blender -P blender_world.py yourfile.blend`.

Orientation: the panorama's centre faces +Y (the Front view looks that way), its
right-hand side +X, up is +Z. Checked by rendering: Cycles views along +-X, +-Y, +-Z match the panorama's
perspective views (tests/test_engine_renders.py).
"""), image, script]


# ---------------------------------------------------------------- three.js

_THREE_PAGE = """<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>skybox</title>
<style>html, body {{ margin: 0; height: 100%; overflow: hidden; background: #000; }}</style>
<!-- "three" must resolve to three.module.js: copy it and three.core.js here (from
     node_modules/three/build/) or point this map at your copy. -->
<script type="importmap">{{"imports": {{"three": "./three.module.js"}}}}</script>
</head>
<body>
<script type="module">
import * as THREE from "three";

// px nx py ny pz nz: the order CubeTextureLoader takes. The panorama's centre is at
// world +X, its right-hand side +Z, up +Y (the sky an equirect texture shows).
const FACES = {faces};
const renderer = new THREE.WebGLRenderer({{ antialias: false, preserveDrawingBuffer: true }});
renderer.setPixelRatio(1);
renderer.setSize(window.innerWidth, window.innerHeight);
document.body.appendChild(renderer.domElement);
const scene = new THREE.Scene();
const camera = new THREE.PerspectiveCamera(90, window.innerWidth / window.innerHeight, 0.1, 10);
const look = new URLSearchParams(location.search);
const dir = (look.get("dir") || "1,0,0").split(",").map(Number);
const up = (look.get("up") || "0,1,0").split(",").map(Number);
camera.up.set(...up);
camera.lookAt(...dir);
new THREE.CubeTextureLoader().load(FACES, (texture) => {{
  texture.colorSpace = THREE.SRGBColorSpace;
  scene.background = texture;
  renderer.render(scene, camera);
  document.title = "ready";
}});
</script>
</body>
</html>
"""


def _threejs(ldr: np.ndarray, est: HdrPanorama | None, out: Path,
             face_size: int | None) -> list[Path]:
    faces = export(ldr, out, convention="threejs", layout="six", face_size=face_size)
    files = list(faces)
    files.append(_write_text(out / "index.html", _THREE_PAGE.format(
        faces=json.dumps([p.name for p in faces]))))
    if est is not None:
        files.append(write_hdr(est, out / "skybox.hdr"))
    hdr_line = ("`skybox.hdr` is the HDR estimate: load it with RGBELoader and "
                "`EquirectangularReflectionMapping` as `scene.environment` for PBR light.\n"
                if est is not None else "")
    files.insert(0, _readme(out, f"""
# three.js skybox

`px nx py ny pz nz.png` in the order `CubeTextureLoader` takes; `index.html` shows them
as `scene.background` (copy `three.module.js` and `three.core.js` beside it, or edit its
import map, and serve the folder: `python -m http.server`). The core of it:

```js
const texture = new THREE.CubeTextureLoader().load(
  ["px.png", "nx.png", "py.png", "ny.png", "pz.png", "nz.png"]);
texture.colorSpace = THREE.SRGBColorSpace;
scene.background = texture;
```

Orientation: the same sky as the panorama used as an equirect texture: its centre at
world +X, its right-hand side +Z, up +Y. `index.html?dir=0,0,-1` looks along -Z.
{hdr_line}Checked by rendering in headless Chromium (tests/browser/test_threejs_export.py).
"""))
    return files


_PACK_README = """
# Lighting pack

Computed from the HDR estimate by skybox-nb (see `skybox_nb/lighting.py`):

- `sh.json`: order-2 spherical harmonics (9 RGB coefficients) of the radiance and of the
  irradiance, in the panorama frame (x right of the image centre, y up, z the centre).
  Diffuse light: albedo * E(n) / pi with E(n) = sum irradiance[i] * Y_i(n).
- `specular.ktx2` / `specular.dds`: GGX-prefiltered cube, RGBA half float, one
  roughness per mip (roughness = mip / (mips - 1); `specular.json`), faces +X -X +Y -Y
  +Z -Z of the "generic" convention (+Z = the panorama's centre, +Y up, +X its right).
- `irradiance.ktx2` / `.dds`: a 32-pixel cube of E / pi, the same frame.
- `brdf_lut.ktx2` (RG half float) and `brdf_lut.png` (16-bit; R = scale, G = bias of
  F0, x = n.v, y = roughness with roughness 1 at the top row): the split-sum table.
"""
