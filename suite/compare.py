"""Put runs side by side: matched records, oriented ratios, significance,
geometric means. Returns data; the exporters in suite/export render it.

Records match on (benchmark, params, metric). A ratio is oriented so that
> 1 means better than the baseline whatever the metric's direction. Geometric
means follow the Phoronix rule: only rows every system has count, so a
system is never flattered by the benchmarks it failed to run.

A run made under emulation (suite.emulation) is shown, system block and
all, but none of its figures is compared: its cells read "emulated, not
compared", it has no geometric mean, and it is never the baseline.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from suite import stats
from suite.emulation import NOT_COMPARED, emulation_of
from suite.significance import ALPHA, MIN_EFFECT, mann_whitney_u, smallest_p_value

# Coefficient of variation above which a record's samples are called
# unstable: pyperf's "benchmark unstable" warning level (pyperf/_cli.py),
# the same figure as the quick profile's cv_target.
UNSTABLE_CV = 0.05

# Verdicts of a cell against the baseline.
BASELINE = "baseline"
BETTER = "better"
WORSE = "worse"
SAME = "same"  # no significant difference of at least MIN_EFFECT
TOO_FEW = "too few samples"
UNTESTED = "derived, not tested"  # samples are not repeated trials (see samples_are_trials)
INVALID = "invalid"
MISSING = "missing"
NO_BASELINE = "no baseline"  # the baseline run lacks this row
EMULATED = NOT_COMPARED  # this run (or the baseline) ran under emulation


class CompareError(ValueError):
    """Runs that cannot be compared (one clear line)."""


@dataclass(frozen=True)
class Cell:
    """One system's figure in a row."""

    value: float | None
    ratio: float | None = None  # oriented: > 1 better than the baseline
    verdict: str = SAME
    p_value: float | None = None
    n: int = 0  # samples
    # The record's own samples vary more than UNSTABLE_CV: a reader should
    # trust its ratio less, whatever the verdict.
    unstable: bool = False


@dataclass(frozen=True)
class Row:
    benchmark: str
    params: dict
    metric: str
    unit: str
    higher_is_better: bool
    category: str
    cells: tuple  # one Cell per system, in system order

    @property
    def label(self) -> str:
        p = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.benchmark}[{p}] {self.metric}" if p else f"{self.benchmark} {self.metric}"

    @property
    def complete(self) -> bool:
        """Every compared (not emulated) system has a valid, positive figure:
        the row counts in the geometric means."""
        judged = [c for c in self.cells if c.verdict != EMULATED]
        return bool(judged) and all(
            c.verdict not in (MISSING, INVALID) and c.value is not None and c.value > 0
            for c in judged)


@dataclass(frozen=True)
class SystemSummary:
    label: str
    path: str | None
    fields: dict  # display name -> text, in display order
    warnings: tuple = ()
    emulation: str | None = None  # suite.emulation.emulation_of; None when native


@dataclass(frozen=True)
class Comparison:
    systems: tuple  # SystemSummary per run
    baseline: int  # index into systems
    rows: tuple
    geomeans: dict  # category -> tuple of oriented geomean ratio per system
    overall: tuple  # geomean ratio per system over every complete row
    common_rows: int
    warnings: tuple = field(default=())

    def regressions(self, pct: float) -> list:
        """(row, system index, cell) for significant regressions worse than pct %."""
        limit = 1.0 - pct / 100.0
        return [
            (row, i, c)
            for row in self.rows
            for i, c in enumerate(row.cells)
            if c.verdict == WORSE and c.ratio is not None and c.ratio < limit
        ]

    def to_dict(self) -> dict:
        return {
            "baseline": self.baseline,
            "systems": [
                {"label": s.label, "path": s.path, "fields": s.fields,
                 "warnings": list(s.warnings), "emulation": s.emulation}
                for s in self.systems
            ],
            "rows": [
                {
                    "benchmark": r.benchmark, "params": r.params, "metric": r.metric,
                    "unit": r.unit, "higher_is_better": r.higher_is_better,
                    "category": r.category,
                    "cells": [c.__dict__.copy() for c in r.cells],
                }
                for r in self.rows
            ],
            "geomeans": {k: list(v) for k, v in self.geomeans.items()},
            "overall": list(self.overall),
            "common_rows": self.common_rows,
            "warnings": list(self.warnings),
        }


