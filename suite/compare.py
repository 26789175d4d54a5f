"""Put runs side by side: matched records, oriented ratios, verdicts,
geometric means. Returns data; the exporters in suite/export render it.

Records match on (benchmark, params, metric). A ratio is oriented so that
> 1 means better than the baseline whatever the metric's direction. Geometric
means follow the Phoronix rule: only rows every system has count, so a
system is never flattered by the benchmarks it failed to run.

How a verdict is reached (README "How a verdict is reached"):

- Only primary figures are tested. A record that names its source in
  `info.derived_from` (write-allocate or per-core bandwidth, efficiency,
  work per joule, cost), or whose spec declares it `derived` (co-run
  slowdown, p99 inflation and hog loss, vector scan bandwidth, agents per
  core), follows its source's verdict; a summary
  (`info.derived`) is shown but not tested. Neither counts in a geomean.
- Figures measured in two or more worker processes a side are tested on the
  processes' own values (log scale), with a t test whose variance is shrunk
  toward its category's (significance.moderated_t_test), and the false
  discovery rate over every tested cell is held at significance.FDR
  (Benjamini-Hochberg). A flagged change must also reach MIN_EFFECT.
- A figure from a single process on either side is "indicative": flagged
  only when its change exceeds a noise floor, from the history store when it
  holds the series, else the category's default (DEFAULT_NOISE_FLOORS),
  which a figure that does not show it is steady (fewer than
  STEADY_MIN_SAMPLES samples, or scattering beyond UNSTABLE_CV, on either
  side) never passes.
- A record marked disturbed (info.disturbed, info.interference) is shown as
  "disturbed" and never flagged, and leaves the geomeans.

A run made under emulation (suite.emulation) is shown, system block and
all, but none of its figures is compared: its cells read "emulated, not
compared", it has no geometric mean, and it is never the baseline.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from suite import stats
from suite.emulation import NOT_COMPARED, emulation_of
from suite.machine import machine_name
from suite.significance import (FDR, MIN_EFFECT, Prior, benjamini_hochberg, fit_prior,
                                geomean_ci, moderated_t_test, pooled_variance)
from suite.units import bytes_text

# Coefficient of variation above which a record's samples are called
# unstable: pyperf's "benchmark unstable" warning level (pyperf/_cli.py),
# the same figure as the quick profile's cv_target.
UNSTABLE_CV = 0.05

# Verdicts of a cell against the baseline.
BASELINE = "baseline"
BETTER = "better"
WORSE = "worse"
SAME = "same"  # no significant difference of at least MIN_EFFECT
TOO_FEW = "too few samples"  # kept for older renderings; no longer produced
UNTESTED = "derived, not tested"  # a summary (see samples_are_trials)
INDICATIVE = "indicative"  # one process on a side, change within the noise floor
INDICATIVE_BETTER = "better (indicative)"  # one process, change beyond the noise floor
INDICATIVE_WORSE = "worse (indicative)"
DISTURBED = "disturbed"  # measured while the machine was disturbed: never flagged
FLAGGED = (BETTER, WORSE, INDICATIVE_BETTER, INDICATIVE_WORSE)

# Change a single-process figure must exceed to be flagged, by the category
# its benchmark declares, when the history store has no series for it.
# Set from back-to-back default runs of this suite on a shared 2-core VM
# (tests/perf/verdicts.py --real): with the figures that do not show they
# are steady left out (_shows_steady), STREAM bandwidth moved up to 27%
# between runs, steady tool, runtime and compile figures up to 30%. A
# history store gives each series its own floor, much lower on a quiet
# machine.
DEFAULT_NOISE_FLOORS = {"memory": 0.35, "compile": 0.35, "tools": 0.35, "db": 0.35,
                        "agent": 0.35, "sandbox": 0.35, "runtime": 0.35, "corun": 0.40}
DEFAULT_NOISE_FLOOR = 0.35  # a category not listed above
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
    processes: int = 0  # worker processes the figure rests on
    q_value: float | None = None  # Benjamini-Hochberg adjusted p
    follows: str | None = None  # a derived figure: the metric whose verdict it shows
    floor: float | None = None  # the noise floor an indicative change was held to
    floor_from: str | None = None  # "history" | "category default"
    disturbed: str | None = None  # why the figure is not trusted

    @property
    def flagged(self) -> bool:
        """A change of its own (a derived figure's flag belongs to its source)."""
        return self.verdict in FLAGGED and self.follows is None


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

    primary: bool = True  # tested itself, not derived from another figure

    @property
    def matched(self) -> bool:
        """Every compared (not emulated) system has a valid, positive figure."""
        judged = [c for c in self.cells if c.verdict != EMULATED]
        return bool(judged) and all(
            c.verdict not in (MISSING, INVALID) and c.value is not None and c.value > 0
            for c in judged)

    @property
    def complete(self) -> bool:
        """Matched, primary and undisturbed everywhere: the row counts in the
        geometric means."""
        return self.matched and self.primary and all(c.verdict != DISTURBED for c in self.cells)


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
    # 95% confidence interval of each geomean across its rows: category ->
    # tuple per system of (low, high) or None (fewer than two rows).
    geomean_cis: dict = field(default_factory=dict)
    overall_ci: tuple = ()
    fdr: float = FDR

    def regressions(self, pct: float) -> list:
        """(row, system index, cell) for flagged regressions worse than pct %
        (a derived figure's flag is its source's, and counts once there)."""
        limit = 1.0 - pct / 100.0
        return [
            (row, i, c)
            for row in self.rows
            for i, c in enumerate(row.cells)
            if c.flagged and c.verdict in (WORSE, INDICATIVE_WORSE)
            and c.ratio is not None and c.ratio < limit
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
                    "category": r.category, "primary": r.primary,
                    "cells": [c.__dict__.copy() for c in r.cells],
                }
                for r in self.rows
            ],
            "geomeans": {k: list(v) for k, v in self.geomeans.items()},
            "overall": list(self.overall),
            "geomean_cis": {k: [list(ci) if ci else None for ci in v]
                            for k, v in self.geomean_cis.items()},
            "overall_ci": [list(ci) if ci else None for ci in self.overall_ci],
            "common_rows": self.common_rows,
            "fdr": self.fdr,
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


