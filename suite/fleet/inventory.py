"""A standard Ansible inventory (INI or YAML), read by Ansible itself.

Host variables factorybench reads (all optional):
  factorybench_machine  the machine's name in results and history
                        [default: the inventory host name]
  factorybench_dir      where the project is unpacked on the host
                        [default: ~/.factorybench/<machine>]
  factorybench_python   an interpreter that already has factorybench's
                        dependencies (a venv); without it the host sets up
                        <dir>/.venv once, as ./run.sh does (a few minutes)
  factorybench_lock     the host's lock file: one factorybench run at a time
                        [default: /run/lock/factorybench.lock]
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from suite.errors import UserError
from suite.machine import check_name

DEFAULT_LOCK = "/run/lock/factorybench.lock"
DEFAULT_DIR = "~/.factorybench/{machine}"


@dataclass(frozen=True)
class Host:
    name: str  # inventory_hostname
    machine: str
    dir: str
    python: str | None
    lock: str


def ansible_tool(name: str) -> str:
    """An Ansible command from the interpreter's own environment first (a venv
    need not be on PATH), else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise UserError(f"fleet: {name} not found; fleet runs need the fleet extra: "
                        "pip install 'factorybench[fleet]'")
    return found


def tool_env() -> dict:
    """The environment Ansible's commands run in: the venv's bin on PATH, and an
    inventory Ansible cannot parse is an error, not an empty fleet."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "True"
    env["ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"] = "True"
    env.setdefault("ANSIBLE_NOCOLOR", "True")
    return env


def _error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    picked = [ln for ln in lines if "ERROR" in ln or "rror" in ln] or lines or ["no output"]
    return picked[0].replace("[ERROR]: ", "").replace("ERROR! ", "")


def _host_order(data: dict) -> list:
    """Hosts in the order the inventory lists them (groups depth first)."""
    seen: dict = {}

    def walk(group: str) -> None:
        entry = data.get(group) or {}
        for h in entry.get("hosts") or ():
            seen.setdefault(h, None)
        for child in entry.get("children") or ():
            walk(child)

    walk("all")
    return list(seen)


def load_inventory(path: Path) -> list:
    """Hosts of the inventory at `path`; a UserError naming what is wrong."""
    if not path.exists():
        raise UserError(f"--inventory: {str(path)!r} does not exist; accepted: an Ansible "
                        "inventory file (INI or YAML)")
    proc = subprocess.run([ansible_tool("ansible-inventory"), "-i", str(path), "--list"],
                          capture_output=True, text=True, env=tool_env(), timeout=120)
    if proc.returncode != 0:
        raise UserError(f"--inventory: {str(path)!r} is not a usable Ansible inventory "
                        f"({_error_line(proc.stderr)})")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise UserError(f"--inventory: ansible-inventory gave no JSON for {str(path)!r}") from None
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    hosts = [host_of(name, hostvars.get(name) or {}) for name in _host_order(data)]
    if not hosts:
        raise UserError(f"--inventory: {str(path)!r} lists no hosts")
    machines: dict = {}
    for h in hosts:
        if h.machine in machines:
            raise UserError(f"--inventory: hosts {machines[h.machine]!r} and {h.name!r} are both "
                            f"machine {h.machine!r}; set factorybench_machine to tell them apart")
        machines[h.machine] = h.name
    return hosts


def host_of(name: str, hostvars: dict) -> Host:
    where = f"--inventory: host {name!r}"
    check_name(name, f"{where} (used as a file name; rename it in the inventory)")
    machine = check_name(str(hostvars.get("factorybench_machine", name)),
                         f"{where}: factorybench_machine")
    python = hostvars.get("factorybench_python")
    return Host(name, machine,
                str(hostvars.get("factorybench_dir") or DEFAULT_DIR.format(machine=machine)),
                str(python) if python else None,
                str(hostvars.get("factorybench_lock") or DEFAULT_LOCK))
