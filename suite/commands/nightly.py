"""`factorybench nightly`: fleet run, history add, history check and the
dashboard in one command with one exit status (for a timer or cron)."""
from __future__ import annotations

from pathlib import Path

import click

from suite.commands.fleet import fleet_options, print_report, start_fleet, store_results


def check_history(store: str) -> bool:
    """`history check` of the store; True when it flagged no regression."""
    from suite import history
    from suite.commands.history import render_text

    with history.open_store(store) as st:
        report = history.check(st)
    click.echo(render_text(report), nl=False)
    return not report.regressions


def build_dashboard(store: str, site_dir: Path) -> None:
    """`history site` of the store into site_dir."""
    from suite.dashboard import build_site

    build_site(store, site_dir)
    click.echo(f"dashboard: {site_dir / 'index.html'}")


@click.command()
@click.argument("selection", nargs=-1)
@fleet_options
@click.option("--store", required=True,
              help="History store (SQLite path or postgresql://...) of the fleet.")
@click.option("--site", "site_dir", required=True, type=click.Path(path_type=Path),
              help="Directory the dashboard is written to (serve it or open index.html).")
@click.pass_context
def command(ctx, selection, inventory, profile, parallel, timeout_s, lock_wait_s, out_root,
            quiet, store, site_dir):
    """Fleet run, history add, history check, dashboard. Exit 0 when every host
    delivered and no regression was flagged; 1 otherwise (the lines above say
    which); 2 on bad input."""
    from suite.cli import writable_dir

    site_dir = writable_dir(site_dir, "--site")
    report = start_fleet(inventory, selection, profile, parallel, timeout_s, lock_wait_s,
                         out_root, quiet)
    print_report(report)
    problems = [] if report.all_delivered else [
        f"{len(report.outcomes) - len(report.delivered)} host(s) delivered no result"]
    if not store_results(store, report):
        problems.append("the store refused the results")
    else:
        if report.delivered and not check_history(store):
            problems.append("history check flagged a regression")
        build_dashboard(store, site_dir)
    click.echo("nightly: " + ("; ".join(problems) if problems else "ok"))
    if problems:
        ctx.exit(1)
