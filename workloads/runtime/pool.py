"""A warm pool of long-lived JVMs or Node.js processes serving tool calls.

One runtime per worker, one call at a time per worker, requests and
answers as text lines over the worker's stdin and stdout (the protocol is
at the top of servers/ToolServer.java). Each worker is started by
`spawn` (a process in the sandbox of its own: see workloads.runtime.tools)
and its stderr is kept, the tail of it, for the message when it dies.
Calls wait in one FIFO queue in the parent and go to the first idle
worker. A worker that dies (EOF on its stdout) or overruns the call
timeout is killed; its call is recorded as failed and a fresh worker
takes its place (`replaced` counts them).
"""
from __future__ import annotations

import collections
import json
import os
import select
import time
from typing import Callable

from workloads.tools.calls import Completion, ExecutionModel

START_TIMEOUT_S = 120.0  # a JVM warming its JIT up on a loaded machine
SCAN_EVERY_S = 0.1
STDERR_KEPT = 400  # bytes of a dead worker's stderr in its call's message
STDERR_DRAIN_S = 2.0  # after the kill, how long its last words may take to arrive


def input_files(inputs: dict, directory: str = "inputs") -> dict:
    """{path: bytes}: DIRECTORY/TOOL.K.json per seeded input, as the servers read them."""
    return {f"{directory}/{name}.{k}.json": json.dumps(payload).encode()
            for name, payloads in inputs.items() for k, payload in enumerate(payloads)}


