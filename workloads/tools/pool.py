"""Warm pool: persistent, pre-started worker processes (the tool-server pattern).

Each worker has its own duplex pipe, so the parent always knows which call a
worker holds: a worker that dies (EOF on its pipe) or overruns the call
timeout is killed, its call is recorded as failed, and a fresh worker takes
its place (`replaced` counts them). Workers are forked from the parent, so
they inherit the tools' seeded inputs instead of regenerating them.
"""
from __future__ import annotations

import collections
import multiprocessing
import selectors
import time

from workloads.tools.calls import Call, Completion
from workloads.tools.catalog import digest
from workloads.tools.channel import Channel

_FORK = multiprocessing.get_context("fork")
STOP = "stop"  # tells a worker to exit


def _serve(conn: Channel, runners: dict, inputs: dict) -> None:
    """Worker loop: (call id, tool, input index) in,
    (call id, digest, error kind, message, cpu s, end time) out."""
    for name, run in runners.items():  # warm-up: imports, caches, first-call costs
        try:
            run(inputs[name][0])
        except Exception:
            pass  # the measured calls will report it
    conn.send(("ready",))
    while True:
        try:
            msg = conn.receive()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg == STOP:
            return
        call_id, tool, index = msg
        t0 = time.process_time()
        try:
            out = runners[tool](inputs[tool][index])
            msg = (call_id, digest(out), None, "", time.process_time() - t0)
        except Exception as exc:  # a tool that raises is that call's error
            msg = (call_id, None, "raised", f"{type(exc).__name__}: {exc}", time.process_time() - t0)
        # perf_counter is CLOCK_MONOTONIC, one clock for all processes on Linux.
        conn.send(msg + (time.perf_counter(),))


class _Worker:
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
        self._queue: collections.deque = collections.deque()
        # One long-lived epoll set: rebuilding it per wait (as
        # multiprocessing.connection.wait does) costs the generator CPU.
        self._selector = selectors.DefaultSelector()
        self._workers = []
        for _ in range(size):
            self._add_worker()

    def _add_worker(self, at: int | None = None) -> None:
        w = _Worker(self.runners, self.inputs)
        self._selector.register(w.conn, selectors.EVENT_READ, w)
        if at is None:
            self._workers.append(w)
        else:
            self._workers[at] = w

    # -- lifecycle ----------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> None:
        """Block until every worker has warmed up."""
        deadline = time.perf_counter() + timeout_s
        while not all(w.ready for w in self._workers):
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("warm pool workers did not start in time")
            for key, _ in self._selector.select(left):
                w = key.data
                if w.ready:
                    continue
                try:
                    w.conn.receive_ready()
                except (EOFError, OSError):
                    raise RuntimeError(f"warm pool worker exited during start-up "
                                       f"({w.proc.exitcode})") from None
                w.ready = True

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(STOP)
            except OSError:
                pass
        for w in self._workers:
            w.proc.join(2)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(2)
            w.conn.close()
        self._selector.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    # -- calls --------------------------------------------------------------
    def submit(self, call: Call) -> None:
        self._queue.append(call)
        self._dispatch()

    def outstanding(self) -> int:
        return len(self._queue) + sum(w.call is not None for w in self._workers)

    def _dispatch(self) -> None:
        for w in self._workers:
            if not self._queue:
                return
            if w.call is None:
                call = self._queue.popleft()
                w.call, w.started = call, time.perf_counter()
                w.conn.send((call.id, call.tool, call.index))

    def _replace(self, w: _Worker) -> None:
        self._selector.unregister(w.conn)
        w.kill()
        self._add_worker(self._workers.index(w))
        self.replaced += 1

    def wait(self, timeout: float, prompt: bool = True) -> list:
        """Completions that arrive within `timeout` seconds (maybe none).

        prompt=False (open loop): answers are stamped by the worker, so the
        caller need not wake for each one; sleep the whole timeout unless calls
        are queued for a worker that might free up. Halves the generator's
        wake-ups at high call rates.
        """
        now = time.perf_counter()
        busy = [w for w in self._workers if w.call is not None]
        if busy:
            first_deadline = min(w.started for w in busy) + self.timeout_s
            timeout = max(0.0, min(timeout, first_deadline - now))
        if not prompt and not self._queue and timeout > 0:
            time.sleep(timeout)
            timeout = 0.0
        done = []
        for key, _ in self._selector.select(timeout):
            w = key.data
            try:
                messages = w.conn.receive_ready()
            except (EOFError, OSError):
                code = w.proc.exitcode if not w.proc.is_alive() else None
                if w.call is not None:
                    done.append(Completion(w.call, time.perf_counter(), error="worker_died",
                                           message=f"worker pid {w.proc.pid} exited ({code})"))
                    w.call = None
                self._replace(w)
                continue
            for msg in messages:
                if msg[0] == "ready":
                    w.ready = True
                    continue
                call_id, dig, err, text, cpu, end = msg
                self.tool_cpu_s += cpu
                done.append(Completion(w.call, end, dig, err, text, cpu))
                w.call = None
        now = time.perf_counter()
        for w in busy:
            if w.call is not None and now - w.started > self.timeout_s:
                done.append(Completion(w.call, now, error="timeout",
                                       message=f"no answer after {self.timeout_s:g} s; worker killed"))
                self._replace(w)
        self._dispatch()
        return done
