"""A machine's name in results, compare and history.

A run records the machine's hostname; `run --machine NAME` adds a name of
the user's choosing (a fleet gives each host its inventory name), so hosts
that report the same hostname (clones, containers, loopback test hosts)
stay distinct machines.
"""
from __future__ import annotations

import re
from typing import Mapping

from suite.errors import UserError

# Used in file names: letters, digits, '.', '_', '-', not starting with '.' or '-'.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
NAME_ACCEPTED = "1-64 letters, digits, '_', '.', '-' (not starting with '.' or '-')"


def check_name(name: str, what: str = "--machine") -> str:
    if not _NAME.fullmatch(name or ""):
        raise UserError(f"{what}: bad machine name {name!r}; accepted: {NAME_ACCEPTED}")
    return name


def machine_name(system: Mapping) -> str | None:
    """The name given with --machine, else the hostname."""
    return system.get("machine") or system.get("hostname")
