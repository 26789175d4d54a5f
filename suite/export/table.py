"""A terminal table (rich) of a comparison: system block, rows, geomeans."""
from __future__ import annotations

import io
import textwrap

from rich.console import Console
from rich.table import Table

from suite import compare as c
from suite.export import cells

def _system_table(comp: c.Comparison) -> Table:
    t = Table(title="Systems", show_lines=False)
    t.add_column("")
    for s in comp.systems:
        t.add_column(s.label)
    names = list(comp.systems[0].fields)
    for name in names:
        t.add_row(name, *(s.fields.get(name, "") for s in comp.systems))
    return t


def _column_widths(natural: list, width: int) -> list:
    """Each column's width: its widest cell, the widest columns narrowed
    (their cells folded) until the table fits `width`."""
    widths = list(natural)
    while sum(widths) + 3 * len(widths) + 1 > width and max(widths) > 8:
        widths[widths.index(max(widths))] -= 1
    return widths


def _fold(text: str, width: int) -> list:
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _rows_text(comp: c.Comparison, width: int) -> str:
    """The results table drawn like rich's (heavy head, folded cells), for
    it alone: a default run has hundreds of rows, which rich's generic
    layout takes about a second to draw."""
    title = "Results (ratio > 1 means better than the baseline)"
    header = cells.header(comp)
    rows = [[str(v) for v in cells.row_cells(comp, row)] for row in comp.rows]
    widths = _column_widths([max([len(h)] + [len(r[i]) for r in rows])
                             for i, h in enumerate(header)], width)

    def rule(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def lines(values: list, edge: str) -> list:
        folded = [_fold(v, w) for v, w in zip(values, widths)]
        return [edge + edge.join(f" {(f[i] if i < len(f) else ''):<{w}} "
                                 for f, w in zip(folded, widths)) + edge
                for i in range(max(len(f) for f in folded))]

    out = [title.center(sum(widths) + 3 * len(widths) + 1).rstrip(), rule("┏", "━", "┳", "┓")]
    out += lines(header, "┃")
    out.append(rule("┡", "━", "╇", "┩"))
    for r in rows:
        out += lines(r, "│")
    out.append(rule("└", "─", "┴", "┘"))
    return "\n".join(out) + "\n"


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
    console.file.write(_rows_text(comp, width))
    console.print(f"verdicts: {cells.verdict_note(comp)}", markup=False)
    if len(comp.systems) > 1:
        console.print(_geomean_table(comp))
    return buf.getvalue()
