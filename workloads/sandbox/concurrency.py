"""Many sandboxes at once: thread fan-out and the concurrency levels swept."""
from __future__ import annotations

import threading
import time


def run_concurrently(call, concurrency: int, calls_per_worker: int) -> tuple:
    """`concurrency` threads each make `calls_per_worker` sequential calls
    of `call()`. Returns (per-call latencies in s, results, batch wall s).
    The sandboxed processes do the work, so threads are enough to keep
    `concurrency` of them alive at once."""
    latencies: list = []
    results: list = []
    lock = threading.Lock()
    failure: list = []

    def worker() -> None:
        for _ in range(calls_per_worker):
            t0 = time.perf_counter()
            try:
                res = call()
            except Exception as exc:  # reported by the caller, not lost in a thread
                failure.append(exc)
                return
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                results.append(res)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if failure:
        raise failure[0]
    return latencies, results, wall


def concurrency_levels(cpus: int) -> list:
    """1, cores and 2 x cores (cores = online logical CPUs, what `nproc` says)."""
    return sorted({1, max(1, cpus), 2 * max(1, cpus)})
