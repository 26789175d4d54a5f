"""`factorybench plan` on machines we do not have (fixture trees)."""
import json
from pathlib import Path

import pytest

from suite.commands import plan
from suite.sysinfo import collect
from suite.topology import Topology
from tests.conftest import run_in_process
from tests.fixtures import trees

MB = 1000 * 1000
SHARED_CPUINFO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "cpuinfo"


@pytest.fixture(scope="module")
def system_file(tmp_path_factory):
    def write(name):
        path = tmp_path_factory.mktemp(name) / "sysinfo.json"
        path.write_text(json.dumps(collect(str(trees.shared_root(name)), live=False)))
        return path
    return write


def full_plan(system_path, *words, profile="full"):
    return plan.build_plan(words, profile, plan.load_system(system_path),
                           {"stride": 128, "bind": "spread"})


def by_id(doc, benchmark):
    """Configurations that measure `benchmark` (a child may measure several)."""
    return [c for c in doc["configurations"] if benchmark in c["benchmarks"]]


def test_vera_like_full_plan(system_file):
    doc = full_plan(system_file("vera_like"), "memory")
    sweep = by_id(doc, "stream.triad")
    threads = [c["params"]["threads"] for c in sweep]
    # A saturation search that measures the knee between 64 and 88 cores.
    assert [n for n in threads if 64 < n < 88] == [72, 80]
    for c in sweep:
        n = c["params"]["threads"]
        # One thread per core before any SMT sibling.
        assert c["physical_cores"] == min(n, 88) and len(c["cpus"]) == n
        assert c["settings"]["elements"] * 8 >= 4 * 164 * MB  # STREAM arrays >= 4 x 164 MB
    assert max(threads) == 176
    chase = by_id(doc, "latency.chase") + by_id(doc, "latency.loaded")
    assert chase and all(c["cpus"] == [c["cpus"][0]] and c["cpus"][0] != 0 for c in chase)
    assert all(c["estimated_seconds"] > 0 for c in doc["configurations"])
    assert doc["estimated_seconds"] == pytest.approx(
        sum(c["estimated_seconds"] for c in doc["configurations"]), abs=1)


@pytest.mark.parametrize("name, cpus, nodes", [
    ("grace", 72, 1), ("two_vera", 352, 2), ("epyc_2s", 256, 2)])
def test_big_machines_plan_every_cpu_and_node(system_file, name, cpus, nodes):
    doc = full_plan(system_file(name), "memory")
    assert doc["system"]["logical_cpus"] == cpus and doc["system"]["numa_nodes"] == nodes
    widest = max(by_id(doc, "stream.triad"), key=lambda c: c["params"]["threads"])
    assert len(widest["cpus"]) == cpus
    assert len(widest["numa_cpus"]) == nodes  # both sockets' nodes, in the placement
    assert doc["errors"] == []


