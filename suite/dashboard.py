"""A static dashboard of a history store: an index of machines and
benchmarks with the latest values and the regressions `history check`
flags, and one page per benchmark with its time series per machine, the
levels the step fit sees and the run (and commit) where each began.

Like asv's site, it is plain files: every page carries its own data and
script (no CDN, no fetch), so it opens from file:// as well as from any
static server. `data.json` beside the pages holds all of it for other tools.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from suite import history
from suite.atomicfile import write_atomic

DATA_SCHEMA = 1
PAGES_DIR = "b"  # benchmark pages, one level below the index
_ASSETS = Path(__file__).parent  # dashboard.css, dashboard.js


@dataclass(frozen=True)
class Site:
    out_dir: Path
    pages: int  # benchmark pages written
    series: int
    regressions: int
    improvements: int


# -- data -------------------------------------------------------------------------


def _machines(store, run_rows) -> dict:
    """{fingerprint: machine dict with its label}; two machines sharing a
    name get their CPU model (or fingerprint) beside it."""
    seen: dict = {}
    for _key, fp, machine, *_ in run_rows:
        seen.setdefault(fp, json.loads(machine))
    names: dict = {}
    for fp, m in seen.items():
        names.setdefault(_name(m), []).append(fp)
    out = {}
    for fp, m in seen.items():
        label = _name(m)
        if len(names[label]) > 1:
            label = f"{label} ({m.get('cpu_model') or fp[:8]}, {fp[:6]})"
        out[fp] = {"id": fp[:16], "label": label, **m}
    return out


def _name(machine: dict) -> str:
    return str(history.machine_label(machine) or "unknown")


def _categories() -> dict:
    """{benchmark id: category} of the registered benchmarks, former ids included."""
    from suite.spec import registry

    out = {}
    for spec in registry():
        out[spec.id] = spec.category
        for former in spec.formerly:
            out.setdefault(former.benchmark, spec.category)
    return out


def _series_label(params: dict, metric: str) -> str:
    p = ",".join(f"{k}={v}" for k, v in params.items())
    return f"{metric} [{p}]" if p else metric


def collect(store, window: int = history.DEFAULT_WINDOW,
            threshold_pct: float = history.DEFAULT_THRESHOLD_PCT) -> dict:
    """Everything the site shows, as one JSON-ready dict."""
    run_rows = store.query(
        "SELECT run_key, fingerprint, machine, profile, started_at, run_id, git_commit"
        " FROM fb_runs ORDER BY started_at, run_key")
    machines = _machines(store, run_rows)
    run_index = {row[0]: i for i, row in enumerate(run_rows)}
    runs = [{"machine": machines[fp]["id"], "profile": profile, "started_at": started,
             "run_id": rid, "commit": commit} for _k, fp, _m, profile, started, rid, commit
            in run_rows]
    grouped = history.series_points(store)
    report = history.check(store, window=window, threshold_pct=threshold_pct, series=grouped)
    verdicts = {f.series: ("regression", f) for f in report.regressions}
    verdicts.update({f.series: ("improvement", f) for f in report.improvements})
    categories = _categories()
    benchmarks: dict = {}
    for key, rows in grouped.items():
        rows = [r for r in rows if r[6] is not None]
        if not rows:
            continue  # a figure never measured has nothing to plot
        run_key, bench_id, params, metric, unit, higher = rows[0][:6]
        run = runs[run_index[run_key]]
        params = json.loads(params)
        primary = history.point_notes(rows[-1][8]).get("primary", True)
        series = {"key": key, "machine": run["machine"], "profile": run["profile"],
                  "params": params, "metric": metric, "unit": unit,
                  "label": _series_label(params, metric), "higher_is_better": bool(higher),
                  "primary": primary}
        series.update(_points_and_levels(rows, run_index, primary))
        verdict = verdicts.get(key)
        if verdict is not None:
            kind, finding = verdict
            series["verdict"], series["finding"] = kind, finding.to_dict()
            series["step_run"] = next(
                (p[0] for p in series["points"]
                 if (runs[p[0]]["started_at"], runs[p[0]]["run_id"])
                 == (finding.began_at, finding.began_run)), series["points"][-1][0])
        bench = benchmarks.setdefault(bench_id, {
            "id": bench_id, "category": categories.get(bench_id, "other"),
            "page": f"{PAGES_DIR}/{page_name(bench_id)}", "series": []})
        bench["series"].append(series)
    for bench in benchmarks.values():
        bench["series"].sort(key=lambda s: (not s["primary"], s["label"], s["machine"],
                                            str(s["profile"])))
    return {
        "schema": DATA_SCHEMA,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "store": store.where,
        "machines": sorted(machines.values(), key=lambda m: m["label"]),
        "profiles": sorted({str(r["profile"]) for r in runs}),
        "categories": sorted({b["category"] for b in benchmarks.values()}),
        "runs": runs,
        "benchmarks": [benchmarks[b] for b in sorted(benchmarks)],
        "check": report.to_dict(),
    }


def _points_and_levels(rows, run_index: dict, primary: bool) -> dict:
    """The points ([run index, value, flag]; flag 0 judged, 1 disturbed, 2
    not validated) and, for a primary figure, the levels of the judged
    points ([run index where it began, run index of its last point, level])
    as `history check` sees them (a derived figure repeats its source's)."""
    points, judged, samples = [], [], []
    for run_key, *_mid, value, sample_text, notes, validated, _started in rows:
        flag = 2 if not validated else 1 if history.point_notes(notes).get("disturbed") else 0
        points.append([run_index[run_key], value, flag])
        if flag == 0 and value > 0:
            judged.append(run_index[run_key])
            samples.append(sample_text)
    levels = []
    if primary and judged:
        values = [p[1] for p in points if p[2] == 0 and p[1] > 0]
        fitted = history.levels(values[-history.MAX_POINTS:], history.within_noise(samples))
        offset = max(0, len(values) - history.MAX_POINTS)
        levels = [[judged[offset + s], judged[offset + e - 1], level] for s, e, level in fitted]
    return {"points": points, "levels": levels, "latest": points[-1][1]}


def page_name(benchmark: str) -> str:
    """A file name for a benchmark id that no id can make unsafe."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", benchmark).lstrip(".") + ".html"


# -- pages ------------------------------------------------------------------------


def _embed(data) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _page(title: str, body: str, data, kind: str) -> str:
    css = (_ASSETS / "dashboard.css").read_text()
    js = (_ASSETS / "dashboard.js").read_text()
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{css}</style></head>"
            f"<body data-page=\"{kind}\">{body}"
            f"<script type=\"application/json\" id=\"site-data\">{_embed(data)}</script>"
            f"<script>{js}</script></body></html>\n")


def _filters(data: dict, with_category: bool) -> str:
    def select(name: str, values) -> str:
        options = "".join(f"<option>{html.escape(str(v))}</option>" for v in values)
        return (f"<label>{name} <select class=\"filter\" data-filter=\"{name}\">"
                f"<option value=\"\">all</option>{options}</select></label> ")

    out = select("machine", [m["label"] for m in data["machines"]])
    if with_category:
        out += select("category", data["categories"])
    return f"<div class=\"filters\">{out}{select('profile', data['profiles'])}</div>"


def render_index(data: dict) -> str:
    check = data["check"]
    head = (f"<h1>factorybench history</h1><p class=\"meta\">store {html.escape(data['store'])}"
            f", {len(data['runs'])} runs, generated {data['generated_at']}; checked "
            f"{check['checked']} series (steps within the last {check['window']} runs, "
            f"threshold {check['threshold_pct']:g}%)</p>")
    body = head + _filters(data, with_category=True)
    body += ("<h2>Regressions</h2><div id=\"regressions\"></div>"
             "<h2>Improvements</h2><div id=\"improvements\"></div>"
             "<h2>Machines</h2><div id=\"machines\"></div>"
             "<h2>Benchmarks</h2><div id=\"benchmarks\"></div>")
    # The index carries no points: the latest value and verdict of each series.
    summary = {k: v for k, v in data.items() if k != "benchmarks"}
    summary["benchmarks"] = [
        {**{k: v for k, v in b.items() if k != "series"},
         "series": [{k: v for k, v in s.items() if k not in ("points", "levels")}
                    for s in b["series"]]}
        for b in data["benchmarks"]]
    return _page("factorybench history", body, summary, "index")


def render_benchmark(data: dict, bench: dict) -> str:
    body = (f"<p><a href=\"../index.html\">&larr; all benchmarks</a></p>"
            f"<h1>{html.escape(bench['id'])}</h1><p class=\"meta\">category "
            f"{html.escape(bench['category'])}; {len(bench['series'])} series; a dashed line "
            "is a level of the step fit, a vertical mark the run where it began</p>"
            + _filters(data, with_category=False) + "<div id=\"plots\"></div>")
    page = {k: data[k] for k in ("machines", "profiles", "runs", "check", "store")}
    page["benchmark"] = {**bench, "page": None}
    return _page(f"{bench['id']}: factorybench history", body, page, "benchmark")


def plot_groups(bench: dict) -> list:
    """The plots of a benchmark page, in order: one per params and metric."""
    return list(dict.fromkeys(s["label"] for s in bench["series"]))


# -- build ------------------------------------------------------------------------


def build_site(store, out_dir: Path, window: int = history.DEFAULT_WINDOW,
               threshold_pct: float = history.DEFAULT_THRESHOLD_PCT) -> Site:
    """Write the site of a store (an open one, or its path or URL) into
    `out_dir`. Every file is written whole (temp file and rename); pages of
    benchmarks no longer in the store are removed. A store that cannot be
    used raises history.HistoryError."""
    if isinstance(store, (str, Path)):
        with history.open_store(str(store)) as opened:
            return build_site(opened, out_dir, window, threshold_pct)
    data = collect(store, window, threshold_pct)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = out_dir / PAGES_DIR
    pages.mkdir(exist_ok=True)
    written = set()
    for bench in data["benchmarks"]:
        path = out_dir / bench["page"]
        write_atomic(path, render_benchmark(data, bench))
        written.add(path.name)
    for stale in pages.glob("*.html"):
        if stale.name not in written:
            stale.unlink()
    write_atomic(out_dir / "data.json", json.dumps(data, indent=None, allow_nan=False) + "\n")
    write_atomic(out_dir / "index.html", render_index(data))
    return Site(out_dir, len(written), sum(len(b["series"]) for b in data["benchmarks"]),
                len(data["check"]["regressions"]), len(data["check"]["improvements"]))
