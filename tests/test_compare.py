"""compare: matching, oriented ratios, significance, geomeans, bad input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from suite import compare as c
from suite.results import SCHEMA_VERSION, load, parse
from suite.significance import ALPHA, FDR, benjamini_hochberg, mann_whitney_u, smallest_p_value
from tests.conftest import run_in_process as run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "results"
A, B, ARM = (FIXTURES / n for n in ("x86-a.json", "x86-b.json", "arm.json"))


def replicated(path: Path, out: Path, spread=(0.99, 1.0, 1.01)) -> Path:
    """The run as if every figure came from len(spread) worker processes
    whose own figures spread by these factors (suite.replication's info)."""
    data = json.loads(path.read_text())
    for r in data["results"]:
        if r["value"] is not None:
            r["info"].update(processes=len(spread),
                             process_values=[r["value"] * f for f in spread])
    out.write_text(json.dumps(data))
    return out


def scaled_copy(path: Path, out: Path, benchmark: str, metric: str, factor: float,
                params: dict | None = None) -> Path:
    data = json.loads(path.read_text())
    data["run"]["id"] += "-scaled"
    for r in data["results"]:
        if r["benchmark"] == benchmark and r["metric"] == metric and (
                params is None or r["params"] == params):
            r["value"] *= factor
            r["samples"] = [s * factor for s in r["samples"]]
            if "process_values" in r["info"]:
                r["info"]["process_values"] = [v * factor for v in r["info"]["process_values"]]
    out.write_text(json.dumps(data))
    return out


# -- Mann-Whitney U -------------------------------------------------------------

def test_exact_u_test_matches_tabulated_values():
    # Separated groups of 5: p = 2 / C(10, 5) = 2/252.
    t = mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert t.method == "exact" and t.u == 0 and t.p_value == pytest.approx(2 / 252)
    # Interleaved groups of 4 (scipy.stats.mannwhitneyu gives U=6, p=0.6857).
    t = mann_whitney_u([1.1, 2.2, 3.3, 4.4], [1.5, 2.5, 3.5, 4.6])
    assert t.u == 6 and t.p_value == pytest.approx(0.685714, abs=1e-6)


def test_u_test_with_ties_uses_corrected_normal_approximation():
    t = mann_whitney_u([1, 2, 2, 3] * 5, [2, 3, 3, 4] * 5)
    assert t.method == "normal" and 0 < t.p_value < 0.01
    same = mann_whitney_u([5.0] * 6, [5.0] * 6)
    assert same.p_value == 1.0


def test_smallest_p_says_when_samples_are_too_few():
    assert smallest_p_value(3, 3) == pytest.approx(0.1) and smallest_p_value(3, 3) >= ALPHA
    assert smallest_p_value(4, 4) < ALPHA


# -- comparison -------------------------------------------------------------------

def test_a_a_comparison_flags_nothing_and_ratios_are_near_one():
    comp = c.compare([load(A), load(B)])
    cells = [r.cells[1] for r in comp.rows if r.complete]
    # One process a side: indicative, and within the noise floor.
    assert cells and all(cell.verdict == c.INDICATIVE for cell in cells)
    assert all(0.95 < cell.ratio < 1.05 for cell in cells)
    assert comp.overall[1] == pytest.approx(1.0, abs=0.02)
    assert not any("differ" in w for w in comp.warnings)


def test_scaled_triad_row_is_the_only_one_flagged(tmp_path):
    a = replicated(A, tmp_path / "a.json")
    worse = scaled_copy(a, tmp_path / "worse.json", "stream.triad", "bandwidth", 0.8,
                        {"threads": 1})
    comp = c.compare([load(a), load(worse)])
    flagged = [r for r in comp.rows if r.cells[1].flagged]
    assert [(r.benchmark, r.params, r.metric) for r in flagged] == [
        ("stream.triad", {"threads": 1}, "bandwidth")]
    # what the spec declares derived from it shows its verdict, unflagged
    followers = [r for r in comp.rows if r.cells[1].follows == "bandwidth"
                 and r.benchmark == "stream.triad" and r.params == {"threads": 1}]
    assert followers and all(r.cells[1].verdict == c.WORSE for r in followers)
    cell = flagged[0].cells[1]
    assert cell.verdict == c.WORSE and cell.ratio == pytest.approx(0.8)
    assert cell.processes == 3 and cell.q_value <= FDR
    assert [r.label for r, _, _ in comp.regressions(10)] == [flagged[0].label]
    assert comp.regressions(25) == []


def test_lower_is_better_ratio_is_inverted(tmp_path):
    a = replicated(A, tmp_path / "a.json")
    slower = scaled_copy(a, tmp_path / "slow.json", "latency.chase", "latency", 2.0)
    comp = c.compare([load(a), load(slower)])
    lat = [r for r in comp.rows if r.benchmark == "latency.chase"]
    assert all(r.cells[1].ratio == pytest.approx(0.5) and r.cells[1].verdict == c.WORSE
               for r in lat)


def test_geomeans_only_over_rows_every_system_has():
    comp = c.compare([load(A), load(ARM)])
    only_arm = [r for r in comp.rows if r.cells[0].verdict == c.MISSING]
    assert only_arm and all(r.params.get("threads") == 4 for r in only_arm)
    assert all(r.cells[1].verdict == c.NO_BASELINE for r in only_arm)
    complete = [r for r in comp.rows if r.complete]
    assert comp.common_rows == len(complete)
    stream = [r.cells[1].ratio for r in complete if r.category == "stream"]
    expected = math.exp(sum(map(math.log, stream)) / len(stream))
    assert comp.geomeans["stream"][1] == pytest.approx(expected)
    assert comp.geomeans["stream"][0] == 1.0


def test_one_process_is_indicative_and_flagged_only_beyond_the_noise_floor(tmp_path):
    from suite.model import measurement

    def rec(value, **info):
        return measurement("tools.noop", {}, "throughput", "calls/s", [value] * 5,
                           higher_is_better=True, value=value, info=info)

    base = rec(100.0, processes=1)
    within = c.judge(rec(80.0), base)  # -20%: inside the tools default (25%)
    assert within.verdict == c.INDICATIVE and within.floor == c.DEFAULT_NOISE_FLOORS["tools"]
    beyond = c.judge(rec(70.0), base)
    assert beyond.verdict == c.INDICATIVE_WORSE and beyond.floor_from == "tools default"
    # The history's own floor for the series wins over the category default.
    floors = c.NoiseFloors({c.record_key(base): 0.05})
    tight = c.judge(rec(90.0), base, floors)
    assert tight.verdict == c.INDICATIVE_WORSE and tight.floor_from == "history"
    # Replicated on one side only: still indicative.
    three = rec(70.0, processes=3, process_values=[69.0, 70.0, 71.0])
    assert c.judge(three, base).verdict == c.INDICATIVE_WORSE
    a = replicated(A, tmp_path / "a.json")
    comp = c.compare([load(a), load(B)])
    assert {r.cells[1].verdict for r in comp.rows if r.complete} == {c.INDICATIVE}


def test_fdr_is_controlled_over_every_tested_row():
    # Benjamini-Hochberg's step-up rule, worked by hand.
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.5]) == pytest.approx(
        [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    assert FDR == 0.05

    def row(name, p, ratio=0.8):
        cell = c.Cell(1.0, ratio, c.SAME, p, 5, processes=3)
        return c.Row(name, {}, "rate", "1/s", True, "x", (c.Cell(1.0, 1.0, c.BASELINE), cell))

    alone = c.apply_fdr([row("hit", 0.01)])
    assert alone[0].cells[1].verdict == c.WORSE
    # The same p among 49 rows of pure noise: q = 0.01 * 50 / 1 = 0.5, not flagged.
    crowd = c.apply_fdr([row("hit", 0.01)] + [row(f"n{i}", 0.5 + i / 100) for i in range(49)])
    assert crowd[0].cells[1].verdict == c.SAME
    assert crowd[0].cells[1].q_value == pytest.approx(0.5)
    # A discovery smaller than MIN_EFFECT is not called a change.
    assert c.apply_fdr([row("tiny", 1e-6, ratio=0.99)])[0].cells[1].verdict == c.SAME


def test_derived_metrics_follow_their_source_and_count_once(tmp_path):
    from suite.model import measurement
    from suite.results import RunDocument

    def doc(factor, run_id):
        recs = []
        for threads in (1, 2):
            values = [10.0 * threads * factor * f for f in (0.99, 1.0, 1.01)]
            info = {"processes": 3, "process_values": values}
            for metric, scale, extra in (("bandwidth", 1.0, {}),
                                         ("bandwidth_wa", 1.5, {"derived_from": "bandwidth"}),
                                         ("bandwidth_per_core", 1 / threads,
                                          {"derived_from": "bandwidth"})):
                recs.append(measurement(
                    "stream.triad", {"threads": threads}, metric, "GB/s",
                    [v * scale for v in values], higher_is_better=True,
                    value=values[1] * scale,
                    info={**info, **extra, "process_values": [v * scale for v in values]}))
        data = json.loads(A.read_text())
        return RunDocument(1, data["suite"], {**data["run"], "id": run_id}, data["system"],
                           tuple(recs))

    comp = c.compare([doc(1.0, "a"), doc(0.8, "b")])
    by_metric = {}
    for r in comp.rows:
        by_metric.setdefault(r.metric, []).append(r)
    assert all(r.cells[1].verdict == c.WORSE and r.cells[1].follows is None
               for r in by_metric["bandwidth"])
    derived = by_metric["bandwidth_wa"] + by_metric["bandwidth_per_core"]
    assert all(r.cells[1].verdict == c.WORSE and r.cells[1].follows == "bandwidth"
               and not r.primary and r.cells[1].p_value is not None for r in derived)
    # One regression per primary figure; the geomean over primary rows only.
    assert sorted(r.metric for r, _, _ in comp.regressions(10)) == ["bandwidth"] * 2
    assert comp.common_rows == 2
    assert comp.overall[1] == pytest.approx(0.8)
    # The family Benjamini-Hochberg corrects over is the two primary rows.
    tested = [r.cells[1] for r in comp.rows if r.cells[1].q_value is not None]
    assert len([cell for cell in tested if cell.follows is None]) == 2


def test_disturbed_records_are_shown_and_never_flagged(tmp_path):
    a = replicated(A, tmp_path / "a.json")
    data = json.loads(scaled_copy(a, tmp_path / "w.json", "stream.triad", "bandwidth",
                                  0.5).read_text())
    marked = 0
    for r in data["results"]:
        if r["benchmark"] == "stream.triad" and r["metric"] == "bandwidth":
            if marked % 2:
                r["info"]["disturbed"] = "load average 3.2 on 2 CPUs"
            else:
                r["info"]["interference"] = {"disturbed": True}
            marked += 1
    (tmp_path / "d.json").write_text(json.dumps(data))
    comp = c.compare([load(a), load(tmp_path / "d.json")])
    hit = [r for r in comp.rows if r.benchmark == "stream.triad" and r.metric == "bandwidth"]
    assert hit and all(r.cells[1].verdict == c.DISTURBED and not r.complete for r in hit)
    assert any("load average" in (r.cells[1].disturbed or "") for r in hit)
    assert comp.regressions(1) == []
    from suite.export.cells import ratio_text
    assert "disturbed" in ratio_text(hit[0].cells[1])
    # A run disturbed throughout is still shown, row by row, with no geomean.
    for r in data["results"]:
        r["info"]["disturbed"] = "load average 9 on 2 CPUs"
    (tmp_path / "all.json").write_text(json.dumps(data))
    comp = c.compare([load(a), load(tmp_path / "all.json")])
    assert comp.common_rows == 0 and comp.overall[1] is None
    assert {r.cells[1].verdict for r in comp.rows if r.matched} == {c.DISTURBED}


def test_category_geomeans_carry_a_confidence_interval(tmp_path):
    a = replicated(A, tmp_path / "a.json")
    comp = c.compare([load(a), load(replicated(B, tmp_path / "b.json"))])
    spans = {cat: cis[1] for cat, cis in comp.geomean_cis.items()}
    assert any(spans.values()) and all(cis[0] is None for cis in comp.geomean_cis.values())
    for cat, span in spans.items():
        if span is not None:  # None: a category of one row has no interval
            assert span[0] <= comp.geomeans[cat][1] <= span[1]
    from suite.export.cells import geomean_lines
    assert any("[" in text for _, texts in geomean_lines(comp) for text in texts)


def test_invalid_record_is_marked_and_left_out_of_geomeans(tmp_path):
    data = json.loads(B.read_text())
    data["results"][0]["validated"] = False
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    comp = c.compare([load(A), load(bad)])
    assert comp.rows[0].cells[1].verdict == c.INVALID
    assert comp.common_rows == c.compare([load(A), load(B)]).common_rows - 1


def test_category_from_record_info_wins():
    doc = load(A)
    rec = doc.results[0]
    assert c.category_of(rec) == "stream"
    from dataclasses import replace
    assert c.category_of(replace(rec, info={"category": "memory"})) == "memory"


def test_warns_when_suite_version_or_profile_differ(tmp_path):
    data = json.loads(B.read_text())
    data["suite"]["version"] = "0.2.0"
    data["run"]["profile"] = "full"
    comp = c.compare([load(A), parse(data, "b.json")])
    text = " ".join(comp.warnings)
    assert "suite version" in text and "profile" in text


def test_system_block_shows_arm_fields_beside_x86():
    comp = c.compare([load(A), load(ARM)])
    x86, arm = comp.systems
    assert arm.fields["arch"] == "aarch64" and "sve2" in arm.fields["ISA"]
    assert arm.fields["page size"] == "64.0 KiB" and x86.fields["page size"] == "4.0 KiB"
    assert arm.fields["microarchitecture"] == "neoverse_v2"
    assert arm.fields["CPU part"] == "Neoverse V2 (0x41/0xd4f)"
    assert arm.fields["emulation"] == x86.fields["emulation"] == "none (native)"
    assert arm.fields["JIT target"] == "neoverse-v2"
    assert "GB/s (1 core)" in x86.fields["bandwidth per core"]


# -- command ------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_compare_command_formats(fmt, capsys):
    code, out, _ = run_cli(["compare", str(A), str(ARM), "--format", fmt], capsys)
    assert code == 0 and "stream.triad" in out
    if fmt == "json":
        assert json.loads(out)["systems"][1]["label"] == "grace1"


def test_fail_on_exits_1_on_regression_beyond_pct(tmp_path, capsys):
    a = replicated(A, tmp_path / "a.json")
    worse = scaled_copy(a, tmp_path / "worse.json", "stream.triad", "bandwidth", 0.8,
                        {"threads": 1})
    code, _, err = run_cli(["compare", str(a), str(worse), "--fail-on", "10"], capsys)
    assert code == 1 and "stream.triad[threads=1] bandwidth" in err
    code, _, _ = run_cli(["compare", str(a), str(worse), "--fail-on", "30"], capsys)
    assert code == 0


def test_baseline_option_picks_the_reference(capsys):
    code, out, _ = run_cli(["compare", str(A), "--baseline", str(ARM), "--format", "json"],
                           capsys)
    data = json.loads(out)
    assert code == 0 and data["systems"][data["baseline"]]["label"] == "grace1"


def _one_line_error(code, err):
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_bad_inputs_are_one_line(tmp_path, capsys):
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"hello": 1}')
    code, _, err = run_cli(["compare", str(A), str(foreign)], capsys)
    _one_line_error(code, err)
    assert "not a factorybench result" in err

    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(dict(json.loads(A.read_text()), schema_version=SCHEMA_VERSION + 1)))
    code, _, err = run_cli(["compare", str(A), str(newer)], capsys)
    _one_line_error(code, err)
    assert f"schema {SCHEMA_VERSION + 1}" in err

    disjoint = tmp_path / "disjoint.json"
    data = json.loads(A.read_text())
    for r in data["results"]:
        r["benchmark"] = "other." + r["benchmark"]
    disjoint.write_text(json.dumps(data))
    code, _, err = run_cli(["compare", str(A), str(disjoint)], capsys)
    _one_line_error(code, err)
    assert "no valid record in common" in err

    code, _, err = run_cli(["compare", str(A)], capsys)
    _one_line_error(code, err)

    code, _, err = run_cli(["compare", str(A), str(B), "--format", "xml"], capsys)
    _one_line_error(code, err)