class _Worker:
    """One started worker: `process` has pid, stdin, stdout and stderr
    pipes, kill() -> exit status and close() (see workloads.sandbox.SandboxProcess)."""

    def __init__(self, process) -> None:
        self.process = process
        self.fd = process.stdout.fileno()
        self.err_fd = process.stderr.fileno()
        self.buffer = b""
        self.stderr_tail = b""
        self.ready = False
        self.call = None  # the Call it runs
        self.noise = ""  # what the runtime printed that is no answer (its last words)
        self.since = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, call) -> None:
        self.call, self.since = call, time.perf_counter()
        os.write(self.process.stdin.fileno(), f"{call.id} {call.tool} {call.index}\n".encode())

    def lines(self) -> list | None:
        """Complete answer lines read now; None at EOF."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return None
        self.buffer += chunk
        *done, self.buffer = self.buffer.split(b"\n")
        return [line.decode(errors="replace") for line in done]

    def read_stderr(self) -> bool:
        """Keep what arrived on stderr (its tail); False at EOF."""
        chunk = os.read(self.err_fd, 1 << 16)
        self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_KEPT:]
        return bool(chunk)

    def why_dead(self) -> str:
        code = self.process.kill()
        deadline = time.perf_counter() + STDERR_DRAIN_S
        while time.perf_counter() < deadline:  # what it said before it went
            ready, _, _ = select.select([self.err_fd], [], [], max(0.0, deadline - time.perf_counter()))
            if not ready or not self.read_stderr():
                break
        tail = self.stderr_tail.decode(errors="replace").strip()
        said = " ".join(x for x in (self.noise.strip(), tail) if x)
        return f"worker pid {self.pid} exited ({code})" + (f": {said}" if said else "")

    def kill(self) -> None:
        self.process.close()


class RuntimePool(ExecutionModel):
    """Execution model "<runtime>-pool": `size` long-lived runtime processes."""

    def __init__(self, name: str, spawn: Callable, size: int, *, timeout_s: float) -> None:
        """`spawn()` starts one worker (see _Worker)."""
        self.name = name
        self.spawn, self.size, self.timeout_s = spawn, size, timeout_s
        self.replaced = 0
        self.tool_cpu_s = 0.0
        self._queue: collections.deque = collections.deque()
        self._outstanding = 0
        self._workers: dict = {}  # stdout fd -> _Worker
        self._stderr: dict = {}  # stderr fd -> _Worker
        self._poll = select.epoll()
        self._next_scan = 0.0

    def _spawn(self) -> None:
        w = _Worker(self.spawn())
        self._workers[w.fd] = w
        self._stderr[w.err_fd] = w
        self._poll.register(w.fd, select.EPOLLIN)
        self._poll.register(w.err_fd, select.EPOLLIN)

    def _drop(self, w: _Worker) -> None:
        self._poll.unregister(w.fd)
        del self._workers[w.fd]
        if self._stderr.pop(w.err_fd, None) is not None:
            self._poll.unregister(w.err_fd)
        w.kill()

    def _stderr_ready(self, fd: int) -> None:
        w = self._stderr[fd]
        if not w.read_stderr():  # its end: the stdout EOF reports the death
            self._poll.unregister(fd)
            del self._stderr[fd]

    @property
    def pids(self) -> list:
        return [w.pid for w in self._workers.values()]

    def start(self) -> None:
        for _ in range(self.size):
            self._spawn()
        deadline = time.perf_counter() + START_TIMEOUT_S
        while not all(w.ready for w in self._workers.values()):
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"{self.name} workers did not start within {START_TIMEOUT_S:g} s")
            for fd, _ in self._poll.poll(left):
                if fd in self._stderr:
                    self._stderr_ready(fd)
                    continue
                w = self._workers[fd]
                lines = w.lines()
                if lines is None:
                    raise RuntimeError(f"{self.name} worker exited during start-up: {w.why_dead()}")
                w.ready = w.ready or "READY" in lines

    def close(self) -> None:
        """End every worker (and its sandbox)."""
        for w in list(self._workers.values()):
            self._drop(w)
        self._poll.close()

    def outstanding(self) -> int:
        return self._outstanding

    def submit(self, call) -> None:
        self._outstanding += 1
        self._queue.append(call)
        self._dispatch()

    def _dispatch(self) -> None:
        for w in self._workers.values():
            if not self._queue:
                return
            if w.ready and w.call is None:
                call = self._queue.popleft()
                try:
                    w.send(call)
                except OSError:  # died idle: found at its EOF, the call goes to another
                    w.call = None
                    self._queue.appendleft(call)

    def wait(self, timeout: float, prompt: bool = True) -> list:
        done: list = []
        if self._outstanding:
            timeout = max(0.0, min(timeout, self._next_scan - time.perf_counter()))
        for fd, _ in self._poll.poll(timeout):
            if fd in self._stderr:
                self._stderr_ready(fd)
                continue
            w = self._workers.get(fd)
            if w is not None:
                self._read(w, done)
        now = time.perf_counter()
        if now >= self._next_scan:
            self._scan(now, done)
        self._dispatch()
        return done

    def _finish(self, done: list, w: _Worker, end: float, **kw) -> None:
        done.append(Completion(w.call, end, **kw))
        w.call = None
        self._outstanding -= 1

    def _read(self, w: _Worker, done: list) -> None:
        lines = w.lines()
        end = time.perf_counter()
        if lines is None:
            why = w.why_dead()
            if w.call is not None:
                self._finish(done, w, end, error="worker_died", message=why)
            self._replace(w)
            return
        for line in lines:
            if line == "READY":
                w.ready = True
                continue
            fields = line.split(" ", 3)
            if len(fields) != 4 or not fields[0].isdigit():
                w.noise = (w.noise + " " + line)[-STDERR_KEPT:]  # the runtime's own words
                continue
            call_id, status, cpu_ns, rest = fields
            if w.call is None or int(call_id) != w.call.id:
                continue  # the answer of a call already reported
            cpu = int(float(cpu_ns)) / 1e9
            self.tool_cpu_s += cpu
            if status == "0":
                self._finish(done, w, end, digest=rest, cpu_s=cpu)
            else:
                self._finish(done, w, end, error="raised", message=rest, cpu_s=cpu)

    def _replace(self, w: _Worker) -> None:
        self._drop(w)
        self._spawn()
        self.replaced += 1

    def _scan(self, now: float, done: list) -> None:
        self._next_scan = now + SCAN_EVERY_S
        for w in list(self._workers.values()):
            if w.call is not None and now - max(w.since, w.call.issued) > self.timeout_s:
                self._finish(done, w, now, error="timeout",
                             message=f"no answer after {self.timeout_s:g} s; worker killed")
                self._replace(w)
