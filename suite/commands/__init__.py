"""Subcommands loaded lazily by suite.cli (one module each)."""