def test_noisy_samples_are_marked_unstable(tmp_path):
    data = json.loads(B.read_text())
    r = data["results"][0]
    r["samples"] = [s * f for s, f in zip(r["samples"], (0.7, 1.3, 1.0, 0.8, 1.2))]
    noisy = tmp_path / "noisy.json"
    noisy.write_text(json.dumps(data))
    comp = c.compare([load(A), load(noisy)])
    assert comp.rows[0].cells[1].unstable and not comp.rows[1].cells[1].unstable
    from suite.export.cells import ratio_text
    assert "unstable" in ratio_text(comp.rows[0].cells[1])


def test_plateau_and_derived_records_are_not_u_tested():
    """A latency plateau's samples are the curve's points across working sets
    (which points moves between runs), not repeated trials: ratio, no test."""
    from suite.model import measurement

    def plateau(points, **info):
        return measurement("latency.curve", {"level": "L1"}, "latency", "ns", points,
                           higher_is_better=False, info=info)

    base = plateau([1.0, 1.1, 1.2, 1.3, 1.4, 1.5], plateau_bytes=[4096, 32768])
    other = plateau([2.0, 2.1, 2.2, 2.3, 2.4, 2.5], plateau_bytes=[4096, 65536])
    cell = c.judge(other, base)
    assert cell.verdict == c.UNTESTED and cell.p_value is None and not cell.unstable
    assert cell.ratio == pytest.approx(c.oriented_ratio(other.value, base.value, False))
    derived = plateau([2.0, 2.1, 2.2, 2.3, 2.4, 2.5], derived=True)
    assert c.judge(derived, plateau([1.0, 1.1, 1.2, 1.3, 1.4, 1.5])).verdict == c.UNTESTED
    trials = plateau([2.0, 2.01, 2.02, 2.03, 2.04, 2.05])
    assert c.judge(trials, plateau([1.0, 1.01, 1.02, 1.03, 1.04, 1.05])).verdict \
        == c.INDICATIVE_WORSE