# Samples a single-process figure needs to show it is steady (a CV of two
# is mostly chance).
STEADY_MIN_SAMPLES = 3


def _shows_steady(record) -> bool:
    """Enough samples, scattering within UNSTABLE_CV: a default noise floor
    may judge it."""
    return len(record.samples) >= STEADY_MIN_SAMPLES and not _unstable(record)


def samples_are_trials(record) -> bool:
    """Whether a record's samples are repeated measurements of one figure,
    which a spread (CV) and a significance test assume. A summary record marked `info.derived`, or a
    latency plateau (its samples are the curve's points across working sets,
    and which points a plateau spans moves between runs), is not."""
    return not (record.info.get("derived") or "plateau_bytes" in record.info)


def disturbance(record) -> str | None:
    """Why a record was measured on a disturbed machine (info.disturbed, or
    info.interference with `disturbed` set), else None."""
    marks = [record.info.get("disturbed")]
    interference = record.info.get("interference")
    if isinstance(interference, Mapping):
        marks.append(interference.get("disturbed"))
    for mark in marks:
        if mark:
            return mark if isinstance(mark, str) else "measured while the machine was disturbed"
    return None


def derived_source(record) -> str | None:
    """The metric a derived record is computed from (info.derived_from, else
    its spec's `derived` declaration), else None."""
    from suite.meaning import declared_derived

    source = record.info.get("derived_from")
    if isinstance(source, str) and source:
        return source
    return declared_derived().get((record.benchmark, record.metric))


