"""db.vector: dataset cache, exact answers, recall threshold, memory refusal."""
import pytest

pytest.importorskip("usearch")
pytest.importorskip("sqlite_vec")
pytest.importorskip("apsw")

import numpy as np  # noqa: E402

from suite.spec import PROFILES, Job, PlanContext  # noqa: E402
from workloads.vector import bench, dataset, specs  # noqa: E402

SYSTEM = {"logical_cpus": 2,
          "cpus": [{"cpu": 0, "core": 0, "package": 0, "node": 0},
                   {"cpu": 1, "core": 1, "package": 0, "node": 0}],
          "caches": [], "memory": {"total_bytes": 8 << 30, "available_bytes": 4 << 30}}
TINY = specs.VectorDepth(vectors=3000, sample_queries=16, round_s=0.05,
                         extra_rounds_budget_s=0.0, timeout_s=60.0)


def _job(tmp_path, engine, clients=(1,)):
    return Job(benchmark="db.vector", params={"engine": engine, "index": "x",
                                              "clients": list(clients)},
               profile=PROFILES["quick"], system=SYSTEM,
               options={"db_dir": str(tmp_path), "seed": 3}, timeout=60)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(bench, "VECTOR_DEPTH", {"quick": TINY})


def test_reference_scan_matches_brute_force():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, specs.DIMS), dtype=np.float32)
    q = rng.standard_normal((4, specs.DIMS), dtype=np.float32)
    ids, d = dataset.exact_knn(x, q)
    full = np.linalg.norm(x[None, :, :].astype(np.float64) - q[:, None, :], axis=2)
    assert (ids == np.argsort(full, axis=1)[:, :10]).all()
    assert np.allclose(d, np.sort(full, axis=1)[:, :10])


def test_exact_and_hnsw_records_validate(tmp_path, tiny):
    out = bench.run_benchmark(_job(tmp_path, "sqlite-vec"))
    assert not out.errors, out.errors
    metrics = {r.metric: r for r in out.records}
    assert metrics["throughput"].validated and metrics["scan_bandwidth"].value > 0
    assert metrics["scan_bandwidth"].info["bytes_scanned_per_query"] == 3000 * specs.DIMS * 4
    assert metrics["throughput"].info["sqlite_mmap_bytes"] > 0
    assert metrics["throughput"].info["sqlite_vec_build_flags"]
    out = bench.run_benchmark(_job(tmp_path, "usearch"))
    assert not out.errors, out.errors
    recall = next(r for r in out.records if r.metric == "recall_at_10")
    assert recall.validated and recall.value >= specs.RECALL_THRESHOLD


def test_recall_below_the_threshold_makes_the_records_invalid(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(bench, "RECALL_THRESHOLD", 1.01)
    out = bench.run_benchmark(_job(tmp_path, "usearch"))
    recall = next(r for r in out.records if r.metric == "recall_at_10")
    assert not recall.validated
    assert not next(r for r in out.records if r.metric == "throughput").validated
    assert [e.kind for e in out.errors] == ["invalid"]
    assert "recall@10" in out.errors[0].message


def test_sqlite_vec_build_flags_are_read_from_vec_debug():
    from workloads.vector.engines import build_flags

    assert build_flags("Version: v0.1.9\nDate: x\nBuild flags:  ") == "none"
    assert build_flags("Version: v0.1.9\nBuild flags: avx ") == "avx"
    assert build_flags("garbage") == "unknown"


def test_wrong_exact_answer_is_caught():
    ids = np.arange(10)
    dist = np.linspace(0.1, 1.0, 10)
    right = [(int(i), float(d)) for i, d in zip(ids, dist)]
    from workloads.vector.engines import check_exact

    assert check_exact(right, ids, dist) is None
    assert "not among" in check_exact(right[:9] + [(99, 2.0)], ids, dist)
    assert check_exact(right[:9] + [(99, 1.0)], ids, dist) is None  # a tie at the k-th distance


@pytest.mark.parametrize("victim", ["vectors.npy", "store.sqlite", "manifest.json"])
def test_a_corrupted_cache_is_rebuilt(tmp_path, victim):
    first = dataset.ensure_dataset(tmp_path, 2000, 5, 8)
    assert not first.reused
    assert dataset.ensure_dataset(tmp_path, 2000, 5, 8).reused
    path = first.path(victim)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    again = dataset.ensure_dataset(tmp_path, 2000, 5, 8)
    assert not again.reused
    assert np.array_equal(again.vectors(), first.vectors())  # the same seeded content


def test_a_dataset_too_large_for_memory_is_refused_clearly():
    small = dict(SYSTEM, memory={"total_bytes": 4 << 30, "available_bytes": 3 << 30})
    ctx = PlanContext(PROFILES["standard"], small, {})
    with pytest.raises(specs.DatasetTooLarge, match=r"1,000,000 x 384 .* more than half"):
        specs.plan_vector(ctx)
    from suite.runner import plan

    planned, errors = plan([s for s in specs.SPECS], ctx)
    assert not planned and "more than half of this machine's 4.0 GiB" in errors[0].message


def test_plan_covers_exact_and_hnsw_at_three_client_counts():
    cfgs = specs.plan_vector(PlanContext(PROFILES["quick"], SYSTEM, {}))
    assert [(c.params["engine"], c.params["clients"]) for c in cfgs] == [
        ("sqlite-vec", [1, 2, 4]), ("usearch", [1, 2, 4])]


def test_postgresql_without_pgvector_is_skipped_with_the_reason(tmp_path):
    out = bench.run_benchmark(_job(tmp_path, "postgresql"))
    assert [(e.kind, e.message) for e in out.errors] == [
        ("skipped", "skipped: pgvector not installed")]


@pytest.mark.parametrize("workload", ["db.vector.exact", "db.vector.hnsw"])
def test_corun_vector_driver_checks_every_answer(workload, tmp_path, tiny):
    from workloads.corun import drivers

    driver = drivers.make_driver(workload, [0], 3, {"db_dir": str(tmp_path), "seed": 3}, "quick")
    assert isinstance(driver, drivers.VectorDriver)
    try:
        info = driver.open()
        w = driver.window(0.15)
    finally:
        driver.close()
    assert w.ops > 0 and w.failures == 0 and info["clients"] == 1


def test_corun_driver_of_a_db_class_is_still_the_db_driver():
    from workloads.corun import drivers

    assert type(drivers.make_driver("db.point", [0], 1)) is drivers.DbDriver
    with pytest.raises(ValueError, match="no co-run driver"):
        drivers.make_driver("nothing", [0], 1)
