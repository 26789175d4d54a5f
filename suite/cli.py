"""The `factorybench` command line."""
from __future__ import annotations

import contextlib
import importlib
import os
import re
import signal
import sys
from pathlib import Path

import click

from suite import __version__
from suite.cliparams import POSITIVE, bind_option, stride_option
from suite.errors import DiskFull, UserError
from suite.options import DEFAULTS, BenchmarkOptions
from suite.spec import DEFAULT_PROFILE, PROFILES
from suite.urls import POSTGRES_URL_FORM, is_postgres_url

# Subcommands that live in their own modules, loaded only when used.
LAZY_COMMANDS = {
    "validate": "suite.commands.validate",
    "compare": "suite.commands.compare",
    "report": "suite.commands.report",
    "history": "suite.commands.history",
    "export": "suite.commands.export",
    "plan": "suite.commands.plan",
    "import-pts": "suite.commands.import_pts",
    "fleet": "suite.commands.fleet",
    "nightly": "suite.commands.nightly",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS:
            return importlib.import_module(LAZY_COMMANDS[name]).command
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="factorybench")
def cli():
    """factorybench: memory kernels and agent-runtime workloads on one CPU."""


# -- sysinfo / list ---------------------------------------------------------

@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full system dict as JSON.")
def sysinfo(as_json):
    """Describe this machine as a result file records it."""
    import json

    from suite.sysinfo import collect

    info = collect()
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    for key in ("hostname", "arch", "vendor", "model_name", "physical_cores",
                "logical_cpus", "sockets", "smt", "page_size_bytes", "kernel", "os",
                "virtualization"):
        click.echo(f"{key:16} {info.get(key)}")
    click.echo(f"{'microarch':16} {(info.get('microarchitecture') or {}).get('name')}")
    if info.get("cpu_part_name") or info.get("cpu_part"):
        click.echo(f"{'cpu part':16} {info.get('cpu_implementer')}/{info.get('cpu_part')} "
                   f"{info.get('cpu_part_name') or ''}".rstrip())
    isa = info.get("isa") or {}
    shown = [k for k in ("asimd", "sve", "sve2", "avx2", "avx512f") if isa.get(k)]
    if isa.get("sve_vector_length_bytes"):
        shown.append(f"SVE VL {isa['sve_vector_length_bytes'] * 8} bit")
    click.echo(f"{'isa':16} {' '.join(shown) or '-'}")
    click.echo(f"{'jit target':16} {(info.get('numba_target') or {}).get('cpu_name')}")
    for key in ("container", "emulation"):
        if info.get(key):
            click.echo(f"{key:16} {info[key]}")
    for c in info.get("caches") or []:
        if c.get("cpus") and c["cpus"][0] == (info.get("cpus") or [{}])[0].get("cpu", 0):
            click.echo(f"{'L%d %s' % (c['level'], c['type']):16} {c['size_bytes'] // 1024} KiB")
    mem = info.get("memory") or {}
    if mem.get("total_bytes"):
        click.echo(f"{'memory':16} {mem['total_bytes'] / 2**30:.1f} GiB")
    for w in info.get("warnings") or []:
        click.echo(f"warning: {w}")


@cli.command(name="list")
def list_benchmarks():
    """Every benchmark with its category and what it measures."""
    from suite.spec import registry

    specs = registry()
    for spec in specs:
        profiles = ",".join(p for p in PROFILES if p in spec.profiles)
        click.echo(f"{spec.id:24} {spec.category:10} {spec.description}  [{profiles}]")
    # Ids of older result files that still select (and migrate to) today's.
    current = {spec.id for spec in specs}
    former: dict = {}
    for spec in specs:
        for old in spec.former_ids:
            if old not in current:
                former.setdefault(old, []).append(spec.id)
    if former:
        click.echo("\nformer ids (still selectable; older result files are migrated):")
        for old, new in former.items():
            click.echo(f"{old:24} -> {', '.join(new)}")


# -- run ------------------------------------------------------------------

_TAG = re.compile(r"^([A-Za-z0-9_.\-]+)=(.*)$")


