"""compare: matching, oriented ratios, significance, geomeans, bad input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from suite import compare as c
from suite.results import load, parse
from suite.significance import ALPHA, mann_whitney_u, smallest_p_value
from tests.conftest import run_in_process as run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "results"
A, B, ARM = (FIXTURES / n for n in ("x86-a.json", "x86-b.json", "arm.json"))


def scaled_copy(path: Path, out: Path, benchmark: str, metric: str, factor: float,
                params: dict | None = None) -> Path:
    data = json.loads(path.read_text())
    data["run"]["id"] += "-scaled"
    for r in data["results"]:
        if r["benchmark"] == benchmark and r["metric"] == metric and (
                params is None or r["params"] == params):
            r["value"] *= factor
            r["samples"] = [s * factor for s in r["samples"]]
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
    assert cells and all(cell.verdict == c.SAME for cell in cells)
    assert all(0.95 < cell.ratio < 1.05 for cell in cells)
    assert comp.overall[1] == pytest.approx(1.0, abs=0.02)
    assert not any("differ" in w for w in comp.warnings)


def test_scaled_triad_row_is_the_only_one_flagged(tmp_path):
    worse = scaled_copy(A, tmp_path / "worse.json", "stream.triad", "bandwidth", 0.8,
                        {"threads": 1})
    comp = c.compare([load(A), load(worse)])
    flagged = [r for r in comp.rows if r.cells[1].verdict not in (c.SAME, c.BASELINE)]
    assert [(r.benchmark, r.params, r.metric) for r in flagged] == [
        ("stream.triad", {"threads": 1}, "bandwidth")]
    cell = flagged[0].cells[1]
    assert cell.verdict == c.WORSE and cell.ratio == pytest.approx(0.8)
    assert [r.label for r, _, _ in comp.regressions(10)] == [flagged[0].label]
    assert comp.regressions(25) == []


def test_lower_is_better_ratio_is_inverted(tmp_path):
    slower = scaled_copy(A, tmp_path / "slow.json", "latency.chase", "latency", 2.0)
    comp = c.compare([load(A), load(slower)])
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


def test_too_few_samples_is_said(tmp_path):
    data = json.loads(A.read_text())
    for r in data["results"]:
        r["samples"] = r["samples"][:3]
    few = tmp_path / "few.json"
    few.write_text(json.dumps(data))
    # Three samples a side: the smallest possible p is 2/C(6,3) = 0.1.
    comp = c.compare([load(few), load(few)])
    assert {r.cells[1].verdict for r in comp.rows if r.complete} == {c.TOO_FEW}


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
    worse = scaled_copy(A, tmp_path / "worse.json", "stream.triad", "bandwidth", 0.8,
                        {"threads": 1})
    code, _, err = run_cli(["compare", str(A), str(worse), "--fail-on", "10"], capsys)
    assert code == 1 and "stream.triad[threads=1] bandwidth" in err
    code, _, _ = run_cli(["compare", str(A), str(worse), "--fail-on", "30"], capsys)
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
    newer.write_text(json.dumps(dict(json.loads(A.read_text()), schema_version=2)))
    code, _, err = run_cli(["compare", str(A), str(newer)], capsys)
    _one_line_error(code, err)
    assert "schema 2" in err

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
    trials = plateau([2.0, 2.1, 2.2, 2.3, 2.4, 2.5])
    assert c.judge(trials, plateau([1.0, 1.1, 1.2, 1.3, 1.4, 1.5])).verdict == c.WORSE
