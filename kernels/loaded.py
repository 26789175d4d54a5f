"""Loaded latency (the Intel MLC idea): chase latency while other cores load memory.

The chase runs in the worker, pinned to one core. The load runs in a second
process (`python -m kernels.loaded`) on the other cores: a triad with an
injected per-element delay, so each delay level gives one point of the
(bandwidth, latency) curve. Two processes because Numba cannot run two
parallel regions at once in one process.

Protocol on the load process's stdin/stdout, one line each:
  parent "run <delay>" -> load "running"; parent "stop" -> load
  "<elements> <seconds> <ok>"; parent "quit" ends it. "ready" is printed
  once the arrays are first-touched and the kernels compiled.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import numpy as np
from numba import njit, prange

from kernels import latency, plans
from suite.model import ErrorRecord, Outcome, measurement
from suite.spec import Job

SCALAR = 3.0
INIT_B, INIT_C = 2.0, 1.0
EXPECTED_A = INIT_B + SCALAR * INIT_C
TRIAD_BYTES_PER_ELEMENT = 24  # STREAM counting
CHUNK_ELEMENTS = 1 << 21  # at delay 0; shrinks with the delay to keep stop prompt
MIN_CHUNK_ELEMENTS = 8192
RAMP_SECONDS = 0.05  # let the load reach steady state before the chase starts
CHASE = {"quick": (3, 0.1), "standard": (5, 0.1), "full": (7, 0.2)}  # reps, s each


@njit(parallel=True, cache=True)
def triad_range(a, b, c, s, lo, hi):
    for i in prange(lo, hi):
        a[i] = b[i] + s * c[i]


@njit(parallel=True, cache=True)
def delayed_triad_range(a, b, c, s, lo, hi, delay):
    for i in prange(lo, hi):
        # A dependent multiply-add chain the compiler cannot drop; 0.5 is
        # its fixed point, so the stored value stays exact.
        d = 0.5
        for _ in range(delay):
            d = d * 0.5 + 0.25
        a[i] = b[i] + s * c[i] + (d - 0.5)


@njit(parallel=True, cache=True)
def fill(a, b, c, va, vb, vc):
    for i in prange(a.size):
        a[i] = va
        b[i] = vb
        c[i] = vc


@njit(parallel=True, cache=True)
def count_wrong(a, hi, expected):
    bad = 0
    for i in prange(hi):
        if a[i] != expected:
            bad += 1
    return bad


# -- the load process ----------------------------------------------------------
def load_main(args: dict) -> None:
    os.sched_setaffinity(0, args["cpus"])
    n = int(args["elements"])
    a, b, c = np.empty(n), np.empty(n), np.empty(n)
    fill(a, b, c, -1.0, INIT_B, INIT_C)
    triad_range(a, b, c, SCALAR, 0, 1)
    delayed_triad_range(a, b, c, SCALAR, 0, 1, 1)
    count_wrong(a, 1, EXPECTED_A)
    covered = 1
    _say("ready")
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            return
        if cmd[0] != "run":
            continue
        delay = int(cmd[1])
        chunk = max(MIN_CHUNK_ELEMENTS, CHUNK_ELEMENTS // (1 + delay))
        done, lo = 0, 0
        _say("running")
        t0 = time.perf_counter()
        while not select.select([sys.stdin], [], [], 0)[0]:
            hi = min(lo + chunk, n)
            if delay:
                delayed_triad_range(a, b, c, SCALAR, lo, hi, delay)
            else:
                triad_range(a, b, c, SCALAR, lo, hi)
            done += hi - lo
            lo = 0 if hi == n else hi
        seconds = time.perf_counter() - t0
        sys.stdin.readline()  # the "stop"
        covered = max(covered, min(n, done))
        ok = count_wrong(a, covered, EXPECTED_A) == 0
        _say(f"{done} {seconds} {int(ok)}")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class LoadProcess:
    """The load side, driven line by line."""

    def __init__(self, cpus, elements: int):
        env = dict(os.environ)
        env.update(plans.omp_env(cpus, "spread"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kernels.loaded",
             json.dumps({"cpus": list(cpus), "elements": elements})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def expect(self, word: str) -> None:
        line = self.proc.stdout.readline().strip()
        if line != word:
            raise RuntimeError(f"load process said {line!r}, expected {word!r} "
                               f"(exit status {self.proc.poll()})")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> tuple:
        self.send("stop")
        done, seconds, ok = self.proc.stdout.readline().split()
        return int(done), float(seconds), ok == "1"

    def close(self) -> None:
        try:
            self.send("quit")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


# -- the chase side (worker entry) ---------------------------------------------
def run_benchmark(job: Job) -> Outcome:
    p = job.params
    reps, rep_s = CHASE.get(job.profile.name, CHASE["standard"])
    load = LoadProcess(p["load_cpus"], int(job.settings["elements"]))
    try:
        size = int(job.settings["chase_bytes"])
        stride = plans.DEFAULT_STRIDE
        _mm, buffer = latency.chase_buffer(size, "on")
        latency.compile_kernels()
        chain = latency.Chain(buffer, latency.master_order(size, stride, "global"), size, stride)
        load.expect("ready")
        points = [("idle", None)] + [(d, d) for d in p["delays"]]
        records, errors = [], []
        base = {**{k: v for k, v in p.items() if k != "delays"}}
        for label, delay in points:
            if delay is not None:
                load.send(f"run {delay}")
                load.expect("running")
                time.sleep(RAMP_SECONDS)
            samples, ok = latency.measure_point(chain, reps, rep_s)
            gbs, load_ok, info = 0.0, True, {}
            if delay is not None:
                done, seconds, load_ok = load.stop()
                gbs = done * TRIAD_BYTES_PER_ELEMENT / seconds / 1e9
                info = {"load_seconds": round(seconds, 4)}
            params = {**base, "delay": label}
            valid = ok and load_ok
            info.update({"chase_cpu": p["chase_cpu"], "load_cpus": p["load_cpus"],
                         "delay_unit": "dependent multiply-adds per element",
                         "stride_bytes": stride, "thp_requested": "on",
                         "counting": "load bandwidth as STREAM counts triad (24 B/element)"})
            records.append(measurement(job.benchmark, params, "latency", "ns", samples,
                                       higher_is_better=False, validated=valid, info=info))
            records.append(measurement(job.benchmark, params, "bandwidth", "GB/s", [gbs],
                                       higher_is_better=True, value=gbs, validated=valid,
                                       info=info))
            if not ok:
                errors.append(ErrorRecord(job.benchmark, params, "invalid",
                                          "pointer chase ended on the wrong slot"))
            if not load_ok:
                errors.append(ErrorRecord(job.benchmark, params, "invalid",
                                          "load kernel wrote wrong values"))
        return Outcome(records=tuple(records), errors=tuple(errors))
    finally:
        load.close()


if __name__ == "__main__":
    load_main(json.loads(sys.argv[1]))
