"""A fleet run around any backend: its id, its directory, the benchmarks'
own time against the wall time, and the history store."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from suite.fleet.base import OK, Backend, FleetJob, HostOutcome, Watcher

FLEET_DIR = Path("results") / "fleet"


def new_fleet_run_id(now: datetime | None = None) -> str:
    """`<UTC timestamp>-<8 hex>`: sorts by time, unique when two start at once."""
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def fleet_dir(run_id: str, root: Path = FLEET_DIR) -> Path:
    return root / run_id


@dataclass(frozen=True)
class FleetReport:
    job: FleetJob
    outcomes: tuple  # HostOutcome per host, inventory order
    wall_s: float
    bench_s: float | None  # the longest delivering host's own run (hosts run at once)

    @property
    def delivered(self) -> list:
        return [o for o in self.outcomes if o.state == OK]

    @property
    def all_delivered(self) -> bool:
        return bool(self.outcomes) and len(self.delivered) == len(self.outcomes)

    @property
    def overhead_s(self) -> float | None:
        return None if self.bench_s is None else max(0.0, self.wall_s - self.bench_s)


def run_seconds(doc) -> float | None:
    """A result file's own time: started_at to finished_at."""
    try:
        start = datetime.fromisoformat(doc.run["started_at"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(doc.run["finished_at"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


def run_fleet(backend: Backend, job: FleetJob, watcher: Watcher) -> FleetReport:
    from suite.results import load

    job.out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    outcomes = tuple(backend.run(job, watcher))
    wall = time.monotonic() - t0
    own = [run_seconds(load(o.result)) for o in outcomes if o.state == OK and o.result]
    own = [s for s in own if s is not None]
    return FleetReport(job, outcomes, wall, max(own) if own else None)


def add_to_store(store: str, outcomes: Sequence[HostOutcome]) -> list:
    """Every delivered result added to the history store: one line each."""
    from suite import history
    from suite.results import load

    lines = []
    with history.open_store(store, create=True) as st:
        for o in outcomes:
            if o.state != OK or o.result is None:
                continue
            added = history.add(st, load(o.result))
            lines.append(f"{o.host}: {added.points} points added to {st.where}" if added.new
                         else f"{o.host}: already in {st.where}")
    return lines


def find_run(run_id: str, root: Path = FLEET_DIR) -> Path:
    """The directory of fleet run `run_id` under `root` (`latest`: the newest;
    a directory path is taken as it is)."""
    from suite.errors import UserError

    given = Path(run_id)
    if given.is_dir() and any(given.glob("*.json")):
        return given
    runs = sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
    if run_id == "latest" and runs:
        return runs[-1]
    hit = root / run_id
    if hit.is_dir():
        return hit
    known = ", ".join(p.name for p in runs[-3:]) or "none yet"
    raise UserError(f"fleet run {run_id!r} not found under {str(root)!r}; accepted: a fleet "
                    f"run id (latest: {known}), 'latest' or a fleet run directory")


def host_results(run_dir: Path) -> dict:
    """{host: result file} of a fleet run directory, by host name."""
    return {p.stem: p for p in sorted(run_dir.glob("*.json"))}
