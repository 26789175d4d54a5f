import pytest

from suite import meaning
from suite.headline import as_text, caption, headline
from suite.model import measurement

SYSTEM = {"logical_cpus": 2, "physical_cores": 2, "model_name": "Test CPU",
          "microarchitecture": {"name": "zen4"}}
NO_ENERGY = {"available": False, "reason": "no powercap or hwmon sensors (VM)"}


def rec(bench, metric, value, params=None, unit="u", hib=True, validated=True, info=None):
    return measurement(bench, params or {}, metric, unit, [value], higher_is_better=hib,
                       validated=validated, info=info or {})


def by_key(rows):
    return {r["key"]: r for r in rows}


def full_run():
    stream = [
        rec("stream.triad", "bandwidth_per_core", 9.0, {"threads": 1}, "GB/s/core"),
        rec("stream.triad", "bandwidth_per_core", 6.0, {"threads": 2}, "GB/s/core"),
        rec("stream.copy", "bandwidth_per_core", 99.0, {"threads": 2}, "GB/s/core"),
        rec("stream.triad", "bandwidth", 12.0, {"threads": 2}, "GB/s",
            info={"energy": NO_ENERGY}),
        rec("stream.triad", "bandwidth", 9.0, {"threads": 1}, "GB/s"),
    ]
    return stream + [
        rec("latency.chase", "latency", 95.0, {"level": "DRAM"}, "ns", hib=False),
        rec("latency.chase", "latency", 1.2, {"level": "L1"}, "ns", hib=False),
        rec("compile.c", "throughput", 4.0, {"jobs": 1}, "compiles/s"),
        rec("compile.c", "throughput", 7.0, {"jobs": 2}, "compiles/s"),
        rec("tools.code_exec", "throughput", 300.0, {"concurrency": 4}, "calls/s"),
        rec("tools.code_exec", "latency_p99", 12.5, {"concurrency": 4}, "ms", hib=False),
        rec("tools.json_transform", "throughput", 900.0, {"concurrency": 2}, "calls/s"),
        rec("agent.step", "agents_per_core", 3.0, {}, "agents/core"),
        rec("db.point", "throughput", 5e4, {}, "queries/s", validated=False),
        rec("corun.compile.c", "slowdown", 1.4, {}, "x", hib=False),
        rec("corun.compile.c", "p99_inflation", 2.0, {}, "x", hib=False),
    ]


def test_rows_pick_the_right_figures():
    rows = by_key(headline(full_run(), SYSTEM))
    assert rows["bandwidth_per_core_1core"]["value"] == 9.0
    assert rows["bandwidth_per_core_allcore"]["value"] == 6.0  # triad, not copy
    assert rows["bandwidth_per_core_allcore"]["note"] is None  # 2 threads = every CPU
    assert rows["bandwidth_allcore"]["value"] == 12.0
    assert rows["dram_latency"]["value"] == 95.0
    assert rows["compile_throughput:compile.c"]["value"] == 7.0
    tools = rows["tool_calls:tools.code_exec"]
    assert tools["value"] == 300.0 and tools["note"] == "p99 12.5 ms"
    assert rows["tool_calls:tools.json_transform"]["label"] == "Tool calls/s (tools.json_transform)"
    assert rows["agents_per_core"]["display"] == "3 agents/core"
    corun = rows["corun_slowdown:corun.compile.c"]
    assert corun["value"] == 1.4 and corun["note"] == "p99 inflation 2 x"


def test_dram_latency_prefers_the_plain_curve():
    recs = [rec("latency.chase", "latency", 80.0, {"level": "DRAM", "shuffle": "tlb", "thp": "on"},
                "ns", hib=False),
            rec("latency.chase", "latency", 95.0, {"level": "DRAM", "shuffle": "global",
                                                   "thp": "on"}, "ns", hib=False)]
    assert by_key(headline(recs, SYSTEM))["dram_latency"]["value"] == 95.0


def test_invalid_records_show_no_number():
    row = by_key(headline(full_run(), SYSTEM))["queries:db.point"]
    assert row["status"] == "invalid" and row["value"] is None
    assert row["display"] == "invalid"


def test_absent_benchmarks_say_not_measured():
    rows = headline([], SYSTEM)
    assert len(rows) == len(meaning.headline_rows()) + 2  # every row once, plus energy and cost
    assert all(r["status"] in ("not measured", "unavailable") for r in rows)
    assert by_key(rows)["tool_calls"]["display"] == "not measured"


def test_summary_record_wins_over_the_sweep():
    recs = full_run() + [rec("stream.triad", "bandwidth_per_core_all_cores", 5.5,
                             {"bind": "spread", "summary": True},
                             "GB/s/core")]
    assert by_key(headline(recs, SYSTEM))["bandwidth_per_core_allcore"]["value"] == 5.5


def test_partial_sweep_is_flagged():
    recs = [rec("stream.triad", "bandwidth_per_core", 9.0, {"threads": 1})]
    row = by_key(headline(recs, {"logical_cpus": 8}))["bandwidth_per_core_allcore"]
    assert row["note"] == "largest run used 1 of 8 CPUs"


def test_energy_unavailable_carries_the_reason():
    row = by_key(headline(full_run(), SYSTEM))["per_joule"]
    assert row["status"] == "unavailable"
    assert row["note"] == NO_ENERGY["reason"]


def test_energy_from_record_readings():
    reading = {"available": True, "total_joules": 100.0, "seconds": 10.0,
               "average_watts": 10.0, "total_from": ["package-0"]}
    recs = [rec("stream.triad", "bandwidth", 20.0, {"threads": 2}, "GB/s",
                info={"energy": reading})]
    row = by_key(headline(recs, SYSTEM))["per_joule:stream.triad:gb_per_joule"]
    assert row["value"] == pytest.approx(2.0) and row["unit"] == "GB/J"
    assert row["label"] == "GB per joule (stream.triad)"


def test_cost_rows_from_the_run_option():
    doc = {"run": {"options": {"cost_per_hour": 3.6}}, "system": SYSTEM,
           "results": [r.to_dict() for r in full_run()]}
    rows = by_key(headline(doc))
    assert rows["cost:tools.code_exec:cost_per_million_calls"]["value"] == pytest.approx(1 / 300 * 1e6 / 1e3)
    assert rows["cost:tools.code_exec:cost_per_million_calls"]["unit"] == "$"
    assert "cost" not in rows
    assert by_key(headline(full_run(), SYSTEM))["cost"]["note"].endswith("--cost-per-hour")
    priced_nothing = by_key(headline([], SYSTEM, cost_per_hour=2.0))["cost"]
    assert priced_nothing["note"] == "no throughput record in this run to price"


def test_text_rendering_and_caption():
    text = as_text(headline(full_run(), SYSTEM))
    assert "DRAM latency" in text and "95 ns" in text
    assert caption(SYSTEM) == "Test CPU (zen4) 2 cores / 2 CPUs"