def test_an_unsteady_single_process_figure_is_not_flagged_beyond_a_default_floor():
    """A category's default floor assumes a steady figure: one whose own
    samples scatter beyond UNSTABLE_CV (pyperf's level), or are too few to
    tell, is not flagged against it, however far it moved; against its
    history's floor it is."""
    from suite.model import measurement

    def tool(samples):
        return measurement("tools.noop", {}, "latency_p99", "ms", samples,
                           higher_is_better=False)

    steady, jumpy = tool([1.0, 1.01, 0.99]), tool([2.0, 3.0, 2.5])
    cell = c.judge(jumpy, steady)
    assert cell.unstable and cell.verdict == c.INDICATIVE and cell.ratio < 0.5
    assert c.judge(tool([2.5, 2.51, 2.49]), steady).verdict == c.INDICATIVE_WORSE
    assert c.judge(tool([2.5, 2.51]), steady).verdict == c.INDICATIVE  # too few to tell
    history_floor = c.NoiseFloors({c.record_key(steady): 0.3})
    assert c.judge(jumpy, steady, history_floor).verdict == c.INDICATIVE_WORSE


def test_history_gives_single_process_figures_their_noise_floor(tmp_path, capsys):
    from suite import history

    store = tmp_path / "h.sqlite"
    with history.open_store(str(store), create=True) as st:
        for i in range(6):
            data = json.loads(A.read_text())
            data["run"].update(id=f"n{i}", started_at=f"2025-03-0{i + 1}T00:00:00Z")
            history.add(st, parse(data))
        floors = history.noise_floors(st, load(A))
    assert floors and min(floors.values()) >= c.MIN_EFFECT  # a flat history: MIN_EFFECT
    worse = scaled_copy(A, tmp_path / "w.json", "stream.triad", "bandwidth", 0.9, {"threads": 1})
    # 10% is inside the category default, beyond the flat history's floor.
    code, out, _ = run_cli(["compare", str(A), str(worse), "--format", "json"], capsys)
    assert code == 0 and "worse (indicative)" not in out
    code, out, _ = run_cli(["compare", str(A), str(worse), "--format", "json", "--store",
                            str(store)], capsys)
    cells = [r["cells"][1] for r in json.loads(out)["rows"]
             if r["cells"][1]["verdict"] == c.INDICATIVE_WORSE and not r["cells"][1]["follows"]]
    assert len(cells) == 1 and cells[0]["floor_from"] == "history"