def is_primary(record) -> bool:
    """Tested on its own: neither derived from another metric nor a summary."""
    return derived_source(record) is None and samples_are_trials(record)


def process_values(record) -> list:
    """The figure of each worker process (suite.replication), or the record's
    value alone when it rests on one process (or says nothing of processes)."""
    values = record.info.get("process_values")
    if (isinstance(values, list) and len(values) >= 2
            and all(isinstance(v, (int, float)) and v > 0 for v in values)):
        return [float(v) for v in values]
    return [record.value]


@dataclass(frozen=True)
class NoiseFloors:
    """What an indicative (single-process) change must exceed: the history's
    figure for the series when it has one, else the category's default."""

    from_history: Mapping = field(default_factory=dict)  # record_key -> fraction

    def of(self, record) -> tuple:
        """(fraction, where it came from)."""
        if record_key(record) in self.from_history:
            return self.from_history[record_key(record)], "history"
        category = spec_category(record.benchmark)
        return DEFAULT_NOISE_FLOORS.get(category, DEFAULT_NOISE_FLOOR), f"{category} default"


@functools.lru_cache(maxsize=1)
def _spec_categories() -> tuple:
    from suite.spec import registry

    try:
        return tuple((s.id, s.category) for s in registry())
    except Exception:  # an unloadable plug-in must not stop a comparison
        return ()


def spec_category(benchmark: str) -> str:
    """The category the benchmark's spec declares (a record of corun.x
    belongs to the spec corun), else the id's first component."""
    hits = [(sid, cat) for sid, cat in _spec_categories()
            if benchmark == sid or benchmark.startswith(sid + ".")]
    return max(hits, key=lambda h: len(h[0]))[1] if hits else benchmark.split(".", 1)[0]


def _log_values(record) -> list:
    """Log process values; none when a value is not positive (a log-scale
    test has nothing to say about it)."""
    values = process_values(record)
    return [math.log(v) for v in values] if all(v > 0 for v in values) else []


def judge(record, base, floors: NoiseFloors | None = None,
          prior: Prior | None = None) -> Cell:
    """A cell for `record` against the baseline record `base`, before the
    false discovery rate is applied (tested cells carry a p-value and read
    SAME until then) and before a derived cell takes its source's verdict."""
    if record is None:
        return Cell(None, verdict=MISSING)
    n, shaky = len(record.samples), _unstable(record)
    procs = len(process_values(record))
    if not record.validated or record.value is None:
        return Cell(record.value, verdict=INVALID, n=n, unstable=shaky, processes=procs)
    if base is None or not base.validated or base.value is None:
        return Cell(record.value, verdict=NO_BASELINE, n=n, unstable=shaky, processes=procs)
    ratio = oriented_ratio(record.value, base.value, record.higher_is_better)
    cell = Cell(record.value, ratio, SAME, None, n, shaky or _unstable(base),
                processes=min(procs, len(process_values(base))))
    why = disturbance(record) or disturbance(base)
    if why:
        return replace(cell, verdict=DISTURBED, disturbed=why)
    if derived_source(record):
        return replace(cell, follows=derived_source(record))
    if not (samples_are_trials(record) and samples_are_trials(base)):
        return replace(cell, verdict=UNTESTED)
    if ratio is None:
        return cell
    logs_base, logs_record = _log_values(base), _log_values(record)
    if len(logs_base) >= 2 and len(logs_record) >= 2:
        t = moderated_t_test(logs_base, logs_record, prior)
        return replace(cell, p_value=t.p_value)
    floor, source = (floors or NoiseFloors()).of(base)
    beyond = abs(math.log(ratio)) > math.log1p(max(floor, MIN_EFFECT))
    if source != "history" and not (_shows_steady(record) and _shows_steady(base)):
        # A category's default floor assumes a figure as steady as its
        # category's: samples scattering beyond UNSTABLE_CV within one
        # process, or too few to tell, say this one may not be (in A/A
        # default runs on a shared VM, 80% of the rows beyond their default
        # floor were such figures).
        beyond = False
    verdict = (INDICATIVE_BETTER if ratio > 1 else INDICATIVE_WORSE) if beyond else INDICATIVE
    return replace(cell, verdict=verdict, floor=floor, floor_from=source)


