"""The buyer's table: the few figures a run is read for.

`headline(doc)` turns a run (or a list of records) into rows, one per
figure: bandwidth per core, DRAM latency, compile throughput, tool calls,
agents per core, queries, co-run slowdown, work per joule and cost per unit
where known. Rows are plain dicts so any renderer (terminal, HTML, markdown)
can print them; a figure whose benchmark did not run says "not measured",
and one whose records failed validation shows no number.

Which rows there are, and what each reads, the specs declare
(`BenchmarkSpec.headline`, `BenchmarkSpec.work`; suite.meaning): a row
shows records of the benchmarks that declare it.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from suite import meaning
from suite.meaning import HeadlineRow, Source
from suite.model import Record

MEASURED, NOT_MEASURED, INVALID, UNAVAILABLE = "measured", "not measured", "invalid", "unavailable"


# -- input ----------------------------------------------------------------------
def _unpack(doc_or_records: Any) -> tuple:
    """(records, system, run) from a RunDocument, its dict form, or records."""
    if hasattr(doc_or_records, "results"):
        d = doc_or_records
        return list(d.results), dict(d.system or {}), dict(d.run or {})
    if isinstance(doc_or_records, Mapping):
        recs = [Record.from_dict(r) for r in doc_or_records.get("results") or ()]
        return recs, dict(doc_or_records.get("system") or {}), dict(doc_or_records.get("run") or {})
    recs = [r if isinstance(r, Record) else Record.from_dict(r) for r in doc_or_records or ()]
    return recs, {}, {}


def _matches(r: Record, src: Source, ids: tuple) -> bool:
    if r.metric != src.metric or r.benchmark not in ids:
        return False
    if any(k in r.params and r.params[k] != v for k, v in src.params.items()):
        return False
    return all(r.params.get(k) == v for k, v in src.require.items())


def _pick(records: list, how: str) -> Record:
    if how == "most_threads":
        most = max(int(r.params.get("threads") or 0) for r in records)
        records = [r for r in records if int(r.params.get("threads") or 0) == most]
    key = lambda r: r.value  # noqa: E731 - the figure itself
    return max(records, key=key) if records[0].higher_is_better else min(records, key=key)


# -- rows -------------------------------------------------------------------------
def _fmt(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1e4:  # 301,800 reads better than 3.018e+05
        text = f"{value:,.0f}"
    else:
        text = f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return f"{text} {unit}" if unit else text


def _describe(r: Record) -> str:
    # Scalar params identify the configuration; lists (CPU sets) are detail.
    params = " ".join(f"{k}={v}" for k, v in r.params.items() if not isinstance(v, (list, tuple)))
    return f"{r.benchmark} {r.metric}" + (f" [{params}]" if params else "")


def _row(key: str, label: str, record: Record | None, status: str, note: str | None) -> dict:
    value = record.value if record is not None and status == MEASURED else None
    unit = record.unit if record is not None else None
    return {
        "key": key, "label": label, "value": value, "unit": unit,
        "display": _fmt(value, unit) if status == MEASURED else status,
        "status": status,
        "source": _describe(record) if record is not None else None,
        "params": dict(record.params) if record is not None else {},
        "higher_is_better": record.higher_is_better if record is not None else None,
        "note": note,
    }


def _note(row: HeadlineRow, records: list, chosen: Record) -> str | None:
    """The same configuration's figure of a metric the row names as its note."""
    for metric, text in row.notes:
        for r in records:
            if (r.benchmark == chosen.benchmark and r.metric == metric
                    and r.params == chosen.params and r.value is not None):
                return f"{text} {_fmt(r.value, r.unit)}"
    return None


def _coverage_note(chosen: Record, system: Mapping) -> str | None:
    """Say so when the "all cores" figure did not use every CPU."""
    threads, cpus = chosen.params.get("threads"), system.get("logical_cpus")
    if threads and cpus and int(threads) < int(cpus):
        return f"largest run used {threads} of {cpus} CPUs"
    return None


def _rows_for(row: HeadlineRow, ids: tuple, records: list, system: Mapping) -> list:
    for src in row.sources:
        hits = [r for r in records if _matches(r, src, ids)]
        if not hits:
            continue
        groups: dict = {}
        for r in hits:
            groups.setdefault(r.benchmark if row.per_benchmark else "", []).append(r)
        out = []
        for bench, group in sorted(groups.items()):
            label = f"{row.label} ({bench})" if bench else row.label
            key = f"{row.key}:{bench}" if bench else row.key
            good = [r for r in group if r.validated and r.value is not None]
            if not good:
                out.append(_row(key, label, group[0], INVALID, "not validated; see errors"))
                continue
            chosen = _pick(good, src.pick)
            note = _note(row, records, chosen)
            if src.pick == "most_threads":
                note = _coverage_note(chosen, system)
            out.append(_row(key, label, chosen, MEASURED, note))
        return out
    return [_row(row.key, row.label, None, NOT_MEASURED, None)]