def test_non_positive_process_values_are_not_log_tested(tmp_path, capsys):
    """A figure at or below zero has no log: compare shows it untested
    instead of stopping with a math domain error."""
    data = json.loads(replicated(A, tmp_path / "a.json").read_text())
    first = next(r for r in data["results"] if r["value"] is not None)
    first["value"], first["samples"] = -1.0, [-1.0] * len(first["samples"])
    first["info"]["process_values"] = [-1.0, -1.1, -0.9]
    (tmp_path / "neg.json").write_text(json.dumps(data))
    comp = c.compare([load(tmp_path / "neg.json"), load(replicated(B, tmp_path / "b.json"))])
    row = next(r for r in comp.rows if r.benchmark == first["benchmark"]
               and r.metric == first["metric"] and r.params == first["params"])
    assert row.cells[1].p_value is None
    status, _, err = run_cli(["compare", str(tmp_path / "neg.json"), str(B)], capsys)
    assert status == 0 and "Traceback" not in err


# -- the prior a row's variance is shrunk toward (limma's fitFDist) ----------------

def test_polygamma_functions_match_known_values():
    from suite.significance import digamma, tetragamma, trigamma, trigamma_inverse

    euler, zeta3 = 0.5772156649015329, 1.2020569031595942
    assert digamma(1.0) == pytest.approx(-euler, abs=1e-10)
    assert digamma(0.5) == pytest.approx(-euler - 2 * math.log(2), abs=1e-10)
    assert trigamma(1.0) == pytest.approx(math.pi ** 2 / 6, abs=1e-10)
    assert trigamma(2.0) == pytest.approx(math.pi ** 2 / 6 - 1, abs=1e-10)
    assert tetragamma(1.0) == pytest.approx(-2 * zeta3, abs=1e-10)
    for x in (1e-3, 0.3, 2.0, 50.0):
        assert trigamma(trigamma_inverse(x)) == pytest.approx(x, rel=1e-8)


