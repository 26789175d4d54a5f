"""Summaries derived from memory-kernel records: saturation and plateaus."""
import math

from kernels import summaries
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


def test_four_plateaus_named_and_matching_sysinfo():
    sizes, lats = synthetic_curve()
    plateaus = summaries.detect_plateaus(sizes, lats)
    assert [round(p[2], 1) for p in plateaus] == [1.2, 4.5, 18.0, 95.0]
    named, warnings = summaries.name_plateaus(plateaus, sizes, CACHES)
    assert list(named) == ["L1", "L2", "L3", "DRAM"] and warnings == []


def test_single_spike_does_not_split_a_plateau():
    sizes, lats = synthetic_curve(noise=[(14, 3.0)])  # one noisy point inside L2
    assert len(summaries.detect_plateaus(sizes, lats)) == 4


def test_boundary_far_from_sysinfo_is_a_warning():
    sizes, lats = synthetic_curve()
    plateaus = summaries.detect_plateaus(sizes, lats)
    _, warnings = summaries.name_plateaus(plateaus, sizes, {1: 48 * KIB, 2: 16 * MIB,
                                                           3: 32 * MIB})
    assert any(w.startswith("L2 plateau ends near") for w in warnings)


def test_missing_level_is_reported():
    sizes, lats = synthetic_curve(levels=((48 * KIB, 1.2), (32 * MIB, 18.0)))
    named, warnings = summaries.name_plateaus(summaries.detect_plateaus(sizes, lats),
                                              sizes, CACHES)
    assert "DRAM" in named and "L1" in named
    assert any("expected 4" in w for w in warnings)


def system():
    cpus = [{"cpu": i, "core": i, "package": 0, "node": 0} for i in range(4)]
    caches = [{"level": lvl, "type": "Unified", "size_bytes": size, "cpus": [0, 1, 2, 3]}
              for lvl, size in CACHES.items()]
    return {"cpus": cpus, "caches": caches, "logical_cpus": 4}


def ctx():
    return PlanContext(PROFILES["quick"], system(), {})


def test_latency_summary_records_per_level():
    sizes, lats = synthetic_curve()
    recs = [measurement("latency.curve", {"shuffle": "global", "thp": "on", "stride": 128,
                                          "working_set_bytes": s}, "latency", "ns", [x],
                        higher_is_better=False) for s, x in zip(sizes, lats)]
    out = summaries.summarize_latency(recs, ctx())
    levels = {r.params["level"]: r.value for r in out.records}
    assert levels == {"L1": 1.2, "L2": 4.5, "L3": 18.0, "DRAM": 95.0}
    assert all(r.params["thp"] == "on" for r in out.records)
    assert out.warnings == ()


def test_stream_summary_saturation_and_per_core():
    bw = {1: 20.0, 2: 38.0, 4: 60.0}  # 4 cores; 90% of 60 is 54
    recs = [measurement("stream.sweep", {"threads": n, "bind": "spread", "kernel": "triad",
                                         "elements": 10}, "bandwidth", "GB/s", [v],
                        higher_is_better=True, value=v) for n, v in bw.items()]
    out = {r.metric: r.value for r in summaries.summarize_stream(recs, ctx()).records}
    assert out["bandwidth_single_core"] == 20.0
    assert out["bandwidth_all_cores"] == 60.0
    assert math.isclose(out["bandwidth_per_core_all_cores"], 15.0)
    assert out["saturation_cores"] == 4
    assert summaries.saturation_point({1: 10.0, 2: 19.0, 4: 20.0}) == 2


def test_invalid_inputs_make_invalid_summaries():
    recs = [measurement("stream.sweep", {"threads": n, "bind": "spread", "kernel": "copy"},
                        "bandwidth", "GB/s", [10.0 * n], higher_is_better=True,
                        validated=(n == 1)) for n in (1, 4)]
    assert not any(r.validated for r in summaries.summarize_stream(recs, ctx()).records)
