"""Emulated runs: shown beside native ones, never compared, plotted or tracked."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from suite import compare as c
from suite import history, report
from suite.emulation import NOT_COMPARED, emulation_of
from suite.export import exporter
from suite.results import load, parse
from tests.conftest import run_in_process as run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "results"
A, B, ARM = (FIXTURES / n for n in ("x86-a.json", "x86-b.json", "arm.json"))


def emulated_data(scale: float = 1.0) -> dict:
    """The Grace fixture as if tests/arm/run.sh had made it under qemu-user,
    its figures scaled by `scale` (emulated timings are anything at all)."""
    data = json.loads(ARM.read_text())
    data["system"]["emulation"] = {"kind": "qemu-user", "host_arch": "x86_64"}
    data["system"]["numba_target"] = {"cpu_name": "generic", "features": None,
                                      "host_cpu_name": "generic", "overridden": False}
    data["run"]["id"] = "emulated-1"
    data["run"]["tags"] = {"emulation": "qemu-user", "timings": "meaningless"}
    for r in data["results"]:
        if r["value"] is not None:
            r["value"] *= scale
        r["samples"] = [s * scale for s in r["samples"]]
    return data


@pytest.fixture
def emulated(tmp_path) -> Path:
    path = tmp_path / "emulated-aarch64.json"
    path.write_text(json.dumps(emulated_data()))
    return path


def test_emulation_is_read_from_sysinfo_or_tags():
    assert "qemu-user emulation of aarch64 on a x86_64 host" in emulation_of(parse(emulated_data()))
    tagged = json.loads(ARM.read_text())
    tagged["run"]["tags"] = {"timings": "meaningless"}
    assert emulation_of(parse(tagged)) is not None
    assert emulation_of(load(ARM)) is None and emulation_of(load(A)) is None


# -- compare ------------------------------------------------------------------------

def test_emulated_cells_have_no_ratio_and_no_geomean(emulated):
    comp = c.compare([load(A), load(emulated)])
    shared = [r for r in comp.rows if r.cells[1].verdict != c.MISSING]
    assert shared, "the emulated fixture shares rows with the x86 one"
    for row in shared:
        cell = row.cells[1]
        assert cell.verdict == NOT_COMPARED and cell.ratio is None and cell.value is None
    assert comp.overall == (1.0, None)
    assert all(g[1] is None for g in comp.geomeans.values())
    assert comp.common_rows == len([r for r in comp.rows
                                    if r.cells[0].verdict == c.BASELINE and r.primary])
    assert comp.regressions(0.001) == []
    assert any("emulat" in w and "meaningless" in w for w in comp.warnings)


def test_system_block_shows_arm_fields_and_emulation_beside_x86(emulated):
    x86, arm = c.compare([load(A), load(emulated)]).systems
    assert arm.fields["arch"] == "aarch64" and x86.fields["arch"] == "x86_64"
    assert "qemu-user" in arm.fields["emulation"] and "meaningless" in arm.fields["emulation"]
    assert x86.fields["emulation"] == "none (native)"
    assert "sve2" in arm.fields["ISA"] and "SVE VL 128 bit" in arm.fields["ISA"]
    assert "avx2" in x86.fields["ISA"]
    assert arm.fields["page size"] == "64.0 KiB" and x86.fields["page size"] == "4.0 KiB"
    assert arm.fields["CPU part"] == "Neoverse V2 (0x41/0xd4f)"
    assert x86.fields["CPU part"] == "n/a (x86_64)"
    assert arm.fields["JIT target"] == "generic"
    assert arm.fields["bandwidth per core"] == "emulated, not reported"
    assert arm.emulation and x86.emulation is None


def test_emulated_baseline_gives_way_to_the_native_run(emulated):
    comp = c.compare([load(emulated), load(A)], baseline=0)
    assert comp.baseline == 1 and comp.overall == (None, 1.0)
    assert any("is the baseline instead" in w for w in comp.warnings)


def test_only_emulated_runs_compare_nothing(emulated):
    comp = c.compare([load(emulated), parse(emulated_data(scale=0.5), "other.json")])
    assert {cell.verdict for r in comp.rows for cell in r.cells} == {NOT_COMPARED}
    assert comp.common_rows == 0 and comp.overall == (None, None)


def test_native_geomeans_ignore_an_emulated_third_run(emulated):
    pair = c.compare([load(A), load(B)])
    trio = c.compare([load(A), load(B), load(emulated)])
    assert trio.overall[:2] == pytest.approx(pair.overall) and trio.overall[2] is None
    assert trio.common_rows == pair.common_rows


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_every_format_says_emulated_not_compared(fmt, emulated, capsys):
    code, out, _ = run_cli(["compare", str(A), str(emulated), "--format", fmt], capsys)
    # The terminal table folds long cells over lines: match the first word there.
    assert code == 0 and (NOT_COMPARED if fmt != "table" else "emulated,") in out


def test_markdown_rows_show_no_emulated_figure(emulated):
    comp = c.compare([load(A), load(emulated)])
    text = exporter("markdown").render_comparison(comp)
    results = text.split("## Results", 1)[1]
    rows = [line for line in results.splitlines() if line.startswith("| stream.triad")]
    assert rows and all(line.rstrip(" |").endswith(f"| emulated | {NOT_COMPARED}")
                        for line in rows if "missing" not in line)
    geomean = text.split("## Geometric means", 1)[1].split("## Results", 1)[0]
    assert f"| overall | 1 | {NOT_COMPARED} |" in geomean


def test_fail_on_ignores_emulated_figures(tmp_path, capsys):
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(emulated_data(scale=0.01)))
    code, _, err = run_cli(["compare", str(A), str(slow), "--fail-on", "1"], capsys)
    assert code == 0 and "regression" not in err


# -- report -------------------------------------------------------------------------

def test_report_plots_nothing_of_an_emulated_run(emulated, tmp_path, monkeypatch):
    plotted = []

    def spy(labelled, decls=None):
        plotted.extend(lab for lab, _ in labelled)
        return None

    monkeypatch.setattr(report, "PLOTS", (("Spy", spy),))
    text = report.write_report([A, emulated], tmp_path / "r.html").read_text()
    assert plotted == ["x86box"]
    assert "Emulated runs" in text and "nothing of it is plotted" in text
    assert "qemu-user" in text  # the system block still shows the run


def test_report_of_only_an_emulated_run_is_notes(emulated, tmp_path):
    text = report.write_report([emulated], tmp_path / "r.html").read_text()
    assert '<img class="plot"' not in text
    assert text.count("not in this run.") == len(report.PLOTS)
    assert "Emulated runs" in text


# -- history and export ---------------------------------------------------------------

def test_history_add_refuses_an_emulated_run(emulated, tmp_path, capsys):
    store = tmp_path / "h.sqlite"
    code, out, err = run_cli(["history", "add", str(A), str(emulated), "--store", str(store)],
                             capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "emulation" in err and "not added to the history" in err
    assert not store.exists() and "added" not in out  # nothing of the batch went in
    with history.open_store(str(store), create=True) as st:
        with pytest.raises(history.HistoryError, match="meaningless"):
            history.add(st, load(emulated))
        assert history.list_runs(st) == []


def test_export_keeps_the_tag_and_refuses_pytest_benchmark(emulated, capsys):
    code, out, _ = run_cli(["export", str(emulated), "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and all("qemu-user" in r["emulation"] for r in rows)
    code, out, err = run_cli(["export", str(emulated), "--format", "pytest-benchmark"], capsys)
    assert code == 2 and not out and len(err.strip().splitlines()) == 1
    assert "meaningless" in err
