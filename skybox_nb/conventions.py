"""Engine conventions for cube faces: which direction each face looks, which way is up
inside it, its name, file name and place in a layout.

Invariant: every convention is the same cube, written once: six faces seen from inside,
upright, in a left-handed "cube space" (x right, y up, z forward; the face table of
OpenGL/Direct3D cube maps), plus one 3x3 matrix that turns a cube-space direction into
a direction of the panorama frame. The panorama frame is x = right of the panorama's
centre, y = up, z = the centre column; longitude = atan2(x, z), latitude = asin(y).

How each engine's matrix was derived (from the engine's own shader code, so a cube
export shows exactly the sky the engine shows when given the equirect image directly):

* ``generic``: faces F R B L U D as py360convert names and orients them: F is the
  panorama's centre, R is 90 degrees to its right, U is seen by tilting the head back
  from F (its bottom edge meets F's top edge), D by looking down from F. Identity matrix.
* ``unity``: Skybox/6 Sided takes Front [+Z], Back [-Z], Left [+X], Right [-X], Up [+Y],
  Down [-Y] (Unity is left-handed: +X right, +Y up, +Z forward). Unity's equirect shader
  (Skybox/Panoramic, rotation 0) puts the image centre at +X and longitude
  -atan2(z, x), so Front [+Z] shows the column a quarter turn LEFT of the centre and the
  texture named "Left [+X]" shows the panorama's centre. Set the material's Rotation to
  turn the whole sky if you want the centre in front of the default camera.
* ``threejs``: CubeTextureLoader order px nx py ny pz nz. three.js samples a CubeTexture
  background at (-x, y, z) of the world direction (its ``flipEnvMap``), with the OpenGL
  face table and images uploaded top row first; its equirect mapping puts the image
  centre at +X with longitude atan2(z, x) (right-handed, camera looking down -Z). So the
  file ``nx`` holds what a viewer sees towards world +X, i.e. the panorama's centre.
  Checked once in headless Chromium with three.js r170: a CubeTextureLoader background
  of our six files and an EquirectangularReflectionMapping background of the panorama
  rendered the same pixels (mean difference 0.1 grey level over eight views, up, down
  and oblique ones included); swapping px/nx or py/ny, or using the ``opengl`` faces,
  made differences of 20-60 levels.
* ``opengl``: the plain OpenGL face table with world directions in the same right-handed
  frame as three.js but no x flip, for a shader doing ``texture(samplerCube, dir)``
  itself. That frame is mirrored relative to cube space, so these faces look mirrored
  when viewed as flat images; that is what such a shader needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Convention", "CONVENTIONS", "FACE_BASIS", "get_convention", "LAYOUTS", "LAYOUT_NAMES"]

# Pixel (a, b) of a face, a = -1..1 left to right, b = -1..1 top to bottom (pixel centres
# at (2j+1)/S - 1), looks along n + a*u + b*v in cube space. Same numbers as the OpenGL
# cube map face table (sc, tc), written as vectors.
FACE_BASIS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]] = {
    "+X": ((1, 0, 0), (0, 0, -1), (0, -1, 0)),
    "-X": ((-1, 0, 0), (0, 0, 1), (0, -1, 0)),
    "+Y": ((0, 1, 0), (1, 0, 0), (0, 0, 1)),
    "-Y": ((0, -1, 0), (1, 0, 0), (0, 0, -1)),
    "+Z": ((0, 0, 1), (1, 0, 0), (0, -1, 0)),
    "-Z": ((0, 0, -1), (-1, 0, 0), (0, -1, 0)),
}

# The layouts every engine imports, in cube-space axes: (row, column, axis, quarter turns
# counter-clockwise). The crosses are the unfolded cube seen from inside; in the vertical
# cross the back face hangs below the down face and so is upside down.
LAYOUTS: dict[str, tuple[tuple[int, int], tuple[tuple[int, int, str, int], ...]]] = {
    "hcross": ((3, 4), ((0, 1, "+Y", 0), (1, 0, "-X", 0), (1, 1, "+Z", 0),
                        (1, 2, "+X", 0), (1, 3, "-Z", 0), (2, 1, "-Y", 0))),
    "vcross": ((4, 3), ((0, 1, "+Y", 0), (1, 0, "-X", 0), (1, 1, "+Z", 0),
                        (1, 2, "+X", 0), (2, 1, "-Y", 0), (3, 1, "-Z", 2))),
}
# Every layout an export can write: six files, the two crosses above, and the 6:1 and 1:6
# strips in each convention's strip order.
LAYOUT_NAMES = ("six", "hcross", "vcross", "hstrip", "vstrip")


@dataclass(frozen=True)
class Convention:
    """One engine's faces: ``faces`` maps face name -> cube-space axis, in the engine's
    order; ``matrix`` turns cube-space directions into panorama-frame directions;
    ``strip`` is the axis order of the 6:1 and 1:6 strips."""

    name: str
    faces: tuple[tuple[str, str], ...]
    matrix: tuple[tuple[int, int, int], ...]
    strip: tuple[str, ...]
    summary: str

    @property
    def names(self) -> list[str]:
        """Face names in the engine's order (also the file names of a six-file export)."""
        return [name for name, _ in self.faces]

    def axis(self, name: str) -> str:
        """The cube-space axis ("+X", ...) of face ``name``."""
        return dict(self.faces)[name]

    def name_of(self, axis: str) -> str:
        """The face name of cube-space axis ``axis``."""
        return {a: n for n, a in self.faces}[axis]

    def basis(self, name: str) -> np.ndarray:
        """(3, 3) rows n, u, v of face ``name`` in the panorama frame."""
        m = np.asarray(self.matrix, dtype=np.float64)
        return np.asarray(FACE_BASIS[self.axis(name)], dtype=np.float64) @ m.T


