"""Sweeps: a grid of Skybox Flux.1 requests (styles x geometry enforcement x seeds ...)
run with bounded concurrency, each output scored by the seam check.

Invariant: every request of the grid is built, and so validated, before anything is
sent, so a bad value costs nothing; the grid runs through ``client.run_many`` with at
most ``max_in_flight`` jobs at once; results, rows and plots keep the grid's order
(the cartesian product of the axes, in the order they were given).
"""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .palette import BAD_BACKGROUND
from .request import SkyboxRequest

if TYPE_CHECKING:  # pragma: no cover
    from .figure import Figure

    from .models import RunResult
    from .seams import SeamReport

__all__ = ["sweep", "grid", "SweepResult", "SweepCell", "ScoreTable", "SCORES"]

# The seam scores a sweep reports for each output (attributes of ``SeamReport``).
SCORES = ("wrap", "poles", "cube_edges", "ds")


def grid(base: SkyboxRequest,
         axes: dict[str, Sequence[Any]]) -> list[tuple[dict[str, Any], SkyboxRequest]]:
    """The cartesian product of ``axes`` (field name -> values) applied to ``base``, as
    ``(params, request)`` pairs. Raises ``ValueError`` for an unknown field or an empty
    axis, and ``ValidationError`` for a value out of contract, before anything is sent."""
    for name, values in axes.items():
        if name not in SkyboxRequest.API_NAMES:
            raise ValueError(f"sweep axis {name!r}: not a SkyboxRequest field; allowed: "
                             + ", ".join(SkyboxRequest.API_NAMES))
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"sweep axis {name!r}: got {values!r}; expected a non-empty list")
    names = list(axes)
    out = []
    for combo in itertools.product(*(axes[n] for n in names)):
        params = dict(zip(names, combo))
        out.append((params, base.replace(**params)))
    return out


def _score(value: Any) -> float:
    """A report entry as one number (a float, or an object with a ``score``)."""
    if hasattr(value, "score"):
        value = value.score
    return float(value)


@dataclass(frozen=True)
class SweepCell:
    """One grid point: its parameters, request, run result and one report per output."""

    params: dict[str, Any]
    request: SkyboxRequest
    result: "RunResult"
    reports: list["SeamReport"]


