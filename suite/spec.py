"""The benchmark registry: what can run, in which configurations, per profile.

Each benchmark package declares a light `SPECS` list (no heavy imports at
module level) in a module it registers as an entry point of the group
ENTRY_POINT_GROUP (pyproject.toml `[project.entry-points."factorybench.benchmarks"]`),
so an installed third-party package adds benchmarks the same way. The heavy
code is named by `BenchmarkSpec.entry` ("module:function") and imported only
inside the worker.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from suite.errors import UserError
from suite.options import DEFAULT_SEED, BenchmarkOptions

ENTRY_POINT_GROUP = "factorybench.benchmarks"
# Comma-separated modules with SPECS lists registered for this process only
# (the tests' fixture benchmarks, a benchmark under development).
SPEC_MODULES_ENV = "FACTORYBENCH_SPEC_MODULES"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@dataclass(frozen=True)
class Profile:
    """How deep a run goes. Benchmarks scale their own sizes from `name`."""

    name: str
    min_runs: int  # measured repetitions at least (warm-up excluded)
    max_runs: int  # cap when the samples do not settle
    # Keep adding repetitions while the coefficient of variation is above
    # this. 5% is pyperf's "unstable" warning level (pyperf/_cli.py).
    cv_target: float
    # Fresh worker processes per configuration (suite.replication): variance
    # between processes shows only when the process is repeated. Quick runs
    # one, to stay within its time budget; its verdicts are "indicative".
    processes: int = 1
    # Concurrency levels (clients, jobs, workers, threads) fixed by the
    # profile whatever the machine's size; None = derived from its cores.
    concurrency: tuple | None = None

    def levels(self, machine_levels) -> list:
        """The profile's fixed levels, else the machine's own."""
        return list(self.concurrency) if self.concurrency else list(machine_levels)


PROFILES: Mapping[str, Profile] = {
    # Every benchmark id once at its smallest real size: an installation
    # check (natively seconds; tests/arm runs it whole under emulation).
    "smoke": Profile("smoke", min_runs=1, max_runs=1, cv_target=1.0, concurrency=(1, 2)),
    "quick": Profile("quick", min_runs=3, max_runs=8, cv_target=0.05),
    "standard": Profile("standard", min_runs=5, max_runs=20, cv_target=0.03,
                        processes=3),
    "full": Profile("full", min_runs=10, max_runs=50, cv_target=0.02,
                    processes=5),
}
DEFAULT_PROFILE = "quick"


@dataclass(frozen=True)
class PlanContext:
    """What a spec needs to decide its configurations, in the parent process."""

    profile: Profile
    system: Mapping[str, Any]  # the sysinfo dict (suite.sysinfo.collect())
    options: BenchmarkOptions = field(default_factory=BenchmarkOptions)
    threads: tuple | None = None  # explicit --threads list, or None

    def __post_init__(self):
        object.__setattr__(self, "options", BenchmarkOptions.of(self.options))

    @property
    def topology(self):
        from suite.topology import Topology

        return Topology.from_system(self.system)


@dataclass(frozen=True)
class Job:
    """One benchmark configuration, as handed to the worker process."""

    benchmark: str
    params: Mapping[str, Any]
    profile: Profile
    system: Mapping[str, Any]
    options: BenchmarkOptions
    timeout: float
    cpus: tuple | None = None  # CPU affinity applied before the entry runs
    # Inputs the plan computed that are not part of the configuration's
    # identity (array sizes derived from this machine's caches): they go to
    # the worker but not into `params`, so records of two machines match.
    settings: Mapping[str, Any] = field(default_factory=dict)
    # Every benchmark id this child measures (specs sharing a child, e.g. the
    # six STREAM kernels of one sweep): its records carry these ids.
    # Empty means just `benchmark`.
    benchmarks: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "options", BenchmarkOptions.of(self.options))

    @property
    def ids(self) -> tuple:
        return self.benchmarks or (self.benchmark,)

    @property
    def topology(self):
        from suite.topology import Topology

        return Topology.from_system(self.system)

    def to_dict(self) -> dict:
        return {
            "benchmark": self.benchmark,
            "benchmarks": list(self.ids),
            "params": dict(self.params),
            "profile": self.profile.name,
            "system": dict(self.system),
            "options": self.options.to_dict(),
            "timeout": self.timeout,
            "cpus": list(self.cpus) if self.cpus is not None else None,
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Job":
        return cls(
            benchmark=d["benchmark"],
            params=d["params"],
            profile=PROFILES[d["profile"]],
            system=d["system"],
            options=BenchmarkOptions.from_dict(d["options"]),
            timeout=float(d["timeout"]),
            cpus=tuple(d["cpus"]) if d.get("cpus") is not None else None,
            settings=d.get("settings") or {},
            benchmarks=tuple(d.get("benchmarks") or ()),
        )


@dataclass(frozen=True)
class Config:
    """One planned child-process run of a benchmark."""

    params: Mapping[str, Any]
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment
    cpus: tuple | None = None  # affinity for the whole child
    settings: Mapping[str, Any] = field(default_factory=dict)  # see Job.settings
    # Run in one child with the configurations of other specs that carry the
    # same key and equal params, as BenchmarkSpec.group does in every
    # profile: the plan's choice for its profile (where a child and its
    # set-up cost more than what it measures).
    share: str | None = None


def _single_config(ctx: PlanContext) -> list:
    return [Config(params={})]


@dataclass(frozen=True)
class FormerId:
    """How result files of an older schema stored a benchmark: records of
    `benchmark` whose params hold `params` are this benchmark's, stored
    without those params. The old id also still selects the benchmark."""

    benchmark: str
    params: Mapping[str, Any] = field(default_factory=dict)
    # The result schema that introduced the new id: files of older schemas
    # hold the old one (suite.results migrates them one version at a time).
    schema: int = 2


@dataclass(frozen=True)
class BenchmarkSpec:
    id: str  # dotted, e.g. "stream.triad"
    category: str  # memory | compile | tools | agent | db | corun | sandbox ...
    description: str  # one line for `factorybench list`
    entry: str  # "package.module:function", called as function(job) -> Outcome
    plan: Callable[[PlanContext], Sequence[Config]] = _single_config
    # Seconds per configuration: one number, or {profile name: seconds} for
    # benchmarks whose size grows with the profile. --timeout overrides.
    timeout: float | Mapping[str, float] = 300.0
    profiles: frozenset = frozenset(PROFILES)  # profiles that run it with no selection
    # Optional "module:function" run in the parent after every configuration
    # of this spec finished: function(records, ctx: PlanContext) -> Outcome
    # with extra summary records (e.g. STREAM saturation point across the
    # per-thread-count children). Must not re-measure anything.
    summarize: str | None = None
    # Specs naming the same group run their equal-params configurations in
    # one child, which measures them all (one STREAM sweep times all six
    # kernels; one co-run child runs every workload beside one hog).
    group: str | None = None
    # Ids this benchmark had in older result files (see FormerId).
    formerly: tuple = ()
    # How deep each profile goes: {profile name: the package's row}, the
    # one table its plan and entry read (tests/test_profiles.py checks it
    # has a row for every profile).
    profile_table: Mapping[str, Any] = field(default_factory=dict)
    # What its records mean (suite.meaning): rows of the buyer's table,
    # rates that become work per joule and cost per unit, report plots, and
    # (metric, metric it is computed from) pairs for derived metrics.
    headline: tuple = ()
    work: tuple = ()
    plots: tuple = ()
    derived: tuple = ()
    # Ratios against a reference implementation that `factorybench validate`
    # runs this benchmark for (suite.meaning.CrossCheck).
    cross_check: tuple = ()

    @property
    def former_ids(self) -> tuple:
        return tuple(f.benchmark for f in self.formerly)
    # Optional estimate(ctx, config) -> seconds one configuration will take,
    # from the profile's own durations (light: runs in `factorybench plan`).
    estimate: Callable[[PlanContext, Config], float] | None = None


def entry_point_modules() -> tuple:
    """Modules registered in ENTRY_POINT_GROUP by installed distributions,
    ordered by entry point name; from a checkout that is not installed
    (PYTHONPATH only), this one's own from its pyproject.toml."""
    from importlib.metadata import entry_points

    found = sorted((ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP))
    return tuple(dict.fromkeys(value for _, value in found)) or own_entry_points()