def parse_threads(text: str | None, logical_cpus: int) -> tuple | None:
    """--threads: '1,2,4', '1-8', 'all' (every logical CPU); None when absent."""
    if text is None:
        return None
    accepted = "comma-separated counts and ranges such as 1,2,4 or 1-8, or 'all'"
    counts: list = []
    for part in text.split(","):
        part = part.strip()
        if part == "all":
            counts.append(logical_cpus)
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise UserError(f"--threads: bad value {text!r}; accepted: {accepted}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo < 1 or hi < lo:
            raise UserError(f"--threads: bad range {part!r}; accepted: {accepted}")
        counts.extend(range(lo, hi + 1))
    too_many = [c for c in counts if c > logical_cpus]
    if too_many:
        raise UserError(f"--threads: {too_many[0]} exceeds the {logical_cpus} logical CPUs "
                        f"of this machine; accepted: 1..{logical_cpus}")
    return tuple(sorted(set(counts)))


def parse_tags(values) -> dict:
    tags = {}
    for v in values:
        m = _TAG.match(v)
        if not m:
            raise UserError(f"--tag: malformed {v!r}; accepted: KEY=VALUE with KEY of "
                            "letters, digits, '_', '.', '-'")
        tags[m.group(1)] = m.group(2)
    return tags


def writable_dir(path: Path, option: str = "--out") -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{option}: cannot create directory {str(path)!r} ({exc.strerror}); "
                        "accepted: a writable directory") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{option}: {str(path)!r} is not a writable directory; "
                        "accepted: a writable directory")
    return path


@cli.command()
@click.argument("selection", nargs=-1)
@click.option("--profile", type=click.Choice(list(PROFILES)), default=DEFAULT_PROFILE,
              show_default=True, help="How deep to go.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True, help="Directory for the result file.")
@click.option("--threads", "threads_spec", metavar="SPEC",
              help="Thread counts for sweeps: 1,2,4 or 1-8 or all.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Label the run.")
@click.option("--timeout", type=POSITIVE, metavar="SECONDS",
              help="Per-configuration timeout (overrides each benchmark's own).")
@click.option("--array-mib", type=POSITIVE,
              help="STREAM array size in MiB (default: 4 x LLC, at least 1M elements).")
@stride_option("Pointer-chase stride in bytes (128 defeats adjacent-line prefetch).")
@click.option("--peak-gbs", type=POSITIVE,
              help="Theoretical peak memory bandwidth in GB/s, for efficiency.")
@bind_option("Thread placement over cores (OMP_PROC_BIND).")
@click.option("--rate", type=POSITIVE,
              help="Open-loop tool-call arrival rate (calls/s, Poisson).")
@click.option("--slo-ms", type=POSITIVE, default=DEFAULTS.slo_ms, show_default=True,
              help="p99 step-latency SLO for the agents-per-core search.")
@click.option("--inference-ms", type=POSITIVE, default=DEFAULTS.inference_ms, show_default=True,
              help="Simulated inference wait per agent step (the GPU's share), ms.")
@click.option("--db-url", metavar="postgresql://...", help="Also run db.* on PostgreSQL.")
@click.option("--db-dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Where DB datasets are built and kept (default .cache/db).")
@click.option("--db-scale", type=click.Choice(["tiny", "quick", "standard", "full"]),
              help="DB dataset scale (default: the profile's).")
@click.option("--source", type=click.Path(path_type=Path), metavar="DIR",
              help="A real source tree to build (compile.source).")
@click.option("--build", metavar="CMD", default=DEFAULTS.build, show_default=True,
              help="Build command for --source; {jobs} is replaced.")
@click.option("--cost-per-hour", type=POSITIVE,
              help="Server price per hour, for cost per unit of work.")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULTS.seed, show_default=True,
              help="Seed for generated inputs (same seed, same bytes everywhere).")
@click.option("--allow-unisolated", is_flag=True,
              help="Run agent-written code (compile.*, tools sandbox model) even when the only "
                   "sandbox backend does not isolate it (rlimit).")
@click.option("--report/--no-report", default=False,
              help="Write the HTML report beside the result file.")
@click.option("--machine", metavar="NAME",
              help="The machine's name in results, compare and history [default: its hostname].")
@click.option("--status-file", type=click.Path(path_type=Path), metavar="FILE",
              help="Keep the configuration being run in FILE (a fleet run's progress).")
