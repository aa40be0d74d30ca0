"""The colours that carry a verdict, in every figure, table and HTML view.

Invariant: a pass is drawn in `OK`, a defect in `BAD` (a table row with a defect on
`BAD_BACKGROUND`), wherever a seam or pole verdict is shown, so a person reads the same
colour the same way in a plot, a report and a sweep's table.
"""

from __future__ import annotations

__all__ = ["OK", "BAD", "BAD_BACKGROUND", "verdict_colour"]

OK = "#1a7f37"  # green, readable on white and on images
BAD = "#c62828"  # red
BAD_BACKGROUND = "#fee2e2"  # a pale red behind text


def verdict_colour(ok: bool) -> str:
    """`OK` for a pass, `BAD` for a defect."""
    return OK if ok else BAD
