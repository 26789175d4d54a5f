"""Performance targets of the tools workload, measured side by side.

    .venv/bin/python tests/perf/tools.py [--skip-suite]

Prints: warm-pool no-op dispatch p50 next to a bare multiprocessing.Pool
round trip (target <= 0.3 ms), the load generator's own CPU at 1,000
calls/s open loop (target < 5% of one core), and the wall time of the quick
profile's tools and agent part (target <= 25 s, including child start-up).
"""
from __future__ import annotations

import multiprocessing
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from suite import stats  # noqa: E402
from workloads.tools import catalog, loadgen  # noqa: E402
from workloads.tools.calls import Call  # noqa: E402
from workloads.tools.pool import WarmPool  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quickrun import timed_quick_run  # noqa: E402

ROUNDS = 5  # interleaved rounds, each model measured once per round
CALLS = 2000


def _noop(_):
    return b""


def bare_pool_p50_ms(pool) -> float:
    lat = []
    for _ in range(CALLS):
        t = time.perf_counter()
        pool.apply(_noop, (0,))
        lat.append(time.perf_counter() - t)
    return stats.median(lat) * 1e3


def warm_pool_p50_ms(pool) -> float:
    lat = []
    for i in range(CALLS):
        t = time.perf_counter()
        pool.submit(Call(i, "noop", 0, t))
        done = []
        while not done:
            done = pool.wait(5.0)
        lat.append(time.perf_counter() - t)
    return stats.median(lat) * 1e3


def generator_cpu_percent(pool, rate: float = 1000.0, window_s: float = 3.0) -> float:
    r = loadgen.open_loop(pool, lambda n: ("noop", 0), lambda c: None, rate=rate, window_s=window_s)
    return 100.0 * r.generator_cpu_s / r.wall_s


def sleep_loop_cpu_percent(rate: float = 1000.0, window_s: float = 3.0) -> float:
    """A loop that only sleeps until each Poisson arrival: the floor any
    punctual generator pays on this machine (one timer wake-up per call)."""
    rng = random.Random(0)
    cpu0, t0 = time.process_time(), time.perf_counter()
    due = t0
    while due < t0 + window_s:
        due += rng.expovariate(rate)
        left = due - time.perf_counter()
        if left > 0:
            time.sleep(left)
    return 100.0 * (time.process_time() - cpu0) / (time.perf_counter() - t0)


def main() -> None:
    inputs = {"noop": catalog.TOOLS["noop"].make_inputs(1)}
    ours, bare, gen, floor = [], [], [], []
    with multiprocessing.get_context("fork").Pool(1) as mp_pool, \
            WarmPool({"noop": catalog.TOOLS["noop"].run}, inputs, 1, timeout_s=10) as warm:
        for _ in range(ROUNDS):
            bare.append(bare_pool_p50_ms(mp_pool))
            ours.append(warm_pool_p50_ms(warm))
        for _ in range(ROUNDS):
            floor.append(sleep_loop_cpu_percent())
            gen.append(generator_cpu_percent(warm))
    print(f"warm-pool no-op dispatch p50: {stats.median(ours):.3f} ms "
          f"(bare multiprocessing.Pool round trip {stats.median(bare):.3f} ms, "
          f"ratio {stats.median(ours) / stats.median(bare):.2f}; target <= 0.3 ms)")
    print(f"load generator CPU at 1000 calls/s: {stats.median(gen):.1f}% of one core "
          f"(rounds: {', '.join(f'{g:.1f}' for g in gen)}; target < 5%; a bare sleep loop "
          f"at the same arrivals: {stats.median(floor):.1f}%)")
    if "--skip-suite" in sys.argv:
        return
    run = timed_quick_run("tools", "agent")
    print(f"quick tools + agent wall time: {run.wall_s:.1f} s (exit {run.returncode}; {run.summary}; "
          f"target <= 25 s)")


if __name__ == "__main__":
    main()
