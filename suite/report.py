"""A self-contained HTML report of one or more result files.

Plots are matplotlib figures embedded as base64 PNG, so the file can be
mailed or attached to a CI job. Each result file is one series per plot. A
plot whose records are absent from every file is replaced by a short
"not in this run" note.

Each benchmark's spec declares its plots (suite.meaning.Plot): the kind,
the metrics and the param on the x axis. A section draws the kinds it knows:
  Memory bandwidth         threads: two rates against a param
  Latency curve            curve: a latency against the working set (log axes)
  Loaded latency           pairs: (bandwidth, latency) records with equal params
  Agent workloads          concurrency: rate and p99 against a param, one row
                           per family; search: a capacity search's trace
  Co-run interference      bars: one figure per workload and file
  Side by side             side_by_side: a table, a row per key, a column per family

A run made under emulation (suite.emulation) keeps its column in the system
block, but nothing of it is plotted or put in the headline: a note says why.
"""
from __future__ import annotations

import base64
import html
import io
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from suite import compare as cmp
from suite import meaning
from suite.atomicfile import write_atomic
from suite.emulation import emulation_of
from suite.units import bytes_text
from suite.export import cells

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2} .better{color:#060} .worse{color:#b00;font-weight:bold}
.invalid{color:#b00} .note{color:#777;font-style:italic} .warn{color:#a60}
img.plot{max-width:100%;border:1px solid #ddd;margin:.5em 0}
"""


@dataclass(frozen=True)
class Series:
    label: str
    xs: tuple
    ys: tuple


def _label_docs(docs: Sequence) -> list:
    return list(zip(cmp.system_labels(docs), docs))


def _param_text(params: dict, skip: Sequence[str]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items() if k not in skip)


def _series(labelled, pick: Callable, xkey: Callable, name: Callable) -> list:
    """Group the records `pick` accepts into x-sorted series."""
    groups: dict = {}
    for label, doc in labelled:
        for r in doc.results:
            if r.value is None or not r.validated or not pick(r):
                continue
            x = xkey(r)
            if x is None:
                continue
            groups.setdefault(name(label, r), []).append((x, r.value))
    out = []
    for key, points in groups.items():
        points.sort()
        out.append(Series(key, tuple(p[0] for p in points), tuple(p[1] for p in points)))
    return out


def _figure(ncols: int = 1, nrows: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 4.2 * nrows), squeeze=False)
    return fig, [ax for row in axes for ax in row]


# Beyond this ratio of largest to smallest value a linear y axis squashes the
# smaller series onto the baseline (a no-op tool call next to a sandboxed
# one: 1000x), so the axis goes logarithmic.
LOG_Y_SPAN = 30.0


def _bytes_text(n: float, _pos=None) -> str:
    """A byte axis tick (matplotlib passes the position too)."""
    return bytes_text(n, digits=None)


def _tokens(name: str) -> list:
    return [t for t in name.replace(",", " ").split() if t]


def _short_names(series: list) -> tuple:
    """Legend names without the words every series shares (the file label
    of a single run, the benchmark id, a fixed parameter), and those words."""
    if len(series) < 2:
        return series, ""
    common = [t for t in _tokens(series[0].label) if all(t in _tokens(s.label) for s in series)]
    out = []
    for s in series:
        rest = " ".join(t for t in _tokens(s.label) if t not in common)
        out.append(Series(rest or s.label, s.xs, s.ys))
    if len({s.label for s in out}) < len(out):  # shortening merged names: keep them whole
        return series, ""
    return out, ", ".join(common)


def _draw(ax, series: list, xlabel: str, ylabel: str, title: str, logx: bool = False,
          logy: bool | None = None, legend_loc: str = "best") -> None:
    """One panel. logy None: logarithmic when the values span more than LOG_Y_SPAN."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    series, common = _short_names(series)
    for s in series:
        ax.plot(s.xs, s.ys, marker="o", markersize=3, label=s.label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}\n{common}" if common else title, fontsize=10)
    if logx:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(_bytes_text))
        ax.tick_params(axis="x", labelsize=7)
    elif xlabel in ("threads", "concurrency", "concurrent agents"):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ys = [y for s in series for y in s.ys if y is not None and y > 0]
    if logy is None:
        logy = bool(ys) and max(ys) / min(ys) > LOG_Y_SPAN
    if logy and ys:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)  # a rate or a latency measured from zero, not from its minimum
    ax.grid(True, alpha=0.3)
    if series:
        ax.legend(fontsize=7, loc=legend_loc)


def _param_of(key: str) -> Callable:
    def x(r):
        v = r.params.get(key)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    return x


def _of_kind(decls, kind: str, several_files: bool = False) -> list:
    """The plot declarations of one kind (`decls` default: the registry's);
    overlaying several files, only those that ask to be drawn then."""
    decls = meaning.plots() if decls is None else decls
    return [(p, ids) for p, ids in decls if p.kind == kind
            and (p.several_files or not several_files)]


def _picker(decls, index: int) -> Callable:
    """Records of the declaring benchmarks with the metric at `index` of their plot."""
    wanted = {(i, p.metrics[index]) for p, ids in decls if index < len(p.metrics) for i in ids}
    return lambda r: (r.benchmark, r.metric) in wanted


def _sweeps(labelled, decls, index: int) -> list:
    """Series of metric `index` of each declaration against its own x param."""
    out = []
    for p, ids in decls:
        out += _series(labelled, _picker([(p, ids)], index), _param_of(p.x),
                       lambda label, r, p=p: f"{label} {r.benchmark} "
                       f"{_param_text(r.params, (p.x, *_SWEEP_KEYS))}".strip())
    return out


def _title(decls, index: int) -> str:
    names = dict.fromkeys(p.metrics[index].replace("_", " ") for p, _ in decls)
    return " / ".join(names)


# Parameters that vary along a STREAM sweep (or with the machine) rather
# than naming a curve.
_SWEEP_KEYS = ("elements", "summary")


def plot_bandwidth(labelled, decls=None):
    """Rates vs threads, a panel per declared metric (bandwidth and bandwidth
    per core)."""
    mine = _of_kind(decls, "threads", len(labelled) > 1)
    panels = [(_sweeps(labelled, mine, i), i) for i in range(2)]
    if not any(s for s, _ in panels):
        return None
    fig, axes = _figure(2)
    family = mine[0][0].family
    for ax, (series, i) in zip(axes, panels):
        unit = next((r.unit for _, d in labelled for r in d.results if _picker(mine, i)(r)), "")
        _draw(ax, series, mine[0][0].x, unit, f"{family} {_title(mine, i)}".strip())
    return fig


def plot_latency(labelled, decls=None):
    """Load latency vs working set (log x), cache sizes of each system marked."""
    mine = _of_kind(decls, "curve")
    series = _sweeps(labelled, mine, 0)
    if not series:
        return None
    fig, (ax,) = _figure(1)
    # Log y: the cache levels sit 3-10x apart, so a linear axis flattens L1 and L2.
    _draw(ax, series, "working set", "ns per load", "Latency vs working set",
          logx=True, logy=True, legend_loc="upper left")  # small, fast sets: bottom left
    _mark_caches(ax, labelled)
    return fig


def _mark_caches(ax, labelled) -> None:
    """A dashed line per data/unified cache size; named after the system only
    when the systems differ at that level."""
    sizes: dict = {}  # (level, size) -> labels of the systems that have it
    for label, doc in labelled:
        for c in doc.system.get("caches") or ():
            if c.get("type") != "Instruction" and c.get("size_bytes") and c.get("level"):
                sizes.setdefault((int(c["level"]), int(c["size_bytes"])), set()).add(label)
    for (level, size), owners in sorted(sizes.items()):
        shared = len(owners) == len(labelled)
        name = f"L{level} {_bytes_text(size)}"
        if not shared:
            name += " (" + ", ".join(sorted(owners)) + ")"
        ax.axvline(size, color="grey", linestyle="--", alpha=0.6)
        # At the top, clear of the curve's low cache-level points.
        ax.annotate(name, (size, 0.98), rotation=90, xycoords=("data", "axes fraction"),
                    fontsize=7, va="top", ha="right", color="dimgrey")


def _varying_params(keys: list) -> list:
    """Per point, the text of the params that differ between the points
    (the load generator's delay), so each point says which setting it is."""
    dicts = [json.loads(k[1]) for k in keys]
    varying = [name for name in dicts[0] if len({json.dumps(d.get(name)) for d in dicts}) > 1]
    return [",".join(f"{n}={d.get(n)}" for n in varying) for d in dicts]


def plot_loaded_latency(labelled, decls=None):
    """Latency against the total bandwidth of the load generator (MLC style),
    each point named by its load setting: the declared (x, y) metric pairs."""
    xs_of, ys_of = _picker(_of_kind(decls, "pairs"), 0), _picker(_of_kind(decls, "pairs"), 1)
    series, notes = [], []
    for label, doc in labelled:
        bw, lat = {}, {}
        for r in doc.results:
            if r.value is None or not r.validated:
                continue
            key = (r.benchmark, json.dumps(r.params, sort_keys=True))
            if ys_of(r):
                lat[key] = r.value
            elif xs_of(r):
                bw[key] = r.value
        keys = sorted(bw.keys() & lat.keys(), key=lambda k: bw[k])
        if keys:
            series.append(Series(label, tuple(bw[k] for k in keys), tuple(lat[k] for k in keys)))
            notes.append(_varying_params(keys))
    if not series:
        return None
    fig, (ax,) = _figure(1)
    _draw(ax, series, "load bandwidth (GB/s)", "latency (ns)", "Loaded latency")
    for s, texts in zip(series, notes):
        for x, y, text in zip(s.xs, s.ys, texts):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    return fig


# The p99 of each point of a capacity search's trace (info.search).
TRACE_P99 = "p99_ms"


def _capacity_search(labelled, decls) -> list:
    """Each declared search's p99 at each count it tried."""
    out = []
    for p, ids in _of_kind(decls, "search"):
        for label, doc in labelled:
            for r in doc.results:
                if r.benchmark not in ids or r.metric != p.metrics[0] or not r.validated:
                    continue
                points = sorted((t[p.x], t[TRACE_P99]) for t in r.info.get("search") or ()
                                if isinstance(t, dict) and t.get(TRACE_P99) is not None)
                if points:
                    out.append(Series(f"{label} {r.benchmark} (capacity search)",
                                      tuple(x for x, _ in points), tuple(y for _, y in points)))
    return out


def plot_agent(labelled, decls=None):
    """Throughput and p99 latency vs concurrency, one row per declared family
    (tools, db, compile ...), so each panel has one unit; then the capacity
    searches."""
    families: dict = {}
    for p, ids in _of_kind(decls, "concurrency"):
        families.setdefault(p.family, []).append((p, ids))
    rows = []
    for fam, mine in sorted(families.items()):
        thr, p99 = _sweeps(labelled, mine, 0), _sweeps(labelled, mine, 1)
        if thr or p99:
            rows.append((fam, thr, p99))
    search = _capacity_search(labelled, decls)
    if not rows and not search:
        return None
    fig, axes = _figure(2, nrows=len(rows) + bool(search))
    for i, (fam, thr, p99) in enumerate(rows):
        _draw(axes[2 * i], thr, "concurrency", "per second", f"{fam}: throughput")
        _draw(axes[2 * i + 1], p99, "concurrency", "ms", f"{fam}: p99 latency")
    if search:
        ax = axes[-2]
        family = ", ".join(dict.fromkeys(p.family for p, _ in _of_kind(decls, "search")))
        _draw(ax, search, "concurrent agents", "ms", f"{family}: p99 latency")
        for slo in _slos(labelled, decls):
            ax.axhline(slo, color="red", linestyle=":", linewidth=1, label=f"SLO {slo:g} ms")
        ax.legend(fontsize=7)
        axes[-1].set_visible(False)
    return fig


def _slos(labelled, decls) -> list:
    """The p99 SLOs the capacity searches were held to (params.slo_ms)."""
    searched = _picker(_of_kind(decls, "search"), 0)
    return sorted({r.params["slo_ms"] for _, doc in labelled for r in doc.results
                   if searched(r) and isinstance(r.params.get("slo_ms"), (int, float))})


def plot_slowdown(labelled, decls=None):
    """Co-run slowdown (alone / alongside the memory hog): horizontal bars, one
    per workload and file, so long workload names stay readable."""
    mine = _picker(_of_kind(decls, "bars"), 0)
    bars: dict = {}
    for i, (label, doc) in enumerate(labelled):
        for r in doc.results:
            if mine(r) and r.value is not None and r.validated:
                name = f"{r.benchmark} {_param_text(r.params, ())}".strip()
                bars.setdefault(name, {})[i] = r.value
    if not bars:
        return None
    names = sorted(bars)
    short, common = _short_names([Series(n, (), ()) for n in names])
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 1.2 + 0.4 * len(names) * max(1, len(labelled))))
    height = 0.8 / len(labelled)
    for i, (label, _) in enumerate(labelled):
        ys = [k + i * height for k, n in enumerate(names) if i in bars[n]]
        ax.barh(ys, [bars[n][i] for n in names if i in bars[n]], height, label=label)
    ax.set_yticks([k + (len(labelled) - 1) * height / 2 for k in range(len(names))])
    # Wrapped: a workload's name plus its parameters can be longer than the plot is wide.
    ax.set_yticklabels([textwrap.fill(s.label.replace(" ", ", "), 30) for s in short],
                       fontsize=7)
    ax.invert_yaxis()  # first workload on top
    ax.axvline(1.0, color="k", linewidth=0.8)
    ax.set_xlabel("slowdown (x, 1 = no interference)")
    ax.set_title("Co-run slowdown" + (f"\n{common}" if common else ""), fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def side_by_side(labelled, decls=None) -> str | None:
    """One table per declared metric: a row per value of the declared key
    (e.g. a tool), a column per family (e.g. a runtime) and file, each cell
    the best validated figure of the declaring benchmarks for that row."""
    mine = _of_kind(decls, "side_by_side")
    if not mine:
        return None
    grid: dict = {}  # (metric, row) -> {column: text}
    columns: list = []
    for p, ids in mine:
        for label, doc in labelled:
            column = f"{p.family} ({label})" if len(labelled) > 1 else p.family
            best: dict = {}
            for r in doc.results:
                if (r.benchmark not in ids or r.metric != p.metrics[0] or r.value is None
                        or not r.validated or any(r.params.get(k) != v for k, v in p.where)):
                    continue
                row = r.params.get(p.x, (r.info or {}).get(p.x))
                if row is None:
                    continue
                held = best.get(row)
                if held is None or (r.value > held.value) == r.higher_is_better:
                    best[row] = r
            for row, r in best.items():
                if column not in columns:
                    columns.append(column)
                where = _param_text(r.params, (p.x,))
                grid.setdefault((p.metrics[0], row), {})[column] = (
                    f"{r.value:.4g} {r.unit}" + (f" ({where})" if where else ""))
    if not grid:
        return None
    rows = [[f"{row} {metric.replace('_', ' ')}"] + [got.get(c, "") for c in columns]
            for (metric, row), got in sorted(grid.items())]
    return _table([""] + columns, rows)


PLOTS = (
    ("Memory bandwidth", plot_bandwidth),
    ("Latency curve", plot_latency),
    ("Loaded latency", plot_loaded_latency),
    ("Agent workloads", plot_agent),
    ("Co-run interference", plot_slowdown),
)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _table(header: list, rows: list, classes: list | None = None) -> str:
    e = html.escape
    out = ["<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>"]
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{e(str(x))}</td>" for x in r) + "</tr>")
    return "\n".join(out + ["</table>"])


def _system_section(comp) -> str:
    names = list(comp.systems[0].fields)
    parts = ["<h2>Systems</h2>",
             _table([""] + [s.label for s in comp.systems],
                    [[n] + [s.fields.get(n, "") for s in comp.systems] for n in names])]
    warnings = [f"{s.label}: {w}" for s in comp.systems for w in s.warnings] + list(comp.warnings)
    if warnings:
        parts.append("<h3>Warnings</h3><ul>" + "".join(
            f'<li class="warn">{html.escape(w)}</li>' for w in warnings) + "</ul>")
    return "\n".join(parts)


def _emulation_note(emulated) -> str:
    items = "".join(
        f'<li class="note">{html.escape(lab)}: run made under {html.escape(emulation_of(doc))}; '
        "its timings are meaningless, so nothing of it is plotted or in the headline</li>"
        for lab, doc in emulated)
    return f"<h2>Emulated runs</h2><ul>{items}</ul>"


def _headline_section(labelled) -> str:
    """The buyer's figures of each run (suite.headline), one column per file."""
    from suite.headline import side_by_side

    table = side_by_side([doc for _, doc in labelled])
    return "<h2>Headline</h2>" + _table(["figure"] + [lab for lab, _ in labelled] + ["source"],
                                        table)


def _results_section(comp) -> str:
    parts = []
    if len(comp.systems) > 1:
        parts += [f"<h2>Geometric means of ratios</h2><p>Over the "
                  f"{html.escape(cells.geomean_scope(comp))}; &gt; 1 means better than the "
                  "baseline.</p>",
                  _table(["category"] + [s.label for s in comp.systems],
                         [[cat] + r for cat, r in cells.geomean_lines(comp)])]
    verdict_class = {cmp.BETTER: "better", cmp.WORSE: "worse", cmp.INVALID: "invalid",
                     cmp.INDICATIVE_BETTER: "better", cmp.INDICATIVE_WORSE: "worse"}
    classes = [next((verdict_class[c.verdict] for c in r.cells if c.verdict in verdict_class), "")
               for r in comp.rows]
    parts += ["<h2>All results</h2>",
              _table(cells.header(comp), [cells.row_cells(comp, r) for r in comp.rows], classes)]
    return "\n".join(parts)


def render_html(docs: Sequence) -> str:
    every = _label_docs(docs)
    labelled = [(lab, d) for lab, d in every if emulation_of(d) is None]
    emulated = [(lab, d) for lab, d in every if emulation_of(d) is not None]
    comp = cmp.compare(docs, require_common=False)
    body = ["<h1>factorybench report</h1>",
            "<p>" + html.escape(", ".join(f"{lab}: {d.path or d.run.get('id')}"
                                          for lab, d in every)) + "</p>",
            _system_section(comp)]
    if emulated:
        body.append(_emulation_note(emulated))
    body.append(_headline_section(labelled))
    decls = meaning.plots()
    for title, plot in PLOTS:
        body.append(f"<h2>{html.escape(title)}</h2>")
        fig = plot(labelled, decls)
        if fig is None:
            body.append(f'<p class="note">{html.escape(title)}: not in this run.</p>')
        else:
            body.append(f'<img class="plot" alt="{html.escape(title)}" '
                        f'src="data:image/png;base64,{_png(fig)}">')
    table = side_by_side(labelled, decls)
    if table:  # only runs that hold figures to put side by side
        body.append("<h2>Side by side</h2>" + table)
    body.append(_results_section(comp))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>factorybench report</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(paths_or_docs: Sequence, out_path) -> Path:
    """Write the HTML report of result files (paths or loaded RunDocuments)."""
    from suite.results import load

    docs = [d if hasattr(d, "results") else load(d) for d in paths_or_docs]
    if not docs:
        raise ValueError("a report needs at least one result file")
    out = Path(out_path)
    return write_atomic(out, render_html(docs))
