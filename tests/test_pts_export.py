"""The PTS profile's figures, `export --format pts` and `import-pts`, on
fixture runs (the end-to-end run under PTS itself is tests/test_pts_run.py)."""
from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from suite.export import pts
from suite.headline import headline
from suite.results import load
from suite.spec import registry
from tests.conftest import ROOT, run_in_process as run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "results"
VM = FIXTURES / "real-vm-quick.json"  # stream, latency, tools: threads sweep, auto arrays
X86 = FIXTURES / "x86-a.json"         # no DRAM latency, agents per core measured


def _results(xml_text: str) -> dict:
    """{figure description: {system: value text}} of a composite.xml."""
    out = {}
    for r in ET.fromstring(xml_text).iterfind("Result"):
        desc = r.findtext("Description").rsplit(" - ", 1)[1]
        out[desc] = {e.findtext("Identifier"): e.findtext("Value") for e in r.iterfind("Data/Entry")}
    return out


def test_every_figure_is_a_headline_figure_of_a_registered_benchmark():
    profile = pts.load_profile()
    row_keys = {row["key"] for row in headline([])}  # one per headline row, none measured
    ids = {spec.id for spec in registry()}
    assert len({f.key for f in profile.figures}) == len(profile.figures)
    for figure in profile.figures:
        base, _, group = figure.key.partition(":")
        assert base in row_keys, figure.key
        assert not group or group.split()[0] in ids, figure.key
        assert figure.proportion in ("HIB", "LIB") and 2 <= len(profile.title) <= 50
    assert [o.identifier for o in profile.options] == ["category", "profile", "threads", "array-mib"]


def test_profile_scales_are_the_units_factorybench_reports():
    found, notes = pts.entries(load(VM), pts.load_profile())  # a real run
    assert len(found) == 5 and notes == []


def test_a_figure_in_another_unit_is_left_out_with_a_note(capsys):
    # The synthetic fixture gives per-core bandwidth in GB/s, not GB/s/core.
    code, out, err = run_cli(["export", str(X86), "--format", "pts"], capsys)
    assert code == 0 and "Triad bandwidth per core, all cores" not in _results(out)
    assert "note: " in err and "'GB/s/core'" in err


def test_export_has_one_result_per_measured_figure_and_none_for_the_rest(capsys):
    code, out, err = run_cli(["export", str(X86), "--format", "pts"], capsys)
    assert code == 0, err
    results = _results(out)
    rows = {r["key"]: r for r in headline(load(X86))}
    assert rows["dram_latency"]["status"] == "not measured"
    assert "DRAM latency" not in results  # skipped, never a 0
    triad = next(iter(results["Triad bandwidth, all cores"].values()))
    assert float(triad) == pytest.approx(rows["bandwidth_allcore"]["value"], abs=5e-4)
    assert all(v not in ("", None) for vals in results.values() for v in vals.values())


def test_arguments_and_description_are_those_a_pts_run_composes(capsys):
    _, out, _ = run_cli(["export", str(VM), "--format", "pts"], capsys)
    node = next(r for r in ET.fromstring(out).iterfind("Result")
                if r.findtext("Description").endswith("DRAM latency"))
    assert node.findtext("Identifier") == "local/factorybench-1.0.0"
    assert node.findtext("Arguments") == "--category memory --profile quick --threads sweep --array-mib auto"
    assert node.findtext("Description") == ("Category: memory - Profile: quick - Threads: sweep"
                                            " - Array MiB: auto - DRAM latency")
    assert (node.findtext("Scale"), node.findtext("Proportion")) == ("ns", "LIB")
    assert node.findtext("AppVersion") == pts.load_profile().app_version == "0.1.0"


def test_a_run_of_another_version_keeps_the_profile_app_version_with_a_note():
    doc = load(VM)
    newer = pts.entries(replace(doc, suite={**doc.suite, "version": "9.0"}), pts.load_profile())[1]
    assert any("factorybench 9.0" in n and "AppVersion 0.1.0" in n for n in newer)


