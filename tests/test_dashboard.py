"""`history site`: a static site of a history store, checked in headless
Chromium: every plot drawn, no console error, the regression marked."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from suite import history
from suite.dashboard import build_site, page_name, plot_groups
from tests import chromium
from tests.conftest import run_in_process as run_cli
from tests.test_history import add_nights, night

NIGHTS = 10
MACHINES = ("x86box", "rack2")


def planted_history(store: Path) -> Path:
    """10 nights of 2 machines; STREAM Triad drops 10% on x86box's last 2."""
    nights = []
    for m, name in enumerate(MACHINES):
        for i in range(NIGHTS):
            step = name == "x86box" and i >= NIGHTS - 2
            data = night(i, scale=0.9 if step else 1.0, scaled="stream.triad", seed=m)
            data["system"]["hostname"] = name
            data["run"]["id"] = f"{name}-night-{i}"
            nights.append(data)
    add_nights(store, nights)
    return store


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    store = planted_history(tmp / "h.sqlite")
    out = tmp / "site"
    out.mkdir()
    with history.open_store(str(store)) as st:
        built = build_site(st, out)
    return out, built, json.loads((out / "data.json").read_text())


def test_data_file_has_both_machines_and_the_flagged_regression(site):
    out, built, data = site
    assert [m["label"] for m in data["machines"]] == ["rack2", "x86box"]
    assert len(data["runs"]) == NIGHTS * len(MACHINES)
    flagged = [(b["id"], s) for b in data["benchmarks"] for s in b["series"]
               if s.get("verdict") == "regression"]
    assert flagged and {b for b, _ in flagged} == {"stream.triad"}
    assert all(data["machines"][1]["id"] == s["machine"] for _, s in flagged)
    for _, s in flagged:
        # The flagged step and the step fit's latest level both begin with
        # the first dropped night.
        for began in (data["runs"][s["step_run"]], data["runs"][s["levels"][-1][0]]):
            assert began["run_id"] == f"x86box-night-{NIGHTS - 2}" == s["finding"]["began_run"]
            assert began["commit"] == f"{NIGHTS - 2:040x}"
    assert built.regressions == len(data["check"]["regressions"]) == len(flagged)
    assert built.pages == len(data["benchmarks"])


def test_pages_are_self_contained(site):
    out, _, data = site
    pages = [out / "index.html"] + [out / b["page"] for b in data["benchmarks"]]
    for page in pages:
        text = page.read_text()
        assert 'id="site-data"' in text
        for external in ("<link", 'src="http', "src='http", "fetch(", "XMLHttpRequest", "@import"):
            assert external not in text, (page.name, external)
    assert sorted(p.name for p in (out / "b").iterdir()) == sorted(
        page_name(b["id"]) for b in data["benchmarks"])


def test_embedded_data_cannot_close_its_script(tmp_path):
    from suite.dashboard import _embed

    assert "</script>" not in _embed({"x": "</script><script>alert(1)</script>"})
    assert page_name("../etc/passwd") == "_etc_passwd.html"


# The plots drawn, those with points, and the marks of flagged steps.
_MEASURE = """function () {
  var plots = Array.from(document.querySelectorAll('svg.plot'));
  return {plots: plots.length,
          drawn: plots.filter(function (p) { return p.querySelectorAll('g.series circle').length > 0; }).length,
          regression_marks: document.querySelectorAll('.regression-mark').length,
          badges: Array.from(document.querySelectorAll('.badge.regression')).map(function (b) { return b.textContent; }),
          rows: document.querySelectorAll('#benchmarks tr').length,
          flagged_rows: document.querySelectorAll('#regressions tr.regression').length};
}"""
# The index's regression rows and benchmark rows left by a machine filter
# and a category filter.
_FILTERED = """function () {
  function pick(name, value) {
    var s = document.querySelector('select[data-filter=' + name + ']');
    s.value = value; s.dispatchEvent(new Event('change'));
  }
  function shown(sel) { return document.querySelectorAll(sel + ':not(.hidden)').length; }
  var out = {};
  pick('machine', 'rack2'); out.rack2 = shown('#regressions tr.regression');
  pick('machine', 'x86box'); out.x86box = shown('#regressions tr.regression');
  pick('machine', ''); pick('category', 'tools'); out.tools = shown('#benchmarks tr[data-category]');
  return out;
}"""


@pytest.mark.chromium
@chromium.needs_chromium
def test_site_renders_in_headless_chromium(site, tmp_path):
    out, _, data = site
    index, console = chromium.render(out / "index.html", tmp_path, _MEASURE)
    assert index["errors"] == [] and console == []
    assert index["rows"] == len(data["benchmarks"]) + 1
    assert index["flagged_rows"] == len(data["check"]["regressions"])
    filtered, _ = chromium.render(out / "index.html", tmp_path, _FILTERED)
    assert filtered["rack2"] == 0 and filtered["x86box"] == index["flagged_rows"]
    assert filtered["tools"] == sum(b["category"] == "tools" for b in data["benchmarks"]) > 0
    for bench in data["benchmarks"]:
        probe, console = chromium.render(out / bench["page"], tmp_path, _MEASURE)
        assert probe["errors"] == [] and console == [], bench["id"]
        assert probe["plots"] == probe["drawn"] == len(plot_groups(bench)), bench["id"]
        flagged = [s for s in bench["series"] if s.get("verdict") == "regression"]
        assert probe["regression_marks"] == len(flagged), bench["id"]
        assert len(probe["badges"]) == len(flagged)
        assert all(b.startswith("REGRESSION x86box") and f"night-{NIGHTS - 2}" in b
                   for b in probe["badges"])


def test_command_writes_the_site_and_names_it(tmp_path, capsys):
    store = planted_history(tmp_path / "h.sqlite")
    code, out, err = run_cli(["history", "site", "--store", str(store), "-o",
                              str(tmp_path / "new" / "site")], capsys)
    assert code == 0, err
    assert "regressions" in out and (tmp_path / "new" / "site" / "index.html").exists()


@pytest.mark.parametrize("case", ["missing store", "corrupt store", "out is a file",
                                  "bad window"])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, case):
    store = tmp_path / "h.sqlite"
    out = tmp_path / "site"
    args = ["history", "site", "--store", str(store), "-o", str(out)]
    if case != "missing store":
        planted_history(store)
    if case == "corrupt store":
        with open(store, "r+b") as f:
            f.seek(120)
            f.write(b"\xff" * 4000)
    if case == "out is a file":
        out.write_text("not a directory")
    if case == "bad window":
        args += ["--window", "0"]
    code, stdout, err = run_cli(args, capsys)
    assert code == 2, (stdout, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_stale_pages_go_and_an_empty_store_still_builds(tmp_path):
    store = tmp_path / "h.sqlite"
    with history.open_store(str(store), create=True):
        pass
    out = tmp_path / "site"
    (out / "b").mkdir(parents=True)
    (out / "b" / "gone.html").write_text("old")
    built = build_site(str(store), out)  # a store's path works as well as an open store
    assert built.pages == 0 and not (out / "b" / "gone.html").exists()
    assert json.loads((out / "data.json").read_text())["benchmarks"] == []
