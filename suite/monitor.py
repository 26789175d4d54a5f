"""Utilization of a benchmark child while it runs: CPU busy %, context
switches, peak memory.

The runner wraps every benchmark child process in a UtilizationMonitor; the
summary goes into each record's `info["utilization"]`, so a reader can see
whether a figure came from a busy or an idle machine and how much memory the
configuration really used.

Sampling runs in a background thread of the parent at about 10 Hz. When the
child is pinned, the thread pins itself to the other CPUs (Linux applies
`sched_setaffinity(0, ...)` to the calling thread only), so the observer does
not steal time from the measured cores; on a machine where the child uses
every CPU that is impossible and the summary says so.
"""
from __future__ import annotations

import os
import resource
import threading
import time
from typing import Iterable

import psutil

from suite.cgroupclock import CgroupClock
from suite.sysinfo import parse_cpulist

PROC_STAT = "/proc/stat"


# -- per-CPU busy time --------------------------------------------------------
def _cpu_times() -> dict:
    """{cpu id: (busy ticks, total ticks)} for every online CPU.

    /proc/stat names each line with its CPU id, which stays right when some
    CPUs are offline; psutil's per-CPU list is only positional, so it is the
    fallback for systems without /proc.
    """
    try:
        with open(PROC_STAT) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    out: dict = {}
    for line in lines:
        head, _, rest = line.partition(" ")
        if not head.startswith("cpu") or head == "cpu":
            continue
        fields = [int(x) for x in rest.split()]
        # user nice system idle iowait irq softirq steal (guest is inside user)
        total = sum(fields[:8])
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        out[int(head[3:])] = (total - idle, total)
    if out:
        return out
    for i, t in enumerate(psutil.cpu_times(percpu=True)):
        idle = t.idle + getattr(t, "iowait", 0.0)
        total = sum(t)
        out[i] = (total - idle, total)
    return out


def _busy_pct(first: dict, last: dict) -> dict:
    pct: dict = {}
    for cpu, (busy1, total1) in last.items():
        busy0, total0 = first.get(cpu, (busy1, total1))
        span = total1 - total0
        pct[cpu] = round(100.0 * (busy1 - busy0) / span, 1) if span > 0 else None
    return pct


