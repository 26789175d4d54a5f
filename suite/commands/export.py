"""`factorybench export RESULT.json... --format ...`: runs in another format.

What a format offers it says itself (suite/export/__init__.py):
`render_run(doc)`, `render_runs(docs)` when it holds several runs,
`MEASUREMENTS = True` when its readers take every figure as a real
measurement (emulated runs are refused), `notes(docs)` for what it left out.
"""
from __future__ import annotations

from pathlib import Path

import click

from suite.commands.compare import write_output
from suite.emulation import emulation_of
from suite.errors import UserError
from suite.export import exporter, formats_for


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(formats_for("run")), required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here, not stdout.")
def command(results, fmt, output):
    """Export a result file as CSV, JSON, pytest-benchmark JSON, or result
    files as one Phoronix Test Suite composite.xml (pts: one system per file)."""
    from suite.results import load

    module = exporter(fmt)
    several = hasattr(module, "render_runs")
    if len(results) > 1 and not several:
        takes = ", ".join(f for f in formats_for("run") if hasattr(exporter(f), "render_runs"))
        raise UserError(f"--format {fmt} takes one result file; {takes} take several")
    docs = [load(r) for r in results]
    for path, doc in zip(results, docs):
        emulation = emulation_of(doc)
        if emulation and getattr(module, "MEASUREMENTS", False):
            raise UserError(f"{path}: run made under {emulation}; its timings are meaningless "
                            f"and are not exported as {fmt} figures (csv and json keep "
                            "the emulation tag)")
    write_output(module.render_runs(docs) if several else module.render_run(docs[0]), output)
    for note in module.notes(docs) if hasattr(module, "notes") else ():
        click.echo(f"note: {note}", err=True)
