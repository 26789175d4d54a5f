"""Load generation: closed loop (fixed concurrency, optional think time) and
open loop (Poisson arrivals).

Latency is always counted from when a call was *due*: in the open loop that
is its scheduled arrival, not the moment the generator got round to sending
it, so a backed-up model shows its queueing instead of hiding it
(no coordinated omission). A generator runs in one thread and only waits
on the model between due times, so its own CPU use stays small; where one
is not enough, several run in their own processes
(workloads.tools.generator_procs).
"""
from __future__ import annotations

import heapq
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from workloads.tools.calls import Call, Completion, ErrorTally

# After the window closes, calls still in flight get this long to finish
# before they are abandoned (recorded as timeouts by the model).
DRAIN_GRACE_S = 1.0


@dataclass
class LoadResult:
    """Every call of one load test, and the resources it used."""

    start: float
    window_s: float
    latencies: list = field(default_factory=list)  # (end time, latency s, cpu s|None)
    errors: ErrorTally = field(default_factory=ErrorTally)
    calls: int = 0
    wall_s: float = 0.0
    generator_cpu_s: float = 0.0  # every generator's CPU time, summed
    generator_cpu_each: list = field(default_factory=list)  # per generator process
    tool_cpu_s: float = 0.0
    workers_replaced: int = 0  # set where the model lives in a generator process

    @property
    def ok(self) -> int:
        return len(self.latencies)


Pick = Callable[[int], tuple]  # call number -> (tool name, input index)
Check = Callable[[Completion], str | None]  # -> error message or None


class _Recorder:
    def __init__(self, model, check: Check, window_s: float):
        self.model, self.check = model, check
        self.cpu0, self.tool_cpu0 = time.process_time(), model.tool_cpu_s
        self.result = LoadResult(start=time.perf_counter(), window_s=window_s)

    def take(self, done: list) -> None:
        r = self.result
        for c in done:
            if c.error is None:
                problem = self.check(c)
                if problem:
                    c.error, c.message = "wrong_digest", problem
            if c.error is not None:
                r.errors.add(c.error, c.message)
            else:
                r.latencies.append((c.end - r.start, c.end - c.call.issued, c.cpu_s))

    def finish(self) -> LoadResult:
        r = self.result
        r.wall_s = time.perf_counter() - r.start
        r.generator_cpu_s = time.process_time() - self.cpu0
        r.generator_cpu_each = [r.generator_cpu_s]
        r.tool_cpu_s = self.model.tool_cpu_s - self.tool_cpu0
        return r


def _drain(rec: _Recorder, timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    while rec.model.outstanding() and time.perf_counter() < deadline:
        rec.take(rec.model.wait(deadline - time.perf_counter()))
    # Every call times out well within the drain, so a call still unanswered
    # was lost by the model; it counts as failed, never silently dropped.
    for _ in range(rec.model.outstanding()):
        rec.result.errors.add("unanswered", f"no answer or failure {timeout_s:g} s after the window")


def closed_loop(model, pick: Pick, check: Check, *, concurrency: int, window_s: float,
                think_s: float = 0.0, min_calls: int = 0, seed: int = 0,
                drain_s: float | None = None) -> LoadResult:
    """`concurrency` clients, each issuing its next call `think_s` after the
    previous one answered. Runs for `window_s` (longer, up to 5x, until at
    least `min_calls` completed). With think time, clients start at random
    offsets within the first think period so they do not march in step."""
    rng = random.Random(seed)
    rec = _Recorder(model, check, window_s)
    t0 = rec.result.start
    hard_end = t0 + 5 * window_s
    wakeups = [(t0 + (rng.uniform(0, think_s) if think_s else 0.0), k) for k in range(concurrency)]
    heapq.heapify(wakeups)
    owner: dict = {}  # call id -> client
    n = 0

    def still_issuing(now):
        return now < t0 + window_s or (rec.result.ok < min_calls and now < hard_end)

    while True:
        now = time.perf_counter()
        while wakeups and wakeups[0][0] <= now and still_issuing(now):
            due, client = heapq.heappop(wakeups)
            tool, index = pick(n)
            owner[n] = client
            model.submit(Call(n, tool, index, due))
            n += 1
        if not still_issuing(now):
            break
        # Sleep until the next client is due, the window closes, or (past the
        # window, waiting for min_calls) the hard end; answers wake us sooner.
        until = wakeups[0][0] if wakeups else hard_end
        if now < t0 + window_s:
            until = min(until, t0 + window_s)
        done = model.wait(max(0.0, min(until, hard_end) - now))
        rec.take(done)
        end = time.perf_counter()
        for c in done:
            heapq.heappush(wakeups, (end + think_s, owner.pop(c.call.id)))
    rec.result.calls = n
    _drain(rec, DRAIN_GRACE_S + (model.timeout_s if drain_s is None else drain_s))
    return rec.finish()


def _poisson_gaps(rng: random.Random, rate: float, batch: int = 256):
    """Exponential inter-arrival times, drawn a batch at a time (cheaper per
    arrival than one expovariate call on the dispatch path)."""
    draw = rng.expovariate
    while True:
        yield from [draw(rate) for _ in range(batch)]


def open_loop(model, pick: Pick, check: Check, *, rate: float, window_s: float,
              seed: int = 0, drain_s: float | None = None) -> LoadResult:
    """Poisson arrivals at `rate` calls/s for `window_s`; each call is timed
    from its scheduled arrival.

    One wake-up per arrival (or per burst of arrivals already due) is the
    floor for punctual dispatch; the loop keeps everything else on it short,
    since the generator's own CPU use is part of what a reader sees.
    """
    rng = random.Random(seed)
    rec = _Recorder(model, check, window_s)
    t0 = rec.result.start
    end = t0 + window_s
    next_gap, clock = _poisson_gaps(rng, rate).__next__, time.perf_counter
    submit, wait, take = model.submit, model.wait, rec.take
    due = t0 + next_gap()
    n = 0
    while due < end:
        now = clock()
        while due <= now and due < end:  # every arrival already due goes out now
            tool, index = pick(n)
            submit(Call(n, tool, index, due))
            n += 1
            due += next_gap()
        done = wait(max(0.0, min(due, end) - clock()), prompt=False)
        if done:
            take(done)
    rec.result.calls = n
    _drain(rec, DRAIN_GRACE_S + (model.timeout_s if drain_s is None else drain_s))
    return rec.finish()
