"""A Markdown rendering of a comparison, ready to paste into a review."""
from __future__ import annotations

from suite import compare as c
from suite.export import cells


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list, rows: list) -> list:
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_escape(x) for x in r) + " |" for r in rows]
    return lines


def render_comparison(comp: c.Comparison) -> str:
    out = ["## Systems", ""]
    names = list(comp.systems[0].fields)
    out += _table([""] + [s.label for s in comp.systems],
                  [[n] + [s.fields.get(n, "") for s in comp.systems] for n in names])
    warnings = [f"{s.label}: {w}" for s in comp.systems for w in s.warnings] + list(comp.warnings)
    if warnings:
        out += ["", "**Warnings**", ""] + [f"- {_escape(w)}" for w in warnings]
    if len(comp.systems) > 1:
        out += ["", f"## Geometric means ({cells.geomean_scope(comp)})", ""]
        out += _table(["category"] + [s.label for s in comp.systems],
                      [[cat] + r for cat, r in cells.geomean_lines(comp)])
    out += ["", "## Results", "", "Ratios > 1 mean better than the baseline. Verdicts: "
            + _escape(cells.verdict_note(comp)) + ".", ""]
    out += _table(cells.header(comp), [cells.row_cells(comp, r) for r in comp.rows])
    return "\n".join(out) + "\n"
