"""Summaries derived from memory-kernel records: saturation and plateaus."""
import math
import random

from kernels import summaries
from suite import stats
from suite.model import measurement
from suite.spec import PROFILES, PlanContext

KIB, MIB = 1 << 10, 1 << 20
CACHES = {1: 48 * KIB, 2: 2 * MIB, 3: 32 * MIB}


def synthetic_curve(levels=((48 * KIB, 1.2), (2 * MIB, 4.5), (32 * MIB, 18.0)), dram=95.0,
                    top=1 << 30, noise=()):
    """Half-octave sizes; each level's latency until its size, then a
    one-point transition, like a real lat_mem_rd curve."""
    sizes, lats = [], []
    k = 0
    while True:
        size = int(4096 * 2 ** (k / 2))
        if size > top:
            break
        lat = dram
        for limit, value in levels:
            if size <= limit:
                lat = value
                break
        sizes.append(size)
        lats.append(lat)
        k += 1
    for i, factor in noise:
        lats[i] *= factor
    return sizes, lats


def find(sizes, lats, caches=CACHES):
    return summaries.plateaus.find_plateaus(sizes, lats, caches)


def test_four_plateaus_named_and_matching_sysinfo():
    sizes, lats = synthetic_curve()
    found, warnings = find(sizes, lats)
    assert [(p.name, round(p.latency, 1)) for p in found] == [
        ("L1", 1.2), ("L2", 4.5), ("L3", 18.0), ("DRAM", 95.0)]
    assert warnings == []


def test_single_spike_does_not_split_a_plateau():
    sizes, lats = synthetic_curve(noise=[(14, 3.0)])  # one noisy point inside L2
    found, warnings = find(sizes, lats)
    assert [p.name for p in found] == ["L1", "L2", "L3", "DRAM"] and warnings == []
    assert round(found[1].latency, 1) == 4.5


def test_boundary_far_from_sysinfo_is_a_warning():
    sizes, lats = synthetic_curve()
    _, warnings = find(sizes, lats, {1: 48 * KIB, 2: 16 * MIB, 3: 32 * MIB})
    assert any(w.startswith("L2 plateau ends near") for w in warnings)


def test_missing_level_is_reported():
    sizes, lats = synthetic_curve(levels=((48 * KIB, 1.2), (32 * MIB, 18.0)))
    found, warnings = find(sizes, lats)
    names = [p.name for p in found]
    assert "DRAM" in names and "L1" in names and len(found) == 3
    assert any(w.startswith("no distinct") for w in warnings)


def test_without_cache_sizes_plateaus_are_named_in_order():
    sizes, lats = synthetic_curve()
    found, warnings = find(sizes, lats, {})
    assert [p.name for p in found] == ["L1", "L2", "L3", "DRAM"]
    assert [round(p.latency, 1) for p in found] == [1.2, 4.5, 18.0, 95.0]
    assert any("no cache sizes" in w for w in warnings)


def test_too_short_a_curve_has_no_plateau():
    assert find([4096], [1.2]) == ([], ["no latency plateau detected"])


