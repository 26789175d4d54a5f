"""Exporters: one small module per output format, behind one interface.

A format module defines `render_comparison(comparison) -> str` (a
suite.compare.Comparison), `render_run(doc) -> str` (a loaded RunDocument),
or both. `compare` offers the formats with the first, `export` those with
the second. For `export` a format may also define `render_runs(docs)` (it
holds several runs in one file), `notes(docs)` (lines saying what it left
out) and `MEASUREMENTS = True` (its readers take every figure as a real
measurement, so emulated runs are refused).
"""
from __future__ import annotations

import importlib
from types import ModuleType

FORMATS = {
    "table": "suite.export.table",
    "markdown": "suite.export.markdown",
    "csv": "suite.export.csv",
    "json": "suite.export.json",
    "pytest-benchmark": "suite.export.pytest_benchmark",
    "pts": "suite.export.pts",
}


def exporter(name: str) -> ModuleType:
    if name not in FORMATS:
        raise KeyError(f"unknown format {name!r}; accepted: {', '.join(FORMATS)}")
    return importlib.import_module(FORMATS[name])


def formats_for(kind: str) -> list:
    """Format names offering `render_comparison` (kind "comparison") or
    `render_run` (kind "run")."""
    attr = f"render_{kind}"
    return [name for name in FORMATS if hasattr(exporter(name), attr)]
