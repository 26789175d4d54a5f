"""`factorybench fleet run|compare`: one selection on many machines."""
from __future__ import annotations

from pathlib import Path

import click

from suite.cliparams import POSITIVE
from suite.errors import UserError
from suite.spec import DEFAULT_PROFILE, PROFILES

DEFAULT_TIMEOUT_S = 24 * 3600.0
DEFAULT_LOCK_WAIT_S = 6 * 3600.0


@click.group()
def command():
    """Run on many machines at once and compare them."""


def fleet_options(f):
    """The options of a fleet run, shared by `fleet run` and `nightly`."""
    for option in reversed((
        click.option("--inventory", "inventory", required=True,
                     type=click.Path(path_type=Path),
                     help="Ansible inventory (INI or YAML) of the hosts."),
        click.option("--profile", type=click.Choice(list(PROFILES)), default=DEFAULT_PROFILE,
                     show_default=True, help="Profile run on every host."),
        click.option("--parallel", type=click.IntRange(min=1), default=10, show_default=True,
                     help="Hosts at once."),
        click.option("--timeout", "timeout_s", type=POSITIVE, default=DEFAULT_TIMEOUT_S,
                     show_default=True, metavar="SECONDS", help="Longest run on one host."),
        click.option("--lock-wait", "lock_wait_s", type=POSITIVE, default=DEFAULT_LOCK_WAIT_S,
                     show_default=True, metavar="SECONDS",
                     help="How long a host waits while another factorybench run holds it."),
        click.option("--out", "out_root", type=click.Path(path_type=Path),
                     default=Path("results") / "fleet", show_default=True,
                     help="Where <fleet-run-id>/<host>.json go."),
        click.option("--quiet", is_flag=True, help="No live progress."),
    )):
        f = option(f)
    return f


def start_fleet(inventory, selection, profile, parallel, timeout_s, lock_wait_s, out_root,
                quiet):
    """Run the selection on every inventory host; the FleetReport."""
    from suite.fleet.ansible import AnsibleBackend
    from suite.fleet.base import FleetJob
    from suite.fleet.fleetrun import fleet_dir, new_fleet_run_id, run_fleet
    from suite.fleet.progress import make_board
    from suite.spec import SelectionError, registry, select

    try:  # a bad selection is refused here, not by every host
        select(registry(), selection, profile)
    except SelectionError as exc:
        raise UserError(str(exc)) from None
    backend = AnsibleBackend(inventory)
    run_id = new_fleet_run_id()
    job = FleetJob(run_id, tuple(selection), profile, fleet_dir(run_id, out_root), parallel,
                   timeout_s, lock_wait_s)
    with make_board(backend.hosts(), quiet) as board:
        return run_fleet(backend, job, board)


def print_report(report) -> None:
    from rich.console import Console

    from suite.fleet.progress import final_table, summary_line

    console = Console()
    console.print(final_table(report))
    click.echo(summary_line(report))
    click.echo(f"results: {report.job.out_dir}")


def store_results(store: str, report) -> bool:
    """Add the delivered results; False (and one line) when the store refused."""
    from suite.fleet.fleetrun import add_to_store
    from suite.history import HistoryError

    try:
        for line in add_to_store(store, report.outcomes):
            click.echo(line)
    except HistoryError as exc:
        click.echo(f"factorybench: error: --store: {exc}", err=True)
        return False
    return True


@command.command(name="run")
@click.argument("selection", nargs=-1)
@fleet_options
@click.option("--store", help="History store (SQLite path or postgresql://...) the results "
              "are added to.")
@click.pass_context
def run_cmd(ctx, selection, inventory, profile, parallel, timeout_s, lock_wait_s, out_root,
            quiet, store):
    """Run SEL (ids, prefixes, categories; none: the profile) on every host of
    the inventory. Exit 0 only when every host delivered a result."""
    report = start_fleet(inventory, selection, profile, parallel, timeout_s, lock_wait_s,
                         out_root, quiet)
    print_report(report)
    stored = store_results(store, report) if store else True
    if not (report.all_delivered and stored):
        ctx.exit(1)
