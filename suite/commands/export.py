"""`factorybench export RESULT.json... --format ...`: runs in another format."""
from __future__ import annotations

from pathlib import Path

import click

from suite.commands.compare import write_output
from suite.emulation import emulation_of
from suite.errors import UserError
from suite.export import exporter

EXPORT_FORMATS = ("csv", "json", "pytest-benchmark", "pts")
# Formats whose readers take every figure as a real measurement.
TIMINGS_ONLY = ("pytest-benchmark", "pts")


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here, not stdout.")
def command(results, fmt, output):
    """Export a result file as CSV, JSON, pytest-benchmark JSON, or result
    files as one Phoronix Test Suite composite.xml (pts: one system per file)."""
    from suite.results import load

    module = exporter(fmt)
    if len(results) > 1 and not hasattr(module, "render_runs"):
        raise UserError(f"--format {fmt} takes one result file; pts takes several")
    docs = [load(r) for r in results]
    for path, doc in zip(results, docs):
        emulation = emulation_of(doc)
        if fmt in TIMINGS_ONLY and emulation:
            raise UserError(f"{path}: run made under {emulation}; its timings are meaningless "
                            f"and are not exported as {fmt} figures (csv and json keep "
                            "the emulation tag)")
    if fmt == "pts":
        _export_pts(module, docs, output)
        return
    write_output(module.render_run(docs[0]), output)
    if fmt == "pytest-benchmark":
        skipped = module.convert(docs[0])["factorybench"]["skipped"]
        if skipped:
            click.echo(f"note: {len(skipped)} record(s) without a time or rate figure, or "
                       "not validated, were left out (listed under the 'factorybench' key)",
                       err=True)


def _export_pts(module, docs, output) -> None:
    root, notes = module.convert(docs)
    write_output(module.serialize(root), output)
    for note in notes:
        click.echo(f"note: {note}", err=True)
