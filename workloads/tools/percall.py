"""Execution models that start a new interpreter for every call.

"fresh": a new `python -m workloads.tools.oneshot` process per call (the
serverless / subprocess pattern). "sandbox": a new interpreter inside the
project's sandbox (workloads.sandbox) per call, given the tool's own source,
so nothing but the standard library is shared with the host.

Each call blocks a thread while its child runs; calls beyond `concurrency`
wait in the executor's FIFO queue, so queueing shows in their latency.
"""
from __future__ import annotations

import os
import pickle
import queue
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from workloads.tools.calls import Call, Completion, ExecutionModel

REPO_ROOT = Path(__file__).resolve().parents[2]

# Runs inside the sandboxed interpreter (-I: no site, no user paths): load the
# tool module from source, run it once, print the output's SHA-256.
SANDBOX_RUNNER = (
    "import hashlib, pickle, sys, types\n"
    "d = pickle.load(sys.stdin.buffer)\n"
    "m = types.ModuleType('tool')\n"
    "exec(compile(d['source'], 'tool', 'exec'), m.__dict__)\n"
    "sys.stdout.write(hashlib.sha256(m.run(d['payload'])).hexdigest())\n"
)
PICKLE_PROTOCOL = 4  # readable by any Python >= 3.4 the sandbox may carry


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class _PerCallModel(ExecutionModel):
    def __init__(self, inputs: dict, concurrency: int, *, timeout_s: float):
        self.inputs, self.timeout_s = inputs, timeout_s
        self.replaced = 0
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(max_workers=concurrency)
        self._in_flight = 0
        self._cpu0 = _children_cpu_s()

    @property
    def tool_cpu_s(self) -> float:
        # Children reaped since start: the interpreters' start-up and the tool.
        return _children_cpu_s() - self._cpu0

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, call: Call) -> None:
        self._in_flight += 1
        self._pool.submit(self._run, call)

    def outstanding(self) -> int:
        return self._in_flight

    def _run(self, call: Call) -> None:
        try:
            self._done.put(self._execute(call))
        except Exception as exc:  # never lose a call: report it as failed
            self._done.put(Completion(call, time.perf_counter(), error="failed",
                                      message=f"{type(exc).__name__}: {exc}"))

    def wait(self, timeout: float, prompt: bool = True) -> list:
        done = []
        if not prompt and timeout > 0:  # answers carry their own end time
            time.sleep(timeout)
            timeout = 0.0
        try:
            done.append(self._done.get(timeout=timeout) if timeout > 0 else self._done.get_nowait())
            while True:
                done.append(self._done.get_nowait())
        except queue.Empty:
            pass
        self._in_flight -= len(done)
        return done

    def _execute(self, call: Call) -> Completion:
        raise NotImplementedError


def _answer(call: Call, returncode, stdout: bytes, stderr: bytes, timed_out: bool) -> Completion:
    end = time.perf_counter()
    if timed_out:
        return Completion(call, end, error="timeout", message="call exceeded its timeout; child killed")
    if returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return Completion(call, end, error="raised", message=f"exit {returncode}: {tail[0]}")
    return Completion(call, end, digest=stdout.decode(errors="replace").strip())


class FreshProcess(_PerCallModel):
    """Execution model "fresh": a new Python process per call."""

    name = "fresh"

    def __init__(self, inputs: dict, concurrency: int, *, timeout_s: float):
        super().__init__(inputs, concurrency, timeout_s=timeout_s)
        self.argv = [sys.executable, "-m", "workloads.tools.oneshot"]
        path = os.environ.get("PYTHONPATH")
        self.env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + (os.pathsep + path if path else ""))

    def _execute(self, call: Call) -> Completion:
        data = pickle.dumps((call.tool, self.inputs[call.tool][call.index]), PICKLE_PROTOCOL)
        try:
            p = subprocess.run(self.argv, input=data, capture_output=True, env=self.env,
                               timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            return _answer(call, None, b"", b"", True)
        return _answer(call, p.returncode, p.stdout, p.stderr, False)


@lru_cache(maxsize=None)
def _sandbox(timeout_s: float, allow_unisolated: bool):
    # Choosing a backend probes each one (~0.5 s); do it once per process.
    from workloads.sandbox import for_agent_code

    return for_agent_code({"allow_unisolated": allow_unisolated}, timeout_s=timeout_s)


class SandboxedProcess(_PerCallModel):
    """Execution model "sandbox": a fresh sandboxed interpreter per call.

    Only tools whose module is standard-library-only can run here.
    """

    name = "sandbox"

    def __init__(self, inputs: dict, sources: dict, concurrency: int, *, timeout_s: float,
                 allow_unisolated: bool = False):
        super().__init__(inputs, concurrency, timeout_s=timeout_s)
        self.sources = sources
        self.sandbox = _sandbox(timeout_s, allow_unisolated)
        self.argv = [self.sandbox.executable("python3"), "-I", "-c", SANDBOX_RUNNER]
        self.backend = None
        self.warning = None

    def _execute(self, call: Call) -> Completion:
        data = pickle.dumps({"source": self.sources[call.tool],
                             "payload": self.inputs[call.tool][call.index]}, PICKLE_PROTOCOL)
        r = self.sandbox.run(self.argv, stdin=data)
        self.backend, self.warning = r.backend, r.warning or self.warning
        out = r.stdout if isinstance(r.stdout, bytes) else str(r.stdout).encode()
        err = r.stderr if isinstance(r.stderr, bytes) else str(r.stderr).encode()
        return _answer(call, r.returncode, out, err, bool(r.timed_out))
