"""`factorybench compare A.json B.json ...`: runs side by side."""
from __future__ import annotations

import os
from pathlib import Path

import click

from suite.cliparams import POSITIVE
from suite.errors import UserError
from suite.export import exporter

COMPARE_FORMATS = ("table", "markdown", "csv", "json")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def load_runs(paths, baseline: Path | None) -> tuple:
    """Loaded documents and the baseline's index (the first file by default)."""
    from suite.results import load

    paths = list(paths)
    index = 0
    if baseline is not None:
        hit = next((i for i, p in enumerate(paths) if _same_file(p, baseline)), None)
        if hit is None:
            paths.insert(0, baseline)
        else:
            index = hit
    if len(paths) < 2:
        raise UserError("compare: give at least two result files (or one and --baseline)")
    return [load(p) for p in paths], index


def write_output(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    from suite.atomicfile import write_atomic

    try:
        write_atomic(output, text)
    except OSError as exc:
        raise UserError(f"-o: cannot write {str(output)!r} ({exc.strerror})") from None


def history_floors(store: str | None, baseline_doc):
    """Noise floors from the history of the baseline's machine and profile;
    none when no store is given and the default one does not exist."""
    from suite import history
    from suite.compare import NoiseFloors

    if store is None and not history.DEFAULT_STORE.exists():
        return NoiseFloors()
    try:
        with history.open_store(store) as st:
            return NoiseFloors(history.noise_floors(st, baseline_doc))
    except history.HistoryError as exc:
        raise UserError(f"--store: {exc}") from None


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--baseline", type=click.Path(path_type=Path),
              help="Result file the others are measured against (default: the first).")
@click.option("--format", "fmt", type=click.Choice(COMPARE_FORMATS), default="table",
              show_default=True)
@click.option("--fail-on", "fail_on", type=POSITIVE, metavar="PCT", help="Exit 1 when a significant regression exceeds PCT percent.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here, not stdout.")
@click.option("--store", help="History store whose series give single-process figures their "
              "noise floor [default: results/history.sqlite when it exists].")
@click.pass_context
def command(ctx, results, baseline, fmt, fail_on, output, store):
    """Compare result files: ratios (> 1 better), significance, geometric means."""
    from suite.compare import CompareError, compare

    docs, base = load_runs(results, baseline)
    try:
        comp = compare(docs, baseline=base, floors=history_floors(store, docs[base]))
    except CompareError as exc:
        raise UserError(str(exc)) from None
    write_output(exporter(fmt).render_comparison(comp), output)
    if fail_on is not None:
        bad = comp.regressions(fail_on)
        for row, i, cell in bad:
            click.echo(f"regression: {comp.systems[i].label}: {row.label} at {cell.ratio:.3f}x "
                       f"the baseline (p={cell.p_value:.2g}), beyond --fail-on {fail_on:g}%",
                       err=True)
        if bad:
            ctx.exit(1)