class ScoreTable:
    """Rows of a sweep (one per output panorama) with a plain-text and an HTML view.

    Numbers are shown rounded to 3 decimals so the text is stable across runs."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.columns = list(rows[0]) if rows else []

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def column(self, name: str) -> list[Any]:
        """Every row's value for ``name``."""
        return [r[name] for r in self.rows]

    @staticmethod
    def _fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return str(v)

    def __repr__(self) -> str:
        cells = [[self._fmt(r[c]) for c in self.columns] for r in self.rows]
        widths = [max([len(c)] + [len(row[i]) for row in cells])
                  for i, c in enumerate(self.columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(self.columns, widths))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
        return "\n".join(line.rstrip() for line in lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = ""
        for r in self.rows:
            tds = "".join(f"<td>{html.escape(self._fmt(r[c]))}</td>" for c in self.columns)
            colour = "" if r.get("seamless", True) else f' style="background:{BAD_BACKGROUND}"'
            body += f"<tr{colour}>{tds}</tr>"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class SweepResult:
    """What ``sweep`` returns: the cells in grid order, a score table, a contact sheet
    and score plots."""

    def __init__(self, axes: dict[str, list[Any]], cells: list[SweepCell]) -> None:
        self.axes = axes
        self.cells = cells

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}={v!r}" for k, v in self.axes.items())
        return (f"SweepResult({len(self.cells)} requests, {len(self.panorama_paths())} "
                f"panoramas; {axes})")

    def panorama_paths(self) -> list[Any]:
        """Every output file, in grid order."""
        return [f for c in self.cells for f in c.result.files]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per output: the swept params, output index, seed, ``seamless`` and
        each score in ``SCORES``."""
        rows = []
        for cell in self.cells:
            assets = list(cell.result.assets)
            for i, rep in enumerate(cell.reports):
                seed = assets[i].seed if i < len(assets) else None
                row = {**cell.params, "output": i,
                       "seed_used": None if seed is None else int(seed),
                       "seamless": bool(rep.seamless)}
                row.update({s: _score(getattr(rep, s)) for s in SCORES})
                rows.append(row)
        return rows

    def table(self) -> ScoreTable:
        """The rows as a ``ScoreTable`` (text and HTML)."""
        return ScoreTable(self.rows())

    def contact_sheet(self, **kw: Any) -> "Figure":
        """Every output titled with its swept values, its seam verdict and scores
        (``plots.contact_sheet``). One row per value of the first axes, one column per
        value of the last axis (and output), when that fits in 6 columns."""
        from .panorama import Panorama
        from .plots import contact_sheet

        panos = [Panorama.load(p) for p in self.panorama_paths()]
        reports = [r for c in self.cells for r in c.reports]
        titles = [", ".join(f"{k}={v}" for k, v in c.params.items())
                  + (f" #{i + 1}" if len(c.reports) > 1 else "")
                  for c in self.cells for i in range(len(c.reports))]
        per_row = len(list(self.axes.values())[-1]) * max(len(c.reports) for c in self.cells)
        kw.setdefault("ncols", per_row if per_row <= 6 else 4)
        return contact_sheet(panos, reports, titles=titles, **kw)

    def plot_scores(self, param: str = "geometry_enforcement",
                    scores: Sequence[str] = ("wrap", "poles", "ds")) -> "Figure":
        """Each score against ``param`` (``plots.plot_scores``)."""
        from .plots import plot_scores

        return plot_scores(self, param, scores)

    def seamless_at(self, param: str, value: Any) -> bool:
        """True when every output swept with ``param == value`` is seamless."""
        rows = [r for r in self.rows() if r[param] == value]
        if not rows:
            raise ValueError(f"seamless_at: {param}={value!r} was not swept; "
                             f"values: {self.axes.get(param)}")
        return all(r["seamless"] for r in rows)

    def lowest_seamless(self, param: str = "geometry_enforcement") -> Any:
        """The lowest value of ``param`` at which every output is seamless, and stays
        so at every higher value swept; None when there is none. For
        ``geometry_enforcement``, 0 is left out: it is not a low level but the style's
        own default (ask ``seamless_at("geometry_enforcement", 0)`` about it)."""
        values = sorted(v for v in self.axes[param]
                        if not (param == "geometry_enforcement" and v == 0))
        best = None
        for v in reversed(values):
            if not self.seamless_at(param, v):
                break
            best = v
        return best


def sweep(
    base_request: SkyboxRequest,
    *,
    style: Sequence[str] | None = None,
    geometry_enforcement: Sequence[float] | None = None,
    seed: Sequence[int] | None = None,
    client: Any = None,
    max_in_flight: int = 4,
    on_progress: Callable[[Any], None] | None = None,
    **axes: Sequence[Any],
) -> SweepResult:
    """Run ``base_request`` over the grid of the given axes (``style``,
    ``geometry_enforcement``, ``seed``, and any other ``SkyboxRequest`` field as a
    keyword) with at most ``max_in_flight`` jobs at once, then seam-check every output.

    ``client`` defaults to a ``SkyboxClient()`` (the emulator without credentials),
    closed when the grid has run.
    Returns a ``SweepResult``. Every request is validated before the first is sent.
    """
    from .panorama import Panorama
    from .seams import seam_report

    named = {"style": style, "geometry_enforcement": geometry_enforcement, "seed": seed}
    all_axes = {k: list(v) for k, v in {**named, **axes}.items() if v is not None}
    if not all_axes:
        raise ValueError("sweep: give at least one axis, e.g. geometry_enforcement=[0, 50, 100]")
    if not (isinstance(max_in_flight, int) and max_in_flight >= 1):
        raise ValueError(f"max_in_flight: got {max_in_flight!r}; expected an integer >= 1")
    points = grid(base_request, all_axes)
    own = client is None
    if own:
        from .client import SkyboxClient

        client = SkyboxClient()
    try:
        if callable(getattr(client, "account", None)):
            client.account()  # the parallel-jobs limit, so run_many stays within it
        results = client.run_many([r for _, r in points], max_in_flight=max_in_flight,
                                  on_progress=on_progress)
    finally:
        if own:  # the files are on disk: the client (and its emulator) are done
            client.close()
    cells = []
    for (params, req), result in zip(points, results):
        reports = [seam_report(Panorama.load(f)) for f in result.files]
        cells.append(SweepCell(params, req, result, reports))
    return SweepResult(all_axes, cells)
