"""Warm pool: persistent, pre-started worker processes (the tool-server pattern).

Calls wait in one FIFO request queue that every idle worker reads, so the
parent never has to find a free worker: issuing a call is one send. Each
worker stamps its answer with its own end time and CPU time, so answers may
be collected in batches (the open loop does) without changing any latency.

A worker marks in shared memory which call it holds, so the parent can still
attribute every failure: a worker that dies (EOF on its answer socket) or
overruns the call timeout is killed, its call is recorded as failed, and a
fresh worker takes its place (`replaced` counts them). Workers are forked
from the parent, so they inherit the tools' seeded inputs instead of
regenerating them.
"""
from __future__ import annotations

import collections
import os
import multiprocessing
import select
import time

from workloads.tools.calls import Call, Completion, ExecutionModel
from workloads.tools.catalog import digest
from workloads.tools.channel import OK, READY, STOP_ID, RAISED, AnswerChannel, RequestQueue

_FORK = multiprocessing.get_context("fork")
# How often calls in progress are checked against the call timeout; far
# below any timeout a caller sets (seconds), and cheap (one look per worker).
SCAN_EVERY_S = 0.1
# Open loop: answers are collected when the caller does not need them at
# once, every READ_EVERY_S or every READ_EVERY_CALLS calls issued, whichever
# comes first. Reading in batches is what keeps the generator's CPU low; the
# call bound keeps unread answers far below what a worker's socket buffer
# holds (ANSWER_BUFFER_BYTES; ~550 answers at the kernel's usual cap), so a
# worker never waits on its send.
READ_EVERY_S = 0.05
READ_EVERY_CALLS = 256
_IDLE = -1.0  # slot value: the worker holds no call
# How long a call may look unheld (all workers idle, queue empty) before it
# is reported lost; far above any scheduling delay between a worker taking a
# call and marking its slot.
LOST_AFTER_S = 1.0


def _serve(queue: RequestQueue, answers: AnswerChannel, slots, slot: int,
           runners: dict, inputs: dict) -> None:
    """Worker loop: (call id, tool number, input index) in,
    (call id, status, cpu s, end time, digest, message) out."""
    queue.detach_producer()
    names = list(runners)
    for name, run in runners.items():  # warm-up: imports, caches, first-call costs
        try:
            run(inputs[name][0])
        except Exception:
            pass  # the measured calls will report it
    answers.send_answer(STOP_ID, READY, 0.0, time.perf_counter())
    holding, since = 2 * slot, 2 * slot + 1
    while True:
        try:
            call_id, tool, index = queue.take()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if call_id == STOP_ID:
            return
        slots[since] = time.perf_counter()  # before the call id: never a stale start
        slots[holding] = call_id
        name = names[tool]
        t0 = time.process_time()
        try:
            status, dig, text = OK, digest(runners[name](inputs[name][index])), ""
        except Exception as exc:  # a tool that raises is that call's error
            status, dig, text = RAISED, "", f"{type(exc).__name__}: {exc}"
        # perf_counter is CLOCK_MONOTONIC, one clock for all processes on Linux.
        answers.send_answer(call_id, status, time.process_time() - t0, time.perf_counter(), dig, text)
        slots[holding] = _IDLE  # after the answer: a death in between loses no call


