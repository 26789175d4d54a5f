"""`factorybench fleet run|slurm|compare`: one selection on many machines."""
from __future__ import annotations

import io
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
        click.option("--parallel", type=click.IntRange(min=1), default=10, show_default=True,
                     help="Hosts at once."),
    )):
        f = option(f)
    return run_options(f)


def run_options(f):
    """The options of a fleet run whatever engine reaches the hosts."""
    for option in reversed((
        click.option("--profile", type=click.Choice(list(PROFILES)), default=DEFAULT_PROFILE,
                     show_default=True, help="Profile run on every host."),
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

    check_selection(selection, profile)  # refused here, not by every host
    return launch(AnsibleBackend(inventory), selection, profile, parallel, timeout_s,
                  lock_wait_s, out_root, quiet)


def check_selection(selection, profile) -> None:
    from suite.spec import SelectionError, registry, select

    try:
        select(registry(), selection, profile)
    except SelectionError as exc:
        raise UserError(str(exc)) from None


def launch(backend, selection, profile, parallel, timeout_s, lock_wait_s, out_root, quiet):
    """Run the selection through a backend on every one of its hosts; the FleetReport."""
    from suite.fleet.base import FleetJob
    from suite.fleet.fleetrun import fleet_dir, new_fleet_run_id, run_fleet
    from suite.fleet.progress import make_board

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


def parse_prices(text: str | None, hosts) -> dict:
    """--cost-per-hour: `host=price,...`, or one price for every host."""
    from suite.cost import check_price

    if not text:
        return {}
    accepted = "HOST=PRICE,... (hosts of this fleet run) or one price for every host"
    if "=" not in text:
        try:
            return dict.fromkeys(hosts, check_price(text))
        except UserError:
            raise UserError(f"--cost-per-hour: {text!r} is not a price; accepted: "
                            f"{accepted}") from None
    prices = {}
    for part in text.split(","):
        host, sep, price = part.strip().partition("=")
        if not sep or host not in hosts:
            raise UserError(f"--cost-per-hour: {part.strip()!r} names no host of this fleet "
                            f"run ({', '.join(hosts)}); accepted: {accepted}")
        try:
            prices[host] = check_price(price)
        except UserError:
            raise UserError(f"--cost-per-hour: {host}'s price {price!r} is not a price; "
                            f"accepted: a positive number") from None
    return prices


def priced(doc, price: float | None):
    """The run with cost records at `price` (none when it already has them)."""
    from suite import meaning
    from suite.cost import cost_per_unit

    if price is None:
        return doc
    costs = {w.cost for ws in meaning.works().values() for w in ws}
    if any(r.metric in costs for r in doc.results):
        return doc
    return doc.adding(cost_per_unit(doc.results, price))


def compare_fleet(run_dir: Path, cost_per_hour: str | None, baseline: str | None, fmt: str,
                  html: Path | None):
    """Text of the comparison of a fleet run's machines, and the HTML report."""
    from rich.console import Console
    from rich.table import Table

    from suite.compare import CompareError, compare
    from suite.export import exporter
    from suite.fleet.fleetrun import host_results
    from suite.headline import side_by_side
    from suite.report import write_report
    from suite.results import load

    paths = host_results(run_dir)
    if not paths:
        raise UserError(f"fleet run directory {str(run_dir)!r} holds no result file")
    hosts = list(paths)
    if baseline is not None and baseline not in hosts:
        raise UserError(f"--baseline: {baseline!r} is not a host of this fleet run; accepted: "
                        f"{', '.join(hosts)}")
    prices = parse_prices(cost_per_hour, hosts)
    docs = [priced(load(p), prices.get(h)) for h, p in paths.items()]
    try:
        comp = compare(docs, baseline=hosts.index(baseline) if baseline else 0,
                       require_common=False)
    except CompareError as exc:
        raise UserError(str(exc)) from None
    out = html or run_dir / "compare.html"
    write_report(docs, out)
    if fmt != "table":
        return exporter(fmt).render_comparison(comp), out
    table = Table(title="Per machine: per core, per joule, per unit of cost",
                  title_justify="left")
    for col in ["figure", *(s.label for s in comp.systems), "source"]:
        table.add_column(col, overflow="fold")
    for row in side_by_side(docs):
        table.add_row(*map(str, row))
    buf = io.StringIO()
    Console(file=buf, width=160, force_terminal=False, color_system=None).print(table)
    return buf.getvalue() + exporter("table").render_comparison(comp), out


@command.command(name="compare")
@click.argument("run_id", metavar="RUN-ID")
@click.option("--cost-per-hour", metavar="HOST=PRICE,...",
              help="Each host's price per hour (or one price for all), for cost per unit.")
@click.option("--baseline", metavar="HOST", help="Host the others are measured against "
              "[default: the first].")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]),
              default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="HTML report [default: compare.html in the fleet run's directory].")
@click.option("--out", "out_root", type=click.Path(path_type=Path),
              default=Path("results") / "fleet", show_default=True,
              help="Where fleet runs are (as fleet run --out).")
def compare_cmd(run_id, cost_per_hour, baseline, fmt, output, out_root):
    """Every machine of fleet run RUN-ID ('latest': the newest) side by side,
    with the HTML report."""
    from suite.fleet.fleetrun import find_run

    text, html = compare_fleet(find_run(run_id, out_root), cost_per_hour, baseline, fmt, output)
    click.echo(text, nl=False)
    click.echo(f"report: {html}")


@command.command(name="slurm")
@click.argument("selection", nargs=-1)
@click.option("--nodes", metavar="LIST",
              help="Slurm host list of the nodes (node[1-4],gpu7) [default: every node of "
                   "--partition, or of the cluster].")
@click.option("--partition", help="Partition the jobs go to (and whose nodes run without --nodes).")
@click.option("--shared-dir", type=click.Path(path_type=Path),
              help="A directory every node sees, for the batch script, logs and results "
                   "[default: OUT/<fleet-run-id>/slurm].")
@click.option("--python", "python", metavar="PATH",
              help="Interpreter with factorybench on the nodes [default: this one].")
@click.option("--lock", metavar="FILE", default=None,
              help="The node's lock file: one factorybench run at a time "
                   "[default: /run/lock/factorybench.lock].")
@click.option("--sbatch-arg", "sbatch_args", multiple=True, metavar="ARG",
              help="Extra sbatch argument (--account=..., --qos=...); repeatable.")
@run_options
@click.option("--store", help="History store (SQLite path or postgresql://...) the results "
              "are added to.")
@click.pass_context
def slurm(ctx, selection, nodes, partition, shared_dir, python, lock, sbatch_args, profile,
          timeout_s, lock_wait_s, out_root, quiet, store):
    """Run SEL on Slurm nodes: one exclusive batch job per node, results
    collected from a shared directory. Exit 0 only when every node delivered."""
    from suite.fleet.inventory import DEFAULT_LOCK
    from suite.fleet.slurm import SlurmBackend

    check_selection(selection, profile)  # refused here, not by every node
    backend = SlurmBackend(nodes=nodes, partition=partition, shared_dir=shared_dir,
                           python=python, lock=lock or DEFAULT_LOCK, sbatch_args=sbatch_args)
    report = launch(backend, selection, profile, len(backend.nodes), timeout_s, lock_wait_s,
                    out_root, quiet)
    print_report(report)
    stored = store_results(store, report) if store else True
    if not (report.all_delivered and stored):
        ctx.exit(1)
