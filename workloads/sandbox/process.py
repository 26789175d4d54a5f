"""A command left running in the sandbox: a long-lived worker.

`Sandbox.run` waits for its command and collects the output; a worker
(a warm JVM or Node.js tool server) instead stays up and talks over its
pipes for as long as its user wants. It starts from the same held shell
as a run, so it sits in cgroups of its own under the same limits and the
same backend; `close` ends it and every process it started, then its
session (work dir, uid). Standard library only.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Callable

from workloads.sandbox.warm import HeldShell


class SandboxProcess:
    """A sandboxed command with pipes on its stdin, stdout and stderr."""

    def __init__(self, shell: HeldShell, backend: str, on_close: Callable[[], None] | None = None) -> None:
        self._shell = shell
        self._on_close = on_close
        self.backend = backend
        self.pid = shell.proc.pid  # the backend's process: killing it ends the whole sandbox
        self.stdin, self.stdout, self.stderr = shell.proc.stdin, shell.proc.stdout, shell.proc.stderr
        self._closed = False

    def poll(self) -> int | None:
        return self._shell.proc.poll()

    def kill(self) -> int:
        """End every process of the sandbox; its exit status (negative:
        the signal). The pipes stay open for what is left in them."""
        proc = self._shell.proc
        self._shell.cgroup.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # stuck in the kernel: reaped by close
            return proc.poll() if proc.poll() is not None else -signal.SIGKILL

    def cpu_seconds(self) -> float | None:
        """CPU time of all its processes so far (None without a cgroup)."""
        return self._shell.cgroup.cpu_seconds()

    def close(self) -> None:
        """Kill it (if still running), close the pipes, end its session."""
        if self._closed:
            return
        self._closed = True
        try:
            self.kill()
            self._shell.discard(kill=True)
        finally:
            if self._on_close is not None:
                self._on_close()
