"""Repeat a measurement until it is stable: the shared repetition policy.

Benchmarks call this from inside their worker; the policy comes from the
profile so every benchmark in a run follows the same rule.
"""
from __future__ import annotations

import time
from typing import Callable

from suite import stats
from suite.spec import Profile


def repeat_until_stable(
    measure_once: Callable[[], float],
    profile: Profile,
    *,
    warmup: int = 1,
    min_runs: int | None = None,
    max_runs: int | None = None,
    time_budget_s: float | None = None,
) -> list:
    """Call `measure_once` and collect its values.

    Warm-up calls are discarded. After `min_runs` samples, more are taken
    while the coefficient of variation exceeds the profile's target, up to
    `max_runs` or until `time_budget_s` (measured from the first sample) runs
    out.
    """
    lo = profile.min_runs if min_runs is None else min_runs
    hi = max(lo, profile.max_runs if max_runs is None else max_runs)
    for _ in range(warmup):
        measure_once()
    samples: list = []
    start = time.perf_counter()
    while len(samples) < hi:
        samples.append(float(measure_once()))
        if len(samples) < lo:
            continue
        c = stats.cv(samples)
        if c is None or c <= profile.cv_target:
            break
        if time_budget_s is not None and time.perf_counter() - start > time_budget_s:
            break
    return samples
