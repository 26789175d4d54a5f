"""The one sandbox for agent-written code: isolate, limit, time, clean up.

Every workload that runs code an agent wrote (compiles, tests, tool calls)
goes through `Sandbox.run`. A run gets a throwaway work directory (its cwd
and the only writable place), a scrubbed environment, resource limits, a
wall-clock timeout that kills the whole process tree, and no network.

Backends, strongest first:

* ``bwrap``   bubblewrap: every namespace unshared including the user one,
  an unprivileged uid, only what compilers and interpreters need bound
  read-only (/usr, the loader paths, a minimal /etc), private /tmp,
  /dev/shm, /dev and /proc, no capabilities, the work dir bound writable.
* ``unshare`` util-linux unshare: network, PID, IPC, UTS and mount
  namespaces.
* ``rlimit``  resource limits and a new session only; no network, PID or
  file system isolation.
* ``none``    no isolation at all: the baseline for overhead figures.

Started as root, every backend runs the code as a uid of its own per
session (uids.py), so concurrent sandboxes cannot signal, trace or
read one another. A backend weaker than bwrap is never silent:
`Sandbox.warning` and every `SandboxResult.warning` say what is missing
and why.

Where a writable cgroup v2 hierarchy exists, each run lives in its own
cgroup (cgroups.py): CPU time of every process, kill-all, and a
process cap that holds for uid 0 too. A run's first process is a shell
already placed in those cgroups and limited (warm.py), which then
execs the backend and the command.

A command can also be left running in the sandbox and talked to over its
pipes (`Sandbox.start`, process.py): the warm JVM and Node.js tool pools.

The package: core.py (Sandbox, its sessions and results), process.py,
backends.py
(each backend's command prefix and whether it works here), files.py (the
harness's symlink-safe writes into a work dir), uids.py, tempdir.py, cgroups.py,
warm.py, concurrency.py; specs.py and lifecycle.py are the
sandbox.lifecycle benchmark. Importing any of them starts nothing: the
ready shells, cgroups and uid locks are made on first use.
"""
from workloads.sandbox.backends import BACKENDS, available_backends, resolve_binary
from workloads.sandbox.concurrency import concurrency_levels, run_concurrently
from workloads.sandbox.core import Limits, Sandbox, SandboxError, SandboxResult, SandboxSession, for_agent_code
from workloads.sandbox.process import SandboxProcess

__all__ = ["BACKENDS", "Limits", "Sandbox", "SandboxError", "SandboxProcess", "SandboxResult", "SandboxSession",
           "available_backends", "concurrency_levels", "for_agent_code", "resolve_binary", "run_concurrently"]
