"""`factorybench export RESULT.json --format ...`: a run in another format."""
from __future__ import annotations

from pathlib import Path

import click

from suite.commands.compare import write_output
from suite.emulation import emulation_of
from suite.errors import UserError
from suite.export import exporter

EXPORT_FORMATS = ("csv", "json", "pytest-benchmark")


@click.command()
@click.argument("result", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here, not stdout.")
def command(result, fmt, output):
    """Export a result file as CSV, JSON or pytest-benchmark JSON."""
    from suite.results import load

    doc = load(result)
    emulation = emulation_of(doc)
    if fmt == "pytest-benchmark" and emulation:
        # Tools reading this layout take every entry as a real timing.
        raise UserError(f"{result}: run made under {emulation}; its timings are meaningless "
                        "and are not exported as pytest-benchmark timings (csv and json keep "
                        "the emulation tag)")
    module = exporter(fmt)
    write_output(module.render_run(doc), output)
    if fmt == "pytest-benchmark":
        skipped = module.convert(doc)["factorybench"]["skipped"]
        if skipped:
            click.echo(f"note: {len(skipped)} record(s) without a time or rate figure, or "
                       "not validated, were left out (listed under the 'factorybench' key)",
                       err=True)
