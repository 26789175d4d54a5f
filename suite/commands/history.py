"""`factorybench history add|list|check|site`: nightly tracking of a fleet."""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import click

from suite.atomicfile import disk_full
from suite.cliparams import POSITIVE
from suite.errors import UserError

_STORE_HELP = ("SQLite file (a plain path) or postgresql://... URL "
               "[default: results/history.sqlite]")


@contextlib.contextmanager
def _store(spec: str | None, create: bool = False):
    from suite.history import HistoryError, open_store, sqlite_disk_full, sqlite_file

    path = sqlite_file(spec)
    new = path if create and path is not None and not path.exists() else None
    try:
        with open_store(spec, create=create) as store:
            yield store
    except BaseException as exc:
        if new is not None:
            _remove_new_store(new)
        if isinstance(exc, HistoryError):
            raise UserError(str(exc)) from None
        if sqlite_disk_full(exc):
            raise disk_full(path, "the store is left as it was" if new is None else
                            "no store was created") from None
        if isinstance(exc, sqlite3.DatabaseError):
            raise UserError(f"history store {str(path or spec)!r} is corrupt "
                            f"({exc}); left untouched") from None
        raise


def _remove_new_store(path: Path) -> None:
    """A store this command created and could not fill goes, with its journal:
    no empty or half-made store is left behind."""
    for p in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


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
    from suite.history import list_runs as runs, machine_label

    with _store(store) as st:
        rows = runs(st)
    if not rows:
        click.echo("the history holds no runs")
    for started, machine, run_id, profile, points in rows:
        click.echo(f"{started}  {machine_label(machine)}  {machine.get('cpu_model')}  "
                   f"{profile}  {points} points  {run_id}")


CHECK_FORMATS = ("text", "json", "junit", "markdown")


def _finding_line(f) -> str:
    commit = f", commit {f.began_commit[:12]}" if f.began_commit else ""
    return (f"{f.label}: {f.latest:.4g} {f.unit}, {f.change * 100:+.1f}% against the level "
            f"{f.before:.4g} before it (step of {f.z:.1f} noise standard errors over "
            f"{f.points} points), began with the run of {f.began_at} ({f.began_run}{commit})")


def _summary(report) -> str:
    from suite import history

    return (f"checked {report.checked} series (steps within the last {report.window} runs, "
            f"threshold {report.threshold_pct:g}%); {report.too_short} with fewer than "
            f"{history.MIN_POINTS} points, not judged; {report.disturbed} whose latest point "
            "was disturbed, not judged")


def render_text(report) -> str:
    lines = [_summary(report)]
    lines += [f"improvement: {_finding_line(f)}" for f in report.improvements]
    lines += [f"REGRESSION: {_finding_line(f)}" for f in report.regressions]
    return "\n".join(lines) + "\n"


def render_json(report) -> str:
    import json

    return json.dumps(report.to_dict(), indent=1, sort_keys=True) + "\n"


def render_junit(report) -> str:
    """One test case per regression (failed) plus one passing case for the
    rest, so CI test reports count regressions."""
    from xml.sax.saxutils import escape, quoteattr

    cases = [f'  <testcase classname="factorybench.history" name={quoteattr(f.label)}>\n'
             f'    <failure message={quoteattr(f"{f.change * 100:+.1f}%")}>'
             f"{escape(_finding_line(f))}</failure>\n  </testcase>"
             for f in report.regressions]
    cases.append(f'  <testcase classname="factorybench.history" name="other series">'
                 f"<system-out>{escape(_summary(report))}</system-out></testcase>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<testsuite name="factorybench history check" tests="{len(cases)}" '
            f'failures="{len(report.regressions)}" errors="0">\n'
            + "\n".join(cases) + "\n</testsuite>\n")


def render_markdown(report) -> str:
    def table(findings) -> list:
        rows = ["| series | latest | change | level before | began |", "|---|---|---|---|---|"]
        rows += [f"| {f.label.replace('|', '/')} | {f.latest:.4g} {f.unit} | "
                 f"{f.change * 100:+.1f}% | {f.before:.4g} | {f.began_at} "
                 f"{(f.began_commit or '')[:12]} |" for f in findings]
        return rows

    head = "regression" if report.regressions else "no regression"
    out = [f"### factorybench history check: {head}", "", _summary(report) + "."]
    if report.regressions:
        out += ["", "#### Regressions", ""] + table(report.regressions)
    if report.improvements:
        out += ["", "#### Improvements", ""] + table(report.improvements)
    return "\n".join(out) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "junit": render_junit,
             "markdown": render_markdown}


@command.command()
@click.option("--store", help=_STORE_HELP)
@click.option("--window", type=click.IntRange(min=1), default=None,
              help="Report steps that began within the latest this many runs [default: 2].")
@click.option("--threshold", type=POSITIVE, default=None,
              metavar="PCT", help="Smallest change flagged, percent [default: 5].")
@click.option("--format", "fmt", type=click.Choice(CHECK_FORMATS), default="text",
              show_default=True, help="junit for CI test reports, markdown for a review comment.")
@click.pass_context
def check(ctx, store, window, threshold, fmt):
    """Flag steps in each machine's latest run. Exit 0: no regression;
    1: a regression; 2: usage or data error."""
    from suite import history

    window = history.DEFAULT_WINDOW if window is None else window
    threshold = history.DEFAULT_THRESHOLD_PCT if threshold is None else threshold
    with _store(store) as st:
        report = history.check(st, window=window, threshold_pct=threshold)
    click.echo(RENDERERS[fmt](report), nl=False)
    if report.regressions:
        ctx.exit(1)


@command.command()
@click.option("--store", help=_STORE_HELP)
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Directory of the site (index.html, b/<benchmark>.html, data.json).")
@click.option("--window", type=click.IntRange(min=1), default=None,
              help="Flag steps that began within the latest this many runs [default: 2].")
@click.option("--threshold", type=POSITIVE, default=None,
              metavar="PCT", help="Smallest change flagged, percent [default: 5].")
def site(store, out_dir, window, threshold):
    """A static site of the history: an index of machines and benchmarks with
    the latest values and flagged regressions, a page of time series per
    benchmark. Opens from file:// or any static server."""
    from suite import history
    from suite.cli import writable_dir
    from suite.dashboard import build_site

    window = history.DEFAULT_WINDOW if window is None else window
    threshold = history.DEFAULT_THRESHOLD_PCT if threshold is None else threshold
    with _store(store) as st:
        out_dir = writable_dir(out_dir)
        built = build_site(st, out_dir, window=window, threshold_pct=threshold)
    click.echo(f"wrote {out_dir / 'index.html'}: {built.pages} benchmark pages, "
               f"{built.series} series, {built.regressions} regressions and "
               f"{built.improvements} improvements flagged; data in {out_dir / 'data.json'}")
