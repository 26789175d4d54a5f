"""The chase hog's process: one dependent pointer chase per hog core over a
random cycle, driven over kernels.lineprotocol by workloads.corun.hogs.ChaseHog
(`python -m workloads.corun.chase <json args>`)."""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from numba import njit, prange

from kernels import latency
from kernels.lineprotocol import read_stop, serve, stop_requested, window_rate
from workloads.corun.hogs import CHASE_THP

# Loads per chain between two looks at stdin: ~2-15 ms at 100-900 ns a load, so a
# stop is prompt. A multiple of the chase kernel's unroll (8).
CHASE_STEPS_PER_CHUNK = 1 << 14


@njit(parallel=True, cache=True)
def chase_all(chain, starts, steps, ends):
    """Every chain follows `steps` loads from its start; ends[t] is where chain t stopped."""
    for t in prange(starts.size):
        ends[t] = latency.chase(chain, starts[t], steps)


def chase_main(args: dict) -> None:
    cpus = args["cpus"]
    os.sched_setaffinity(0, cpus)
    nbytes, stride = int(args["bytes"]), int(args["stride"])
    _mm, buffer = latency.chase_buffer(nbytes, CHASE_THP)
    chain = latency.Chain(buffer, latency.master_order(nbytes, stride, "global"), nbytes, stride)
    # Chains start evenly spaced on the one cycle; `at` is each chain's
    # position in the visiting order, so its next slot is known in advance.
    at = np.array([t * chain.slots // len(cpus) for t in range(len(cpus))], dtype=np.int64)
    pos = (chain.order[at] * chain.step).astype(np.uint64)
    ends = np.empty_like(pos)
    chase_all(chain.chain, pos, latency.UNROLL, ends)  # compile (or load from cache)

    def run(_argument: int) -> tuple:
        nonlocal at, pos, ends
        loads, ok = 0, True
        marks = [(time.monotonic(), 0)]
        while True:  # at least one chunk, so every stop reports a latency
            chase_all(chain.chain, pos, CHASE_STEPS_PER_CHUNK, ends)
            at = (at + CHASE_STEPS_PER_CHUNK) % chain.slots
            ok = ok and bool(np.array_equal(ends, chain.order[at] * chain.step))
            pos, ends = ends, pos
            loads += CHASE_STEPS_PER_CHUNK * len(cpus)
            marks.append((time.monotonic(), loads))
            if stop_requested():
                break
        # Only the chunks that ended inside the caller's window count.
        loads, seconds = window_rate(marks, *read_stop())
        return loads, seconds, ok

    serve(run)


if __name__ == "__main__":
    chase_main(json.loads(sys.argv[1]))
