"""How far the memory kernels go in each profile: their one profile table.

A row per profile of suite.spec.PROFILES (tests/test_profiles.py checks
that every benchmark's table has them all): adding a profile is adding a
row here.
"""
from __future__ import annotations

from dataclasses import dataclass

ALL_CURVES = (("global", "on"), ("global", "off"), ("tlb", "on"), ("tlb", "off"))


@dataclass(frozen=True)
class MemoryDepth:
    stream_ntimes: int  # STREAM trials (the first is dropped)
    latency_curves: tuple  # (shuffle, thp) variants of the latency curve
    # (repetitions per point, seconds per repetition); every point takes
    # >= 100 ms in total. A point's value is the median of its repetitions,
    # which one disturbed repetition cannot move on a shared machine.
    latency_repetitions: tuple
    latency_to_gib: bool  # the curve reaches at least 1 GiB, not only 4x the LLC
    # Delay (dependent multiply-adds after each 64-byte line) injected into
    # the loaded-latency bandwidth kernel: none first, then lighter loads
    # (the Intel MLC idea).
    load_delays: tuple
    loaded_chase: tuple  # (repetitions, seconds each) per loaded-latency point
    native_pairs: int  # interleaved Numba/C pairs; the performance target uses >= 5
    # Caps below the machine-derived sizes (None: none): largest chase
    # working set, and elements per STREAM or load array.
    max_working_set_bytes: int | None = None
    max_array_elements: int | None = None


DEPTH = {
    # smoke: every code path, not the machine: working sets past L2 (a
    # plateau boundary crossed), arrays of STREAM's 1M-element minimum.
    "smoke": MemoryDepth(stream_ntimes=2, latency_curves=ALL_CURVES[:1],
                         latency_repetitions=(1, 0.005), latency_to_gib=False,
                         load_delays=(0, 256), loaded_chase=(1, 0.01), native_pairs=1,
                         max_working_set_bytes=8 << 20, max_array_elements=1_000_000),
    # quick: the huge-page curve only, an unloaded and a loaded point, one
    # native pair: STREAM's arrays stay at 4x the LLC (the figures must hold),
    # so on a large-LLC machine the depth is what gives to meet the budget.
    "quick": MemoryDepth(stream_ntimes=4, latency_curves=ALL_CURVES[:1],
                         latency_repetitions=(4, 0.025), latency_to_gib=False,
                         load_delays=(0, 256), loaded_chase=(3, 0.075), native_pairs=1),
    "standard": MemoryDepth(stream_ntimes=11, latency_curves=ALL_CURVES,
                            latency_repetitions=(5, 0.06), latency_to_gib=True,
                            load_delays=(0, 16, 64, 256, 1024), loaded_chase=(5, 0.1),
                            native_pairs=5),
    "full": MemoryDepth(stream_ntimes=21, latency_curves=ALL_CURVES,
                        latency_repetitions=(7, 0.1), latency_to_gib=True,
                        load_delays=(0, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
                        loaded_chase=(7, 0.2), native_pairs=9),
}
