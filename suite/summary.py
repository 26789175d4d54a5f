"""Terminal rendering of a run: the end-of-run summary and `show`."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from suite.headline import caption, headline
from suite.machine import machine_name
from suite.results import RunDocument


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _params(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def headline_table(doc: RunDocument, *, sources: bool) -> Table:
    """The buyer's figures; `sources` adds which record each came from."""
    table = Table(title=f"Headline: {caption(doc.system)}", title_justify="left")
    table.add_column("figure", overflow="fold")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("note", overflow="fold")
    for row in headline(doc):
        note = [row.get("note")] + ([row.get("source")] if sources else [])
        table.add_row(str(row.get("label", "")), str(row.get("display", "")),
                      "; ".join(x for x in note if x))
    return table


def records_table(doc: RunDocument) -> Table:
    table = Table(title="Records", title_justify="left")
    for col, just in (("benchmark", "left"), ("params", "left"), ("metric", "left"),
                      ("value", "right"), ("unit", "left"), ("cv", "right"), ("ok", "center"),
                      ("interference", "right")):
        table.add_column(col, justify=just, overflow="fold")
    for r in doc.results:
        table.add_row(r.benchmark, _params(r.params), r.metric, _fmt(r.value), r.unit,
                      _fmt(r.stats.get("cv")), "yes" if r.validated else "[red]NO[/red]",
                      _interference(r))
    return table


def _interference(r) -> str:
    """Interference percent, marked when the record was disturbed."""
    figure = r.info.get("interference")
    percent = figure.get("percent") if isinstance(figure, dict) else None
    text = "-" if percent is None else f"{percent:.0f}%"
    return f"[yellow]{text} disturbed[/yellow]" if r.info.get("disturbed") else text


def errors_table(doc: RunDocument) -> Table:
    table = Table(title="Errors", title_justify="left")
    for col in ("benchmark", "params", "kind", "message"):
        table.add_column(col, overflow="fold")
    for e in doc.errors:
        table.add_row(e.benchmark, _params(e.params), e.kind, e.message)
    return table


def render(doc: RunDocument, console: Console, *, full: bool) -> None:
    run, system = doc.run, doc.system
    console.print(
        f"[bold]factorybench[/bold] {doc.suite.get('version')} run {run.get('id', '')[:12]} "
        f"profile={run.get('profile')} status={run.get('status')} "
        f"{run.get('started_at')} .. {run.get('finished_at') or '-'}")
    console.print(
        f"system: {machine_name(system)} {system.get('arch')} {system.get('model_name')} "
        f"({(system.get('microarchitecture') or {}).get('name')}), "
        f"{system.get('physical_cores')} cores / {system.get('logical_cpus')} CPUs")
    console.print(headline_table(doc, sources=full))
    if full:
        console.print(records_table(doc))
    invalid = sum(1 for r in doc.results if not r.validated)
    disturbed = sum(1 for r in doc.results if r.info.get("disturbed"))
    console.print(f"{len(doc.results)} records ({invalid} not validated"
                  + (f", {disturbed} disturbed" if disturbed else "")
                  + f"), {len(doc.errors)} errors")
    if doc.errors:
        console.print(errors_table(doc))
    for w in doc.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