def test_json_output_and_text_output(system_file, capsys):
    path = system_file("two_vera")
    code, out, err = run_in_process(["plan", "memory", "--profile", "full", "--system",
                                     str(path), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert {"benchmark", "params", "settings", "cpus", "estimated_seconds"} <= set(
        doc["configurations"][0])
    code, out, err = run_in_process(["plan", "stream", "--system", str(path)], capsys)
    assert code == 0 and "SMT siblings" in out and "total:" in out


def test_a_result_file_is_accepted_as_the_system(tmp_path, system_file):
    system = json.loads(system_file("grace").read_text())
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"schema_version": 1, "system": system, "results": []}))
    assert plan.load_system(result)["hostname"] == "grace"


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not JSON"),
    ('{"hostname": "x"}', "describes no CPUs"),
    ('{"cpus": [{"cpu": "zero"}]}', "malformed 'cpus'"),
])
def test_bad_system_file_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, out, err = run_in_process(["plan", "--system", str(bad)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    code, _, err = run_in_process(["plan", "--system", str(tmp_path / "none.json")], capsys)
    assert code == 2 and "cannot read" in err


@pytest.mark.skipif(not SHARED_CPUINFO.is_dir(), reason="no ../shared cpuinfo dumps")
def test_plan_from_real_cpuinfo_dumps(tmp_path):
    # Real /proc/cpuinfo of Arm and x86 servers, without sysfs caches: the
    # LLC comes from the part table or the 1 GiB floor, never 0.
    dumps = [p for p in sorted(SHARED_CPUINFO.iterdir()) if p.is_file() and p.suffix != ".md"]
    for dump in dumps:
        root = tmp_path / dump.name
        (root / "proc").mkdir(parents=True)
        (root / "proc" / "cpuinfo").write_text(dump.read_text(errors="replace"))
        system = collect(str(root), live=False)
        assert any("cache" in w for w in system["warnings"]), dump.name
        doc = plan.build_plan(["stream"], "quick", system, {"stride": 128, "bind": "spread"})
        (sweep, *_) = by_id(doc, "stream.triad")
        # 4 x the LLC of the part table or cpuinfo, else the 1 GiB floor.
        llc = Topology.from_system(system).llc_bytes()
        assert sweep["settings"]["elements"] * 8 >= (4 * llc if llc else 1 << 30), dump.name
        assert sweep["settings"]["elements"] * 8 >= 64 << 20, dump.name
        assert "LLC" in sweep["settings"]["sizing"] or "unknown" in sweep["settings"]["sizing"]
    assert dumps


@pytest.mark.parametrize("name", ["grace", "vera_like", "two_vera", "epyc_2s"])
@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_configuration_has_an_estimate(system_file, name, profile):
    doc = full_plan(system_file(name), profile=profile)
    assert doc["configurations_without_estimate"] == 0
    assert all(c["estimated_seconds"] > 0 for c in doc["configurations"])
    assert doc["estimated_seconds"] == pytest.approx(
        sum(c["estimated_seconds"] for c in doc["configurations"]), abs=1)
    assert "cpu_seconds" in doc["assumptions"] and "gbs_per_core" in doc["assumptions"]


def test_workload_estimates_follow_the_profiles_durations(system_file):
    from workloads import estimates as est
    from workloads.db.specs import DEPTH as DB
    from workloads.tools.specs import DEPTH as TOOLS

    doc = full_plan(system_file("vera_like"), "db.point", "tools.noop", "compile.c")
    (sqlite,) = [c for c in by_id(doc, "db.point") if c["params"]["engine"] == "sqlite"]
    assert sqlite["params"]["clients"] == [1, 88, 176]
    # Per client count: a warm-up round, the full profile's 10 rounds of 1 s,
    # and the whole 30 s budget for more.
    row = DB["full"]
    per_count = est.CLIENTS_START_S + row.round_s + 10 * row.round_s + row.extra_rounds_budget_s
    assert sqlite["estimated_seconds"] == pytest.approx(
        est.CHILD_START_S + est.ENGINE_OPEN_S + 3 * per_count, abs=0.1)
    # The warm pool: one window per level (1, 88, 176, 352 clients) and a pool start each.
    (pool,) = [c for c in by_id(doc, "tools.noop") if "pool" in c["params"]["matrix"]]
    assert pool["estimated_seconds"] == pytest.approx(
        est.CHILD_START_S + 4 * (est.POOL_START_S + TOOLS["full"].window_s), abs=0.1)
    # A build of 176 jobs spreads over the 176 CPUs; 352 jobs queue for them.
    builds = {c["params"]["jobs"]: c["estimated_seconds"] for c in by_id(doc, "compile.c")}
    assert builds[1] > builds[176] == builds[352]


def test_quick_db_rounds_are_long_enough_to_be_stable():
    from workloads.db.specs import DEPTH as DB
    from workloads.vector.specs import VECTOR_DEPTH

    for table in (DB, VECTOR_DEPTH):
        for profile in ("quick", "standard", "full"):
            assert table[profile].round_s >= 0.5, profile
