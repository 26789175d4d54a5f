"""`factorybench report RESULT.json... -o report.html`."""
from __future__ import annotations

from pathlib import Path

import click

from suite.errors import UserError


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="HTML file to write [default: the first result file with .html].")
def command(results, output):
    """One self-contained HTML report (plots embedded); each file is one series."""
    from suite.report import write_report
    from suite.results import load

    docs = [load(p) for p in results]
    out = output or results[0].with_suffix(".html")
    if not out.parent.is_dir():
        raise UserError(f"-o: directory {str(out.parent)!r} does not exist")
    try:
        write_report(docs, out)
    except OSError as exc:
        raise UserError(f"-o: cannot write {str(out)!r} ({exc.strerror})") from None
    click.echo(f"report: {out}")
