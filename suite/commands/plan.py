"""`factorybench plan`: what a run would do on a machine, without running it.

Plans every selected benchmark for the machine a sysinfo JSON describes (this
machine by default) and prints each configuration: benchmark id, params,
settings (array and buffer sizes), CPU list and its NUMA placement, and
the estimated seconds, per configuration and in total, from each spec's
`estimate` (the profile's own durations and stated assumptions).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import click

from suite.cliparams import POSITIVE, bind_option, stride_option
from suite.errors import UserError
from suite.options import BenchmarkOptions
from suite.spec import DEFAULT_PROFILE, PROFILES, PlanContext
from suite.units import bytes_text


def load_system(path: Path) -> dict:
    """The system dict of `sysinfo --json` output, or of a result file."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"--system: cannot read {str(path)!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise UserError(f"--system: {str(path)!r} is not JSON ({exc}); accepted: the output "
                        "of `factorybench sysinfo --json` or a result file") from None
    if isinstance(doc, dict) and isinstance(doc.get("system"), dict) and "results" in doc:
        doc = doc["system"]  # a result file records its machine
    if not isinstance(doc, dict) or not (doc.get("cpus") or doc.get("logical_cpus")):
        raise UserError(f"--system: {str(path)!r} describes no CPUs; accepted: the output "
                        "of `factorybench sysinfo --json` or a result file")
    if not isinstance(doc.get("cpus") or [], list) or not all(
            isinstance(c, dict) and isinstance(c.get("cpu"), int) for c in doc.get("cpus") or []):
        raise UserError(f"--system: {str(path)!r} has a malformed 'cpus' list; accepted: "
                        "[{\"cpu\": N, \"core\": N, \"package\": N, \"node\": N}, ...]")
    return doc


def format_cpus(cpus) -> str:
    """[0, 1, 2, 5] -> '0-2,5' (the kernel's cpulist format)."""
    out, run = [], []
    for c in sorted(cpus):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def describe(item, ctx: PlanContext) -> dict:
    """One configuration as the plan shows it."""
    topo = ctx.topology
    cpus = list(item.config.cpus) if item.config.cpus is not None else None
    nodes: dict = {}
    for c in cpus or ():
        key = str(topo.node_of(c))
        nodes[key] = nodes.get(key, 0) + 1
    estimate = item.spec.estimate(ctx, item.config) if item.spec.estimate else None
    return {
        "benchmark": item.name,
        "benchmarks": list(item.ids),
        "params": dict(item.config.params),
        "settings": dict(item.config.settings),
        "cpus": cpus,
        "cpu_list": format_cpus(cpus) if cpus else None,
        "physical_cores": topo.core_count(cpus) if cpus else None,
        "numa_cpus": nodes or None,
        "threads": int(item.config.env["NUMBA_NUM_THREADS"])
        if "NUMBA_NUM_THREADS" in item.config.env else None,
        "estimated_seconds": round(estimate, 1) if estimate is not None else None,
        "timeout_seconds": item.timeout(ctx.profile.name),
    }


def build_plan(words, profile: str, system: Mapping[str, Any], options: BenchmarkOptions | Mapping[str, Any],
               threads: tuple | None = None) -> dict:
    """The whole plan as one JSON-ready document."""
    from kernels.estimates import ASSUMPTIONS
    from suite.runner import plan
    from workloads.estimates import ASSUMPTIONS as WORKLOAD_ASSUMPTIONS
    from suite.spec import SelectionError, registry, select

    try:
        specs = select(registry(), words, profile)
    except SelectionError as exc:
        raise UserError(str(exc)) from None
    ctx = PlanContext(profile=PROFILES[profile], system=system, options=options,
                      threads=threads)
    planned, errors = plan(specs, ctx)
    configs = [describe(item, ctx) for item in planned]
    known = [c["estimated_seconds"] for c in configs if c["estimated_seconds"] is not None]
    topo = ctx.topology
    return {
        "profile": profile,
        "system": {"hostname": system.get("hostname"), "arch": system.get("arch"),
                   "model_name": system.get("model_name"),
                   "physical_cores": topo.physical_cores,
                   "logical_cpus": len(topo.logical_cpus),
                   "numa_nodes": len(topo.numa_nodes), "sockets": len(topo.packages),
                   "llc_bytes": topo.llc_bytes(), "llc_source": topo.llc_source,
                   "warnings": list(system.get("warnings") or ())},
        "configurations": configs,
        "estimated_seconds": round(sum(known), 1),
        "configurations_without_estimate": len(configs) - len(known),
        "assumptions": {**ASSUMPTIONS, **WORKLOAD_ASSUMPTIONS},
        "errors": [e.to_dict() for e in errors],
    }


def _size(n: int) -> str:
    return bytes_text(n)


def _settings_text(settings: Mapping[str, Any]) -> str:
    parts = []
    for k, v in settings.items():
        if isinstance(v, int) and k.endswith("elements"):
            parts.append(f"{k}={v} ({_size(v * 8)} per array)")
        elif isinstance(v, int) and k.endswith("bytes"):
            parts.append(f"{k}={_size(v)}")
        elif isinstance(v, (list, tuple)) and len(v) > 8:
            parts.append(f"{k}=[{len(v)} items]")
        else:
            parts.append(f"{k}={v}")
    return " ".join(parts)


def render(doc: dict) -> None:
    s = doc["system"]
    click.echo(f"plan: profile {doc['profile']} on {s['hostname'] or '?'} ({s['arch'] or '?'}, "
               f"{s['physical_cores']} cores / {s['logical_cpus']} CPUs, {s['sockets']} socket(s), "
               f"{s['numa_nodes']} NUMA node(s), LLC {_size(s['llc_bytes'] or 0)} "
               f"from {s['llc_source'] or 'nowhere'})")
    for w in s["warnings"]:
        click.echo(f"warning: {w}")
    for c in doc["configurations"]:
        params = " ".join(f"{k}={v}" for k, v in c["params"].items()
                          if not (isinstance(v, list) and len(v) > 8))
        est = (f"~{c['estimated_seconds']:.0f} s" if c["estimated_seconds"] is not None
               else f"no estimate (timeout {c['timeout_seconds']:.0f} s)")
        click.echo(f"{c['benchmark']:<18} {params}")
        if c["cpu_list"]:
            numa = ", ".join(f"node {n}: {k}" for n, k in sorted(c["numa_cpus"].items()))
            siblings = len(c["cpus"]) - c["physical_cores"]
            cores = c["physical_cores"]
            click.echo(f"    cpus {c['cpu_list']} ({cores} core{'s' if cores != 1 else ''}"
                       + (f" + {siblings} SMT siblings" if siblings else "") + f"; {numa})")
        if c["settings"]:
            click.echo(f"    {_settings_text(c['settings'])}")
        click.echo(f"    {est}")
    for e in doc["errors"]:
        click.echo(f"{e['benchmark']:<18} not planned ({e['kind']}): {e['message']}")
    click.echo(f"total: {len(doc['configurations'])} configurations, estimated "
               f"{doc['estimated_seconds'] / 60:.1f} min"
               + (f" plus {doc['configurations_without_estimate']} without an estimate"
                  if doc["configurations_without_estimate"] else ""))


@click.command(name="plan")
@click.argument("selection", nargs=-1)
@click.option("--profile", type=click.Choice(list(PROFILES)), default=DEFAULT_PROFILE,
              show_default=True, help="How deep the run would go.")
@click.option("--system", "system_path", type=click.Path(path_type=Path), metavar="FILE",
              help="sysinfo --json output (or a result file) of the machine to plan for "
                   "(default: this machine).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as one JSON document.")
@click.option("--threads", "threads_spec", metavar="SPEC",
              help="Thread counts for sweeps: 1,2,4 or 1-8 or all.")
@click.option("--array-mib", type=POSITIVE, help="STREAM array size in MiB.")
@stride_option()
@bind_option()
def command(selection, profile, system_path, as_json, threads_spec, array_mib, stride, bind):
    """Show every configuration a run would make, with CPUs, sizes and time."""
    from suite.cli import parse_threads
    from suite.sysinfo import collect

    system = load_system(system_path) if system_path else collect()
    threads = parse_threads(threads_spec, int(system.get("logical_cpus")
                                              or len(system.get("cpus") or ()) or 1))
    options = BenchmarkOptions(array_mib=array_mib, stride=int(stride), bind=bind)
    doc = build_plan(selection, profile, system, options, threads)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        render(doc)
