"""One configuration measured in several fresh processes, merged into one
set of records (pyperf's model: a benchmark's variance has a part within a
process and a part between processes, from memory placement, JIT and
frequency state; only repeating the process shows the second).

A merged record keeps its processes apart in `info`:

- `processes`: how many worker processes the figure rests on;
- `process_values`: each process's own figure, in run order;
- `process_samples`: how many of `samples` each process gave, so the
  samples split back into their processes in order.

Its `samples` are every process's samples in run order, and its `value`
is the median of `process_values` (each process's value follows the
benchmark's own convention: STREAM's best trial, a median, a percentile).
Pure function, no I/O.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Sequence

from suite import stats
from suite.model import Outcome, Record

# Records whose info says any of these were measured while something else
# disturbed the machine; one disturbed process disturbs the merged figure.
_DISTURBED_KEYS = ("disturbed",)


def _key(record: Record) -> tuple:
    return (record.benchmark, json.dumps(record.params, sort_keys=True), record.metric)


def merge_records(records: Sequence[Record]) -> Record:
    """One record from the same figure measured by several processes."""
    first = records[0]
    if len(records) == 1:
        return replace(first, info={**first.info, "processes": 1})
    values = [r.value for r in records]
    measured = [v for v in values if v is not None]
    samples = tuple(s for r in records for s in r.samples)
    info = {**first.info, "processes": len(records), "process_values": values,
            "process_samples": [len(r.samples) for r in records]}
    for k in _DISTURBED_KEYS:
        if any(r.info.get(k) for r in records):
            info[k] = next(r.info[k] for r in records if r.info.get(k))
    return replace(first, samples=samples, stats=stats.summarize(samples), info=info,
                   value=stats.median(measured) if len(measured) == len(values) else None,
                   validated=all(r.validated for r in records))


def merge_outcomes(outcomes: Sequence[Outcome]) -> Outcome:
    """The outcomes of one configuration's processes as one outcome. A figure
    that only some processes gave rests on those processes; every error is
    kept once."""
    groups: dict = {}
    for outcome in outcomes:
        for r in outcome.records:
            groups.setdefault(_key(r), []).append(r)
    errors = {(e.benchmark, json.dumps(e.params, sort_keys=True), e.kind, e.message): e
              for o in outcomes for e in o.errors}
    warnings = tuple(dict.fromkeys(w for o in outcomes for w in o.warnings))
    return Outcome(tuple(merge_records(g) for g in groups.values()), tuple(errors.values()),
                   warnings)