# -- the child's process tree -------------------------------------------------
def _thread_status(pid: int) -> tuple | None:
    """(voluntary, involuntary, CPUs) over every thread of `pid`: context
    switches summed, and the CPUs its threads other than the main one may
    run on.

    /proc/<pid>/status counts the main thread only; worker threads (Numba,
    thread pools) switch too, so sum /proc/<pid>/task/*/status. A thread
    may be pinned apart from its process (a first touch by every CPU of a
    NUMA node), and the process's affinity is the main thread's.
    """
    task_dir = f"/proc/{pid}/task"
    try:
        tids = os.listdir(task_dir)
    except OSError:
        return None
    vol = invol = 0
    cpus: set = set()
    for tid in tids:
        try:
            with open(f"{task_dir}/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol += int(line.split()[1])
                    elif line.startswith("Cpus_allowed_list:") and tid != str(pid):
                        cpus.update(parse_cpulist(line.split(":", 1)[1]))
        except (OSError, ValueError, IndexError):
            continue  # thread exited between listdir and open
    return vol, invol, cpus


class _ProcessTree:
    """Latest counters of every process seen in the child's tree.

    Processes that exit between samples keep their last observed counts, so
    short-lived grandchildren (compiler passes, tool calls) still count
    as far as sampling caught them.
    """

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.baseline: dict = {}  # key -> (vol, invol) at first sight, if already running
        self.latest: dict = {}  # key -> dict(vol, invol, cpu_s)
        self.peak_rss = 0
        self.root_hwm = 0
        self.root_cpus: tuple | None = None  # affinity as last seen (the worker pins itself)
        self.affinity: dict = {}  # key -> CPUs the process may run on, as last seen
        # key -> every CPU one of its other threads was seen allowed on: those
        # may be pinned apart and end between samples.
        self.thread_cpus: dict = {}
        self.procs: dict = {}  # pid -> psutil.Process, so each is created once
        self.first = True

    def _members(self) -> list:
        pids = _descendant_pids(self.root.pid)
        if pids is None:  # no /proc/<pid>/task/<tid>/children: psutil scans all of /proc
            try:
                return [self.root] + self.root.children(recursive=True)
            except psutil.Error:
                return []
        members = [self.root]
        for pid in pids:
            if pid not in self.procs:
                try:
                    self.procs[pid] = psutil.Process(pid)
                except psutil.Error:
                    continue
            members.append(self.procs[pid])
        return members

    def sample(self) -> None:
        rss_sum = 0
        for proc in self._members():
            try:
                key = (proc.pid, proc.create_time())
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    times = proc.cpu_times()
                    allowed = tuple(sorted(proc.cpu_affinity()))
                    if proc is self.root:
                        self.root_cpus = allowed
                    ctx = _thread_status(proc.pid)
                    if ctx is None:
                        c = proc.num_ctx_switches()
                        ctx = (c.voluntary, c.involuntary, set())
            except psutil.Error:
                continue
            rss_sum += rss
            self.affinity[key] = allowed
            self.thread_cpus.setdefault(key, set()).update(ctx[2])
            if self.first:
                self.baseline[key] = ctx[:2]
            self.latest[key] = {"vol": ctx[0], "invol": ctx[1],
                                "cpu_s": times.user + times.system}
        self.first = False
        self.peak_rss = max(self.peak_rss, rss_sum)
        self.root_hwm = max(self.root_hwm, _vm_hwm(self.root.pid))

    def cpus_used(self) -> set:
        """Every CPU some process of the tree was last allowed to run on, and
        every CPU one of their threads was seen allowed on."""
        return set().union(*self.affinity.values(), *self.thread_cpus.values())

    def cpu_seconds(self) -> float:
        return sum(c["cpu_s"] for c in self.latest.values())

    def summary(self) -> dict:
        vol = invol = 0
        cpu_s = 0.0
        for key, c in self.latest.items():
            b_vol, b_invol = self.baseline.get(key, (0, 0))
            vol += c["vol"] - b_vol
            invol += c["invol"] - b_invol
            cpu_s += c["cpu_s"]
        return {
            "ctx_switches": vol + invol,
            "ctx_switches_voluntary": vol,
            "ctx_switches_involuntary": invol,
            # The root's kernel high-water mark catches peaks between samples.
            "peak_rss_bytes": max(self.peak_rss, self.root_hwm),
            "processes_seen": len(self.latest),
            "process_cpu_seconds": round(cpu_s, 3),
        }


def _descendant_pids(pid: int) -> list | None:
    """Every descendant of `pid`, from /proc/<pid>/task/<tid>/children.

    Costs a few small reads per process instead of psutil's scan of every
    process on the machine (milliseconds per sample on a busy server).
    None when the kernel lacks the file (CONFIG_PROC_CHILDREN).
    """
    if not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
        return None
    found: list = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tids = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except (OSError, ValueError):
                continue
            found.extend(kids)
            stack.extend(kids)
    return found


def _vm_hwm(pid: int) -> int:
    """Kernel peak RSS (VmHWM) of one process in bytes; 0 when unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _system_ctx_switches() -> int | None:
    try:
        return int(psutil.cpu_stats().ctx_switches)
    except (psutil.Error, OSError, AttributeError):
        return None


# -- the monitor --------------------------------------------------------------
class UtilizationMonitor:
    """Sample a child process tree and the machine's CPUs in the background.

    >>> mon = UtilizationMonitor(pid=child.pid, interval_s=0.1, exclude_cpus=(1,))
    >>> mon.start(); ...; summary = mon.stop()
    """

    def __init__(self, pid: int | None = None, interval_s: float = 0.1,
                 exclude_cpus: Iterable[int] | None = None):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.pid = pid
        self.interval_s = float(interval_s)
        # CPUs the sampler must stay off (the child's CPUs).
        self.exclude_cpus = None if exclude_cpus is None else frozenset(exclude_cpus)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._samples = 0
        self._monitor_cpus: tuple | None = None
        self._monitor_cpu_s = 0.0
        self._tree: _ProcessTree | None = None
        self._tree_error: str | None = None
        self._clock = None  # CgroupClock of the child's processes, when there is a child

    # The thread samples once right away, then every interval until stopped;
    # stop() takes the closing sample itself so the window ends exactly then.
    def start(self) -> "UtilizationMonitor":
        if self._thread is not None:
            raise RuntimeError("monitor already started")
        self._t0 = time.monotonic()
        self._cpu0 = _cpu_times()
        self._ticks0 = _cpu_ticks()
        self._children0, self._self0 = _children_cpu_seconds(), _self_cpu_seconds()
        self._ctx0 = _system_ctx_switches()
        if self.pid is not None:
            # Before it starts anything: all it starts is counted from here.
            self._clock = CgroupClock(self.pid, _descendant_pids(self.pid) or ())
            try:
                self._tree = _ProcessTree(self.pid)
            except psutil.Error as exc:
                self._tree_error = f"process {self.pid} not observable: {exc}"
                self._tree = None
        self._sample_tree()
        self._thread = threading.Thread(target=self._run, name="utilization-monitor",
                                        daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        self._monitor_cpus = _pin_off(self.exclude_cpus)
        t_cpu = time.thread_time()
        while not self._stop.wait(self.interval_s):
            self._sample_tree()
        self._monitor_cpu_s = time.thread_time() - t_cpu

    def _sample_tree(self) -> None:
        with self._lock:
            if self._tree is not None:
                self._tree.sample()
            self._samples += 1

    def stop(self) -> dict:
        if self._thread is None:
            raise RuntimeError("monitor not started")
        self._stop.set()
        self._thread.join()
        self._sample_tree()
        seconds = time.monotonic() - self._t0
        per_cpu = _busy_pct(self._cpu0, _cpu_times())
        ctx1 = _system_ctx_switches()
        out = self._summary(seconds, per_cpu, ctx1)
        try:
            out["interference"] = self._interference(seconds, out["monitor_off_measured_cpus"])
        finally:
            if self._clock is not None:
                self._clock.close()
        return out

    def _interference(self, seconds: float, monitor_off: bool) -> dict:
        """Other processes' CPU time and steal on the benchmark's CPUs over
        the window (see `interference`)."""
        ticks1 = _cpu_ticks()
        tree_cpus = self._tree.cpus_used() if self._tree is not None else set()
        cpus = sorted((tree_cpus or set(self.exclude_cpus or ()) or set(ticks1)) & set(ticks1))
        if not cpus or not self._ticks0:
            return {"percent": None, "disturbed": None,
                    "unavailable": "no per-CPU times (/proc/stat) on this system"}
        busy = sum(ticks1[c][0] - self._ticks0.get(c, ticks1[c])[0] for c in cpus) / _USER_HZ
        steal = sum(ticks1[c][1] - self._ticks0.get(c, ticks1[c])[1] for c in cpus) / _USER_HZ
        benchmark, source = self._benchmark_cpu_seconds()
        # Our own sampling counts against the window only where it ran on those
        # CPUs (a thread of the tree may have used the CPUs it was pinned off to).
        monitor_off = monitor_off and not set(self._monitor_cpus or ()) & set(cpus)
        harness = 0.0 if monitor_off else _self_cpu_seconds() - self._self0
        return {**interference(seconds, cpus, busy, steal, benchmark, harness),
                "benchmark_cpu_source": source}

    def _benchmark_cpu_seconds(self) -> tuple:
        """(CPU seconds of the benchmark's processes, how they were counted).

        Its cgroup counts every process it started and nothing else.
        Without one: the harness's rusage counts the processes reaped up an
        unbroken chain of parents (not those in a sandbox's PID namespace,
        whose init the host's init reaps), sampling those alive at a
        sample; the larger of the two, and the reason there is no cgroup.
        """
        clock = self._clock
        in_cgroup = clock.seconds() if clock is not None else None
        if in_cgroup is not None:
            return in_cgroup, "cgroup"
        counted = {"reaped children": _children_cpu_seconds() - self._children0}
        if self._tree is not None:
            counted["sampled process tree"] = self._tree.cpu_seconds()
        best = max(counted, key=counted.get)
        if clock is None:
            return counted[best], best
        return counted[best], f"{best} (no cgroup: {clock.unavailable or 'its CPU time is unreadable'})"

    def _summary(self, seconds: float, per_cpu: dict, ctx1: int | None) -> dict:
        cpus = sorted(per_cpu)
        known = [per_cpu[c] for c in cpus if per_cpu[c] is not None]
        busy: dict = {
            "cpus": cpus,
            "per_cpu": [per_cpu[c] for c in cpus],
            "mean": round(sum(known) / len(known), 1) if known else None,
        }
        child_cpus = self._tree.root_cpus if self._tree is not None else None
        if child_cpus:
            mine = [per_cpu[c] for c in child_cpus if per_cpu.get(c) is not None]
            busy["child_cpus"] = list(child_cpus)
            busy["child_cpus_mean"] = round(sum(mine) / len(mine), 1) if mine else None
        out = {
            "interval_s": self.interval_s,
            "samples": self._samples,
            "seconds": round(seconds, 3),
            "cpu_busy_pct": busy,
            "system_ctx_switches": (ctx1 - self._ctx0
                                    if ctx1 is not None and self._ctx0 is not None else None),
            "monitor_cpus": list(self._monitor_cpus) if self._monitor_cpus else None,
            "monitor_off_measured_cpus": bool(
                self._monitor_cpus and self.exclude_cpus
                and not set(self._monitor_cpus) & self.exclude_cpus),
            "monitor_cpu_seconds": round(self._monitor_cpu_s, 4),
        }
        if self._tree is not None:
            out.update(self._tree.summary())
        else:
            out.update({"ctx_switches": None, "peak_rss_bytes": None})
            if self._tree_error:
                out["process_unavailable"] = self._tree_error
        return out


# -- interference: other processes and the hypervisor on the benchmark's CPUs --
# A record is marked disturbed when processes outside the benchmark's own
# tree, plus the hypervisor (steal), took more than this share of its CPUs'
# time during the configuration. 10% is twice pyperf's 5% instability
# level: a neighbour taking that much moves a CPU-bound figure by more than
# the profiles' CV targets.
DISTURBED_PERCENT = 10.0
_USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_ticks() -> dict:
    """{cpu: (busy ticks without steal, steal ticks)} from /proc/stat."""
    try:
        with open(PROC_STAT) as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        head, _, rest = line.partition(" ")
        if not head.startswith("cpu") or head == "cpu":
            continue
        f = [int(x) for x in rest.split()] + [0] * 8
        # user nice system idle iowait irq softirq steal
        out[int(head[3:])] = (f[0] + f[1] + f[2] + f[5] + f[6], f[7])
    return out


def _children_cpu_seconds() -> float:
    """CPU time of this process's reaped children and their descendants."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _self_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def interference(window_s: float, cpus, busy_s: float, steal_s: float, benchmark_s: float,
                 harness_s: float = 0.0, threshold: float = DISTURBED_PERCENT) -> dict:
    """Interference on `cpus` over a window, in percent of those CPUs' time:
    busy time that is neither the benchmark's tree nor our own sampling (so
    other processes, interrupts, kernel threads), plus steal. `disturbed`
    says why when it is above `threshold`, else None."""
    capacity = window_s * len(cpus)
    other = max(0.0, busy_s - benchmark_s - harness_s)
    percent = 100.0 * (other + steal_s) / capacity if capacity > 0 else None
    disturbed = None
    if percent is not None and percent > threshold:
        disturbed = (f"interference {percent:.0f}% of CPU time on the benchmark's "
                     f"{len(cpus)} CPU(s) (other processes {other:.2f} s, steal "
                     f"{steal_s:.2f} s in {window_s:.1f} s; threshold {threshold:g}%)")
    return {
        "percent": None if percent is None else round(percent, 1),
        "other_cpu_seconds": round(other, 3),
        "steal_seconds": round(steal_s, 3),
        "benchmark_cpu_seconds": round(benchmark_s, 3),
        "cpus": list(cpus),
        "window_seconds": round(window_s, 3),
        "window": "the configuration's child process, start to exit",
        "threshold_percent": threshold,
        "disturbed": disturbed,
    }


def _pin_off(exclude: frozenset | None) -> tuple | None:
    """Pin the calling thread to the allowed CPUs outside `exclude`.

    Returns the CPUs the thread may run on afterwards (None when affinity is
    not supported on this platform).
    """
    try:
        allowed = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    if exclude:
        free = allowed - exclude
        if free:
            try:
                os.sched_setaffinity(0, free)
                allowed = free
            except OSError:
                pass
    return tuple(sorted(allowed))
