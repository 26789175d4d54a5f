"""The benchmark options of a run: one typed record shared by the CLI,
`validate`, `plan`, the plans (PlanContext.options) and the workers
(Job.options).

Defaults live here only; the CLI shows them. `to_dict()` is what the job
file and the result file's `run.options` store (unset options left out).
The record is also a read-only Mapping (`options["seed"]`,
`options.get("seed")`) so code written against the former dict keeps working.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterator

# The seed of generated inputs when no --seed is given.
DEFAULT_SEED = 1


class OptionsError(ValueError):
    """A benchmark-options mapping this version does not understand."""


@dataclass(frozen=True)
class BenchmarkOptions(Mapping):
    array_mib: float | None = None  # STREAM arrays; None: 4 x LLC
    stride: int | None = None  # pointer-chase stride; None: the kernels' default
    peak_gbs: float | None = None  # theoretical memory bandwidth, for efficiency
    bind: str | None = None  # thread placement; None: the kernels' default
    rate: float | None = None  # open-loop tool-call arrival rate, calls/s
    slo_ms: float = 250.0  # p99 step-latency SLO of the agents-per-core search
    inference_ms: float = 100.0  # simulated inference wait per agent step
    db_url: str | None = None  # PostgreSQL to run db.* on as well
    db_dir: str | None = None  # where DB datasets are kept; None: .cache/db
    db_scale: str | None = None  # DB dataset scale; None: the profile's
    source: str | None = None  # a real source tree to build
    build: str = "make -j{jobs}"  # build command for `source`; {jobs} is replaced
    cost_per_hour: float | None = None  # server price, for cost per unit of work
    seed: int = DEFAULT_SEED  # seed of every generated input
    allow_unisolated: bool = False  # run agent-written code without isolation
    out_dir: str | None = None  # the run's result directory

    def to_dict(self) -> dict:
        """The options that are set, JSON-ready."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "BenchmarkOptions":
        """The record a job file or `run.options` stores; an unknown key is
        refused (a typo would otherwise silently fall back to a default)."""
        data = dict(data or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise OptionsError(f"unknown benchmark option {unknown[0]!r}; accepted: "
                               + ", ".join(sorted(names)))
        # None means "not set": the field's default applies.
        return cls(**{k: v for k, v in data.items() if v is not None})

    @classmethod
    def of(cls, options: "BenchmarkOptions | Mapping[str, Any] | None") -> "BenchmarkOptions":
        """`options` itself, or the record a plain mapping describes."""
        return options if isinstance(options, cls) else cls.from_dict(options)

    # Read-only Mapping view over every option.
    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)


DEFAULTS = BenchmarkOptions()
