"""The headline's co-run rows: one per workload of the corun benchmark, beside
the STREAM Triad hog (the chase hog's figures stay in the records)."""
from suite.headline import headline
from suite.model import measurement


def rec(metric, value, workload, hog):
    return measurement(f"corun.{workload}", {"hog": hog}, metric, "x", [value],
                       higher_is_better=False)


def test_one_row_per_workload_beside_the_triad_hog():
    records = [rec("slowdown", 1.5, "compile.c", "triad"),
               rec("p99_inflation", 2.5, "compile.c", "triad"),
               rec("slowdown", 1.1, "compile.c", "chase"),
               rec("p99_inflation", 1.2, "compile.c", "chase"),
               rec("slowdown", 1.8, "db.point", "triad")]
    rows = {r["key"]: r for r in headline(records, {})}
    compile_row = rows["corun_slowdown:corun.compile.c"]
    assert compile_row["value"] == 1.5  # the triad figure, not the smaller chase one
    assert compile_row["note"] == "p99 inflation 2.5 x"
    assert compile_row["label"] == "Co-run slowdown (corun.compile.c)"
    assert rows["corun_slowdown:corun.db.point"]["value"] == 1.8
    assert not [k for k in rows if k.startswith("corun_slowdown") and "chase" in k]
