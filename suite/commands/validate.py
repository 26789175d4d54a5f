"""`factorybench validate`: Numba kernels against the native C/OpenMP reference.

Runs the configuration of the benchmark that declares a cross-check
(`BenchmarkSpec.cross_check`: native.check) in a fresh child (threads pinned as a
run would pin them) and prints the Numba/native ratios; 1.0 is parity.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from suite.cliparams import POSITIVE, bind_option
from suite.errors import UserError
from suite.options import BenchmarkOptions
from suite.spec import PROFILES, PlanContext

@click.command()
@click.option("--profile", type=click.Choice(list(PROFILES)), default="standard",
              show_default=True, help="Depth (number of interleaved pairs).")
@click.option("--array-mib", type=POSITIVE, help="Triad array size in MiB (default 4 x LLC).")
@bind_option()
def command(profile, array_mib, bind):
    """Compare the Numba triad and pointer chase with native C (Numba/native ratios)."""
    from kernels.plans import SizingError
    from suite.runner import PlannedConfig, RunOptions, run_config
    from suite.spec import registry
    from suite.sysinfo import collect

    spec = next((s for s in registry() if s.cross_check), None)
    if spec is None:
        raise UserError("no registered benchmark declares a cross-check to validate")
    system = collect()
    ctx = PlanContext(PROFILES[profile], system, BenchmarkOptions(array_mib=array_mib, bind=bind))
    try:
        (config,) = spec.plan(ctx)
    except SizingError as exc:
        raise UserError(f"--array-mib: {exc}") from None
    opts = RunOptions(profile=PROFILES[profile], out_path=Path("/dev/null"),
                      benchmark=ctx.options)
    outcome = run_config(PlannedConfig((spec,), config), opts, system)
    for e in outcome.errors:
        click.echo(f"{e.kind}: {e.message}", err=True)
    by_metric = {r.metric: r for r in outcome.records}
    if by_metric:
        p = config.params
        click.echo(f"Numba vs native C, {p['threads']} threads ({bind}), "
                   f"{config.settings['elements'] * 8 / 2**20:.0f} MiB arrays, profile {profile}")
        first = next(iter(by_metric.values()))
        click.echo(f"native: {first.info.get('compiler_version')} {first.info.get('flags')}")
    for check in spec.cross_check:
        r = by_metric.get(check.metric)
        if r is None:
            continue
        mark = "" if r.validated else "  INVALID"
        unit = check.unit
        click.echo(f"  {check.label:20s} Numba/native {r.value:6.3f}  (Numba "
                   f"{r.info[check.ours]:.2f} {unit}, native {r.info[check.reference]:.2f} "
                   f"{unit}, {r.stats['n']} pairs){mark}")
    if outcome.errors and not by_metric:
        sys.exit(1)
