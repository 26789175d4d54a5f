"""Warm pool: persistent, pre-started worker processes (the tool-server pattern).

Each worker has its own socket, so the parent always knows which call a
worker holds: a worker that dies (EOF on its socket, or a failed send) or
overruns the call timeout is killed, its call is recorded as failed, and a
fresh worker takes its place (`replaced` counts them). Workers are forked
from the parent, so they inherit the tools' seeded inputs instead of
regenerating them.

The parent side is the load generator's hot path: one epoll set over the
worker sockets, busy workers kept in dispatch order (so the oldest call, the
next that can time out, is always first) and idle ones on a stack, so each
wake-up does work in proportion to the answers it finds, not to the pool size.
"""
from __future__ import annotations

import collections
import multiprocessing
import select
import time

from workloads.tools.calls import Call, Completion
from workloads.tools.catalog import digest
from workloads.tools.channel import OK, READY, STOP_ID, RAISED, Channel

_FORK = multiprocessing.get_context("fork")
# Up to this many busy workers, a poll with no wait reads their sockets
# directly instead of asking epoll which are readable first.
_DIRECT_READ_MAX = 2


def _serve(conn: Channel, runners: dict, inputs: dict) -> None:
    """Worker loop: (call id, tool number, input index) in,
    (call id, status, cpu s, end time, digest, message) out."""
    names = list(runners)
    for name, run in runners.items():  # warm-up: imports, caches, first-call costs
        try:
            run(inputs[name][0])
        except Exception:
            pass  # the measured calls will report it
    conn.send_answer(STOP_ID, READY, 0.0, time.perf_counter())
    while True:
        try:
            call_id, tool, index = conn.receive_request()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if call_id == STOP_ID:
            return
        name = names[tool]
        t0 = time.process_time()
        try:
            status, dig, text = OK, digest(runners[name](inputs[name][index])), ""
        except Exception as exc:  # a tool that raises is that call's error
            status, dig, text = RAISED, "", f"{type(exc).__name__}: {exc}"
        # perf_counter is CLOCK_MONOTONIC, one clock for all processes on Linux.
        conn.send_answer(call_id, status, time.process_time() - t0, time.perf_counter(), dig, text)