def _variances(rng, n, prior_df, sigma, df=4):
    """Sample variances (df each) of rows whose true variances are drawn
    from a scaled inverse chi-square (prior_df, sigma**2); prior_df None:
    every row has sigma**2."""
    out = []
    for _ in range(n):
        true = sigma ** 2 if prior_df is None else (
            prior_df * sigma ** 2 / sum(rng.gauss(0, 1) ** 2 for _ in range(prior_df)))
        out.append(true * sum(rng.gauss(0, 1) ** 2 for _ in range(df)) / df)
    return out


def test_fitted_prior_weighs_what_the_rows_agree_on():
    import random

    from suite.significance import PRIOR_DF_MAX, fit_prior

    rng = random.Random(3)
    # Rows alike: their spread is all sampling noise, the prior weighs fully.
    alike = fit_prior(_variances(rng, 500, None, 0.02), [4] * 500)
    assert alike.df == PRIOR_DF_MAX
    assert alike.variance == pytest.approx(0.02 ** 2, rel=0.1)
    # Rows whose true variances scatter: the prior weighs about what the
    # scatter allows (the df of the distribution they were drawn from; the
    # less they scatter, the less sure the fit is of how little).
    for truth, low, high in ((3, 2, 4.5), (10, 6, 16), (30, 15, PRIOR_DF_MAX)):
        fit = fit_prior(_variances(rng, 2000, truth, 0.02), [4] * 2000)
        assert low < fit.df <= high
        assert fit.variance == pytest.approx(0.02 ** 2, rel=0.15)
    assert fit_prior([1e-4, 2e-4], [4, 4]) is None


