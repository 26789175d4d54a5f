"""Exporters: csv, json, and a pytest-benchmark file its own CLI reads."""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from suite.export import FORMATS, exporter, formats_for
from suite.export.pytest_benchmark import convert
from suite.results import load
from tests.conftest import run_in_process as run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "results"
A = FIXTURES / "x86-a.json"
PB_CLI = Path(sys.executable).with_name("pytest-benchmark")


def test_every_format_offers_the_interface():
    for name in FORMATS:
        mod = exporter(name)
        assert hasattr(mod, "render_comparison") or hasattr(mod, "render_run"), name
    assert set(formats_for("run")) == {"csv", "json", "pytest-benchmark", "pts"}
    with pytest.raises(KeyError, match="accepted"):
        exporter("xml")


def test_csv_has_one_line_per_record(capsys):
    doc = load(A)
    code, out, _ = run_cli(["export", str(A), "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == len(doc.results)
    first = doc.results[0]
    assert rows[0]["benchmark"] == first.benchmark
    assert float(rows[0]["value"]) == first.value
    assert json.loads(rows[0]["params"]) == first.params
    assert [float(s) for s in rows[0]["samples"].split()] == list(first.samples)
    assert rows[0]["machine"] == doc.system["hostname"]  # no --machine: the hostname


def test_csv_names_the_machine_a_run_was_given(tmp_path, capsys):
    data = json.loads(A.read_text())
    data["system"]["machine"] = "rack7-node3"
    named = tmp_path / "named.json"
    named.write_text(json.dumps(data))
    code, out, _ = run_cli(["export", str(named), "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["machine"] for r in rows} == {"rack7-node3"}
    assert list(rows[0])[:3] == ["run_id", "hostname", "emulation"]


def test_json_export_loads_back_as_the_same_run(tmp_path, capsys):
    out = tmp_path / "copy.json"
    code, _, _ = run_cli(["export", str(A), "--format", "json", "-o", str(out)], capsys)
    assert code == 0 and load(out).results == load(A).results


def test_pytest_benchmark_conversion_keeps_lower_is_better():
    data = convert(load(A))
    by_name = {b["name"]: b for b in data["benchmarks"]}
    triad = by_name["stream.triad::bandwidth[threads=1]"]
    rec = next(r for r in load(A).results
               if r.benchmark == "stream.triad" and r.metric == "bandwidth")
    # GB/s becomes seconds per GB: the best (highest) rate is the minimum time.
    assert triad["stats"]["min"] == pytest.approx(1 / max(rec.samples))
    assert triad["extra_info"]["unit"] == "GB/s"
    chase = next(b for b in data["benchmarks"] if b["group"] == "latency.chase::latency")
    assert chase["stats"]["max"] < 1e-6  # ns -> s
    skipped = " ".join(data["factorybench"]["skipped"])
    assert "agents/core" in skipped and "'x'" in skipped  # neither time nor rate


@pytest.mark.skipif(not PB_CLI.exists(), reason="pytest-benchmark CLI not installed")
def test_pytest_benchmark_compare_reads_the_export(tmp_path, capsys):
    out = tmp_path / "0001_factorybench.json"
    code, _, err = run_cli(["export", str(A), "--format", "pytest-benchmark", "-o", str(out)],
                           capsys)
    assert code == 0 and "left out" in err
    second = tmp_path / "0002_arm.json"
    run_cli(["export", str(FIXTURES / "arm.json"), "--format", "pytest-benchmark", "-o",
             str(second)], capsys)
    proc = subprocess.run([str(PB_CLI), "compare", str(out), str(second), "--group-by", "name"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Failed to load" not in proc.stdout + proc.stderr
    assert "stream.triad::bandwidth[threads=1]" in proc.stdout
    assert "0001_factory" in proc.stdout and "0002_arm" in proc.stdout  # a row per file


def test_export_bad_format_and_missing_file(tmp_path, capsys):
    code, _, err = run_cli(["export", str(A), "--format", "xml"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["export", str(tmp_path / "nope.json"), "--format", "csv"], capsys)
    assert code == 2 and "no such file" in err


def test_real_run_exports_to_every_format():
    doc = load(FIXTURES / "real-vm-quick.json")
    for name in formats_for("run"):
        assert exporter(name).render_run(doc)
    data = convert(doc)
    assert any(b["group"] == "stream.triad::bandwidth" for b in data["benchmarks"])


def test_compare_formats_all_render_comparisons():
    from suite.commands.compare import COMPARE_FORMATS

    assert set(COMPARE_FORMATS) <= set(formats_for("comparison"))
