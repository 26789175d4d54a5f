"""How a comparison reads as text: figures, ratios and significance marks,
shared by the table, markdown and HTML renderings."""
from __future__ import annotations

from suite import compare as c

MARKS = {
    c.BETTER: "better",
    c.WORSE: "WORSE",
    c.SAME: "",
    c.TOO_FEW: "too few samples",
    c.UNTESTED: c.UNTESTED,
    c.INVALID: "INVALID",
    c.MISSING: "",
    c.NO_BASELINE: "no baseline",
    c.BASELINE: "",
    c.EMULATED: c.EMULATED,
    c.INDICATIVE: c.INDICATIVE,
    c.INDICATIVE_BETTER: c.INDICATIVE_BETTER,
    c.INDICATIVE_WORSE: "WORSE (indicative)",
    c.DISTURBED: c.DISTURBED,
}


def number(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0 or 0.01 <= abs(x) < 1e6:
        return f"{x:.4g}" if abs(x) < 1000 else f"{x:,.0f}"
    return f"{x:.3e}"


def value_text(cell: c.Cell) -> str:
    if cell.verdict == c.MISSING:
        return "missing"
    if cell.verdict == c.EMULATED and cell.value is None:
        return "emulated"  # an emulated run's figure is never shown as a measurement
    return number(cell.value)


def params_text(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def ratio_text(cell: c.Cell) -> str:
    """'1.020x better (q=0.008, 3 processes)' style text for a non-baseline cell."""
    if cell.verdict == c.MISSING:
        return "missing"
    parts = []
    if cell.ratio is not None and cell.verdict != c.BASELINE:
        parts.append(f"{cell.ratio:.3f}x")
    mark = MARKS.get(cell.verdict, cell.verdict)
    if mark:
        parts.append(mark)
    if cell.follows:
        parts.append(f"(follows {cell.follows})")
    elif cell.q_value is not None and cell.verdict in (c.BETTER, c.WORSE):
        parts.append(f"(q={cell.q_value:.2g}, {cell.processes} processes)")
    elif cell.floor is not None and cell.verdict != c.INDICATIVE:
        parts.append(f"(1 process; beyond the {cell.floor:.0%} {cell.floor_from} floor)")
    if cell.disturbed and cell.verdict in (c.DISTURBED, c.BASELINE):
        parts.append(f"({cell.disturbed})")
    if cell.unstable:
        parts.append(f"[unstable: CV > {c.UNSTABLE_CV:.0%}]")
    return " ".join(parts)


def header(comp: c.Comparison) -> list:
    """Column names: the row identity, then per system a value column and,
    for all but the baseline, a 'vs baseline' column."""
    cols = ["benchmark", "params", "metric", "unit"]
    base = comp.systems[comp.baseline].label
    for i, s in enumerate(comp.systems):
        cols.append(s.label + (" (baseline)" if i == comp.baseline and len(comp.systems) > 1 else ""))
        if i != comp.baseline:
            cols.append(f"{s.label} vs {base}")
    return cols


def row_cells(comp: c.Comparison, row: c.Row) -> list:
    out = [row.benchmark, params_text(row.params), row.metric, row.unit]
    for i, cell in enumerate(row.cells):
        out.append(value_text(cell))
        if i != comp.baseline:
            out.append(ratio_text(cell))
    return out


def geomean_scope(comp: c.Comparison) -> str:
    """Which rows the geometric means cover, e.g. '28 rows every system has'."""
    scope = f"{comp.common_rows} primary, undisturbed rows every system has"
    if any(s.emulation for s in comp.systems):
        scope = (f"{comp.common_rows} primary, undisturbed rows every native system has "
                 "(emulated runs left out)")
    return scope + "; 95% confidence interval across the rows in brackets"


def verdict_note(comp: c.Comparison) -> str:
    """How the verdicts were reached, in one line."""
    return (f"better/worse: t test of the worker processes' figures, false discovery rate "
            f"{comp.fdr:.0%} over all tested rows (Benjamini-Hochberg), change >= "
            f"{c.MIN_EFFECT:.0%}; indicative: one process on a side, flagged only beyond a "
            "noise floor; derived figures follow their source; disturbed figures are never "
            "flagged")


def _with_ci(ratio, ci) -> str:
    if ratio is None:
        return "-"
    return number(ratio) + (f" [{number(ci[0])}, {number(ci[1])}]" if ci else "")


def geomean_lines(comp: c.Comparison) -> list:
    """(label, [ratio text per system]) for each category and overall."""
    lines = []
    groups = [(cat, r, comp.geomean_cis.get(cat, ())) for cat, r in comp.geomeans.items()]
    for cat, ratios, cis in groups + [("overall", comp.overall, comp.overall_ci)]:
        cis = tuple(cis) + (None,) * (len(ratios) - len(cis))
        lines.append((cat, [c.EMULATED if s.emulation else _with_ci(r, ci)
                            for s, r, ci in zip(comp.systems, ratios, cis)]))
    return lines