def apply_fdr(rows: Sequence, q: float = FDR) -> list:
    """Rows whose tested cells read BETTER or WORSE where Benjamini-Hochberg
    at level q calls them discoveries and the change reaches MIN_EFFECT;
    the family is every tested cell of the comparison."""
    tested = [(r, i) for r, row in enumerate(rows) for i, c in enumerate(row.cells)
              if c.p_value is not None and c.follows is None]
    adjusted = benjamini_hochberg([rows[r].cells[i].p_value for r, i in tested])
    cells = [list(row.cells) for row in rows]
    for (r, i), qv in zip(tested, adjusted):
        c = cells[r][i]
        verdict = SAME
        if qv <= q and abs(c.ratio - 1.0) >= MIN_EFFECT:
            verdict = BETTER if c.ratio > 1 else WORSE
        cells[r][i] = replace(c, verdict=verdict, q_value=qv)
    return [replace(row, cells=tuple(cs)) for row, cs in zip(rows, cells)]


def follow_sources(rows: Sequence) -> list:
    """Derived cells take the verdict (and p/q) of their source's cell in the
    same system; one without a source row in the comparison is untested."""
    index = {(r.benchmark, json.dumps(r.params, sort_keys=True), r.metric): r for r in rows}
    out = []
    for row in rows:
        cells = []
        for i, c in enumerate(row.cells):
            if c.follows is not None and c.verdict == SAME:
                src = index.get((row.benchmark, json.dumps(row.params, sort_keys=True),
                                 c.follows))
                s = src.cells[i] if src is not None else None
                c = (replace(c, verdict=s.verdict, p_value=s.p_value, q_value=s.q_value,
                             floor=s.floor, floor_from=s.floor_from)
                     if s is not None and s.follows is None else replace(c, verdict=UNTESTED))
            cells.append(c)
        out.append(replace(row, cells=tuple(cells)))
    return out


# A category of fewer tested rows borrows the prior fitted to every row:
# a fit's spread of variances needs rows to be worth anything.
MIN_PRIOR_ROWS = 20


def priors_by_category(pairs: Sequence) -> dict:
    """{category: Prior} over the (category, record, base) pairs with two
    processes a side or more: what a row of that category is shrunk toward,
    fitted as limma does (significance.fit_prior), so rows that agree lend
    a row much of their weight and rows that scatter lend little. A
    category of under MIN_PRIOR_ROWS rows takes the fit over all rows."""
    by_cat: dict = {}
    for category, rec, base in pairs:
        x, y = _log_values(base), _log_values(rec)
        if len(x) >= 2 and len(y) >= 2:
            by_cat.setdefault(category, []).append(pooled_variance(x, y))
    every = [v for vs in by_cat.values() for v in vs]
    overall = fit_prior([v for v, _ in every], [d for _, d in every])
    return {cat: (fit_prior([v for v, _ in vs], [d for _, d in vs])
                  if len(vs) >= MIN_PRIOR_ROWS else None) or overall
            for cat, vs in by_cat.items()}


def _fmt_bytes(n: Any) -> str | None:
    if not isinstance(n, (int, float)) or n <= 0:
        return None
    return bytes_text(n)


