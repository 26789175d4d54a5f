"""Immutable records of a run: what a benchmark measured, and what went wrong.

These are the schema-1 contract (see README "Result format"). Records are
frozen so that nothing downstream can quietly edit a measured figure.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

from suite import stats as _stats


def _freeze_params(params: Mapping[str, Any] | None) -> dict:
    # JSON-friendly copy, keys sorted so records with equal params compare equal.
    return {str(k): params[k] for k in sorted(params or {})}


@dataclass(frozen=True)
class Record:
    """One tidy measurement: a metric of one benchmark configuration."""

    benchmark: str
    params: dict
    metric: str
    unit: str
    higher_is_better: bool
    value: float | None
    samples: tuple = ()
    stats: dict = field(default_factory=dict)
    validated: bool = True
    # Anything a reader needs to interpret the figure (backend, compiler,
    # utilization, energy ...). Free-form, JSON-serializable.
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["samples"] = list(self.samples)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Record":
        return cls(
            benchmark=d["benchmark"],
            params=dict(d.get("params") or {}),
            metric=d["metric"],
            unit=d["unit"],
            higher_is_better=bool(d["higher_is_better"]),
            value=d.get("value"),
            samples=tuple(d.get("samples") or ()),
            stats=dict(d.get("stats") or {}),
            validated=bool(d.get("validated", False)),
            info=dict(d.get("info") or {}),
        )


def measurement(
    benchmark: str,
    params: Mapping[str, Any] | None,
    metric: str,
    unit: str,
    samples: Iterable[float],
    *,
    higher_is_better: bool,
    value: float | None = None,
    validated: bool = True,
    info: Mapping[str, Any] | None = None,
) -> Record:
    """Build a Record from raw samples.

    `value` defaults to the median of the samples; benchmarks whose field
    convention differs (STREAM reports the best trial) pass it explicitly.
    A value that is not a finite number marks the record invalid.
    """
    samples = tuple(float(s) for s in samples)
    if value is None and samples:
        value = _stats.median(samples)
    if value is not None and not math.isfinite(value):
        value, validated = None, False
    return Record(
        benchmark=benchmark,
        params=_freeze_params(params),
        metric=metric,
        unit=unit,
        higher_is_better=higher_is_better,
        value=None if value is None else float(value),
        samples=samples,
        stats=_stats.summarize(samples),
        validated=bool(validated),
        info=dict(info or {}),
    )


@dataclass(frozen=True)
class ErrorRecord:
    """A benchmark configuration that produced no trustworthy figure."""

    benchmark: str
    params: dict
    kind: str  # crash | timeout | oom | invalid | skipped | error | interrupted
    message: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ErrorRecord":
        return cls(d["benchmark"], dict(d.get("params") or {}), d["kind"], d["message"])


@dataclass(frozen=True)
class Outcome:
    """What one benchmark configuration returns from its worker."""

    records: tuple = ()
    errors: tuple = ()
    # Run-level warnings this benchmark wants a reader to see
    # (e.g. "sandbox backend unshare is weaker than bwrap").
    warnings: tuple = ()

    def to_dict(self) -> dict:
        return {
            "records": [r.to_dict() for r in self.records],
            "errors": [e.to_dict() for e in self.errors],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Outcome":
        return cls(
            tuple(Record.from_dict(r) for r in d.get("records", ())),
            tuple(ErrorRecord.from_dict(e) for e in d.get("errors", ())),
            tuple(d.get("warnings", ())),
        )
