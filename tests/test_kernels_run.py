"""Memory kernels end to end on tiny sizes: answers checked, errors caught."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import numba
from numba import njit, prange

from kernels import latency, stream
from kernels.profiles import DEPTH
from suite.spec import PROFILES, Job

ROOT = Path(__file__).resolve().parents[1]
CPUS = sorted(os.sched_getaffinity(0))
SYSTEM = {
    "logical_cpus": len(CPUS),
    "cpus": [{"cpu": c, "core": i, "package": 0, "node": 0} for i, c in enumerate(CPUS)],
    "caches": [{"level": 1, "type": "Data", "size_bytes": 48 << 10, "cpus": [c]} for c in CPUS]
    + [{"level": 2, "type": "Unified", "size_bytes": 2 << 20, "cpus": CPUS}],
    "memory": {"total_bytes": 8 << 30, "available_bytes": 4 << 30},
}


SIZE_SETTINGS = ("elements", "chase_bytes")  # plan-computed sizes travel as settings


STREAM_IDS = tuple(f"stream.{k.name}" for k in stream.KERNELS)


def job(benchmark, params, profile="quick", options=None, benchmarks=()):
    settings = {k: params.pop(k) for k in SIZE_SETTINGS if k in params}
    return Job(benchmark, params, PROFILES[profile], SYSTEM, options or {}, 60.0,
               settings=settings, benchmarks=benchmarks)


def test_stream_tiny_run_is_validated_with_every_metric():
    out = stream.run_benchmark(job("stream.copy", {"threads": 1, "bind": "spread",
                                                  "elements": 100_000}, benchmarks=STREAM_IDS))
    assert out.errors == ()
    metrics = {(r.benchmark, r.metric) for r in out.records}
    for k in ("copy", "scale", "add", "triad", "dot", "nstream"):
        for m in ("bandwidth", "bandwidth_wa", "bandwidth_per_core"):
            assert (f"stream.{k}", m) in metrics
    assert all(r.params == {"threads": 1, "bind": "spread"} for r in out.records)
    triad = next(r for r in out.records if r.benchmark == "stream.triad"
                 and r.metric == "bandwidth")
    assert triad.validated and triad.value == max(triad.samples)
    assert len(triad.samples) == DEPTH["quick"].stream_ntimes - 1  # first trial dropped
    assert triad.info["threading_layer"] in ("omp", "tbb", "workqueue")
    assert "compile_seconds" in triad.info


@njit(parallel=True)
def wrong_triad(a, b, c, s, bounds):
    for i in prange(a.size):
        a[i] = b[i] + s * c[i] * (1.0 + 1e-9)


def test_validation_catches_a_wrong_kernel(monkeypatch):
    bad = tuple(stream.Kernel(k.name, wrong_triad, k.bytes_per_element, k.write_allocate_bytes)
                if k.name == "triad" else k for k in stream.KERNELS)
    monkeypatch.setattr(stream, "KERNELS", bad)
    out = stream.run_benchmark(job("stream.triad", {"threads": 1, "elements": 50_000}))
    assert out.records and not any(r.validated for r in out.records)
    assert {r.benchmark for r in out.records} == {"stream.triad"}  # the selected kernel only
    assert out.errors and all(e.kind == "invalid" for e in out.errors)
    assert "relative error" in out.errors[0].message


def test_peak_option_adds_efficiency():
    j = job("stream.copy", {"threads": 1, "elements": 50_000}, options={"peak_gbs": 1000.0},
            benchmarks=STREAM_IDS)
    eff = [r for r in stream.run_benchmark(j).records if r.metric == "efficiency"]
    assert len(eff) == 6 and all(0 < r.value < 1 for r in eff)


def follow(chain, start, n):
    seen, p = [], start
    for _ in range(n):
        seen.append(p)
        p = int(chain[p])
    return seen, p


@pytest.mark.parametrize("shuffle", ["global", "tlb"])
def test_permutation_is_one_cycle_over_every_slot(shuffle):
    stride, size = 128, 3 * latency.tlb_group_bytes(4096) + 4096  # a partial last group
    buf = np.zeros(size // 8, dtype=np.uint64)
    order = latency.master_order(size, stride, shuffle)
    chain = latency.Chain(buf, order, size, stride)
    seen, back = follow(buf, chain.start, chain.slots)
    assert back == chain.start  # closes after exactly n loads ...
    assert sorted(seen) == [i * 16 for i in range(chain.slots)]  # ... visiting each slot once
    small = latency.Chain(buf, order, size // 4 // stride * stride, stride)  # a filtered prefix
    seen, back = follow(buf, small.start, small.slots)
    assert back == small.start and sorted(seen) == [i * 16 for i in range(small.slots)]


def test_an_order_dealt_into_buckets_is_one_cycle_mixing_the_whole_range():
    stride = 128
    slots = 5 * latency.SHUFFLE_BUCKET_SLOTS // 2 + 3  # three buckets, the last partial
    buf = np.zeros(slots * stride // 8, dtype=np.uint64)
    order = latency.master_order(slots * stride, stride, "global")
    chain = latency.Chain(buf, order, slots * stride, stride)
    seen, back = follow(buf, chain.start, chain.slots)
    assert back == chain.start and sorted(seen) == [i * 16 for i in range(slots)]
    # Each stretch of the order draws on every part of the buffer: no bucket
    # is a block of neighbouring slots.
    for part in np.array_split(order, 5):
        assert np.histogram(part, bins=5, range=(0, slots))[0].min() > 0.15 * part.size
    assert (latency.master_order(slots * stride, stride, "global", seed=2) != order).any()


@pytest.mark.parametrize("page_bytes", [4096, 64 << 10])
def test_tlb_variant_stays_inside_a_group_before_moving_on(page_bytes):
    stride = 128
    group = latency.tlb_group_bytes(page_bytes) // stride
    order = latency.master_order(4 * latency.tlb_group_bytes(page_bytes), stride, "tlb",
                                 page_bytes=page_bytes)
    groups = [order[i:i + group] // group for i in range(0, order.size, group)]
    assert all(len(set(g)) == 1 for g in groups)


def test_tlb_groups_follow_the_page_size_in_use():
    # 64 pages of the size in use: 2 MiB huge pages make 128 MiB groups.
    assert latency.tlb_group_bytes(4096) == 256 << 10
    assert latency.tlb_group_bytes(2 << 20) == 128 << 20
    assert latency.page_bytes_in_use("off", 1 << 30) == latency.mmap.PAGESIZE
    assert latency.page_bytes_in_use("on", 0) == latency.mmap.PAGESIZE  # THP gave none
    assert latency.page_bytes_in_use("on", 4 << 20) == latency.huge_page_bytes()


def recording_chase(visited):
    """A pure-Python chase with the Numba kernel's signature that notes every slot."""
    def walk(chain, start, steps):
        p = int(start)
        for _ in range(steps):
            visited.add(p)
            p = int(chain[p])
        return p
    return walk


