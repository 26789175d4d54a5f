"""The interface between a fleet run and the engine that reaches the hosts.

A backend gets a FleetJob, reports each host's state to a Watcher as it
changes, and returns one HostOutcome per host. Everything else (the run id,
where results go, the store, the tables) is the backend-neutral fleet run's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

# A host's states while a fleet run goes on, then its final one.
WAITING, SHIPPING, LOCKED, RUNNING, FETCHING = "waiting", "shipping", "locked", "running", "fetching"
OK, FAILED, UNREACHABLE = "ok", "failed", "unreachable"
FINAL_STATES = (OK, FAILED, UNREACHABLE)


@dataclass(frozen=True)
class FleetJob:
    """What one fleet run asks of every host."""

    run_id: str
    selection: tuple
    profile: str
    out_dir: Path  # results/fleet/<run_id>: <host>.json per delivering host
    parallel: int  # hosts at once
    timeout_s: float  # a host's run longer than this is failed
    lock_wait_s: float  # how long a host waits for another run's lock


@dataclass(frozen=True)
class HostOutcome:
    host: str  # the inventory's name for it
    machine: str  # its machine name in results and history
    state: str  # one of FINAL_STATES
    reason: str | None = None  # one line, for failed and unreachable
    result: Path | None = None  # the fetched result file, when delivered


class Watcher:
    """Per-host progress callbacks (a backend calls them from any thread)."""

    def host(self, host: str, state: str, detail: str | None = None) -> None: ...


class FleetError(Exception):
    """A fleet that cannot be started (bad inventory, missing engine): one line."""


class Backend:
    """An engine that runs a FleetJob on its hosts."""

    name = "backend"

    def hosts(self) -> Sequence[tuple]:
        """(host, machine name) of every host, in inventory order."""
        raise NotImplementedError

    def run(self, job: FleetJob, watcher: Watcher) -> list:
        """One HostOutcome per host; a result file for every OK host is at
        job.out_dir / f"{host}.json"."""
        raise NotImplementedError
