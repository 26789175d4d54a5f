"""The interferers of the co-run benchmarks, each in its own process on the hog cores.

* ``triad``: STREAM Triad over arrays 4x the last-level cache, at full speed
  (the load process of the loaded-latency benchmark, `kernels.loaded`). It
  takes all the bandwidth it can get. Figure: GB/s, STREAM counting.
* ``chase``: one dependent pointer chase per hog core over a random cycle 4x
  the last-level cache (the chase of the latency benchmarks). It moves few
  bytes, but every load misses the caches and most miss the TLB: the
  interference of latency-bound work (memory-controller queues, page walks,
  cache pollution) rather than of bandwidth. Figure: ns per load.

Both speak kernels.lineprotocol: "ready" once set up, "run <arg>" ->
"running", "stop" -> "<work done> <seconds> <ok>", "quit". Both processes
check their own work: the triad its stored values, the chase
(workloads.corun.chase) that every chain ended on the slot the visiting
order predicts. This module is their parent's side and imports no Numba.
"""
from __future__ import annotations

from kernels import plans
from kernels.lineprotocol import TRIAD_BYTES_PER_ELEMENT, LoadProcess, ProtocolProcess

HOGS = ("triad", "chase")
TRIAD_FULL_SPEED = 0  # kernels.loaded's injected delay per element: none
CHASE_THP = "on"  # huge pages: faster set-up, and the chase hog is the same on every run


class _Hog:
    """A hog process driven over kernels.lineprotocol. Subclasses
    name their figure (name, figure, unit, higher_is_better) and convert
    the process's "<work done> <seconds> <ok>" into it."""

    name = figure = unit = ""
    higher_is_better = True
    run_argument = 0

    def __init__(self, cpus, process: ProtocolProcess):
        self.cpus, self.process = list(cpus), process
        self._ready = False

    def wait_ready(self) -> None:
        if not self._ready:
            self.process.expect("ready")
            self._ready = True

    def start(self) -> None:
        self.process.send(f"run {self.run_argument}")
        self.process.expect("running")

    def stop(self, t_start: float | None = None, t_end: float | None = None) -> tuple:
        """(the figure over the window [t_start, t_end] of time.monotonic(),
        or since start without one; the process's own check passed). A
        window holding fewer than two of the hog's chunk ends gives no
        figure: (0.0, False)."""
        done, seconds, ok = self.process.stop(t_start, t_end)
        if done <= 0 or seconds <= 0:
            return 0.0, False
        return self.figure_of(done, seconds), ok

    def figure_of(self, done: int, seconds: float) -> float:
        raise NotImplementedError

    def close(self) -> None:
        self.process.close()


class TriadHog(_Hog):
    """STREAM Triad on the hog cores (kernels.loaded's load process)."""

    name = "triad"
    figure, unit, higher_is_better = "bandwidth", "GB/s", True
    run_argument = TRIAD_FULL_SPEED

    def __init__(self, cpus, elements: int):
        self.elements = int(elements)
        super().__init__(cpus, LoadProcess(list(cpus), self.elements))

    def figure_of(self, done: int, seconds: float) -> float:
        return done * TRIAD_BYTES_PER_ELEMENT / seconds / 1e9

    def info(self) -> dict:
        return {"hog": "STREAM Triad at full speed (kernels.loaded)", "hog_cpus": self.cpus,
                "hog_array_bytes": plans.STREAM_ARRAYS * self.elements * plans.FLOAT64_BYTES,
                "hog_counting": "STREAM: 24 bytes per element"}


class ChaseHog(_Hog):
    """One dependent pointer chase per hog core (this module run as a process)."""

    name = "chase"
    figure, unit, higher_is_better = "latency", "ns", False

    def __init__(self, cpus, working_set: int, stride: int = plans.DEFAULT_STRIDE):
        self.working_set, self.stride = int(working_set), int(stride)
        super().__init__(cpus, _ChaseProcess(list(cpus), self.working_set, self.stride))

    def figure_of(self, loads: int, seconds: float) -> float:
        return seconds * len(self.cpus) / loads * 1e9  # each chain's loads are sequential

    def info(self) -> dict:
        return {"hog": "dependent pointer chase, one chain per hog core", "hog_cpus": self.cpus,
                "hog_working_set_bytes": self.working_set, "hog_stride_bytes": self.stride,
                "hog_thp_requested": CHASE_THP}


def make_hog(kind: str, cpus, *, elements: int, working_set: int):
    if kind == "triad":
        return TriadHog(cpus, elements)
    if kind == "chase":
        return ChaseHog(cpus, working_set)
    raise ValueError(f"unknown hog {kind!r}; accepted: {', '.join(HOGS)}")


class _ChaseProcess(ProtocolProcess):
    """workloads.corun.chase run as the process."""

    def __init__(self, cpus: list, working_set: int, stride: int):
        super().__init__("workloads.corun.chase", cpus,
                         {"cpus": cpus, "bytes": working_set, "stride": stride})
