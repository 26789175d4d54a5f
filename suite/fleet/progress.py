"""Per-host progress of a fleet run (rich on a terminal, a line per change
otherwise) and the final per-host table with the fleet's overhead."""
from __future__ import annotations

import sys
import threading
import time

from rich.console import Console
from rich.table import Table

from suite.fleet.base import FAILED, FINAL_STATES, OK, UNREACHABLE, WAITING, Watcher

_STYLE = {OK: "green", FAILED: "red", UNREACHABLE: "red"}


class HostBoard(Watcher):
    """The latest state, detail and elapsed time of every host."""

    def __init__(self, hosts):
        self.t0 = time.monotonic()
        self.rows = {h: [m, WAITING, "", None] for h, m in hosts}  # machine, state, detail, end
        self.lock = threading.Lock()

    def host(self, host, state, detail=None):
        with self.lock:
            row = self.rows.setdefault(host, [host, WAITING, "", None])
            changed = row[1] != state or (detail is not None and row[2] != detail)
            row[1] = state
            if detail is not None:
                row[2] = detail
            if state in FINAL_STATES and row[3] is None:
                row[3] = time.monotonic()
        if changed:
            self.changed(host)

    def changed(self, host) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def elapsed(self, row) -> float:
        return (row[3] or time.monotonic()) - self.t0

    def table(self) -> Table:
        table = Table(title="fleet", title_justify="left")
        for col in ("host", "machine", "state", "current benchmark", "elapsed"):
            table.add_column(col)
        with self.lock:
            for host, row in self.rows.items():
                machine, state, detail, _ = row
                style = _STYLE.get(state, "yellow")
                table.add_row(host, machine, f"[{style}]{state}[/{style}]", detail,
                              f"{self.elapsed(row):.0f} s")
        return table


class LiveBoard(HostBoard):
    """The table redrawn in place (a terminal)."""

    def __enter__(self):
        from rich.live import Live

        self.live = Live(self.table(), console=Console(stderr=True), refresh_per_second=2,
                         get_renderable=self.table, transient=True)
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        self.live.__exit__(*exc)


class LineBoard(HostBoard):
    """One line on stderr per change (logs, cron, CI)."""

    def changed(self, host):
        with self.lock:
            machine, state, detail, _ = row = self.rows[host]
            line = f"[{self.elapsed(row):5.0f} s] {host}: {state}" + (f" {detail}" if detail else "")
        print(line, file=sys.stderr, flush=True)


def make_board(hosts, quiet: bool = False) -> HostBoard:
    if quiet:
        return HostBoard(hosts)
    return LiveBoard(hosts) if sys.stderr.isatty() else LineBoard(hosts)


def final_table(report) -> Table:
    table = Table(title=f"fleet run {report.job.run_id}", title_justify="left")
    for col in ("host", "machine", "status", "result or reason"):
        table.add_column(col, overflow="fold")
    for o in report.outcomes:
        style = _STYLE.get(o.state, "yellow")
        table.add_row(o.host, o.machine, f"[{style}]{o.state}[/{style}]",
                      str(o.result) if o.state == OK else (o.reason or ""))
    return table


def summary_line(report) -> str:
    n, ok = len(report.outcomes), len(report.delivered)
    text = f"{ok} of {n} host(s) delivered in {report.wall_s:.1f} s wall"
    if report.bench_s is not None:
        text += (f"; benchmarks {report.bench_s:.1f} s (longest host), "
                 f"fleet overhead {report.overhead_s:.1f} s")
    return text