class _Worker:
    __slots__ = ("conn", "proc", "ready", "call", "started")

    def __init__(self, runners: dict, inputs: dict):
        self.conn, child = Channel.pair()
        self.proc = _FORK.Process(target=_serve, args=(child, runners, inputs), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.call: Call | None = None
        self.started = 0.0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class WarmPool:
    """Execution model "pool": `size` workers, FIFO queue in the parent."""

    name = "pool"

    def __init__(self, runners: dict, inputs: dict, size: int, *, timeout_s: float):
        self.runners, self.inputs, self.timeout_s = runners, inputs, timeout_s
        self.size = size
        self.replaced = 0
        self.tool_cpu_s = 0.0  # summed CPU time the workers report per call
        self._tool_numbers = {name: k for k, name in enumerate(runners)}
        self._queue: collections.deque = collections.deque()
        self._idle: list = []  # workers without a call; last in, first out
        self._busy: dict = {}  # worker -> None, in dispatch order (oldest call first)
        self._epoll = select.epoll()
        self._by_fd: dict = {}
        self._workers: list = []
        for _ in range(size):
            self._add_worker()

    def _add_worker(self) -> None:
        w = _Worker(self.runners, self.inputs)
        fd = w.conn.fileno()
        self._by_fd[fd] = w
        self._epoll.register(fd, select.EPOLLIN)
        self._workers.append(w)
        self._idle.append(w)

    def _replace(self, w: _Worker) -> None:
        fd = w.conn.fileno()
        self._epoll.unregister(fd)
        del self._by_fd[fd]
        self._workers.remove(w)
        if w in self._idle:
            self._idle.remove(w)
        w.kill()
        self._add_worker()
        self.replaced += 1

    # -- lifecycle ----------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> None:
        """Block until every worker has warmed up."""
        deadline = time.perf_counter() + timeout_s
        while not all(w.ready for w in self._workers):
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("warm pool workers did not start in time")
            for fd, _ in self._epoll.poll(left):
                w = self._by_fd[fd]
                try:
                    answers = w.conn.receive_answers()
                except (EOFError, OSError):
                    raise RuntimeError(f"warm pool worker exited during start-up "
                                       f"({w.proc.exitcode})") from None
                w.ready = w.ready or any(a[1] == READY for a in answers)

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send_stop()
            except OSError:
                pass
        for w in self._workers:
            w.proc.join(2)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(2)
            w.conn.close()
        self._epoll.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    # -- calls --------------------------------------------------------------
    def submit(self, call: Call) -> None:
        """Queue a call; it is sent to a worker at the start of the next
        `wait`, so the send (which may wake the worker onto this CPU and
        preempt the caller) is the last thing before the caller blocks."""
        self._queue.append(call)

    def outstanding(self) -> int:
        return len(self._queue) + len(self._busy)

    def _dispatch(self) -> None:
        queue, idle, busy = self._queue, self._idle, self._busy
        while queue and idle:
            w = idle.pop()
            call = queue.popleft()
            try:
                w.conn.send_request(call.id, self._tool_numbers[call.tool], call.index)
            except OSError:  # the worker died while idle: retry on its replacement
                queue.appendleft(call)
                self._replace(w)
                continue
            w.call, w.started = call, time.perf_counter()
            busy[w] = None

    def _take_answers(self, w: _Worker, done: list) -> None:
        try:
            answers = w.conn.receive_answers()
        except (EOFError, OSError):
            if w.call is not None:
                code = w.proc.exitcode if not w.proc.is_alive() else None
                done.append(Completion(w.call, time.perf_counter(), error="worker_died",
                                       message=f"worker pid {w.proc.pid} exited ({code})"))
                w.call = None
                del self._busy[w]
            self._replace(w)
            return
        for _, status, cpu, end, dig, text in answers:
            if status == READY:
                w.ready = True
                continue
            self.tool_cpu_s += cpu
            done.append(Completion(w.call, end, dig, None if status == OK else "raised", text, cpu))
            w.call = None
            del self._busy[w]
            self._idle.append(w)

    def wait(self, timeout: float, prompt: bool = True) -> list:
        """Completions that arrive within `timeout` seconds (maybe none).

        prompt=False (open loop): answers are stamped by the worker, so the
        caller need not wake for each one; sleep the whole timeout unless calls
        are queued for a worker that might free up. Halves the generator's
        wake-ups at high call rates.
        """
        if self._queue and self._idle:
            self._dispatch()
        busy = self._busy
        if busy:  # wake no later than the oldest call's timeout
            oldest = next(iter(busy))
            timeout = max(0.0, min(timeout, oldest.started + self.timeout_s - time.perf_counter()))
        if not prompt and not self._queue and timeout > 0:
            time.sleep(timeout)
            timeout = 0.0
        done: list = []
        # With no call out and nothing to wait for there is nothing to read; a
        # worker that died idle is found when a call is sent to it.
        if timeout == 0 and 0 < len(busy) <= _DIRECT_READ_MAX:
            for w in list(busy):  # a non-blocking read each beats an epoll call
                self._take_answers(w, done)
        elif busy or timeout > 0:
            for fd, _ in self._epoll.poll(timeout):
                w = self._by_fd.get(fd)
                if w is not None:  # else its worker was replaced earlier in this loop
                    self._take_answers(w, done)
        if busy:
            now = time.perf_counter()
            while busy:
                w = next(iter(busy))
                if now - w.started <= self.timeout_s:
                    break
                done.append(Completion(w.call, now, error="timeout",
                                       message=f"no answer after {self.timeout_s:g} s; worker killed"))
                w.call = None
                del busy[w]
                self._replace(w)
        if self._queue and self._idle:
            self._dispatch()
        return done