def own_entry_points() -> tuple:
    """The entry point table of this checkout's pyproject.toml (read as
    lines: tomllib is Python >= 3.11)."""
    header = f'[project.entry-points."{ENTRY_POINT_GROUP}"]'
    found, inside = [], False
    for line in PYPROJECT.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("["):
            inside = line == header
        elif inside and "=" in line:
            name, value = (part.strip().strip('"') for part in line.split("=", 1))
            found.append((name, value))
    return tuple(value for _, value in sorted(found))


def spec_modules() -> tuple:
    """The entry points' modules, then those named in SPEC_MODULES_ENV."""
    extra = [m.strip() for m in os.environ.get(SPEC_MODULES_ENV, "").split(",")]
    return entry_point_modules() + tuple(m for m in extra if m)


def seed_of(options: Mapping[str, Any] | None) -> int:
    """The run's --seed, reaching every generator (DEFAULT_SEED without one)."""
    seed = (options or {}).get("seed")
    return DEFAULT_SEED if seed is None else int(seed)


def profile_row(table: Mapping[str, Any], profile: "Profile | str"):
    """A profile's row of a benchmark's profile table (one table per
    benchmark package, a row per profile; BenchmarkSpec.profile_table)."""
    name = profile if isinstance(profile, str) else profile.name
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"profile {name!r} has no row in this profile table; rows: "
                       + ", ".join(table)) from None