# A curve measured on a 2-core VM (48 KiB L1d, 2 MiB L2, a 300 MiB shared L3
# of which one core sees about 8 MiB): medians at the quick profile's sizes.
VM_SIZES = [int(4096 * 2 ** (k / 2)) // 128 * 128 for k in range(37)] + [1200 * MIB]
VM_NS = [2.05] * 7 + [3.8] + [6.7] * 4 + [7.3] * 3 + [8.2, 9.5, 15.7, 33.5] + [45.0] * 3 + [
    55.0, 137.0, 147.0, 155.0] + [150.0] * 5 + [162.0] * 3 + [185.0] * 4
VM_CACHES = {1: 48 * KIB, 2: 2 * MIB, 3: 300 * MIB}


def noisy_vm_curve(rng, repetitions=4):
    """The VM curve as a shared machine disturbs it: every repetition off by
    a few percent, one in five slowed up to 2.5x, and a noisy neighbour
    slowing all repetitions of a few neighbouring points; each point the
    median of its repetitions, as the benchmark records it."""
    burst = rng.randrange(len(VM_NS) - 3)
    out = []
    for i, ns in enumerate(VM_NS):
        reps = []
        for _ in range(repetitions):
            x = ns * rng.lognormvariate(0, 0.05)
            if rng.random() < 0.2:
                x *= rng.uniform(1.3, 2.5)
            reps.append(x)
        if burst <= i < burst + 3:
            reps = [x * 1.2 for x in reps]
        out.append(stats.median(reps))
    return out


def test_noisy_vm_curves_give_the_same_plateaus_run_after_run():
    rng = random.Random(7)
    ends = set()
    for _ in range(40):
        lats = noisy_vm_curve(rng)
        found, _ = find(VM_SIZES, lats, VM_CACHES)
        by = {p.name: p for p in found}
        assert list(by) == ["L1", "L2", "L3", "DRAM"]
        ends.add(VM_SIZES[by["L3"].last])
        # Each level within the noise put in (spikes that can move a median
        # of four by 1.75x, and a 1.2x burst).
        for name, true_ns in (("L1", 2.05), ("L2", 7.0), ("L3", 45.0), ("DRAM", 155.0)):
            assert abs(math.log(by[name].latency / true_ns)) < math.log(1.5), name
    # The L3/DRAM boundary stays between 4 and 12 MiB in every run.
    assert ends <= {VM_SIZES[i] for i in (20, 21, 22)}


def test_vm_curve_boundary_mismatch_is_a_stable_warning():
    _, warnings = find(VM_SIZES, VM_NS, VM_CACHES)
    assert [w.split(" plateau")[0] for w in warnings] == ["L3"]


def system():
    cpus = [{"cpu": i, "core": i, "package": 0, "node": 0} for i in range(4)]
    caches = [{"level": lvl, "type": "Unified", "size_bytes": size, "cpus": [0, 1, 2, 3]}
              for lvl, size in CACHES.items()]
    return {"cpus": cpus, "caches": caches, "logical_cpus": 4}


def ctx():
    return PlanContext(PROFILES["quick"], system(), {})


def test_latency_summary_records_per_level():
    sizes, lats = synthetic_curve()
    recs = [measurement("latency.chase", {"shuffle": "global", "thp": "on", "stride": 128,
                                          "working_set_bytes": s}, "latency", "ns", [x],
                        higher_is_better=False) for s, x in zip(sizes, lats)]
    out = summaries.summarize_latency(recs, ctx())
    levels = {r.params["level"]: r.value for r in out.records}
    assert levels == {"L1": 1.2, "L2": 4.5, "L3": 18.0, "DRAM": 95.0}
    assert all(r.params["thp"] == "on" for r in out.records)
    assert out.warnings == ()


def test_stream_summary_saturation_and_per_core():
    bw = {1: 20.0, 2: 38.0, 4: 60.0}  # 4 cores; 90% of 60 is 54
    recs = [measurement("stream.triad", {"threads": n, "bind": "spread",
                                         "elements": 10}, "bandwidth", "GB/s", [v],
                        higher_is_better=True, value=v) for n, v in bw.items()]
    out = {r.metric: r.value for r in summaries.summarize_stream(recs, ctx()).records}
    assert out["bandwidth_single_core"] == 20.0
    assert out["bandwidth_all_cores"] == 60.0
    assert math.isclose(out["bandwidth_per_core_all_cores"], 15.0)
    assert out["saturation_cores"] == 4
    assert summaries.saturation_point({1: 10.0, 2: 19.0, 4: 20.0}) == 2


def test_invalid_inputs_make_invalid_summaries():
    recs = [measurement("stream.copy", {"threads": n, "bind": "spread"},
                        "bandwidth", "GB/s", [10.0 * n], higher_is_better=True,
                        validated=(n == 1)) for n in (1, 4)]
    assert not any(r.validated for r in summaries.summarize_stream(recs, ctx()).records)


def latency_records(sizes, lats):
    return [measurement("latency.chase", {"shuffle": "global", "thp": "on", "stride": 128,
                                          "working_set_bytes": s}, "latency", "ns", [x],
                        higher_is_better=False) for s, x in zip(sizes, lats)]


def test_dram_plateau_uses_only_working_sets_of_four_llc_or_more():
    # Between the 32 MiB LLC and 4x it a random walk still hits the cache
    # part of the time: those points must not pull the DRAM figure down.
    sizes, lats = synthetic_curve(top=256 * MIB)
    lats = [60.0 if 32 * MIB < s < 128 * MIB else x for s, x in zip(sizes, lats)]
    out = summaries.summarize_latency(latency_records(sizes, lats), ctx())
    dram = next(r for r in out.records if r.params["level"] == "DRAM")
    assert dram.value == 95.0
    assert min(dram.info["dram_points_bytes"]) >= 4 * CACHES[3]
    assert dram.info["dram_min_working_set_bytes"] == 4 * CACHES[3]


def test_curve_short_of_four_llc_says_dram_is_not_measured():
    sizes, lats = synthetic_curve(top=100 * MIB)
    out = summaries.summarize_latency(latency_records(sizes, lats), ctx())
    assert "DRAM" not in {r.params["level"] for r in out.records}
    assert any("DRAM latency not measured" in w for w in out.warnings)


def test_saturation_is_interpolated_between_measured_counts():
    # Vera-like: 90% of 600 GB/s is 540, crossed between 64 (480) and 72 (560).
    curve = {1: 20.0, 32: 400.0, 64: 480.0, 72: 560.0, 80: 590.0, 88: 600.0}
    assert summaries.saturation_point(curve) == 72
    assert summaries.interpolated_saturation(curve) == 70.0
    assert summaries.interpolated_saturation({1: 10.0, 2: 10.0}) == 1.0
    recs = [measurement("stream.triad", {"threads": n, "bind": "spread"},
                        "bandwidth", "GB/s", [v], higher_is_better=True, value=v)
            for n, v in curve.items()]
    out = {r.metric: r for r in summaries.summarize_stream(recs, ctx()).records}
    assert out["saturation_cores_interpolated"].value == 70.0
    assert out["saturation_cores"].info["interpolated_cores"] == 70.0


def test_a_segment_with_no_point_near_its_median_still_has_a_flat_part():
    """Two points far apart (the smoke profile's short curves): the median lies
    between them, the flat part is the nearer one, not an error."""
    p = summaries.plateaus._plateau("L1", 0, 1, [1.0, 3.0])
    assert p.flat_first == p.flat_last in (0, 1) and p.latency == 2.0
