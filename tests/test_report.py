"""HTML report: plots present or marked absent, and it renders in Chromium."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from suite.cli import main
from suite.report import PLOTS, write_report
from suite.results import load, parse
from tests import chromium

FIXTURES = Path(__file__).parent / "fixtures" / "results"
A, ARM = FIXTURES / "x86-a.json", FIXTURES / "arm.json"


@pytest.fixture(scope="module")
def two_system_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    write_report([A, ARM], out)
    return out


def test_report_has_every_plot_embedded(two_system_report):
    text = two_system_report.read_text()
    images = re.findall(r'<img class="plot" alt="([^"]+)" src="data:image/png;base64,', text)
    assert images == [title for title, _ in PLOTS]
    assert "not in this run" not in text
    assert "grace1" in text and "x86box" in text and "Geometric means of ratios" in text and "Headline" in text
    assert "http://" not in text and "https://" not in text  # self-contained


def test_absent_benchmarks_get_a_note_not_a_plot(tmp_path):
    data = json.loads(A.read_text())
    data["results"] = [r for r in data["results"] if r["benchmark"].startswith("stream.")]
    out = write_report([parse(data, "stream-only.json")], tmp_path / "r.html")
    text = out.read_text()
    assert text.count('<img class="plot"') == 1
    for title in ("Latency curve", "Loaded latency", "Agent workloads", "Co-run interference"):
        assert f"{title}: not in this run." in text


def test_empty_run_still_renders(tmp_path):
    data = json.loads(A.read_text())
    data["results"] = []
    out = write_report([parse(data, "empty.json")], tmp_path / "r.html")
    assert out.read_text().count("<p class=\"note\">") == len(PLOTS)


def test_report_command_writes_beside_result(tmp_path, capsys):
    result = tmp_path / "run.json"
    shutil.copy(A, result)
    with pytest.raises(SystemExit) as exc:
        main(["report", str(result)])
    assert exc.value.code == 0
    assert (tmp_path / "run.html").exists()
    with pytest.raises(SystemExit) as exc:
        main(["report", str(result), "-o", str(tmp_path / "nodir" / "r.html")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "does not exist" in err


# Counts the images that decoded.
_IMAGES = """function () {
  var imgs = Array.from(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  return {images: imgs.length, rendered: ok};
}"""


def render_in_chromium(html_path: Path, tmp_path: Path) -> tuple:
    return chromium.render(html_path, tmp_path, _IMAGES)


@pytest.mark.chromium
@chromium.needs_chromium
def test_report_renders_in_headless_chromium(two_system_report, tmp_path):
    probe, console = render_in_chromium(two_system_report, tmp_path)
    assert probe["images"] == len(PLOTS)
    assert probe["rendered"] == probe["images"]
    assert probe["errors"] == [] and console == []


@pytest.mark.chromium
@chromium.needs_chromium
def test_chromium_probe_catches_a_broken_plot(two_system_report, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(two_system_report.read_text().replace(
        "data:image/png;base64,", "data:image/png;base64,AAAA", 1))
    probe, _ = render_in_chromium(broken, tmp_path)
    assert probe["rendered"] == probe["images"] - 1


def test_real_run_draws_every_plot(tmp_path):
    # A quick-profile run of this suite's own benchmarks on a 2-core VM:
    # guards the record shapes the plots look for against drift.
    out = write_report([FIXTURES / "real-vm-quick.json"], tmp_path / "real.html")
    text = out.read_text()
    assert text.count('<img class="plot"') == len(PLOTS)
    assert '<p class="note">' not in text


def test_agent_plot_has_a_row_per_family_and_the_capacity_search():
    from suite.model import measurement
    from suite.report import plot_agent

    data = json.loads(A.read_text())
    extra = [
        measurement("db.point", {"engine": "sqlite", "clients": c}, "throughput", "queries/s",
                    [1000.0 * c] * 3, higher_is_better=True) for c in (1, 2)
    ] + [measurement("agent.step", {"slo_ms": 250}, "agents", "agents", [12.0],
                     higher_is_better=True,
                     info={"search": [{"agents": 4, "p99_ms": 80.0, "pass": True},
                                      {"agents": 16, "p99_ms": 400.0, "pass": False},
                                      {"agents": 12, "p99_ms": 240.0, "pass": True}]})]
    data["results"] += [r.to_dict() for r in extra]
    fig = plot_agent([("x86box", parse(data, "x.json"))])
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["db: throughput", "db: p99 latency", "tools: throughput",
                      "tools: p99 latency", "agent.step: p99 latency"]
    search = fig.axes[-2].lines[0]
    assert list(search.get_xdata()) == [4, 12, 16]
    assert any(line.get_label() == "SLO 250 ms" for line in fig.axes[-2].lines)


def test_latency_plot_has_byte_ticks_log_axes_and_sized_cache_marks():
    from suite.report import plot_latency

    fig = plot_latency([("x86box", load(A)), ("grace1", load(ARM))])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.xaxis.get_major_formatter()(32768, 0) == "32 KiB"
    marks = [t.get_text() for t in ax.texts]
    # Both systems have a 1 MiB L2: one unnamed mark; their L1s differ: named marks.
    assert "L2 1 MiB" in marks and "L1 32 KiB (x86box)" in marks and "L1 64 KiB (grace1)" in marks


def test_legend_names_drop_the_words_every_series_shares():
    from suite.report import Series, _short_names

    series = [Series(f"vm stream.sweep bind=spread,kernel={k}", (1,), (1.0,))
              for k in ("copy", "triad")]
    short, common = _short_names(series)
    assert [s.label for s in short] == ["kernel=copy", "kernel=triad"]
    assert common == "vm, stream.sweep, bind=spread"
    single, none = _short_names(series[:1])
    assert single == series[:1] and none == ""


def test_wide_ranges_get_a_log_axis_and_rates_start_at_zero():
    from suite.report import LOG_Y_SPAN, Series, _draw, _figure

    fig, (wide, narrow) = _figure(2)
    _draw(wide, [Series("a", (1, 2), (1.0, 2 * LOG_Y_SPAN))], "concurrency", "per second", "w")
    _draw(narrow, [Series("a", (1, 2), (10.0, 12.0))], "concurrency", "per second", "n")
    assert wide.get_yscale() == "log"
    assert narrow.get_yscale() == "linear" and narrow.get_ylim()[0] == 0


def test_slowdown_bars_are_horizontal_with_readable_names():
    from suite.report import plot_slowdown

    data = json.loads((FIXTURES / "real-vm-quick.json").read_text())
    fig = plot_slowdown([("vm", parse(data, "vm.json"))])
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels and all(max(map(len, lab.splitlines())) <= 30 for lab in labels)
    assert ax.get_xlabel().startswith("slowdown")