def category_of(record) -> str:
    """The record's own category if it names one, else its id's first component."""
    return str(record.info.get("category") or record.benchmark.split(".", 1)[0])


def record_key(record) -> tuple:
    return (record.benchmark, json.dumps(record.params, sort_keys=True), record.metric)


def oriented_ratio(value: float, base: float, higher_is_better: bool) -> float | None:
    if value is None or base is None or value <= 0 or base <= 0:
        return None
    return value / base if higher_is_better else base / value


def _unstable(record) -> bool:
    if not samples_are_trials(record):
        return False  # their spread is the curve's shape, not noise
    cv = stats.cv(record.samples) if len(record.samples) > 1 else None
    return cv is not None and cv > UNSTABLE_CV


def samples_are_trials(record) -> bool:
    """Whether a record's samples are repeated measurements of one figure,
    which the U test assumes. A summary record marked `info.derived`, or a
    latency plateau (its samples are the curve's points across working sets,
    and which points a plateau spans moves between runs), is not."""
    return not (record.info.get("derived") or "plateau_bytes" in record.info)


def judge(record, base) -> Cell:
    """A cell for `record` against the baseline record `base`."""
    if record is None:
        return Cell(None, verdict=MISSING)
    n, shaky = len(record.samples), _unstable(record)
    if not record.validated or record.value is None:
        return Cell(record.value, verdict=INVALID, n=n, unstable=shaky)
    if base is None or not base.validated or base.value is None:
        return Cell(record.value, verdict=NO_BASELINE, n=n, unstable=shaky)
    ratio = oriented_ratio(record.value, base.value, record.higher_is_better)
    shaky = shaky or _unstable(base)
    if not (samples_are_trials(record) and samples_are_trials(base)):
        return Cell(record.value, ratio, UNTESTED, None, n, shaky)
    if smallest_p_value(n, len(base.samples)) >= ALPHA:
        return Cell(record.value, ratio, TOO_FEW, None, n, shaky)
    p = mann_whitney_u(record.samples, base.samples).p_value
    effect = abs((ratio or 1.0) - 1.0)
    if p < ALPHA and ratio is not None and effect >= MIN_EFFECT:
        return Cell(record.value, ratio, BETTER if ratio > 1 else WORSE, p, n, shaky)
    return Cell(record.value, ratio, SAME, p, n, shaky)


def _fmt_bytes(n: Any) -> str | None:
    if not isinstance(n, (int, float)) or n <= 0:
        return None
    for unit, size in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _isa_text(isa: dict) -> str | None:
    flags = [name for name in ("asimd", "sve", "sve2", "avx2", "avx512f") if isa.get(name)]
    vl = isa.get("sve_vector_length_bytes")
    if vl:
        flags.append(f"SVE VL {int(vl) * 8} bit")
    return " ".join(flags) or None


def is_triad(record) -> bool:
    return "triad" in record.benchmark or record.params.get("kernel") == "triad"


def bandwidth_per_core(records: Sequence) -> tuple:
    """(1-core, all-core) STREAM Triad GB/s per core: the run's summary
    records when present, else the ends of its thread sweep."""
    usable = [r for r in records if is_triad(r) and r.validated and r.value is not None]
    summary = {r.metric: r.value for r in usable
               if r.metric in ("bandwidth_single_core", "bandwidth_per_core_all_cores")}
    if len(summary) == 2:
        return summary["bandwidth_single_core"], summary["bandwidth_per_core_all_cores"]
    sweep = [r for r in usable if r.metric == "bandwidth_per_core"
             and isinstance(r.params.get("threads"), int)]
    if not sweep:
        return None, None
    by_threads = sorted(sweep, key=lambda r: r.params["threads"])
    return by_threads[0].value, by_threads[-1].value