def test_repetitions_continue_the_walk_and_cover_every_slot(monkeypatch):
    size, stride = 1 << 20, 128  # 8192 slots
    buf = np.zeros(size // 8, dtype=np.uint64)
    chain = latency.Chain(buf, latency.master_order(size, stride, "global"), size, stride)
    visited = set()
    monkeypatch.setattr(latency, "calibrate", lambda chain, rep_s, kernel=None: 64)
    monkeypatch.setattr(latency, "chase", recording_chase(visited))
    samples, ok, footprint, _ = latency.measure_point(chain, 4, 1e-4)
    assert ok and len(samples) == 4
    assert len(visited) == chain.slots  # the timed loads saw the whole working set
    assert footprint == size


def test_a_cache_sized_set_is_walked_in_several_placements(monkeypatch):
    # A 64 KiB set in an 8 MiB buffer: four 2 MiB-aligned regions, one per
    # repetition, each a whole valid cycle; a set the repetitions only walk
    # part of stays in one placement (the walk continues, as before).
    size, stride = 64 << 10, 128
    buf = np.zeros((8 << 20) // 8, dtype=np.uint64)
    chain = latency.Chain(buf, latency.master_order(size, stride, "global"), size, stride)
    starts = []
    real = latency.chase

    def spy(c, start, steps):
        starts.append((c.ctypes.data - buf.ctypes.data) // (2 << 20))
        return real(c, start, steps)
    monkeypatch.setattr(latency, "chase", spy)
    monkeypatch.setattr(latency, "calibrate", lambda chain, rep_s, kernel=None: 4096)
    samples, ok, footprint, placements = latency.measure_point(chain, 4, 1e-4, buf)
    assert ok and len(samples) == 4 and placements == 4 and footprint == size
    assert set(starts) == {0, 1, 2, 3}
    big = latency.Chain(buf, latency.master_order(8 << 20, stride, "global"), 8 << 20, stride)
    assert latency.measure_point(big, 4, 1e-4, buf)[3] == 1


def test_one_placement_is_timed_without_warm_up_passes(monkeypatch):
    # A DRAM-sized set's whole pass costs seconds: only a change of
    # placement earns one.
    size, stride = 1 << 20, 128
    buf = np.zeros(size // 8, dtype=np.uint64)
    chain = latency.Chain(buf, latency.master_order(size, stride, "global"), size, stride)
    calls = []
    real = latency.chase
    monkeypatch.setattr(latency, "calibrate", lambda chain, rep_s, kernel=None: 64)
    monkeypatch.setattr(latency, "chase", lambda c, start, steps: calls.append(steps)
                        or real(c, start, steps))
    assert latency.measure_point(chain, 4, 1e-4)[3] == 1
    assert len(calls) == 4


def test_each_run_starts_where_the_last_ended():
    size, stride = 64 << 10, 128
    buf = np.zeros(size // 8, dtype=np.uint64)
    chain = latency.Chain(buf, latency.master_order(size, stride, "global"), size, stride)
    starts = []
    real = latency.chase

    def spy(c, start, steps):
        starts.append(start)
        return real(c, start, steps)
    for _ in range(3):
        assert chain.run(64, spy)[1]
    assert starts == [chain.slot(0), chain.slot(64), chain.slot(128)]
    assert len(set(starts)) == 3


def test_chase_end_is_checked():
    buf = np.zeros(8192, dtype=np.uint64)
    chain = latency.Chain(buf, latency.master_order(65536, 64, "global"), 65536, 64)
    assert chain.run(4096)[1]
    buf[chain.start] = buf[int(buf[chain.start])]  # skip a slot: a broken chain
    assert not chain.run(4096)[1]


def test_latency_tiny_curve():
    out = latency.run_benchmark(job("latency.chase", {"shuffle": "global", "thp": "off",
                                                     "stride": 128, "sizes": [4096, 1 << 20]}))
    assert out.errors == ()
    assert [r.params["working_set_bytes"] for r in out.records] == [4096, 1 << 20]
    assert all(r.validated and r.value > 0 and r.unit == "ns" for r in out.records)
    assert "cycles_unavailable" in out.records[0].info  # no frequency in this system dict
    assert all(r.info["footprint_bytes"] >= r.params["working_set_bytes"] for r in out.records)


def test_huge_pages_follow_the_thp_parameter():
    if "[never]" in open("/sys/kernel/mm/transparent_hugepage/enabled").read():
        pytest.skip("transparent huge pages disabled on this machine")
    before = latency.anon_huge_bytes()
    mm_on, on = latency.chase_buffer(8 << 20, "on")
    after_on = latency.anon_huge_bytes()
    mm_off, off = latency.chase_buffer(8 << 20, "off")
    assert after_on - before > 0
    assert latency.anon_huge_bytes() - after_on == 0
    with pytest.raises(ValueError, match="accepted: on, off"):
        latency.chase_buffer(4096, "maybe")


def test_loaded_latency_tiny_and_delay_orders_bandwidth():
    from kernels import loaded
    load = CPUS[1:] or CPUS
    out = loaded.run_benchmark(job("latency.loaded", {
        "chase_cpu": CPUS[0], "load_cpus": load, "chase_bytes": 1 << 20,
        "elements": 200_000, "delays": [0, 256]}))
    assert out.errors == ()
    delays = [r.params["delay"] for r in out.records if r.metric == "bandwidth"]
    assert delays == ["idle", 0, 256]
    bw = {r.params["delay"]: r.value for r in out.records if r.metric == "bandwidth"}
    assert bw["idle"] == 0.0 and bw[256] > 0
    # Less delay is more load; 0.8 leaves room for a noisy neighbour.
    assert bw[0] >= 0.8 * bw[256]
    assert all(r.validated for r in out.records)


def test_load_delay_is_not_compiled_away():
    from kernels import loaded
    import time as clock
    n = 1 << 12  # 512 lines, in cache: memory speed does not enter
    a, b, c, bounds = stream.allocate(n, -1.0, loaded.INIT_B, loaded.INIT_C)

    def seconds(delay):
        loaded.delayed_triad_slices(a, b, c, loaded.SCALAR, bounds, 0, n, delay)  # warm
        best = float("inf")
        for _ in range(5):  # the fastest of five: a busy machine only adds time
            t0 = clock.perf_counter()
            loaded.delayed_triad_slices(a, b, c, loaded.SCALAR, bounds, 0, n, delay)
            best = min(best, clock.perf_counter() - t0)
        return best

    # 131072 dependent multiply-adds per line are some 60-300 ms of work
    # against a few microseconds for 1; a folded delay would make the two
    # equal. On a crowded machine waking the parallel region's threads alone
    # can take 15 ms, so the bound is 10x: still far from 1x.
    assert seconds(1 << 17) > 10 * seconds(1)
    assert loaded.count_wrong(a, bounds, n, loaded.EXPECTED_A) == 0


def test_load_threads_stream_only_their_own_chunk():
    from kernels import loaded
    bounds = np.array([0, 100, 200, 300], dtype=np.int64)
    a, b, c = np.full(300, -1.0), np.full(300, loaded.INIT_B), np.full(300, loaded.INIT_C)
    loaded.triad_slices(a, b, c, loaded.SCALAR, bounds, 90, 20)  # clipped at each chunk end
    written = np.flatnonzero(a == loaded.EXPECTED_A).tolist()
    assert written == [*range(90, 100), *range(190, 200), *range(290, 300)]
    assert loaded.slice_work(bounds, 90, 20) == 30
    assert loaded.count_wrong(a, bounds, 100, loaded.EXPECTED_A) == 270


@njit(parallel=True)
def chunk_owners(bounds):
    owner = np.empty(bounds.size - 1, dtype=np.int64)
    for t in prange(bounds.size - 1):
        owner[t] = numba.get_thread_id()
    return owner


def test_thread_k_gets_chunk_k_for_first_touch_and_kernels():
    # The static schedule hands chunk k to thread k, pinned to OMP place k:
    # first touch and every kernel then meet the same pages on one node.
    bounds = stream.thread_bounds(1 << 20)
    assert bounds.size - 1 == numba.get_num_threads()
    assert chunk_owners(bounds).tolist() == list(range(bounds.size - 1))


def test_node_touch_runs_every_share_on_its_cpu_or_its_fallback():
    from kernels import plans
    n = 4096
    a, b, c = (stream.aligned_empty(n) for _ in range(3))
    shares = (plans.TouchShare(CPUS[-1], CPUS[0], 0, 1000),
              plans.TouchShare(CPUS[0], CPUS[0], 1000, 3000),
              # A CPU this process may not use: its share goes to the fallback.
              plans.TouchShare(100_000, CPUS[0], 3000, n))
    before = sorted(os.sched_getaffinity(0))
    done = stream.touch_on_nodes(a, b, c, 1.0, 2.0, 3.0, shares)
    assert [s.cpu for s in done] == [CPUS[-1], CPUS[0], CPUS[0]]
    assert [(s.start, s.end) for s in done] == [(s.start, s.end) for s in shares]
    assert (a == 1.0).all() and (b == 2.0).all() and (c == 3.0).all()
    assert sorted(os.sched_getaffinity(0)) == before  # only the touching threads moved


def test_stream_with_fewer_threads_than_cpus_touches_on_every_cpu_of_the_node(monkeypatch):
    if len(CPUS) < 2:
        pytest.skip("needs two CPUs")
    monkeypatch.setenv("OMP_PLACES", "{%d}" % CPUS[0])
    monkeypatch.setattr(numba, "get_num_threads", lambda: 1)
    out = stream.run_benchmark(job("stream.triad", {"threads": 1, "bind": "spread",
                                                   "elements": 100_000},
                                   benchmarks=("stream.triad",)))
    assert out.errors == ()
    where = out.records[0].info["placement"]
    assert where["per_node"]["0"]["touch_cpus"] == CPUS
    assert where["first_touch"].startswith("every CPU of a node")
    assert all(r.validated for r in out.records)


def test_chunks_meet_on_2mib_between_nodes_on_2mib_aligned_arrays():
    from kernels import plans
    n = 10 * plans.CHUNK_ALIGN_ELEMENTS + 5
    bounds = plans.chunk_bounds(n, 4, [0, 0, 1, 1])
    assert bounds[0] == 0 and bounds[-1] == n
    assert bounds[2] % plans.CHUNK_ALIGN_ELEMENTS == 0  # the node 0 / node 1 boundary
    assert all(b % plans.LINE_ELEMENTS == 0 for b in bounds[:-1])
    assert stream.aligned_empty(1000).ctypes.data % plans.CHUNK_ALIGN_BYTES == 0
    one_node = plans.chunk_bounds(1000, 3)  # equal shares on lines
    assert max(np.diff(one_node)) - min(np.diff(one_node)) <= 8


def test_load_bandwidth_counts_only_the_chase_window():
    from kernels import loaded
    marks = [(0.0, 0), (1.0, 100), (2.0, 200), (3.0, 900), (4.0, 1000)]
    # Chunks ending at 1, 2, 3 lie inside [0.5, 3.5]: 800 elements in 2 s.
    assert loaded.window_rate(marks, 0.5, 3.5) == (800, 2.0)
    assert loaded.window_rate(marks, 0.5, 1.5) == (0, 0.0)  # one chunk end: no rate


@pytest.mark.skipif(not (shutil.which("gcc") or shutil.which("cc")), reason="no C compiler")
def test_native_check_tiny():
    from kernels.native import check
    out = check.run_benchmark(job("native.check", {"threads": 1, "elements": 200_000}))
    assert out.errors == ()
    ratios = {r.metric: r for r in out.records}
    assert set(ratios) == {"triad_ratio", "chase_dram_ratio", "chase_l1_ratio"}
    assert all(r.validated and r.value > 0 for r in ratios.values())
    assert ratios["triad_ratio"].info["flags"].startswith("-O3 -fopenmp")
    for metric in ("chase_dram_ratio", "chase_l1_ratio"):
        info = ratios[metric].info
        assert info["footprint_bytes"] >= info["working_set_bytes"]


def test_native_chase_pairs_continue_one_walk_over_every_slot(monkeypatch):
    from kernels.native import check
    size, stride = 1 << 20, 128
    buf = np.zeros(size // 8, dtype=np.uint64)
    chain = latency.Chain(buf, latency.master_order(size, stride, "global"), size, stride)
    numba_seen, native_seen = set(), set()
    monkeypatch.setattr(latency, "calibrate", lambda chain, rep_s, kernel=None: 64)
    monkeypatch.setattr(latency, "chase", recording_chase(numba_seen))

    class Native:
        chase = staticmethod(recording_chase(native_seen))
    rows, ok, footprint = check.chase_pairs(Native(), chain, 3)
    assert ok and len(rows) == 3
    assert len(numba_seen | native_seen) == chain.slots and footprint == size


def test_native_without_compiler_is_skipped(monkeypatch):
    from kernels.native import check
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(check, "build", lambda: (_ for _ in ()).throw(
        check.NativeUnavailable("no C compiler found")))
    out = check.run_benchmark(job("native.check", {"threads": 1, "elements": 1000}))
    assert out.records == () and out.errors[0].kind == "skipped"
    assert "no C compiler" in out.errors[0].message


def test_native_compiler_reports_missing(monkeypatch):
    from kernels import native
    from workloads.sandbox.backends import resolve_binary

    monkeypatch.setenv("PATH", "/nonexistent")
    resolve_binary.cache_clear()  # binaries are resolved once per process
    try:
        with pytest.raises(native.NativeUnavailable, match="no C compiler found"):
            native.native_compiler()
    finally:
        resolve_binary.cache_clear()
    assert native.arch_flags("aarch64") == ("-mcpu=native",)
    assert native.arch_flags("x86_64") == ("-march=native",)


def validate(*args):
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "suite", "validate", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("value, message", [("-1", "accepted: a finite number > 0"), ("1e9", "more than half")])
def test_validate_refuses_bad_array_size_in_one_line(value, message):
    out = validate("--array-mib", value)
    assert out.returncode == 2 and message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not (shutil.which("gcc") or shutil.which("cc")), reason="no C compiler")
def test_validate_prints_ratios():
    out = validate("--profile", "quick", "--array-mib", "16")
    assert out.returncode == 0, out.stderr
    for label in ("Triad bandwidth", "DRAM chase latency", "L1 chase latency"):
        assert label in out.stdout and "Numba/native" in out.stdout


def plain_copy(a, b, c, s, bounds):
    for i in prange(a.size):
        c[i] = a[i]


def test_library_calls_name_a_loop_the_compiler_made_memcpy(tmp_path):
    from kernels import librarycalls
    tiny = np.ones(8)
    args = (tiny, tiny, tiny, 1.0, stream.thread_bounds(8))
    # A whole-array prange copy is what LLVM turns into memcpy; the STREAM
    # kernels' per-thread loops are not (and the record says so).
    assert librarycalls.inspect_kernel(plain_copy, args) == ["memcpy"]
    calls = librarycalls.library_calls(stream.KERNELS, args, cache_dir=tmp_path)
    assert set(calls) == {k.name for k in stream.KERNELS}
    assert calls["copy"] == [] and calls["triad"] == []
    assert list(tmp_path.glob("*.json"))  # cached: the next run does not compile again
    assert librarycalls.calls_in("call void @llvm.memset.p0.i64(ptr %x, i8 0, i64 56, i1 false)",
                                 "") == set()


def test_bandwidth_wa_is_labelled_modelled():
    out = stream.run_benchmark(job("stream.copy", {"threads": 1, "elements": 50_000}))
    wa = [r for r in out.records if r.metric == "bandwidth_wa"]
    assert wa and all(r.info["modelled"] is True and "modelled" in r.info["counting"]
                      for r in wa)
    assert "copy" in wa[0].info["library_calls"]