def timeout_for(spec: "BenchmarkSpec", profile: str) -> float:
    if isinstance(spec.timeout, Mapping):
        return float(spec.timeout.get(profile, max(spec.timeout.values())))
    return float(spec.timeout)


def registry() -> list:
    """Every registered spec, in registration order. An id registered twice
    is refused (pyperf's rule): one line naming both modules, exit 2."""
    own = entry_point_modules()
    specs: list = []
    origin: dict = {}
    for name in dict.fromkeys(spec_modules()):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing_itself = exc.name is not None and (name + ".").startswith(exc.name + ".")
            if name in own or not missing_itself:
                raise  # an installed package's module, or a plug-in's broken import
            raise UserError(f"{SPEC_MODULES_ENV}: no module {name!r}; accepted: "
                            "importable module names, comma-separated") from None
        for s in getattr(module, "SPECS", ()):
            if s.id in origin:
                raise UserError(f"benchmark id {s.id!r} registered twice: by {origin[s.id]} "
                                f"and by {name}; accepted: one registration per id")
            origin[s.id] = name
            specs.append(s)
    return specs


def renamed_selections(specs: Sequence[BenchmarkSpec], words: Sequence[str]) -> list:
    """A note for each selection word that is a former id, naming the new ones."""
    notes = []
    for word in words:
        if any(s.id == word for s in specs):
            continue
        new = [s.id for s in specs if word in s.former_ids]
        if new:
            notes.append(f"{word!r} is the former id of {', '.join(new)}; selecting those")
    return notes


class SelectionError(ValueError):
    """A selection word matched no benchmark."""


def select(specs: Sequence[BenchmarkSpec], words: Sequence[str], profile: str) -> list:
    """Benchmarks chosen by id, dotted id prefix or category; none = profile.

    An exact id always runs; so do the benchmarks a former id (FormerId)
    now names (`renamed_selections` says which). A prefix or category keeps the benchmarks the
    profile includes, falling back to all its matches when it includes none
    (so `run fake` runs a category that lives only in `full`).
    """
    if not words:
        return [s for s in specs if profile in s.profiles]
    chosen: list = []
    for word in words:
        exact = [s for s in specs if s.id == word] or [s for s in specs if word in s.former_ids]
        hits = exact or [s for s in specs
                         if s.id.startswith(word + ".") or s.category == word]
        if not hits:
            accepted = sorted({s.id for s in specs} | {s.category for s in specs})
            raise SelectionError(
                f"unknown benchmark or category {word!r}; accepted: "
                + (", ".join(accepted) if accepted else "(none registered)")
            )
        if not exact:
            hits = [s for s in hits if profile in s.profiles] or hits
        chosen.extend(h for h in hits if h not in chosen)
    return chosen
