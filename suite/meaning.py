"""What a benchmark's records mean, declared by its own spec.

The harness never names a benchmark or a metric: the headline
(`HeadlineRow`), work per joule and cost per unit (`Work`), the report's
plots (`Plot`) and which metrics derive from another
(`BenchmarkSpec.derived`) and what `validate` prints (`CrossCheck`) are
read from the registered specs, so a new
benchmark says what its figures are where it is declared.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Mapping, Sequence


@dataclass(frozen=True)
class Source:
    """Which of a benchmark's records a headline row shows."""

    metric: str
    # Must match when the record has the key.
    params: Mapping = field(default_factory=dict)
    require: Mapping = field(default_factory=dict)  # must be present and equal
    pick: str = "best"  # best | most_threads


@dataclass(frozen=True)
class HeadlineRow:
    """A row of the buyer's table. Specs declaring a row of the same key
    share it (with `per_benchmark`, one row per benchmark id)."""

    key: str
    label: str
    sources: tuple  # Source, tried in order; the first with records wins
    per_benchmark: bool = False
    # (metric, text): the same configuration's figure of that metric as a note.
    notes: tuple = ()
    # Shown in compare's system block as "<value> (<text>)".
    system_block: str | None = None


@dataclass(frozen=True)
class Work:
    """A rate metric (units per second) that becomes work per joule and a
    cost per block of units."""

    metric: str
    per_joule: str  # the derived metric
    per_joule_unit: str
    per_joule_label: str
    cost: str  # the derived metric
    cost_block: float  # how many units one priced block holds
    cost_block_name: str  # what the block is, for readers
    per_joule_scale: float = 1.0  # 1000 for per kJ

    @property
    def cost_label(self) -> str:
        return f"Cost per {self.cost_block_name}"


@dataclass(frozen=True)
class Plot:
    """A report figure of a benchmark's records (suite.report.PLOT_KINDS)."""

    kind: str  # threads | curve | pairs | concurrency | search | bars | side_by_side
    # threads, concurrency: (rate, latency), a panel each; pairs: (x, y);
    # curve, search, bars, side_by_side: (y,)
    metrics: tuple
    # The param (threads, curve, concurrency) or trace key (search) on x;
    # side_by_side: the param or info key naming a table row (a tool).
    x: str = ""
    # The panel's title (concurrency: one row of panels per family);
    # side_by_side: the column (a runtime).
    family: str = ""
    several_files: bool = True  # also drawn when the report overlays several files
    where: tuple = ()  # side_by_side: (param, value) pairs a record must have


@dataclass(frozen=True)
class CrossCheck:
    """A ratio `factorybench validate` prints: a record's metric and the
    `info` keys holding the two figures it divides."""

    metric: str
    label: str
    ours: str  # info key: this suite's figure
    reference: str  # info key: the reference implementation's figure
    unit: str


def specs_by_id(specs: Sequence | None = None) -> dict:
    if specs is None:
        from suite.spec import registry

        specs = registry()
    return {s.id: s for s in specs}


def works(specs: Sequence | None = None) -> dict:
    """{benchmark id: its Work declarations}."""
    return {i: s.work for i, s in specs_by_id(specs).items() if s.work}


def work_for(record, by_id: Mapping) -> Work | None:
    return next((w for w in by_id.get(record.benchmark, ()) if w.metric == record.metric), None)


def headline_rows(specs: Sequence | None = None) -> list:
    """[(HeadlineRow, ids declaring it)] in the order the registry first names them."""
    rows: dict = {}
    for s in specs_by_id(specs).values():
        for row in s.headline:
            decl, ids = rows.get(row.key, (row, ()))
            rows[row.key] = (decl, ids + (s.id,))
    return list(rows.values())


def plots(specs: Sequence | None = None) -> list:
    """[(Plot, ids declaring it)], equal declarations merged, in registry order."""
    out: dict = {}
    for s in specs_by_id(specs).values():
        for p in s.plots:
            out[p] = out.get(p, ()) + (s.id,)
    return list(out.items())


def declared_derived() -> dict:
    """{(benchmark id, metric): the metric it is computed from} over every
    registered spec's `derived`: a result file written before its records
    named their source in `info.derived_from` still says what derives.
    Empty while a plug-in cannot be loaded: a comparison or a check goes on."""
    try:
        return _declared_derived()
    except Exception:  # an unloadable plug-in must not stop a comparison or a check
        return {}


@functools.lru_cache(maxsize=1)  # a failure raises, so only a full read is kept
def _declared_derived() -> dict:
    return {(s.id, metric): source for s in specs_by_id().values()
            for metric, source in s.derived}


def derived_from(benchmark: str, metric: str, specs: Sequence | None = None) -> str | None:
    """The metric `metric` of `benchmark` is computed from, or None for a
    primary (measured) metric."""
    spec = specs_by_id(specs).get(benchmark)
    if spec is None:
        return None
    for w in spec.work:
        if metric in (w.per_joule, w.cost):
            return w.metric
    return dict(spec.derived).get(metric)
