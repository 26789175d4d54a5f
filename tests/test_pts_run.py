"""factorybench under the Phoronix Test Suite, end to end and offline.

PTS 10.8.6 comes from ../shared/tools (outside the repository); without
../shared this test skips. With it, PHP and xmllint must be there
(scripts/install-system-deps.sh test installs them): a missing one fails
the test rather than skipping it, so CI never passes without running it.

The profile is installed into a throwaway PTS user directory and run in
batch mode on the memory category, quick profile, 1 thread, 64 MiB STREAM
arrays, narrowed to the two benchmarks behind Triad bandwidth and DRAM
latency (FACTORYBENCH_PTS_SELECTION): on a VM that reports a 480 MiB L3 the
chases over 4 x LLC make the whole category take minutes.
Every PTS call runs under `timeout` with stdin closed: PTS loops forever on
a prompt at end of input. As root PTS would use /etc/phoronix-test-suite.xml
and /var/lib; each call runs in a private mount namespace with /etc
read-only, which makes PTS keep to the throwaway directory.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from suite.headline import headline
from suite.results import load
from tests.conftest import ROOT, SHARED

TOOLS = SHARED / "tools"
PTS_ARCHIVE = TOOLS / "phoronix-test-suite-10.8.6.tar.gz"
PROFILE = ROOT / "integrations" / "pts" / "factorybench-1.0.0"
IDENTIFIER = "pts-run"
PRESETS = ("factorybench.category=memory;factorybench.profile=quick;"
           "factorybench.threads=1;factorybench.array-mib=64")
SELECTION = "stream.triad latency.chase"
TRIAD, DRAM = "Triad bandwidth, all cores", "DRAM latency"

pytestmark = [
    pytest.mark.slow,
    # Above the sum of the PTS calls' own timeouts, so `timeout` stops PTS first.
    pytest.mark.timeout(900),
    pytest.mark.skipif(not PTS_ARCHIVE.is_file(), reason=f"{PTS_ARCHIVE} absent (../shared)"),
]

CONFIG = """<PhoronixTestSuite><Options>
 <OpenBenchmarking><AnonymousUsageReporting>FALSE</AnonymousUsageReporting><AllowResultUploadsToOpenBenchmarking>FALSE</AllowResultUploadsToOpenBenchmarking></OpenBenchmarking>
 <Modules><AutoLoadModules></AutoLoadModules></Modules>
 <Installation><EnvironmentDirectory>{d}/installed/</EnvironmentDirectory><CacheDirectory>{d}/cache/</CacheDirectory></Installation>
 <Testing><SleepTimeBetweenTests>0</SleepTimeBetweenTests><ResultsDirectory>{d}/results/</ResultsDirectory></Testing>
 <TestResultValidation><DynamicRunCount>FALSE</DynamicRunCount></TestResultValidation>
 <BatchMode><SaveResults>TRUE</SaveResults><OpenBrowser>FALSE</OpenBrowser><UploadResults>FALSE</UploadResults><PromptForTestIdentifier>FALSE</PromptForTestIdentifier><PromptForTestDescription>FALSE</PromptForTestDescription><PromptSaveName>FALSE</PromptSaveName><RunAllTestCombinations>FALSE</RunAllTestCombinations><Configured>TRUE</Configured></BatchMode>
 <Networking><NoInternetCommunication>TRUE</NoInternetCommunication><NoNetworkCommunication>TRUE</NoNetworkCommunication></Networking>