_XYZ = ("+X", "-X", "+Y", "-Y", "+Z", "-Z")

CONVENTIONS: dict[str, Convention] = {
    "generic": Convention(
        "generic",
        (("F", "+Z"), ("R", "+X"), ("B", "-Z"), ("L", "-X"), ("U", "+Y"), ("D", "-Y")),
        ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
        ("+Z", "+X", "-Z", "-X", "+Y", "-Y"),
        "F R B L U D as py360convert: F = panorama centre, R to its right, U/D tilted from F",
    ),
    "unity": Convention(
        "unity",
        (("front", "+Z"), ("back", "-Z"), ("left", "+X"), ("right", "-X"),
         ("up", "+Y"), ("down", "-Y")),
        ((0, 0, -1), (0, 1, 0), (1, 0, 0)),
        _XYZ,
        "Skybox/6 Sided: Front [+Z] Back [-Z] Left [+X] Right [-X] Up [+Y] Down [-Y]; "
        "same sky as Skybox/Panoramic at rotation 0 (image centre at +X)",
    ),
    "threejs": Convention(
        "threejs",
        (("px", "+X"), ("nx", "-X"), ("py", "+Y"), ("ny", "-Y"), ("pz", "+Z"), ("nz", "-Z")),
        ((0, 0, 1), (0, 1, 0), (-1, 0, 0)),
        _XYZ,
        "CubeTextureLoader px nx py ny pz nz, as a scene background (x flipped); same sky "
        "as the equirect texture (image centre at world +X)",
    ),
    "opengl": Convention(
        "opengl",
        (("px", "+X"), ("nx", "-X"), ("py", "+Y"), ("ny", "-Y"), ("pz", "+Z"), ("nz", "-Z")),
        ((0, 0, 1), (0, 1, 0), (1, 0, 0)),
        _XYZ,
        "GL_TEXTURE_CUBE_MAP_POSITIVE_X.. order for texture(samplerCube, worldDir), "
        "right-handed world with the image centre at +X (faces look mirrored as flat images)",
    ),
}


def get_convention(convention: str | Convention) -> Convention:
    """The `Convention` named ``convention`` (case-insensitive); a clear error otherwise."""
    if isinstance(convention, Convention):
        return convention
    key = str(convention).strip().lower()
    if key in ("three", "three.js"):
        key = "threejs"
    if key not in CONVENTIONS:
        raise ValueError(
            f"convention: got {convention!r}; allowed: {', '.join(CONVENTIONS)}"
        )
    return CONVENTIONS[key]