def test_threads_and_array_size_become_the_profile_option_values():
    doc = load(VM)
    figure = pts.load_profile().figures[0]
    one = doc.with_run(threads=[1], options={**doc.run["options"], "array_mib": 64.0})
    every = doc.with_run(threads=[doc.system["logical_cpus"]])
    assert pts.option_values(one, figure)["threads"] == "1"
    assert pts.option_values(one, figure)["array-mib"] == "64"
    assert pts.option_values(every, figure)["threads"] == "all"


def test_several_files_are_several_systems_in_the_same_graphs(tmp_path, capsys):
    out = tmp_path / "composite.xml"
    code, _, err = run_cli(["export", str(VM), str(X86), "--format", "pts", "-o", str(out)], capsys)
    assert code == 0, err
    root = ET.parse(out).getroot()
    systems = [s.findtext("Identifier") for s in root.iterfind("System")]
    assert len(systems) == 2 and len(set(systems)) == 2
    # Different options (both threads sweeps here) would make separate graphs;
    # the same options put both systems in one.
    shared = [r for r in _results(out.read_text()).values() if len(r) == 2]
    assert shared, "the two runs share at least one figure"


def test_bad_exports_are_one_line_exit_2(tmp_path, capsys):
    code, _, err = run_cli(["export", str(VM), str(X86), "--format", "csv"], capsys)
    assert code == 2 and "one result file" in err and "Traceback" not in err
    doc = load(VM)
    emulated = tmp_path / "emulated.json"
    emulated.write_text(json.dumps({**doc.to_dict(), "run": {**doc.run, "tags": {
        "emulation": "qemu-user", "timings": "meaningless"}}}))
    code, _, err = run_cli(["export", str(emulated), "--format", "pts"], capsys)
    assert code == 2 and "emulation" in err and len(err.strip().splitlines()) == 1
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({**doc.to_dict(), "results": []}))
    code, _, err = run_cli(["export", str(empty), "--format", "pts"], capsys)
    assert code == 2 and "no figure" in err


def test_figure_lines_are_what_the_profile_parses():
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "suite.export.pts",
                           str(X86)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith("["))
    assert "[dram_latency]" not in lines  # not measured: no line at all
    value, unit = lines["[bandwidth_allcore]"].split()
    assert (float(value), unit) == (next(r["value"] for r in headline(load(X86))
                                         if r["key"] == "bandwidth_allcore"), "GB/s")
    assert proc.stdout.endswith(f"factorybench result file: {X86}\n")


def test_import_reads_back_what_export_wrote(tmp_path, capsys):
    composite = tmp_path / "composite.xml"
    run_cli(["export", str(VM), str(X86), "--format", "pts", "-o", str(composite)], capsys)
    code, out, err = run_cli(["import-pts", str(composite), "--out", str(tmp_path / "in")], capsys)
    assert code == 0, err
    files = sorted((tmp_path / "in").glob("*.json"))
    assert len(files) == 2
    docs = [load(f) for f in files]
    exported = _results(composite.read_text())
    for doc in docs:
        assert doc.run["tags"]["source"] == "pts"
        for r in doc.results:
            assert r.benchmark.startswith("pts.") and r.validated
            desc = r.info["pts"]["description"].rsplit(" - ", 1)[1]
            assert f"{r.value:.3f}" == exported[desc][doc.system["hostname"]]
    # The imported files are ordinary result files: compare reads them.
    code, _, err = run_cli(["compare", *map(str, files)], capsys)
    assert code == 0, err


