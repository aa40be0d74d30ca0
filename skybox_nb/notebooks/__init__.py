"""The notebooks shipped inside the package (so a wheel has them, not only a checkout).

Invariant: the shipped notebooks are read, never written: `copy_to` copies them into a
folder of the user's, leaving any notebook already there (with the user's edits) alone.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["FOLDER", "QUICKSTART", "names", "path", "copy_to"]

FOLDER = Path(__file__).resolve().parent
QUICKSTART = "01_quickstart.ipynb"


def names() -> list[str]:
    """The file names of the shipped notebooks, in reading order."""
    return sorted(p.name for p in FOLDER.glob("*.ipynb"))


def path(name: str = QUICKSTART) -> Path:
    """The path of one shipped notebook; FileNotFoundError lists the ones there are."""
    found = FOLDER / name
    if not found.is_file():
        raise FileNotFoundError(f"notebook {name!r} not found; the package ships: "
                                f"{', '.join(names()) or 'none'}")
    return found


def copy_to(dest: str | os.PathLike[str], overwrite: bool = False) -> list[tuple[Path, bool]]:
    """Copy every shipped notebook into ``dest`` (created if needed).

    Returns (the copy's path, whether it was written now) per notebook. A notebook already
    in ``dest`` is kept unless ``overwrite``; ``dest`` that is a file raises
    NotADirectoryError naming it.
    """
    folder = Path(dest)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: is a file; give a folder to copy the notebooks into")
    folder.mkdir(parents=True, exist_ok=True)
    done = []
    for name in names():
        target = folder / name
        if target.exists() and not overwrite:
            done.append((target, False))
            continue
        tmp = target.with_name(f".{name}.part")
        shutil.copyfile(FOLDER / name, tmp)  # then rename: never a half-copied notebook
        os.replace(tmp, target)
        done.append((target, True))
    return done
