"""Selecting benchmarks: ids, dotted prefixes, categories, profiles."""
import pytest

from suite.spec import (BenchmarkSpec, FormerId, SelectionError, renamed_selections, select,
                        timeout_for)

SPECS = [
    BenchmarkSpec("stream.sweep", "memory", "", "m:f"),
    BenchmarkSpec("latency.chase", "memory", "", "m:f", formerly=(FormerId("latency.curve"),)),
    BenchmarkSpec("db.point", "db", "", "m:f", timeout={"quick": 60, "full": 600}),
    BenchmarkSpec("db.huge", "db", "", "m:f", profiles=frozenset({"full"})),
]


def ids(specs):
    return [s.id for s in specs]


def test_no_selection_is_the_profile():
    assert ids(select(SPECS, [], "quick")) == ["stream.sweep", "latency.chase", "db.point"]
    assert "db.huge" in ids(select(SPECS, [], "full"))


def test_id_prefix_and_category():
    assert ids(select(SPECS, ["stream"], "quick")) == ["stream.sweep"]
    assert ids(select(SPECS, ["memory"], "quick")) == ["stream.sweep", "latency.chase"]
    assert ids(select(SPECS, ["db"], "quick")) == ["db.point"]  # profile kept
    assert ids(select(SPECS, ["db.huge"], "quick")) == ["db.huge"]  # exact id always runs
    assert ids(select(SPECS, ["db", "db.point"], "quick")) == ["db.point"]  # no duplicates


def test_a_former_id_selects_the_benchmark_with_a_note():
    assert ids(select(SPECS, ["latency.curve"], "quick")) == ["latency.chase"]
    assert renamed_selections(SPECS, ["latency.curve", "db"]) == [
        "'latency.curve' is the former id of latency.chase; selecting those"]


def test_unknown_word_names_it_and_what_is_accepted():
    with pytest.raises(SelectionError, match="'nope'.*accepted: .*db.point"):
        select(SPECS, ["nope"], "quick")


def test_timeouts_per_profile():
    assert timeout_for(SPECS[2], "quick") == 60
    assert timeout_for(SPECS[2], "standard") == 600  # unknown profile: the largest
    assert timeout_for(SPECS[0], "full") == 300


# -- registration: entry points, the env override, duplicates refused ------------------
def test_the_suite_registers_through_its_entry_points():
    from suite.spec import entry_point_modules, own_entry_points, registry

    # Installed (metadata) and from the checkout's pyproject.toml: the same, in run order.
    assert entry_point_modules() == own_entry_points()
    assert own_entry_points()[0] == "kernels.specs"
    ids = [s.id for s in registry()]
    assert ids[0] == "stream.copy" and "corun.db.point" in ids


def test_a_duplicate_id_is_refused_naming_both_modules(monkeypatch):
    from suite.errors import UserError
    from suite.spec import registry

    monkeypatch.setenv("FACTORYBENCH_SPEC_MODULES", "tests.fixtures.duplicate_bench")
    with pytest.raises(UserError, match="'stream.triad' registered twice: by kernels.specs "
                                        "and by tests.fixtures.duplicate_bench"):
        registry()


def test_the_env_override_adds_modules(monkeypatch):
    from suite.spec import registry

    monkeypatch.setenv("FACTORYBENCH_SPEC_MODULES", "tests.fixtures.dummy_bench")
    assert "fake.ok" in {s.id for s in registry()}
