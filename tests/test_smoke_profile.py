"""The smoke profile: every benchmark id, at concurrency 1 and 2 and tiny
sizes whatever the machine (a 2 x 88-core Vera plans no bigger than this VM),
and the emulated run's table of id -> status (tests/arm/emulated_checks.py)."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from kernels import plans
from kernels import specs as kernel_specs
from kernels.profiles import DEPTH as MEMORY_DEPTH
from suite.model import ErrorRecord, measurement
from suite.spec import PROFILES, PlanContext, registry
from tests.test_kernels_plans import machine

ROOT = Path(__file__).resolve().parent.parent
SMOKE = PROFILES["smoke"]
TWO_VERA = machine(2, 88, 2, 2 << 20, 164 << 20)  # 352 logical CPUs, 2 x 164 MiB L3


def ctx(system=TWO_VERA, **options) -> PlanContext:
    return PlanContext(SMOKE, system, options)


def test_every_benchmark_id_is_in_the_smoke_profile():
    assert [s.id for s in registry() if "smoke" not in s.profiles] == []


def test_one_repetition_and_the_fewest_stream_trials():
    assert (SMOKE.min_runs, SMOKE.max_runs, MEMORY_DEPTH["smoke"].stream_ntimes) == (1, 1, 2)
    assert SMOKE.levels([1, 176, 352]) == [1, 2]
    assert PROFILES["quick"].levels([1, 176, 352]) == [1, 176, 352]


def test_memory_plans_stay_tiny_on_two_veras():
    stream = kernel_specs.plan_stream(ctx())
    assert [c.params["threads"] for c in stream] == [1, 2]
    cap = MEMORY_DEPTH["smoke"]
    assert {c.settings["elements"] for c in stream} == {cap.max_array_elements}
    (latency,) = kernel_specs.plan_latency(ctx())
    assert latency.settings["working_sets"][-1] == cap.max_working_set_bytes
    (loaded,) = kernel_specs.plan_loaded(ctx())
    assert loaded.settings["chase_bytes"] == cap.max_working_set_bytes
    assert loaded.settings["elements"] == cap.max_array_elements
    (native,) = kernel_specs.plan_native(ctx())
    assert native.settings["elements"] == cap.max_array_elements
    # The quick profile on the same machine sizes from its 164 MiB L3s.
    (quick_loaded,) = kernel_specs.plan_loaded(PlanContext(PROFILES["quick"], TWO_VERA, {}))
    assert quick_loaded.settings["chase_bytes"] >= 4 * (164 << 20)


def test_an_explicit_array_size_still_wins():
    (first, _) = kernel_specs.plan_stream(ctx(array_mib=2))
    assert first.settings["elements"] == (2 << 20) // 8


def test_agent_workload_plans_use_concurrency_1_and_2():
    from workloads.compile import specs as compile_specs
    from workloads.db import specs as db_specs
    from workloads.tools import specs as tool_specs

    assert [c.params["jobs"] for c in compile_specs.plan_compile(ctx())] == [1, 2]
    assert db_specs.client_counts(ctx()) == [1, 2]
    (matrix,) = tool_specs._planner("noop")(ctx())
    assert matrix.params["matrix"]["pool"] == [1, 2]


def test_a_child_or_a_jvm_per_level_runs_once_at_the_top_level():
    """Where each level costs a child process, a build or a cold model's
    process per call, smoke runs concurrency 2 alone: the code path is the
    same at 1 and 2, and the 30 s budget is not."""
    from workloads.compile import specs as compile_specs
    from workloads.runtime import specs as runtime_specs
    from workloads.tools import specs as tool_specs

    assert [c.params["concurrency"] for c in compile_specs.plan_cycles(ctx())] == [2]
    assert [c.params for c in compile_specs.plan_source(ctx())] == [{"jobs": 2, "tree": "generated"}]
    (linux,) = compile_specs.plan_linux(ctx())
    assert linux.settings == {"build": False}
    (matrix,) = tool_specs._planner("noop")(ctx())
    assert matrix.params["matrix"] == {"pool": [1, 2], "fresh": [2], "sandbox": [2]}
    (table,) = tool_specs._planner("table_query")(ctx())
    assert table.params["matrix"] == {"pool": [1, 2], "fresh": [2]}
    assert [c.params["threads"] for c in tool_specs.plan_tokenizer(ctx())] == [2]
    assert [c.params["jobs"] for c in runtime_specs.plan_compile(ctx())] == [2]
    (tools,) = runtime_specs.plan_tools(ctx())
    assert set(tools.params["matrix"]) == set(runtime_specs.TOOLS)
    assert max(max(levels) for levels in tools.params["matrix"].values()) == 2
    # The quick profile on the same machine: javac with jobs = cores.
    quick = PlanContext(PROFILES["quick"], TWO_VERA, {})
    assert [c.params["jobs"] for c in runtime_specs.plan_compile(quick)] == [352]


def test_corun_hog_buffers_stay_small_and_every_workload_runs():
    from workloads.corun import specs as corun

    (config,) = corun.plan_corun(ctx())
    assert config.settings["elements"] == MEMORY_DEPTH["smoke"].max_array_elements
    assert config.settings["chase_bytes"] == MEMORY_DEPTH["smoke"].max_working_set_bytes
    assert all("smoke" in s.profiles for s in corun.SPECS)


@pytest.mark.skipif(not (shutil.which("make") and shutil.which("cc")), reason="needs make and cc")
def test_generated_source_tree_builds_and_its_test_program_answers(tmp_path):
    from workloads.compile.corpus import generate
    from workloads.compile.source import GENERATED_PRODUCT, write_generated_tree

    write_generated_tree(str(tmp_path), seed=3)
    subprocess.run(["make", "-j2"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    out = subprocess.run([str(tmp_path / GENERATED_PRODUCT)], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    assert out.strip() == f"checksum {generate('tiny', 3).checksum(3):08x}"
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert not (tmp_path / GENERATED_PRODUCT).exists()


# -- the emulated run's table -----------------------------------------------------
def _emulated_checks():
    spec = importlib.util.spec_from_file_location("emulated_checks",
                                                  ROOT / "tests" / "arm" / "emulated_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Doc:
    def __init__(self, records=(), errors=()):
        self.results, self.errors = list(records), list(errors)


def rec(bench, validated=True):
    return measurement(bench, {}, "rate", "1/s", [1.0], higher_is_better=True, validated=validated)


def test_table_passes_validated_ids_and_accepted_skips_only():
    checks = _emulated_checks()
    doc = Doc(records=[rec("a.ok"), rec("b.invalid", validated=False), rec("e.mixed")],
              errors=[ErrorRecord("c.crash", {}, "crash", "signal 11"),
                      ErrorRecord("d.skip", {}, "skipped", "bwrap: no user namespaces"),
                      ErrorRecord("compile.linux", {}, "skipped",
                                  "prerequisites present (x); the build itself runs in the full "
                                  "profile only (tens of minutes)"),
                      ErrorRecord("e.mixed", {}, "timeout", "after 120 s")])
    rows = {bench: (ok, status) for bench, ok, status in checks.smoke_table(
        doc, ["a.ok", "b.invalid", "c.crash", "d.skip", "compile.linux", "e.mixed", "f.none"])}
    assert rows["a.ok"] == (True, "validated (1 records)")
    assert rows["compile.linux"][0] is True
    for bench, word in (("b.invalid", "invalid"), ("c.crash", "crash"), ("d.skip", "emulation"),
                        ("e.mixed", "timeout"), ("f.none", "no record")):
        ok, status = rows[bench]
        assert not ok and status.startswith("FAIL") and word in status, (bench, status)


def test_smoke_corun_windows_are_short_but_hold_many_hog_chunks_and_quick_keeps_its_own():
    from kernels.loaded import CHUNK_SECONDS
    from workloads.corun.specs import DEPTH as CORUN_DEPTH

    smoke, quick = CORUN_DEPTH["smoke"], CORUN_DEPTH["quick"]
    assert (smoke.rounds, smoke.window_s, smoke.ramp_s) == (1, 0.06, 0.02)
    # The hog's figure needs two chunk ends inside a window (kernels.loaded.window_rate).
    assert smoke.window_s >= 30 * CHUNK_SECONDS and smoke.ramp_s >= 5 * CHUNK_SECONDS
    assert smoke.runtime_warmup_ms < quick.runtime_warmup_ms
    assert smoke.agent_probe_s < quick.agent_probe_s
    assert (quick.window_s, quick.ramp_s, quick.runtime_warmup_ms, quick.agent_probe_s) == \
        (0.3, 0.05, 500, 0.2)


def test_smoke_windows_are_the_shortest_and_the_quick_rows_stay_as_they_were():
    from workloads.db.specs import DEPTH as DB_DEPTH
    from workloads.tools.specs import DEPTH as TOOLS_DEPTH
    from workloads.vector.specs import VECTOR_DEPTH

    tools, db, vector = TOOLS_DEPTH["smoke"], DB_DEPTH["smoke"], VECTOR_DEPTH["smoke"]
    assert (tools.window_s, tools.min_calls, tools.one_child, tools.tools_share_child) == \
        (0.05, 2, True, True)
    assert (db.round_s, db.warmup_s, db.one_child) == (0.02, 0.01, True)
    assert (vector.round_s, vector.warmup_s) == (0.02, 0.01)
    quick_tools, quick_db = TOOLS_DEPTH["quick"], DB_DEPTH["quick"]
    assert (quick_tools.window_s, quick_tools.one_child, quick_tools.tools_share_child) == \
        (0.5, False, False)
    assert (quick_db.round_s, quick_db.warmup_s, quick_db.one_child) == (0.5, 0.1, False)
    assert (VECTOR_DEPTH["quick"].round_s, VECTOR_DEPTH["quick"].warmup_s) == (0.5, 0.1)