</Options></PhoronixTestSuite>
"""
# Root: a private mount namespace where /etc is read-only (see the docstring).
READ_ONLY_ETC = 'mount --bind /etc /etc && mount -o remount,bind,ro /etc && exec "$@"'


class PTS:
    """One throwaway PTS installation and user directory."""

    def __init__(self, base: Path):
        self.base = base
        with tarfile.open(PTS_ARCHIVE) as tar:
            if hasattr(tarfile, "tar_filter"):  # Python 3.10.12+, 3.11.4+
                tar.extractall(base, filter="tar")
            else:
                tar.extractall(base)
        for sub in ("user/test-profiles/local", "installed", "cache", "results", "tmp", "home", "out"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "user" / "user-config.xml").write_text(CONFIG.format(d=base))
        # Installing the profile: PTS reads it from the checkout through a link.
        (base / "user" / "test-profiles" / "local" / PROFILE.name).symlink_to(PROFILE)
        self.schema = (base / "phoronix-test-suite" / "pts-core" / "openbenchmarking.org"
                       / "schemas" / "result-file.xsd")

    def __call__(self, *args: str, timeout: int = 60, **env: str) -> str:
        command = [str(self.base / "phoronix-test-suite" / "phoronix-test-suite"), *args]
        if os.geteuid() == 0:
            command = ["unshare", "--mount", "--propagation", "private",
                       "sh", "-c", READ_ONLY_ETC, "sh", *command]
        environ = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
        environ.update(HOME=str(self.base / "home"), TMPDIR=str(self.base / "tmp"),
                       PTS_USER_PATH_OVERRIDE=f"{self.base}/user/", PTS_IGNORE_MODULES="1",
                       OUTPUT_DIR=f"{self.base}/out/", **env)
        proc = subprocess.run(["timeout", "-k", "10", str(timeout), *command], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, env=environ)
        assert proc.returncode == 0, f"PTS {args[0]} exited {proc.returncode}: {proc.stdout[-3000:]}{proc.stderr[-2000:]}"
        return proc.stdout

    def xmllint(self, path: Path) -> None:
        proc = subprocess.run(["timeout", "60", "xmllint", "--noout", "--schema", str(self.schema),
                               str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def _graphs(result_json: dict) -> dict:
    """{figure description: {system: value}} from result-file-to-json output."""
    return {r["description"].rsplit(" - ", 1)[1]: {s: v["value"] for s, v in r["results"].items()}
            for r in result_json["results"].values()}


def _stop_leftovers(base: Path) -> None:
    """Benchmark workers run in their own sessions: when PTS is stopped, end
    those of this run (their command lines name its directory)."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(base) in (proc / "cmdline").read_text():
                os.kill(int(proc.name), 9)
        except OSError:
            continue


def _needed_tools() -> None:
    missing = [tool for tool in ("php", "xmllint", "unshare", "timeout") if not shutil.which(tool)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: scripts/install-system-deps.sh test installs them")


def test_the_profile_runs_under_pts_and_merges_with_an_export(tmp_path):
    _needed_tools()
    started = time.monotonic()
    pts = PTS(tmp_path)
    pts("batch-install", f"local/{PROFILE.name}", timeout=600)  # a fresh checkout sets up .venv
    installed = tmp_path / "installed" / "local" / PROFILE.name
    assert (installed / "factorybench").is_file()

    run_started = time.monotonic()
    try:
        pts("batch-run", f"local/{PROFILE.name}", timeout=240, TEST_RESULTS_NAME="fbmemory",
            TEST_RESULTS_IDENTIFIER=IDENTIFIER, FORCE_TIMES_TO_RUN="1",
            PRESET_OPTIONS_VALUES=PRESETS, FACTORYBENCH_PTS_SELECTION=SELECTION)
    finally:
        _stop_leftovers(tmp_path)
    run_seconds = time.monotonic() - run_started
    composite = tmp_path / "results" / "fbmemory" / "composite.xml"
    pts.xmllint(composite)  # PTS exits 0 even when nothing parsed: check the file itself
    saved = {r.findtext("Description").rsplit(" - ", 1)[1]: r
             for r in ET.parse(composite).getroot().iterfind("Result")}
    assert {TRIAD, DRAM} <= set(saved)
    for result in saved.values():
        values = [e.findtext("Value") for e in result.iterfind("Data/Entry")]
        assert values and all(v and float(v) > 0 for v in values), result.findtext("Description")

    # factorybench's own result file from the same run, named in PTS's test log.
    (own,) = installed.glob("results/*/*.json")
    logs = "".join(p.read_text() for p in (tmp_path / "results" / "fbmemory").rglob("*.log"))
    assert f"factorybench result file: {own}" in logs
    doc = load(own)
    triad = next(r["value"] for r in headline(doc) if r["key"] == "bandwidth_allcore")
    pts_triad = saved[TRIAD].find("Data/Entry")
    assert pts_triad.findtext("Value") == f"{triad:.3f}"       # the figure PTS shows
    assert float(pts_triad.findtext("RawString")) == pytest.approx(triad, rel=1e-12)

    # The same run exported by factorybench as a second system, merged by PTS.
    exported = tmp_path / "results" / "fbexport" / "composite.xml"
    exported.parent.mkdir()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "factorybench"), "export", str(own),
                           "--format", "pts", "-o", str(exported)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    pts.xmllint(exported)
    merged = re.search(r"Merged Results Saved To: (\S+)/composite\.xml",
                       pts("merge-results", "fbmemory", "fbexport")).group(1)
    pts("result-file-to-json", Path(merged).name)
    graphs = _graphs(json.loads((tmp_path / "out" / f"{Path(merged).name}.json").read_text()))
    exported_system = ET.parse(exported).getroot().findtext("System/Identifier")
    for figure in (TRIAD, DRAM):
        assert set(graphs[figure]) == {IDENTIFIER, exported_system}, figure
    assert graphs[TRIAD][IDENTIFIER] == graphs[TRIAD][exported_system] == float(f"{triad:.3f}")
    print(f"\nPTS test: {time.monotonic() - started:.1f} s in all, batch-run {run_seconds:.1f} s")