def _derived_rows(records: list, labels: Mapping, key: str) -> list:
    """One row per (benchmark, metric) of `labels` ({(benchmark, metric):
    label}, in the order to show them) present among `records`."""
    groups: dict = {}
    for r in records:
        if (r.benchmark, r.metric) in labels and r.value is not None and r.validated:
            groups.setdefault((r.benchmark, r.metric), []).append(r)
    order = list(labels)
    out = []
    for (bench, metric), group in sorted(groups.items(), key=lambda kv: order.index(kv[0])):
        chosen = _pick(group, "best")
        label = f"{labels[bench, metric]} ({bench})"
        out.append(_row(f"{key}:{bench}:{metric}", label, chosen, MEASURED,
                        (chosen.info or {}).get("per")))
    return out


def _labels(works: Mapping, metric: str, label: str) -> dict:
    """{(benchmark, derived metric): label} of the specs' Work declarations."""
    return {(bench, getattr(w, metric)): getattr(w, label)
            for bench, ws in works.items() for w in ws}


def _energy_reason(records: list) -> str:
    for r in records:
        e = (r.info or {}).get("energy")
        if isinstance(e, Mapping) and e.get("available") is False and e.get("reason"):
            return str(e["reason"])
    return "no energy reading in this run"


def _per_joule_rows(records: list, works: Mapping) -> list:
    from suite.energy import work_per_joule

    labels = _labels(works, "per_joule", "per_joule_label")
    derived = [r for r in records if (r.benchmark, r.metric) in labels]
    if not derived:  # the runner stores each child's reading on its records
        for r in records:
            derived.extend(work_per_joule([r], (r.info or {}).get("energy"), works))
    rows = _derived_rows(derived, labels, "per_joule")
    return rows or [_row("per_joule", "Work per joule", None, UNAVAILABLE,
                         _energy_reason(records))]


def _cost_rows(records: list, cost_per_hour, works: Mapping) -> list:
    from suite.cost import cost_per_unit

    labels = _labels(works, "cost", "cost_label")
    derived = [r for r in records if (r.benchmark, r.metric) in labels]
    if not derived and cost_per_hour:
        derived = cost_per_unit(records, cost_per_hour, works=works)
    rows = _derived_rows(derived, labels, "cost")
    note = ("no throughput record in this run to price" if cost_per_hour
            else "give the server price with --cost-per-hour")
    return rows or [_row("cost", "Cost per unit of work", None, NOT_MEASURED, note)]


def headline(doc_or_records: Any, system: Mapping | None = None,
             cost_per_hour: float | None = None, specs=None) -> list:
    """Rows of the buyer's table in the order the specs (default: the
    registry's) declare them, then per-joule and cost rows.

    Each row: key, label, value, unit, display (formatted value or status),
    status (measured | not measured | invalid | unavailable), source
    ("benchmark metric [params]"), params, higher_is_better, note.
    `system` (default: the run's) tells whether "all cores" used them all;
    `cost_per_hour` defaults to the run's `--cost-per-hour` option.
    """
    records, doc_system, run = _unpack(doc_or_records)
    system = system if system is not None else doc_system
    if cost_per_hour is None:
        cost_per_hour = (run.get("options") or {}).get("cost_per_hour")
    rows: list = []
    for row, ids in meaning.headline_rows(specs):
        rows.extend(_rows_for(row, ids, records, system))
    works = meaning.works(specs)
    rows.extend(_per_joule_rows(records, works))
    rows.extend(_cost_rows(records, cost_per_hour, works))
    return rows


def system_block(records: Iterable[Record], specs=None) -> list:
    """The measured rows a spec shows in compare's system block, each with
    its `system_block` text."""
    records = list(records)
    out = []
    for row, ids in meaning.headline_rows(specs):
        if row.system_block:
            out.extend({**r, "system_block": row.system_block}
                       for r in _rows_for(row, ids, records, {}) if r["status"] == MEASURED)
    return out


def side_by_side(docs: Iterable) -> list:
    """[figure, display per run..., source] rows of the runs' headlines, the
    figures in the order they first appear (per core, per joule, cost...)."""
    per_run = [{row["label"]: row for row in headline(doc)} for doc in docs]
    labels: list = []
    for rows in per_run:
        labels.extend(lab for lab in rows if lab not in labels)
    table = []
    for lab in labels:
        cells = [rows[lab]["display"] if lab in rows else NOT_MEASURED for rows in per_run]
        source = next((rows[lab]["source"] for rows in per_run
                       if lab in rows and rows[lab]["source"]), "")
        table.append([lab] + cells + [source])
    return table


def caption(system: Mapping) -> str:
    """One line naming the machine the headline describes."""
    march = (system.get("microarchitecture") or {}).get("name")
    parts = [system.get("model_name") or system.get("arch") or "unknown CPU"]
    if march:
        parts.append(f"({march})")
    if system.get("physical_cores"):
        parts.append(f"{system['physical_cores']} cores / {system.get('logical_cpus')} CPUs")
    return " ".join(str(p) for p in parts)


def as_text(rows: Iterable[Mapping]) -> str:
    """Plain two-column rendering (logs, tests, markdown-free terminals)."""
    rows = list(rows)
    width = max((len(r["label"]) for r in rows), default=0)
    lines = []
    for r in rows:
        tail = "; ".join(x for x in (r.get("note"), r.get("source")) if x)
        lines.append(f"{r['label']:<{width}}  {r['display']}" + (f"  ({tail})" if tail else ""))
    return "\n".join(lines)
