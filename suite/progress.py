"""Progress display for a run: rich on a terminal, plain lines otherwise."""
from __future__ import annotations

import sys
import time

from suite.runner import Progress


class PlainProgress(Progress):
    """One line per configuration on stderr (logs, CI)."""

    def start(self, total):
        self.total, self.t0 = total, time.monotonic()

    def end(self, index, item, outcome, seconds):
        state = "ok" if not outcome.errors else ",".join(sorted({e.kind for e in outcome.errors}))
        print(f"[{index + 1}/{self.total}] {item.label}: {state} ({seconds:.1f} s, "
              f"elapsed {time.monotonic() - self.t0:.0f} s)", file=sys.stderr, flush=True)


class RichProgress(Progress):
    def start(self, total):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar,
                                   TextColumn, TimeElapsedColumn)

        self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), transient=True)
        self.task = self.bar.add_task("starting", total=total)
        self.bar.start()

    def begin(self, index, item):
        self.bar.update(self.task, description=item.label)

    def end(self, index, item, outcome, seconds):
        if outcome.errors:
            kinds = ",".join(sorted({e.kind for e in outcome.errors}))
            self.bar.console.print(f"[red]{item.label}: {kinds}[/red] "
                                   f"{outcome.errors[0].message[:120]}")
        self.bar.advance(self.task)

    def stop(self):
        self.bar.stop()


def make_progress(quiet: bool) -> Progress:
    if quiet:
        return Progress()
    return RichProgress() if sys.stderr.isatty() else PlainProgress()