def _part_text(s: dict) -> str | None:
    """Arm part name with its MIDR implementer/part numbers; x86 has none."""
    if s.get("arch") not in (None, "aarch64"):
        return f"n/a ({s.get('arch')})"
    ids = "/".join(x for x in (s.get("cpu_implementer"), s.get("cpu_part")) if x)
    name = s.get("cpu_part_name")
    if name and ids:
        return f"{name} ({ids})"
    return name or (f"unnamed part {ids}" if ids else None)


def _jit_text(s: dict) -> str | None:
    target = s.get("numba_target") or {}
    name = target.get("cpu_name")
    if name and target.get("overridden"):
        return f"{name} (NUMBA_CPU_NAME; host {target.get('host_cpu_name') or 'unknown'})"
    return name


def _bandwidth_text(doc, emulation: str | None) -> str:
    if emulation:
        return "emulated, not reported"
    one, allc = bandwidth_per_core(doc.results)
    if one is None:
        return "not in this run"
    return f"{one:.1f} GB/s (1 core), {allc:.1f} GB/s (all cores)"


def summarize_system(doc, label: str) -> SystemSummary:
    s = doc.system
    emulation = emulation_of(doc)
    fields = {
        "CPU": s.get("model_name"),
        "arch": s.get("arch"),
        "emulation": (f"{emulation}: timings meaningless" if emulation else "none (native)"),
        "microarchitecture": (s.get("microarchitecture") or {}).get("name"),
        "CPU part": _part_text(s),
        "cores": (f"{s.get('physical_cores')} cores, {s.get('logical_cpus')} threads, "
                  f"{s.get('sockets')} socket(s)") if s.get("logical_cpus") else None,
        "memory": _fmt_bytes((s.get("memory") or {}).get("total_bytes")),
        "page size": _fmt_bytes(s.get("page_size_bytes")),
        "ISA": _isa_text(s.get("isa") or {}),
        "JIT target": _jit_text(s),
        "kernel": s.get("kernel"),
        "bandwidth per core": _bandwidth_text(doc, emulation),
        "suite": (doc.suite or {}).get("version"),
        "profile": doc.run.get("profile"),
        "run": f"{doc.run.get('started_at')} ({doc.run.get('status')})",
    }
    fields = {k: (str(v) if v is not None else "unknown") for k, v in fields.items()}
    warnings = tuple(dict.fromkeys(tuple(s.get("warnings") or ()) + tuple(doc.warnings)))
    return SystemSummary(label, doc.path, fields, warnings, emulation)


def system_labels(docs: Sequence) -> list:
    """Short distinct names: the hostname, or when hosts repeat the file name
    (which holds the host already: <timestamp>-<host>-<profile>.json)."""
    hosts = [str(d.system.get("hostname") or f"run{i + 1}") for i, d in enumerate(docs)]
    labels = []
    for i, (h, d) in enumerate(zip(hosts, docs)):
        if hosts.count(h) > 1:
            stem = Path(d.path).stem if d.path else f"run{i + 1}"
            h = stem if h in stem else f"{h}:{stem}"
        labels.append(h)
    for i, lab in enumerate(labels):  # same host, same stem: number them
        if labels.count(lab) > 1:
            labels[i] = f"{lab}#{i + 1}"
    return labels


def _run_warnings(docs: Sequence, labels: Sequence) -> list:
    warnings = []
    for what, get in (("suite version", lambda d: (d.suite or {}).get("version")),
                      ("profile", lambda d: d.run.get("profile")),
                      ("schema version", lambda d: d.schema_version)):
        values = [get(d) for d in docs]
        if len(set(map(str, values))) > 1:
            detail = ", ".join(f"{lab}={v}" for lab, v in zip(labels, values))
            warnings.append(f"runs differ in {what} ({detail}); figures may not be comparable")
    for lab, d in zip(labels, docs):
        if d.run.get("status") != "complete":
            warnings.append(f"{lab}: run status is {d.run.get('status')}, not complete")
        if d.errors:
            warnings.append(f"{lab}: {len(d.errors)} benchmark configuration(s) gave no figure "
                            f"({', '.join(sorted({e.kind for e in d.errors}))})")
    return warnings