def _isa_text(isa: dict) -> str | None:
    flags = [name for name in ("asimd", "sve", "sve2", "avx2", "avx512f") if isa.get(name)]
    vl = isa.get("sve_vector_length_bytes")
    if vl:
        flags.append(f"SVE VL {int(vl) * 8} bit")
    return " ".join(flags) or None


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
    from suite.headline import system_block

    rows = system_block(doc.results)  # the figures the specs show here
    if not rows:
        return "not in this run"
    return ", ".join(f"{r['value']:.1f} {r['unit']} ({r['system_block']})" for r in rows)


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
    """Short distinct names: the machine name (--machine, else the hostname),
    or when names repeat the file name (which holds the name already:
    <timestamp>-<machine>-<run id>-<profile>.json)."""
    hosts = [str(machine_name(d.system) or f"run{i + 1}") for i, d in enumerate(docs)]
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


def _row_cells(present: list, baseline: int, emulated: list, floors: NoiseFloors,
               prior: Prior | None) -> list:
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
                cell = replace(cell, ratio=1.0, verdict=BASELINE, disturbed=disturbance(rec))
        else:
            cell = judge(rec, base, floors, prior)
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


def compare(docs: Sequence, baseline: int = 0, require_common: bool = True,
            floors: NoiseFloors | None = None) -> Comparison:
    """Compare loaded RunDocuments against docs[baseline] (or, when that run
    is emulated, the first native run). `floors`: noise floors from history
    for single-process figures (category defaults otherwise)."""
    if not docs:
        raise CompareError("nothing to compare: give at least one result file")
    if not 0 <= baseline < len(docs):
        raise CompareError(f"baseline index {baseline} outside 0..{len(docs) - 1}")
    floors = floors or NoiseFloors()
    labels = system_labels(docs)
    emulated = [emulation_of(d) is not None for d in docs]
    asked, baseline = baseline, _native_baseline(emulated, baseline)
    indexed = [{record_key(r): r for r in d.results} for d in docs]
    keys = list(dict.fromkeys(k for idx in indexed for k in idx))
    present_by_key = {k: [idx.get(k) for idx in indexed] for k in keys}
    priors = priors_by_category([
        (category_of(recs[baseline]), rec, recs[baseline])
        for recs in present_by_key.values() if recs[baseline] is not None
        for i, rec in enumerate(recs)
        if i != baseline and rec is not None and not emulated[i]
        and is_primary(rec) and rec.validated and rec.value and recs[baseline].value
        and not (disturbance(rec) or disturbance(recs[baseline]))])
    rows = []
    for k, present in present_by_key.items():
        first = next(r for r in present if r is not None)
        cat = category_of(first)
        rows.append(Row(first.benchmark, dict(first.params), first.metric, first.unit,
                        first.higher_is_better, cat,
                        tuple(_row_cells(present, baseline, emulated, floors, priors.get(cat))),
                        primary=is_primary(first)))
    rows = follow_sources(apply_fdr(rows))
    complete = [r for r in rows if r.complete]
    if emulated.count(False) > 1 and require_common and not any(r.matched for r in rows):
        raise CompareError("the runs have no valid record in common (matched on benchmark, "
                           "params and metric); nothing to compare")

    def ratios(rows_: list, i: int) -> list:
        return [] if emulated[i] else [r.cells[i].ratio for r in rows_]

    def ci(rows_: list, i: int) -> tuple | None:
        return None if i == baseline else geomean_ci(ratios(rows_, i))

    geomeans, cis = {}, {}
    for cat in sorted({r.category for r in complete}):
        in_cat = [r for r in complete if r.category == cat]
        geomeans[cat] = tuple(_geomean(ratios(in_cat, i)) for i in range(len(docs)))
        cis[cat] = tuple(ci(in_cat, i) for i in range(len(docs)))
    overall = tuple(_geomean(ratios(complete, i)) for i in range(len(docs)))
    overall_ci = tuple(ci(complete, i) for i in range(len(docs)))
    systems = tuple(summarize_system(d, lab) for d, lab in zip(docs, labels))
    warnings = _run_warnings(docs, labels) + _emulation_warnings(docs, labels, asked, baseline)
    return Comparison(systems, baseline, tuple(rows), geomeans, overall, len(complete),
                      tuple(warnings), cis, overall_ci)
