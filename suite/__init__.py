"""factorybench: the harness (CLI, registry, runner, records, results)."""

__version__ = "0.1.0"
