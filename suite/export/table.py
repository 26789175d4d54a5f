"""A terminal table (rich) of a comparison: system block, rows, geomeans."""
from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from suite import compare as c
from suite.export import cells

_STYLE = {c.BETTER: "green", c.WORSE: "bold red", c.INDICATIVE_WORSE: "red",
          c.INVALID: "red", c.DISTURBED: "yellow"}


def _system_table(comp: c.Comparison) -> Table:
    t = Table(title="Systems", show_lines=False)
    t.add_column("")
    for s in comp.systems:
        t.add_column(s.label)
    names = list(comp.systems[0].fields)
    for name in names:
        t.add_row(name, *(s.fields.get(name, "") for s in comp.systems))
    return t


def _rows_table(comp: c.Comparison) -> Table:
    t = Table(title="Results (ratio > 1 means better than the baseline)")
    for col in cells.header(comp):
        t.add_column(col, overflow="fold")
    for row in comp.rows:
        text = cells.row_cells(comp, row)
        worst = next((cell.verdict for cell in row.cells if cell.verdict in _STYLE), None)
        t.add_row(*text, style=_STYLE.get(worst))
    return t


def _geomean_table(comp: c.Comparison) -> Table:
    t = Table(title=f"Geometric mean of ratios over the {cells.geomean_scope(comp)}")
    t.add_column("category")
    for s in comp.systems:
        t.add_column(s.label)
    for cat, ratios in cells.geomean_lines(comp):
        t.add_row(cat, *ratios)
    return t


def render_comparison(comp: c.Comparison, width: int = 160) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    console.print(_system_table(comp))
    for s in comp.systems:
        for w in s.warnings:
            console.print(f"warning ({s.label}): {w}", markup=False)
    for w in comp.warnings:
        console.print(f"warning: {w}", markup=False)
    console.print(_rows_table(comp))
    console.print(f"verdicts: {cells.verdict_note(comp)}", markup=False)
    if len(comp.systems) > 1:
        console.print(_geomean_table(comp))
    return buf.getvalue()