@click.option("--quiet", is_flag=True, help="No progress display.")
def run(selection, profile, out_dir, threads_spec, tags, timeout, array_mib, stride, peak_gbs, bind,
        rate, slo_ms, inference_ms, db_url, db_dir, db_scale, source, build, cost_per_hour, seed, allow_unisolated, report, machine, status_file,
        quiet):
    """Run benchmarks: ids, dotted prefixes or categories (none: the profile)."""
    from rich.console import Console

    from suite.machine import check_name
    from suite.progress import make_progress
    from suite.runner import RunOptions, default_result_path, execute, new_run_id
    from suite.spec import SelectionError, registry, renamed_selections, select
    from suite.summary import render
    from suite.sysinfo import collect

    registered = registry()
    try:
        specs = select(registered, selection, profile)
    except SelectionError as exc:
        raise UserError(str(exc)) from None
    for note in renamed_selections(registered, selection):
        click.echo(f"note: {note}", err=True)
    if db_url is not None and not is_postgres_url(db_url):
        raise UserError(f"--db-url: {db_url!r} is not a PostgreSQL URL; accepted: "
                        f"{POSTGRES_URL_FORM}")
    if source is not None and not source.is_dir():
        raise UserError(f"--source: {str(source)!r} is not a directory; accepted: "
                        "a source tree to build")
    tag_map = parse_tags(tags)
    if machine is not None:
        check_name(machine)
    system = collect()
    if machine is not None:
        system["machine"] = machine
    threads = parse_threads(threads_spec, int(system.get("logical_cpus") or os.cpu_count()))
    out_dir = writable_dir(out_dir)
    run_id = new_run_id()
    opts = RunOptions(
        profile=PROFILES[profile],
        out_path=default_result_path(out_dir, profile, run_id, machine=machine),
        run_id=run_id,
        threads=threads,
        tags=tag_map,
        timeout=timeout,
        benchmark=BenchmarkOptions(
            array_mib=array_mib, stride=int(stride), peak_gbs=peak_gbs, bind=bind, rate=rate,
            slo_ms=slo_ms, inference_ms=inference_ms, db_url=db_url,
            db_dir=str(db_dir.resolve()) if db_dir else None, db_scale=db_scale,
            source=str(source.resolve()) if source else None, build=build,
            cost_per_hour=cost_per_hour, seed=seed, allow_unisolated=allow_unisolated,
            out_dir=str(out_dir.resolve())),
        argv=tuple(sys.argv),
    )
    console = Console(stderr=False)
    try:
        with stops_as_interrupts():
            doc = execute(specs, opts, system, progress=make_progress(quiet, status_file))
            render(doc, console, full=False)
            click.echo(f"result: {opts.out_path}")
            if report:
                _write_report(opts.out_path)
    except Interrupted as exc:
        if opts.out_path.exists():
            click.echo(f"\ninterrupted by {signal.Signals(exc.signum).name}; results so far "
                       f"kept in {opts.out_path}", err=True)
        sys.exit(128 + exc.signum)


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP during a run: finish the file as `partial`."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def stops_as_interrupts():
    """SIGTERM and SIGHUP end a run as Ctrl-C does; after the first stop,
    further ones are ignored so the partial file is written in peace."""
    from suite.runner import STOP_SIGNALS

    def stop(signum, frame):
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    old = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _write_report(result_path: Path) -> None:
    from suite.report import write_report

    html = result_path.with_suffix(".html")
    try:
        write_report([result_path], html)
    except Exception as exc:  # the result file is the product; the report is a view
        click.echo(f"report not written: {exc}", err=True)
        return
    click.echo(f"report: {html}")


@cli.command()
@click.argument("result", type=click.Path(path_type=Path))
def show(result):
    """Summarize a result file."""
    from rich.console import Console

    from suite.results import load
    from suite.summary import render

    render(load(result), Console(), full=True)


def main(argv=None) -> None:
    """Console entry point: bad input is one line on stderr and exit status 2."""
    from suite.results import ResultFileError

    try:
        rv = cli.main(args=argv, prog_name="factorybench", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(2)
    except click.ClickException as exc:
        where = f"factorybench {exc.ctx.info_name}" if getattr(exc, "ctx", None) and \
            exc.ctx.info_name != "factorybench" else "factorybench"
        click.echo(f"{where}: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code if exc.exit_code != 1 else 2)
    except (UserError, ResultFileError) as exc:
        click.echo(f"factorybench: error: {exc}", err=True)
        sys.exit(2)
    except DiskFull as exc:
        click.echo(f"factorybench: error: {exc}", err=True)
        sys.exit(1)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:  # an I/O failure of this machine, not bad input
        click.echo(f"factorybench: error: {exc}", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