def _triad_rows(rng, factor, rows=100, processes=3, drift=0.02):
    """A run of `rows` STREAM-like primary rows measured in `processes`
    processes each off by N(0, drift); the Triad row scaled by `factor`."""
    from suite.model import measurement

    recs = []
    for i in range(rows):
        kernel = "triad" if i == 0 else f"k{i}"
        truth = 100.0 * (factor if i == 0 else 1.0)
        values = [truth * (1 + rng.gauss(0, drift)) for _ in range(processes)]
        recs.append(measurement(f"stream.{kernel}", {"threads": 1}, "bandwidth", "GB/s",
                                values, higher_is_better=True, value=sorted(values)[1],
                                info={"processes": processes, "process_values": values}))
    return recs


def test_a_drop_among_many_alike_rows_is_found_with_three_processes():
    """Three processes a side leave a row 4 degrees of freedom of its own;
    100 rows alike lend it theirs. A fixed prior of 4 df (the earlier rule)
    left a 10% drop at 2% noise near p ~ 1e-3, short of Benjamini-Hochberg's
    bar over 100 rows in 8 of 40 trials (0 of 40 now)."""
    import random

    from suite.results import RunDocument

    data = json.loads(A.read_text())
    found = false = 0
    for trial in range(20):
        rng = random.Random(trial)
        docs = [RunDocument(1, data["suite"], {**data["run"], "id": side}, data["system"],
                            tuple(_triad_rows(rng, factor)))
                for side, factor in (("a", 1.0), ("b", 0.9))]
        comp = c.compare(docs)
        triad = next(r for r in comp.rows if r.benchmark == "stream.triad")
        found += triad.cells[1].verdict == c.WORSE
        false += sum(r.cells[1].verdict != c.SAME for r in comp.rows if r is not triad)
    assert found >= 19
    assert false <= 3  # Benjamini-Hochberg at 5%: about one in 20 trials


