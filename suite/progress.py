"""Progress display for a run: rich on a terminal, plain lines otherwise."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

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


class StatusFileProgress(Progress):
    """Keeps `<index>/<total> <configuration>` in a file, rewritten whole
    (rename) at every configuration's start, for a watcher elsewhere (a fleet
    run polls it over SSH); `done` once the run ends."""

    def __init__(self, path: Path, inner: Progress):
        self.path, self.inner = path, inner

    def _write(self, text: str) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(text + "\n")
            os.replace(tmp, self.path)
        except OSError:
            pass  # progress is a view; the run goes on without it

    def start(self, total):
        self.total = total
        self._write(f"0/{total} starting")
        self.inner.start(total)

    def begin(self, index, item):
        self._write(f"{index + 1}/{self.total} {item.label}")
        self.inner.begin(index, item)

    def end(self, index, item, outcome, seconds):
        self.inner.end(index, item, outcome, seconds)

    def stop(self):
        self._write(f"{self.total}/{self.total} done")
        self.inner.stop()


def make_progress(quiet: bool, status_file: Path | None = None) -> Progress:
    if quiet:
        shown = Progress()
    else:
        shown = RichProgress() if sys.stderr.isatty() else PlainProgress()
    return shown if status_file is None else StatusFileProgress(status_file, shown)
