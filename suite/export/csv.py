"""CSV: one line per comparison row, or one line per record of a run."""
from __future__ import annotations

import csv
import io
import json

from suite import compare as c
from suite.emulation import emulation_of
from suite.machine import machine_name


def _write(header: list, rows: list) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def render_comparison(comp: c.Comparison) -> str:
    header = ["benchmark", "params", "metric", "unit", "higher_is_better", "category"]
    for s in comp.systems:
        header += [f"{s.label}:value", f"{s.label}:ratio", f"{s.label}:verdict",
                   f"{s.label}:p_value", f"{s.label}:n"]
    rows = []
    for r in comp.rows:
        line = [r.benchmark, json.dumps(r.params, sort_keys=True), r.metric, r.unit,
                r.higher_is_better, r.category]
        for cell in r.cells:
            line += [cell.value, cell.ratio, cell.verdict, cell.p_value, cell.n]
        rows.append(line)
    return _write(header, rows)


_STATS = ("n", "min", "median", "mean", "max", "stdev", "cv")


def render_run(doc) -> str:
    # `emulation` is empty for a native run; otherwise the figures are not timings.
    # `machine` (run --machine, else the hostname) came later: last, so the
    # earlier columns keep their places.
    header = (["run_id", "hostname", "emulation", "benchmark", "params", "metric", "unit",
               "higher_is_better", "value", "validated"] + [f"stats.{k}" for k in _STATS]
              + ["samples", "machine"])
    rows = []
    emulation, machine = emulation_of(doc) or "", machine_name(doc.system)
    for r in doc.results:
        rows.append([doc.run.get("id"), doc.system.get("hostname"), emulation, r.benchmark,
                     json.dumps(r.params, sort_keys=True), r.metric, r.unit,
                     r.higher_is_better, r.value, r.validated]
                    + [r.stats.get(k) for k in _STATS]
                    + [" ".join(repr(float(s)) for s in r.samples), machine])
    return _write(header, rows)