_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` (/proc/<pid>/stat), None
    when unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S  # utime, stime
    except (OSError, ValueError, IndexError):
        return None


class _Worker:
    __slots__ = ("slot", "answers", "proc", "ready")

    def __init__(self, slot: int, queue: RequestQueue, slots, runners: dict, inputs: dict):
        self.slot = slot
        self.answers, child = AnswerChannel.pair()
        self.proc = _FORK.Process(target=_serve, args=(queue, child, slots, slot, runners, inputs),
                                  daemon=True)
        self.proc.start()
        child.close()
        self.ready = False

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.answers.close()


class WarmPool(ExecutionModel):
    """Execution model "pool": `size` workers sharing one FIFO call queue."""

    name = "pool"

    def __init__(self, runners: dict, inputs: dict, size: int, *, timeout_s: float):
        self.runners, self.inputs, self.timeout_s = runners, inputs, timeout_s
        self.size = size
        self.replaced = 0
        self.call_cpu_s = 0.0  # summed CPU time the workers report inside each call
        self._gone_cpu_s = 0.0  # CPU time of workers replaced so far
        self._tool_numbers = {name: k for k, name in enumerate(runners)}
        self._queue = RequestQueue()
        self._held: collections.deque = collections.deque()  # calls the full queue refused
        self._outstanding: dict = {}  # call id -> Call, issued and not yet answered
        # Per worker: the call id it holds (or _IDLE) and since when.
        self._slots = _FORK.RawArray("d", 2 * size)
        self._epoll = select.epoll()
        self._by_fd: dict = {}
        self._workers: list = [None] * size
        self._next_scan = 0.0
        self._last_read = 0.0
        self._unread = 0  # calls issued since answers were last collected
        self._suspects: dict = {}  # call id -> since when no one seems to hold it
        for k in range(size):
            self._start_worker(k)

    def _start_worker(self, slot: int) -> None:
        self._slots[2 * slot] = _IDLE
        w = _Worker(slot, self._queue, self._slots, self.runners, self.inputs)
        self._workers[slot] = w
        self._by_fd[w.answers.fileno()] = w
        self._epoll.register(w.answers.fileno(), select.EPOLLIN)

    @property
    def tool_cpu_s(self) -> float:
        """CPU time of the worker processes, from the kernel: the calls and
        also taking them off the queue, unpickling and answering (the
        dispatch a per-call figure leaves out). The per-call sum where the
        kernel does not say (no /proc)."""
        live = [process_cpu_s(w.proc.pid) for w in self._workers]
        if any(x is None for x in live):
            return self.call_cpu_s
        return self._gone_cpu_s + sum(live)

    def _replace(self, w: _Worker) -> None:
        fd = w.answers.fileno()
        self._epoll.unregister(fd)
        del self._by_fd[fd]
        self._gone_cpu_s += process_cpu_s(w.proc.pid) or 0.0  # before it is reaped
        w.kill()
        self._start_worker(w.slot)
        self.replaced += 1

    def _call_of(self, w: _Worker) -> Call | None:
        """Take the unanswered call `w` is running, if any, off the outstanding list."""
        call_id = self._slots[2 * w.slot]
        return None if call_id < 0 else self._outstanding.pop(int(call_id), None)

    def _find_lost(self, now: float, done: list) -> None:
        """A call is lost when it stays unanswered for LOST_AFTER_S while
        every worker is idle and nothing waits in the queue: no one holds it
        (a worker died between taking it and marking its slot). A live
        worker marks its slot microseconds after taking a call, so the wait
        only has to outlast a worker being descheduled."""
        if not self._outstanding or self._held:
            self._suspects = {}
            return
        self._read(0.0, done)  # answers already sent are not lost
        slots = self._slots
        idle = all(slots[2 * w.slot] < 0 for w in self._workers)
        if not idle or self._queue.pending():
            self._suspects = {}
            return
        suspects = {i: self._suspects.get(i, now) for i in self._outstanding}
        for call_id, since in sorted(suspects.items()):
            if now - since >= LOST_AFTER_S:
                call = self._outstanding.pop(call_id)
                del suspects[call_id]
                done.append(Completion(call, now, error="worker_died",
                                       message="call lost with a worker that died as it took it"))
        self._suspects = suspects

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
                    answers = w.answers.receive_answers()
                except (EOFError, OSError):
                    raise RuntimeError(f"warm pool worker exited during start-up "
                                       f"({w.proc.exitcode})") from None
                w.ready = w.ready or any(a[1] == READY for a in answers)

    def close(self) -> None:
        for _ in self._workers:
            self._queue.put(STOP_ID, 0, 0)  # a full queue: the kill below ends them
        deadline = time.perf_counter() + 2.0  # shared, so a big pool closes fast too
        for w in self._workers:
            w.proc.join(max(0.0, deadline - time.perf_counter()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(2)
            w.answers.close()
        self._queue.close()
        self._epoll.close()

    # -- calls --------------------------------------------------------------
    def submit(self, call: Call) -> None:
        self._outstanding[call.id] = call
        self._unread += 1
        if self._held or not self._queue.put(call.id, self._tool_numbers[call.tool], call.index):
            self._held.append(call)  # FIFO order holds: later calls queue behind

    def outstanding(self) -> int:
        return len(self._outstanding)

    def _release_held(self) -> None:
        held = self._held
        while held and self._queue.put(held[0].id, self._tool_numbers[held[0].tool], held[0].index):
            held.popleft()

    def wait(self, timeout: float, prompt: bool = True) -> list:
        """Completions that arrive within `timeout` seconds (maybe none).

        prompt=False (open loop): answers carry the worker's own end time, so
        the caller need not wake for each one; sleep the whole timeout and
        collect answers in batches (READ_EVERY_S, READ_EVERY_CALLS). Calls
        the full request queue refused make the wait prompt again: each answer
        frees a place in the queue, and a worker must not idle while calls wait
        here.
        """
        if self._held:
            self._release_held()
        done: list = []
        if prompt or self._held:
            if self._outstanding:  # wake in time for the next timeout check
                timeout = max(0.0, min(timeout, self._next_scan - time.perf_counter()))
            self._read(timeout, done)
            if self._held:
                self._release_held()
        else:
            if timeout > 0:
                time.sleep(timeout)
            if (self._unread >= READ_EVERY_CALLS
                    or time.perf_counter() - self._last_read >= READ_EVERY_S):
                self._read(0.0, done)
        if self._outstanding:
            now = time.perf_counter()
            if now >= self._next_scan:
                self._scan(now, done)
        return done

    def _read(self, timeout: float, done: list) -> None:
        for fd, _ in self._epoll.poll(timeout):
            w = self._by_fd.get(fd)
            if w is not None:  # else its worker was replaced earlier in this loop
                self._take_answers(w, done)
        self._last_read = time.perf_counter()
        self._unread = 0

    def _take_answers(self, w: _Worker, done: list) -> None:
        try:
            answers = w.answers.receive_answers()
        except (EOFError, OSError):  # everything it sent is read: it is gone
            call = self._call_of(w)
            if call is not None:
                code = w.proc.exitcode if not w.proc.is_alive() else None
                done.append(Completion(call, time.perf_counter(), error="worker_died",
                                       message=f"worker pid {w.proc.pid} exited ({code})"))
            self._replace(w)
            return
        outstanding = self._outstanding
        for call_id, status, cpu, end, dig, text in answers:
            if status == READY:
                w.ready = True
                continue
            call = outstanding.pop(call_id, None)
            if call is None:  # already reported (timed out)
                continue
            self.call_cpu_s += cpu
            done.append(Completion(call, end, dig, None if status == OK else "raised", text, cpu))

    def _scan(self, now: float, done: list) -> None:
        """Kill and replace workers whose call overran the timeout; report
        calls lost with a worker that died between taking a call and marking
        its slot."""
        self._next_scan = now + SCAN_EVERY_S
        self._find_lost(now, done)
        slots = self._slots
        for w in list(self._workers):
            call_id = slots[2 * w.slot]
            if call_id < 0:
                continue
            call = self._outstanding.get(int(call_id))
            started = slots[2 * w.slot + 1]
            if call is not None:  # a call cannot start before it was issued
                started = max(started, call.issued)
            if now - started <= self.timeout_s:
                continue
            if call is not None:
                del self._outstanding[call.id]
                done.append(Completion(call, now, error="timeout",
                                       message=f"no answer after {self.timeout_s:g} s; worker killed"))
            self._replace(w)
