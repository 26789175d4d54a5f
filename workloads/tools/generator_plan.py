"""Where the load generators of tools.* and agent.step run, and how many.

One Python generator process spends about GENERATOR_CPU_S_PER_CALL of CPU
per call it issues and checks (tests/perf/tools.py measures it): on a
176-CPU machine one generator caps the call rate long before the CPUs do.
So a machine with spare cores sets whole cores aside for generator
processes (one per CPU), off the CPUs the tool workers run on, and starts
as many as the offered rate needs, up to what was set aside. A machine
without spare cores (fewer than SPARE_MIN_CORES) runs one generator beside
the workers and says so.

Pure arithmetic on a Topology: the plan shows it for any machine's sysinfo.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# One generator's CPU per call: issue, collect the answer, check its digest
# (about 24 us measured on the 2-core development VM).
GENERATOR_CPU_S_PER_CALL = 24e-6
# A generator planned at most this busy still sends each call when it is due.
GENERATOR_BUSY_LIMIT = 0.5
# The cheapest call a pool worker serves (a no-op round trip, about 50 us
# here): the most calls/s a worker can take, whatever the tool.
CALL_FLOOR_S = 50e-6
# Cores are set aside for generators only on machines with at least this
# many, and at most one core in SPARE_SHARE.
SPARE_MIN_CORES = 8
SPARE_SHARE = 8


@dataclass(frozen=True)
class GeneratorLayout:
    """The generator processes of one configuration and the CPUs of both sides."""

    measured_cpus: tuple  # the tool workers' CPUs
    generator_cpus: tuple  # CPUs set aside for the generators (empty: none spare)
    processes: int  # generator processes to start
    offered_rate: float  # calls/s the layout is sized for
    needed: int  # generator processes that rate needs
    note: str  # for the records' info

    def settings(self) -> dict:
        """The layout as Config.settings (JSON)."""
        return {"measured_cpus": list(self.measured_cpus),
                "generator_cpus": list(self.generator_cpus),
                "generators": self.processes, "generator_note": self.note,
                "offered_rate": round(self.offered_rate, 1)}

    @classmethod
    def from_settings(cls, settings, usable: tuple) -> "GeneratorLayout":
        """The plan's layout, or (no settings: an older job file, a direct
        call) one generator beside the workers on `usable`."""
        if "generators" not in settings:
            return cls(tuple(usable), (), 1, 0.0, 1,
                       "one generator process beside the workers (no generator plan)")
        return cls(tuple(settings["measured_cpus"]), tuple(settings["generator_cpus"]),
                   int(settings["generators"]), float(settings.get("offered_rate") or 0.0),
                   int(settings["generators"]), str(settings["generator_note"]))


def spare_cores(topology) -> int:
    """Physical cores a machine can set aside for generators."""
    cores = topology.physical_cores
    return cores // SPARE_SHARE if cores >= SPARE_MIN_CORES else 0


def closed_loop_rate(concurrency: int, workers: int, think_s: float = 0.0) -> float:
    """The most calls/s a closed loop of `concurrency` clients can offer
    `workers` workers: no call is cheaper than CALL_FLOOR_S, and a client
    with think time issues at most one call per think period."""
    busy = min(concurrency, workers) / CALL_FLOOR_S
    return min(busy, concurrency / (think_s + CALL_FLOOR_S))


def generators_needed(rate: float) -> int:
    return max(1, math.ceil(rate * GENERATOR_CPU_S_PER_CALL / GENERATOR_BUSY_LIMIT))


def _generator_cores(topology, wanted_cpus: int) -> tuple:
    """The last cores (highest CPU numbers, never the core of CPU 0), whole,
    enough for `wanted_cpus` CPUs within the spare share."""
    take = min(spare_cores(topology), math.ceil(wanted_cpus / topology.threads_per_core))
    if take <= 0:
        return ()
    cores = sorted(topology.cores, key=lambda core: core[0])[1:]  # CPU 0's core stays measured
    return tuple(sorted(cpu for core in cores[-take:] for cpu in core))


def plan_generators(topology, rate_for) -> GeneratorLayout:
    """The layout for a configuration whose offered rate on `workers`
    measured CPUs is `rate_for(workers)`."""
    every = tuple(topology.logical_cpus)
    rate = rate_for(len(every))
    needed = generators_needed(rate)
    cpus = _generator_cores(topology, needed) if needed > 1 else ()
    if not cpus:
        why = (f"{topology.physical_cores} cores, fewer than the {SPARE_MIN_CORES} it takes "
               "to set one aside" if topology.physical_cores < SPARE_MIN_CORES
               else "one generator suffices")
        return GeneratorLayout(every, (), 1, rate, needed,
                               f"one generator process on the measured CPUs, none spare ({why})")
    measured = tuple(c for c in every if c not in set(cpus))
    rate = rate_for(len(measured))
    needed = generators_needed(rate)
    processes = min(needed, len(cpus))
    note = (f"{processes} generator processes on CPUs set aside ({len(cpus)} CPUs of "
            f"{len(cpus) // topology.threads_per_core} cores), off the {len(measured)} measured CPUs")
    if needed > processes:
        note += (f"; {rate:,.0f} calls/s would need {needed}: the generators may set the pace "
                 "(records say generator_bound when they did)")
    return GeneratorLayout(measured, cpus, processes, rate, needed, note)
