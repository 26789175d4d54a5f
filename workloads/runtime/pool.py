"""A warm pool of long-lived JVMs or Node.js processes serving tool calls.

One runtime per worker, one call at a time per worker, requests and
answers as text lines over the worker's stdin and stdout (the protocol is
at the top of servers/ToolServer.java). Calls wait in one FIFO queue in the
parent and go to the first idle worker. A worker that dies (EOF on its
stdout) or overruns the call timeout is killed; its call is recorded as
failed and a fresh worker takes its place (`replaced` counts them).
"""
from __future__ import annotations

import collections
import json
import os
import select
import subprocess
import time

from workloads.tools.calls import Completion, ExecutionModel

START_TIMEOUT_S = 120.0  # a JVM warming its JIT up on a loaded machine
SCAN_EVERY_S = 0.1
STDERR_KEPT = 400  # bytes of a dead worker's stderr in its call's message


def write_inputs(directory: str, inputs: dict) -> None:
    """TOOL.K.json per seeded input, as the servers read them."""
    for name, payloads in inputs.items():
        for k, payload in enumerate(payloads):
            with open(os.path.join(directory, f"{name}.{k}.json"), "w", encoding="utf-8") as f:
                json.dump(payload, f)


class _Worker:
    def __init__(self, argv: list, stderr_path: str) -> None:
        self.stderr_path = stderr_path
        with open(stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                         bufsize=0)
        self.fd = self.proc.stdout.fileno()
        self.buffer = b""
        self.ready = False
        self.call = None  # the Call it runs
        self.noise = ""  # what the runtime printed that is no answer (its last words)
        self.since = 0.0

    def send(self, call) -> None:
        self.call, self.since = call, time.perf_counter()
        self.proc.stdin.write(f"{call.id} {call.tool} {call.index}\n".encode())

    def lines(self) -> list | None:
        """Complete answer lines read now; None at EOF."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            return None
        self.buffer += chunk
        *done, self.buffer = self.buffer.split(b"\n")
        return [line.decode(errors="replace") for line in done]

    def why_dead(self) -> str:
        self.proc.kill()
        code = self.proc.wait(5)
        try:
            with open(self.stderr_path, "rb") as f:
                tail = f.read()[-STDERR_KEPT:].decode(errors="replace").strip()
        except OSError:
            tail = ""
        said = " ".join(x for x in (self.noise.strip(), tail) if x)
        return f"worker pid {self.proc.pid} exited ({code})" + (f": {said}" if said else "")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


class RuntimePool(ExecutionModel):
    """Execution model "<runtime>-pool": `size` long-lived runtime processes."""

    def __init__(self, name: str, argv: list, size: int, *, timeout_s: float, scratch: str) -> None:
        self.name = name
        self.argv, self.size, self.timeout_s, self.scratch = argv, size, timeout_s, scratch
        self.replaced = 0
        self.tool_cpu_s = 0.0
        self._queue: collections.deque = collections.deque()
        self._outstanding = 0
        self._workers: dict = {}  # stdout fd -> _Worker
        self._poll = select.epoll()
        self._next_scan = 0.0
        self._spawned = 0

    def _spawn(self) -> None:
        self._spawned += 1
        w = _Worker(self.argv, os.path.join(self.scratch, f"worker-{self._spawned}.stderr"))
        self._workers[w.fd] = w
        self._poll.register(w.fd, select.EPOLLIN)

    def _drop(self, w: _Worker) -> None:
        self._poll.unregister(w.fd)
        del self._workers[w.fd]
        w.kill()

    @property
    def pids(self) -> list:
        return [w.proc.pid for w in self._workers.values()]

    def start(self) -> None:
        for _ in range(self.size):
            self._spawn()
        deadline = time.perf_counter() + START_TIMEOUT_S
        while not all(w.ready for w in self._workers.values()):
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"{self.name} workers did not start within {START_TIMEOUT_S:g} s")
            for fd, _ in self._poll.poll(left):
                w = self._workers[fd]
                lines = w.lines()
                if lines is None:
                    raise RuntimeError(f"{self.name} worker exited during start-up: {w.why_dead()}")
                w.ready = w.ready or "READY" in lines

    def close(self) -> None:
        for w in self._workers.values():
            try:
                w.proc.stdin.close()  # EOF: the server returns
            except OSError:
                pass
        deadline = time.perf_counter() + 2.0
        for w in list(self._workers.values()):
            try:
                w.proc.wait(max(0.0, deadline - time.perf_counter()))
            except subprocess.TimeoutExpired:
                pass
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
