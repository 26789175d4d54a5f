"""`factorybench history add|list|check`: nightly tracking of a fleet."""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import click

from suite.cliparams import POSITIVE
from suite.errors import UserError

_STORE_HELP = ("SQLite file (a plain path) or postgresql://... URL "
               "[default: results/history.sqlite]")


@contextlib.contextmanager
def _store(spec: str | None, create: bool = False):
    from suite.history import HistoryError, open_store

    try:
        with open_store(spec, create=create) as store:
            yield store
    except HistoryError as exc:
        raise UserError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise UserError(f"history store {spec or 'results/history.sqlite'!r} is corrupt "
                        f"({exc}); left untouched") from None


@click.group()
def command():
    """Track results over time and flag regressions."""


@command.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--store", help=_STORE_HELP)
def add(results, store):
    """Add result files to the history (adding one twice changes nothing)."""
    from suite.history import HistoryError, add as add_run, refuse_emulated
    from suite.results import load

    docs = [load(p) for p in results]  # all readable and native before any is added
    for doc in docs:
        try:
            refuse_emulated(doc)
        except HistoryError as exc:
            raise UserError(str(exc)) from None
    with _store(store, create=True) as st:
        for path, doc in zip(results, docs):
            added = add_run(st, doc)
            if added.new:
                click.echo(f"added {path}: {added.points} points to {st.where}")
            else:
                click.echo(f"already in {st.where}: {path} (unchanged)")


@command.command(name="list")
@click.option("--store", help=_STORE_HELP)
def list_runs(store):
    """Runs in the history, oldest first."""
    from suite.history import list_runs as runs

    with _store(store) as st:
        rows = runs(st)
    if not rows:
        click.echo("the history holds no runs")
    for started, machine, run_id, profile, points in rows:
        click.echo(f"{started}  {machine.get('hostname')}  {machine.get('cpu_model')}  "
                   f"{profile}  {points} points  {run_id}")


def _finding_line(f) -> str:
    return (f"{f.label}: {f.latest:.4g} {f.unit} vs median {f.median:.4g} of the last "
            f"{f.window} ({f.change * 100:+.1f}%, modified z {f.z:.1f})")


@command.command()
@click.option("--store", help=_STORE_HELP)
@click.option("--window", type=click.IntRange(min=3), default=None,
              help="Earlier points the latest is judged against [default: 10].")
@click.option("--threshold", type=POSITIVE, default=None,
              metavar="PCT", help="Smallest change flagged, percent [default: 5].")
@click.pass_context
def check(ctx, store, window, threshold):
    """Flag regressions of each machine's latest run; exit 1 when there are any."""
    from suite import history

    window = history.DEFAULT_WINDOW if window is None else window
    threshold = history.DEFAULT_THRESHOLD_PCT if threshold is None else threshold
    with _store(store) as st:
        report = history.check(st, window=window, threshold_pct=threshold)
    click.echo(f"checked {report.checked} series (window {window}, threshold {threshold:g}%); "
               f"{report.too_short} with fewer than {history.MIN_HISTORY} earlier points")
    for f in report.improvements:
        click.echo(f"improvement: {_finding_line(f)}")
    for f in report.regressions:
        click.echo(f"REGRESSION: {_finding_line(f)}")
    if report.regressions:
        ctx.exit(1)
