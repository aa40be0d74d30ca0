"""`skybox-nb export PANO --engine ... --out DIR`: the command line of `engines`.

Invariant: this file parses and prints; `engines.export_engine` does the work, exactly
as a notebook calls it. It imports nothing heavy until the command runs.
"""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["add_parser"]

_ENGINES = ("unity", "godot", "unreal", "blender", "threejs")


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the ``export`` subcommand on the CLI's subparsers."""
    x = sub.add_parser("export", help="write what a game engine imports: faces or panorama, "
                       "materials/scripts, a README; optionally HDR and a lighting pack")
    x.add_argument("input", help="the panorama (PNG, JPEG, WebP, or an .hdr/.exr)")
    x.add_argument("--engine", required=True, choices=_ENGINES)
    x.add_argument("--out", required=True, help="folder to write (created)")
    x.add_argument("--hdr", action="store_true",
                   help="add the HDR: Scenario's original file when one was downloaded beside "
                        "PANO (an HDRi asset's originalFileUrl), else an estimate (sun scaled "
                        "to --sun-to-sky)")
    x.add_argument("--pack", action="store_true",
                   help="add the lighting pack (SH, GGX specular cube, BRDF LUT) in lighting/")
    x.add_argument("--sun-to-sky", type=float, default=4.0,
                   help="sun energy / sky energy of the HDR estimate (default: %(default)s)")
    x.add_argument("--exposure", type=float, default=0.0, help="stops (default: 0)")
    x.add_argument("--face-size", type=int, default=None,
                   help="cube face size (default: panorama width / 4)")
    x.add_argument("--pack-size", type=int, default=128,
                   help="specular cube face size, a power of two (default: %(default)s)")
    x.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .engines import export_engine
    from .hdr import read_hdr
    from .panorama import Panorama

    t = time.perf_counter()
    try:
        src = Path(args.input)
        pano = read_hdr(src) if src.suffix.lower() in (".hdr", ".exr") else Panorama.load(src)
        result = export_engine(pano, args.engine, args.out, hdr=args.hdr, pack=args.pack,
                               face_size=args.face_size, sun_to_sky=args.sun_to_sky,
                               exposure=args.exposure, pack_size=args.pack_size)
    except (OSError, ValueError) as e:  # unreadable input, bad options
        print(f"skybox-nb export: {e}", file=sys.stderr)
        return 2
    for path in result.files:
        print(path)
    if result.hdr is not None and result.hdr.assumptions.get("original"):
        print(f"HDR: Scenario's original file {Path(result.hdr.source).name} "
              "(originalFileUrl), not an estimate", file=sys.stderr)
    elif result.hdr is not None and result.hdr.sun is not None:
        s = result.hdr.sun
        print(f"sun found at yaw {s.yaw:.1f}, pitch {s.pitch:.1f} degrees; scaled x{s.scale:.1f} "
              f"to sun/sky {s.sun_to_sky:.2f} (an estimate)", file=sys.stderr)
    elif result.hdr is not None:
        print("no compact bright region: no sun scaled (an estimate)", file=sys.stderr)
    print(f"{args.engine}: {len(result.files)} files in {time.perf_counter() - t:.1f} s "
          f"(see {Path(args.out) / 'README.md'})", file=sys.stderr)
    return 0