def test_import_skips_empty_values_and_other_profiles(tmp_path, capsys):
    composite = tmp_path / "composite.xml"
    run_cli(["export", str(VM), "--format", "pts", "-o", str(composite)], capsys)
    tree = ET.parse(composite)
    results = list(tree.getroot().iterfind("Result"))
    results[0].find("Data/Entry/Value").text = ""      # a failed parse in PTS
    results[0].find("Data/Entry/RawString").text = ""
    results[1].find("Identifier").text = "pts/stream-1.3.4"
    tree.write(composite)
    code, _, err = run_cli(["import-pts", str(composite), "--out", str(tmp_path / "in")], capsys)
    assert code == 0, err
    (doc,) = [load(f) for f in (tmp_path / "in").glob("*.json")]
    assert len(doc.results) == len(results) - 2
    assert all(r.value is not None and r.value > 0 for r in doc.results)


@pytest.mark.parametrize("content, message", [
    ("<PhoronixTestSuite><Generated/></PhoronixTestSuite>", "not a PTS result file"),
    ("<PhoronixTestSuite><Sys", "not a PTS result file"),
    ("<PhoronixTestSuite><System><Identifier>a</Identifier></System></PhoronixTestSuite>",
     "no result of the factorybench PTS profile"),
])
def test_import_of_a_bad_file_is_one_line_exit_2(tmp_path, capsys, content, message):
    bad = tmp_path / "composite.xml"
    bad.write_text(content)
    code, _, err = run_cli(["import-pts", str(bad), "--out", str(tmp_path)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["import-pts", str(tmp_path / "missing.xml")], capsys)
    assert code == 2 and "no such file" in err


def test_install_writes_the_test_script_or_names_the_missing_checkout(tmp_path):
    install = pts.PROFILE_DIR / "install.sh"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(["bash", str(install)], cwd=tmp_path, capture_output=True, text=True,
                          env={**env, "FACTORYBENCH_ROOT": str(tmp_path / "nowhere")})
    assert proc.returncode == 2 and "FACTORYBENCH_ROOT" in proc.stderr
    assert (tmp_path / "install-exit-status").read_text().strip() == "2"
    # From the checkout it belongs to: the test script runs this checkout.
    proc = subprocess.run(["bash", str(install)], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "install-exit-status").read_text().strip() == "0"
    script = (tmp_path / "factorybench").read_text()
    assert f"root='{ROOT}'" in script and "$LOG_FILE" in script


@pytest.mark.parametrize("options, selection, expected", [
    ("--category memory --profile quick --threads sweep --array-mib auto", "",
     "run memory --profile quick"),
    ("--category memory --profile standard --threads 1 --array-mib 64",
     "stream.triad latency.chase",
     "run stream.triad latency.chase --profile standard --threads 1 --array-mib 64"),
])
def test_the_test_script_turns_pts_options_into_a_run(tmp_path, options, selection, expected):
    root = tmp_path / "checkout"  # stands in for the checkout: records what it is asked
    (root / ".venv" / "bin").mkdir(parents=True)
    fakes = {"run.sh": "exit 0",
             ".venv/bin/factorybench": 'echo "$@" > "$HOME/asked"\n'
                                       'while [ "$1" != --out ]; do shift; done\n'
                                       'echo "{}" > "$2/run.json"',
             ".venv/bin/python": 'echo "[bandwidth_allcore] 1.5 GB/s"'}
    for name, body in fakes.items():
        (root / name).write_text(f"#!/bin/bash\n{body}\n")
        (root / name).chmod(0o755)
    home = tmp_path / "installed"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "FACTORYBENCH_ROOT": str(root)}
    subprocess.run(["bash", str(pts.PROFILE_DIR / "install.sh")], cwd=home, env=env, check=True)
    log = tmp_path / "pts.log"
    subprocess.run(["bash", str(home / "factorybench"), *options.split()], cwd=home, check=True,
                   env={**env, "LOG_FILE": str(log), "FACTORYBENCH_PTS_SELECTION": selection,
                        "TEST_RESULTS_NAME": "n"})
    asked = (home / "asked").read_text().split(" --tag")[0]
    assert asked == expected
    assert "--tag pts.result=n" in (home / "asked").read_text()
    assert log.read_text() == "[bandwidth_allcore] 1.5 GB/s\n"
    assert (home / "test-exit-status").read_text().strip() == "0"