def test_a_small_category_borrows_the_prior_of_every_row():
    import random

    from suite.model import measurement

    rng = random.Random(7)
    pairs = []
    for i in range(c.MIN_PRIOR_ROWS + 5):
        for cat, noise in (("big", 0.01), ("small", 0.05)):
            if cat == "small" and i >= 3:
                continue
            recs = [measurement(f"{cat}.x{i}", {}, "rate", "1/s", [1.0], value=1.0, higher_is_better=True,
                                info={"process_values": [1 + rng.gauss(0, noise)
                                                         for _ in range(3)]})
                    for _ in range(2)]
            pairs.append((cat, *recs))
    priors = c.priors_by_category(pairs)
    assert priors["small"] == c.fit_prior(
        *zip(*[c.pooled_variance(c._log_values(b), c._log_values(r)) for _, r, b in pairs]))
    assert priors["big"] != priors["small"]


def test_results_table_fits_its_width_and_keeps_every_row():
    from suite.export import table

    comp = c.compare([load(A), load(ARM)])
    out = table.render_comparison(comp, width=100)
    body = out[out.index("Results"):out.index("verdicts:")]
    assert all(len(line) <= 100 for line in body.splitlines())
    assert body.count("└") == 1 and "(baseline)" in body
    # Wide enough not to fold: one line per row, in order.
    wide = table.render_comparison(comp, width=400)
    lines = [line for line in wide[wide.index("Results"):wide.index("verdicts:")].splitlines()
             if line.startswith("│")]
    assert [line.split("│")[1].strip() for line in lines] == [r.benchmark for r in comp.rows]