def _geomean(ratios: list) -> float | None:
    return stats.geometric_mean(ratios) if ratios else None


def _native_baseline(emulated: list, baseline: int) -> int:
    """The baseline, moved to the first native run when it was emulated."""
    if emulated[baseline]:
        return next((i for i, e in enumerate(emulated) if not e), baseline)
    return baseline


def _row_cells(present: list, baseline: int, emulated: list) -> list:
    base = present[baseline]
    cells = []
    for i, rec in enumerate(present):
        if rec is None:
            cell = Cell(None, verdict=MISSING)
        elif emulated[i]:  # its figures are never shown as measurements
            cell = Cell(None, verdict=EMULATED, n=len(rec.samples))
        elif emulated[baseline]:  # every run emulated: nothing to measure against
            cell = Cell(rec.value, verdict=EMULATED, n=len(rec.samples))
        elif i == baseline:
            cell = judge(rec, None)
            if cell.verdict == NO_BASELINE:
                cell = Cell(rec.value, 1.0, BASELINE, None, len(rec.samples), cell.unstable)
        else:
            cell = judge(rec, base)
        cells.append(cell)
    return cells


def _emulation_warnings(docs: Sequence, labels: Sequence, asked: int, baseline: int) -> list:
    warnings = [f"{lab}: run made under {emulation_of(d)}; its timings are meaningless, so its "
                f"figures read '{EMULATED}' and it has no geometric mean"
                for lab, d in zip(labels, docs) if emulation_of(d)]
    if asked != baseline:
        warnings.append(f"the baseline {labels[asked]} is an emulated run; "
                        f"{labels[baseline]} is the baseline instead")
    return warnings


def compare(docs: Sequence, baseline: int = 0, require_common: bool = True) -> Comparison:
    """Compare loaded RunDocuments against docs[baseline] (or, when that run
    is emulated, the first native run)."""
    if not docs:
        raise CompareError("nothing to compare: give at least one result file")
    if not 0 <= baseline < len(docs):
        raise CompareError(f"baseline index {baseline} outside 0..{len(docs) - 1}")
    labels = system_labels(docs)
    emulated = [emulation_of(d) is not None for d in docs]
    asked, baseline = baseline, _native_baseline(emulated, baseline)
    indexed = [{record_key(r): r for r in d.results} for d in docs]
    keys: list = []
    seen: set = set()
    for idx in indexed:
        for k in idx:
            if k not in seen:
                seen.add(k)
                keys.append(k)
    rows = []
    for k in keys:
        present = [idx.get(k) for idx in indexed]
        first = next(r for r in present if r is not None)
        rows.append(Row(first.benchmark, dict(first.params), first.metric, first.unit,
                        first.higher_is_better, category_of(first),
                        tuple(_row_cells(present, baseline, emulated))))
    complete = [r for r in rows if r.complete]
    if emulated.count(False) > 1 and require_common and not complete:
        raise CompareError("the runs have no valid record in common (matched on benchmark, "
                           "params and metric); nothing to compare")

    def geomean(rows_: list, i: int) -> float | None:
        return None if emulated[i] else _geomean([r.cells[i].ratio for r in rows_])

    geomeans: dict = {}
    for cat in sorted({r.category for r in complete}):
        in_cat = [r for r in complete if r.category == cat]
        geomeans[cat] = tuple(geomean(in_cat, i) for i in range(len(docs)))
    overall = tuple(geomean(complete, i) for i in range(len(docs)))
    systems = tuple(summarize_system(d, lab) for d, lab in zip(docs, labels))
    warnings = _run_warnings(docs, labels) + _emulation_warnings(docs, labels, asked, baseline)
    return Comparison(systems, baseline, tuple(rows), geomeans, overall, len(complete),
                      tuple(warnings))
