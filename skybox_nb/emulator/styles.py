"""The 22 skybox-flux styles as the emulator draws them: one `Look` per style value.

Invariant: there is exactly one look for each value of `skybox_nb.contract.STYLES`, and no
two looks are the same, so every style gives a visibly different image. These looks are the
emulator's own invention (a colour grade, posterisation, outlines, grain, ...), made so
that a person can tell styles apart offline; they say nothing about how the real model
renders a style.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contract import STYLES

__all__ = ["Look", "LOOKS", "look_for", "GEOMETRY_THRESHOLD"]

# Below this effective geometryEnforcement level the emulator adds a partial wrap seam, a
# pinched zenith and a kaleidoscope nadir (render.apply_geometry_defects); at or above it,
# none.
GEOMETRY_THRESHOLD = 50.0


@dataclass(frozen=True)
class Look:
    """How one style grades the rendered scene.

    ``tint`` multiplies the colours, ``saturation`` and ``contrast`` scale around grey,
    ``hue`` rotates hues (degrees), ``lift`` adds a constant (brightens shadows),
    ``posterize`` quantises each channel to that many levels (0 = off), ``outline``
    darkens edges by that amount, ``grain`` adds that much film grain, ``glow`` blooms the
    sun/moon, ``mono`` turns the image grey first. ``scene`` forces a kind of scene
    (``"space"``, ``"skydome"``) and ``neon`` lights a city in neon colours.
    ``default_geometry`` is the level used when a request sends geometryEnforcement 0.
    """

    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    saturation: float = 1.0
    contrast: float = 1.0
    hue: float = 0.0
    lift: float = 0.0
    posterize: int = 0
    outline: float = 0.0
    grain: float = 0.0
    glow: float = 1.0
    mono: bool = False
    scene: str | None = None
    neon: bool = False
    default_geometry: float = 60.0


LOOKS: dict[str, Look] = {
    "standard": Look(),
    "cinematic": Look(tint=(1.05, 0.98, 0.9), saturation=0.9, contrast=1.2, hue=-6),
    "claymation": Look(saturation=1.35, contrast=0.9, posterize=7, lift=0.05, outline=0.25),
    "cloud-skydome": Look(tint=(0.95, 1.0, 1.08), saturation=0.85, lift=0.04, scene="skydome",
                          default_geometry=70.0),
    "cyberpunk": Look(tint=(1.1, 0.75, 1.2), saturation=1.4, contrast=1.25, hue=25, neon=True),
    "fantasy": Look(tint=(1.1, 0.95, 1.1), saturation=1.25, hue=-18, glow=1.8, lift=0.03),
    "neon-tron": Look(tint=(0.6, 1.0, 1.3), saturation=1.6, contrast=1.5, outline=0.6,
                      neon=True, lift=-0.05),
    "photo": Look(saturation=1.05, contrast=1.08, grain=0.015, default_geometry=65.0),
    "psychedelic": Look(saturation=2.0, contrast=1.2, hue=120, posterize=9, glow=1.5),
    "retro-fantasy": Look(tint=(1.15, 1.0, 0.8), saturation=0.75, contrast=0.9, posterize=10,
                          grain=0.05, lift=0.06),
    "scifi-concept-art": Look(tint=(0.85, 1.0, 1.15), saturation=0.8, contrast=1.3, hue=-12,
                              outline=0.15),
    "space": Look(tint=(0.95, 0.95, 1.1), contrast=1.15, scene="space", glow=1.4),
    "whimsical": Look(tint=(1.15, 0.95, 1.15), saturation=1.3, lift=0.1, contrast=0.85,
                      hue=35, posterize=12),
    "3d-cartoon": Look(saturation=1.5, contrast=1.1, posterize=8, lift=0.03),
    "cartoon": Look(saturation=1.45, contrast=1.05, posterize=6, outline=0.5),
    "comic": Look(saturation=1.3, contrast=1.35, posterize=5, outline=0.8, grain=0.02),
    "manga": Look(mono=True, contrast=1.5, posterize=4, outline=0.9),
    "ink": Look(mono=True, tint=(1.0, 0.97, 0.88), contrast=1.8, posterize=3, outline=1.0,
                grain=0.03),
    "pastel": Look(saturation=0.55, contrast=0.7, lift=0.22, hue=10),
    "oil-painting": Look(tint=(1.08, 1.0, 0.88), saturation=1.2, contrast=1.1, posterize=14,
                         grain=0.04, outline=0.1),
    "enchanted": Look(tint=(0.85, 1.1, 1.05), saturation=1.3, hue=-40, glow=2.0, lift=0.02),
    "manga-color": Look(saturation=1.3, contrast=1.3, posterize=6, outline=0.85, lift=0.04),
}

assert set(LOOKS) == set(STYLES), "every style needs exactly one look"


def look_for(style: str | None) -> Look:
    """The look of ``style`` (``cinematic``, the model's default, when None).

    Raises ``ValueError`` naming the style and the allowed values when it is unknown.
    """
    key = "cinematic" if style is None else style
    try:
        return LOOKS[key]
    except KeyError:
        raise ValueError(f"style: got {style!r}; allowed: {', '.join(STYLES)}") from None
