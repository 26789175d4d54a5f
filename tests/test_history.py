"""History store: add/list/check, idempotence, concurrency, corrupt stores."""
from __future__ import annotations

import json
import math
import multiprocessing
import random
import sqlite3
from pathlib import Path

import pytest

from suite import history
from suite.results import parse
from tests.conftest import run_in_process as run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "results"
# A quick run judges about this many primary series in one check; they share
# the check's false-alarm budget.
RUN_SERIES = 126


def night(i: int, scale: float = 1.0, noise: float = 0.01, seed: int = 0,
          scaled: str | None = None, profile: str = "quick") -> dict:
    """Night i of x86box: every value jittered by `noise`; `scale` applied to
    every record, or only to benchmark `scaled` when given."""
    data = json.loads((FIXTURES / "x86-a.json").read_text())
    rng = random.Random(seed * 1000 + i)
    data["run"]["id"] = f"night-{i}"
    data["run"]["profile"] = profile
    data["suite"]["git_commit"] = f"{i:040x}"
    data["run"]["started_at"] = f"2025-02-{i + 1:02d}T00:00:00Z"
    for r in data["results"]:
        f = 1 + rng.gauss(0, noise)
        if scaled is None or r["benchmark"] == scaled:
            f *= scale if r["higher_is_better"] else 1 / scale
        r["value"] *= f
        r["samples"] = [s * f for s in r["samples"]]
    return data


def add_nights(store_path, nights):
    with history.open_store(str(store_path), create=True) as st:
        return [history.add(st, parse(n)) for n in nights]


def test_add_is_idempotent_and_list_shows_runs(tmp_path, capsys):
    store = tmp_path / "h.sqlite"
    first = add_nights(store, [night(0), night(1)])
    again = add_nights(store, [night(1)])
    assert [a.new for a in first] == [True, True] and first[0].points > 0
    assert not again[0].new
    with history.open_store(str(store)) as st:
        runs = history.list_runs(st)
    assert [r[2] for r in runs] == ["night-0", "night-1"]
    assert all(r[4] == first[0].points for r in runs)
    code, out, _ = run_cli(["history", "list", "--store", str(store)], capsys)
    assert code == 0 and "night-1" in out and "x86box" in out


def test_check_flags_planted_regression_and_passes_untouched(tmp_path, capsys):
    store = tmp_path / "h.sqlite"
    add_nights(store, [night(i) for i in range(8)])
    code, out, _ = run_cli(["history", "check", "--store", str(store)], capsys)
    assert code == 0, out
    assert "REGRESSION" not in out
    add_nights(store, [night(i, scale=0.9, scaled="stream.triad") for i in (8, 9)])
    code, out, _ = run_cli(["history", "check", "--store", str(store)], capsys)
    assert code == 1
    flagged = [line for line in out.splitlines() if line.startswith("REGRESSION")]
    assert flagged and all("stream.triad" in line for line in flagged)
    # bandwidth at 1 and 2 threads; per-core bandwidth (declared derived
    # from it by the STREAM spec) repeats their step and is not judged
    assert len(flagged) == 2 and not any("per_core" in line for line in flagged)


def test_check_lists_improvements_without_failing(tmp_path, capsys):
    store = tmp_path / "h.sqlite"
    add_nights(store, [night(i) for i in range(6)]
               + [night(i, scale=1.2, scaled="tools.json_transform") for i in (6, 7)])
    code, out, _ = run_cli(["history", "check", "--store", str(store)], capsys)
    assert code == 0
    assert "improvement: x86box: tools.json_transform" in out


def test_noise_alone_is_not_a_regression():
    # A 10% drop inside a series that swings +-15% is within its noise.
    rng = random.Random(7)
    values = [100 * (1 + rng.uniform(-0.15, 0.15)) for _ in range(10)] + [90.0, 90.0]
    assert history.judge_series(values, True) is None


def test_step_fit_finds_the_level_change_and_where_it_began():
    from suite.stats import robust_sigma, step_fit

    ys = [0.0, 0.01, -0.01, 0.0, 0.01, 1.0, 1.01, 0.99]
    assert [(a, b) for a, b, _ in step_fit(ys, 0.1)] == [(0, 5), (5, 8)]
    assert step_fit([0.0] * 6, 0.1) == [(0, 6, 0.0)]
    assert robust_sigma([0.0, 1.0, 0.0, 1.0]) > robust_sigma([0.0, 0.0, 1.0, 1.0]) == 0.0
    rng = random.Random(3)
    values = [100 * (1 + rng.gauss(0, 0.02)) for _ in range(20)] + [92.0, 93.0]
    step = history.judge_series(values, True, series=RUN_SERIES)
    assert step is not None and step.index == 20 and step.change == pytest.approx(-0.07, abs=0.03)
    # A single new point is an outlier until the next night confirms it.
    assert history.judge_series(values[:-1], True, series=RUN_SERIES) is None


def test_difference_rms_is_the_noise_a_median_of_few_differences_misses():
    from suite.stats import difference_rms, robust_sigma

    assert difference_rms([5.0]) == 0.0
    assert difference_rms([0.0, 1.0, 0.0, 1.0]) == pytest.approx(1 / math.sqrt(2))
    # Most differences are zero: their median says no noise at all.
    runs = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert robust_sigma(runs) == 0.0
    assert difference_rms(runs) == pytest.approx(math.sqrt(1 / 8))
    # A step moves one difference: the noise it reads grows by little.
    rng = random.Random(1)
    noise = [rng.gauss(0, 0.03) for _ in range(22)]
    stepped = noise[:20] + [y - 0.1 for y in noise[20:]]
    assert difference_rms(stepped) < 1.3 * difference_rms(noise)


def test_a_noisy_series_is_not_cut_into_levels_its_noise_explains():
    # An A/A series at CV 4% whose successive differences' median reads 1.4%:
    # a fit priced in that noise made the last two points a +5.8% level.
    values = [99.2, 98.3, 98.8, 100.1, 99.1, 98.2, 98.7, 106.5, 99.5, 97.4, 103.8, 105.6]
    assert history.judge_series(values, True, series=RUN_SERIES) is None
    assert history.judge_series(values, False, series=RUN_SERIES) is None


def test_a_planted_step_is_flagged_within_two_nights():
    # 20 nights at CV 2%, then 10% down: one series of a quick run's check.
    rng = random.Random(11)
    values = [100 * (1 + rng.gauss(0, 0.02)) for _ in range(20)]
    values += [90 * (1 + rng.gauss(0, 0.02)) for _ in range(2)]
    step = history.judge_series(values, True, series=RUN_SERIES)
    assert step is not None and step.index == 20
    assert step.change == pytest.approx(-0.1, abs=0.03)
    assert step.before == pytest.approx(100, rel=0.02)


def test_a_low_night_before_the_step_does_not_hide_it():
    # The night before the drop reads low by chance: a step fit over the
    # whole series starts the new level there, a night too early for a
    # check that looks at the latest two. The reference level before the
    # tested nights is found on its own.
    values = [100.0, 101.0] * 9 + [100.5, 97.0, 90.0, 89.0]
    step = history.judge_series(values, True, series=RUN_SERIES)
    assert step is not None and step.index == 20 and step.change < -0.08


def test_a_step_is_reported_on_its_first_nights_then_not_again():
    values = [100.0, 101.0] * 10 + [90.0] * 6
    flagged = [n for n in range(21, 27)
               if history.judge_series(values[:n], True, series=RUN_SERIES) is not None]
    assert flagged == [21, 22]


def test_a_noise_series_raises_no_alarm_night_after_night():
    # A/A: 100 series at CV 1-5%, checked after every night from the 5th to
    # the 30th (2600 checks). At the check's budget shared by a quick run's
    # series, about 0.5 false alarms are expected here.
    rng = random.Random(5)
    alarms = 0
    for _ in range(100):
        cv = rng.uniform(0.01, 0.05)
        values = [100 * (1 + rng.gauss(0, cv)) for _ in range(30)]
        alarms += sum(history.judge_series(values[:n], True, series=RUN_SERIES) is not None
                      for n in range(history.MIN_POINTS, 31))
    assert alarms <= 3


def test_the_checks_false_alarm_budget_is_shared_by_its_series():
    # One series alone spends the whole budget; among 400 it needs surer
    # evidence (each series at 1/400 of it).
    values = [100.0, 102.0] * 10 + [98.4, 98.6]
    assert history.judge_series(values, True, series=1) is not None
    assert history.judge_series(values, True, series=400) is None


def test_integer_metrics_are_judged_by_their_step():
    # Capacity flips between 1 and 2 agents on a busy machine: one unit is noise.
    flips = [2, 2, 1, 2, 2, 2, 1, 2, 2, 2, 1, 1]
    assert history.judge_series(flips, True, series=RUN_SERIES) is None
    assert history.judge_series([2] * 10 + [1, 1], True, series=RUN_SERIES) is None
    # Forty agents down to thirty is many steps: a regression.
    step = history.judge_series([40, 41, 40, 40, 39, 40, 40, 41, 40, 30, 30], True,
                                series=RUN_SERIES)
    assert step is not None and step.change == pytest.approx(-0.25, abs=0.01)


def test_within_run_noise_floors_a_quiet_series():
    flat = [100.5] * 10 + [96.5, 96.5]
    assert history.judge_series(flat, True) is not None  # no spread at all: 4% is a step
    assert history.judge_series(flat, True, within=0.03) is None


def test_too_short_history_is_counted_not_judged(tmp_path):
    store = tmp_path / "h.sqlite"
    add_nights(store, [night(i) for i in range(3)] + [night(3, scale=0.5)])
    with history.open_store(str(store)) as st:
        report = history.check(st)
    assert report.regressions == () and report.checked == 0 and report.too_short > 0
    assert history.MIN_POINTS == 5


def test_profiles_are_separate_series(tmp_path):
    store = tmp_path / "h.sqlite"
    # Standard-profile figures are 20% higher (best of more trials): were the
    # profiles one series, the quick night after them would be a regression.
    add_nights(store, [night(i) for i in range(6)]
               + [night(i, scale=1.2, profile="standard") for i in range(6, 12)]
               + [night(12), night(13)])
    with history.open_store(str(store)) as st:
        report = history.check(st)
    assert report.regressions == () and report.improvements == () and report.checked > 0
    keys = {history.series_scope(p, "0.1.0", {}) != history.series_scope("quick", "0.1.0", {})
            for p in ("standard", "full")}
    assert keys == {True}
    assert history.series_scope("quick", "1.0", {}) != history.series_scope("quick", "0.1", {})
    assert (history.series_scope("quick", "0.1", {"stride": 64})
            != history.series_scope("quick", "0.1", {"stride": 128}))
    assert (history.series_scope("quick", "0.1", {"out_dir": "a"})
            == history.series_scope("quick", "0.1", {"out_dir": "b"}))


def _disturbed(data: dict) -> dict:
    for r in data["results"]:
        r["info"]["disturbed"] = "load average 4 on 2 CPUs"
    return data


def test_disturbed_points_are_left_out(tmp_path):
    store = tmp_path / "h.sqlite"
    add_nights(store, [night(i) for i in range(6)]
               + [_disturbed(night(i, scale=0.7)) for i in (6, 7)])
    with history.open_store(str(store)) as st:
        report = history.check(st)
    assert report.regressions == () and report.checked == 0 and report.disturbed > 0
    add_nights(store, [night(8)])  # undisturbed again: judged against undisturbed points
    with history.open_store(str(store)) as st:
        report = history.check(st)
    assert report.regressions == () and report.checked > 0


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "markdown"])
def test_every_check_format_and_exit_code(tmp_path, capsys, fmt):
    import xml.etree.ElementTree as ET

    store = tmp_path / "h.sqlite"
    add_nights(store, [night(i) for i in range(8)])
    code, out, _ = run_cli(["history", "check", "--store", str(store), "--format", fmt], capsys)
    assert code == 0, out
    add_nights(store, [night(i, scale=0.8, scaled="stream.triad") for i in (8, 9)])
    code, out, _ = run_cli(["history", "check", "--store", str(store), "--format", fmt], capsys)
    assert code == 1
    if fmt == "json":
        data = json.loads(out)
        assert data["regressions"] and data["min_points"] == history.MIN_POINTS
        assert {f["began_run"] for f in data["regressions"]} == {"night-8"}
        assert {f["began_commit"] for f in data["regressions"]} == {f"{8:040x}"}
    elif fmt == "junit":
        suite = ET.fromstring(out)
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure")) > 0
    elif fmt == "markdown":
        assert out.startswith("### factorybench history check: regression")
        assert "| series |" in out and "stream.triad" in out
    else:
        assert "REGRESSION" in out and "night-8" in out
    code, _, err = run_cli(["history", "check", "--store", str(store), "--format", "xml"],
                           capsys)
    assert code == 2 and "Traceback" not in err


def test_layout_1_store_is_migrated_on_open(tmp_path):
    store = tmp_path / "old.sqlite"
    con = sqlite3.connect(store)
    for stmt in (
            "CREATE TABLE fb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE fb_runs (run_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,"
            " machine TEXT NOT NULL, started_at TEXT NOT NULL, run_id TEXT, suite_version TEXT,"
            " profile TEXT, source TEXT, added_at TEXT NOT NULL)",
            "CREATE TABLE fb_points (run_key TEXT NOT NULL, series_key TEXT NOT NULL,"
            " fingerprint TEXT NOT NULL, started_at TEXT NOT NULL, benchmark TEXT NOT NULL,"
            " params TEXT NOT NULL, metric TEXT NOT NULL, unit TEXT NOT NULL,"
            " higher_is_better INTEGER NOT NULL, value DOUBLE PRECISION, samples TEXT NOT NULL,"
            " validated INTEGER NOT NULL, PRIMARY KEY (run_key, series_key))"):
        con.execute(stmt)
    con.execute("INSERT INTO fb_meta VALUES ('schema', '1')")
    for i in range(6):
        data = night(i)
        src = tmp_path / f"night-{i}.json"
        src.write_text(json.dumps(data))
        doc = parse(data)
        key = f"run{i}"
        con.execute("INSERT INTO fb_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, history.fingerprint(doc.system),
                     json.dumps(history.machine_of(doc.system)), doc.run["started_at"],
                     doc.run["id"], "0.1.0", "quick", str(src), "now"))
        for r in doc.results:
            bench, params = r.benchmark, dict(r.params)
            if bench == "stream.triad":  # as layout 1 held it: the schema-1 id
                bench, params = "stream.sweep", {**params, "kernel": "triad"}
            con.execute("INSERT INTO fb_points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (key, f"old-{r.benchmark}-{r.metric}-{json.dumps(r.params)}",
                         history.fingerprint(doc.system), doc.run["started_at"], bench,
                         json.dumps(params, sort_keys=True), r.metric, r.unit,
                         int(r.higher_is_better), r.value, "[]", 1))
    con.commit()
    con.close()
    add_nights(store, [night(6)])  # opens (migrates) and adds a new-layout run
    with history.open_store(str(store)) as st:
        assert st.query("SELECT value FROM fb_meta WHERE key = 'schema'") == [
            (history.STORE_SCHEMA,)]
        report = history.check(st)
        # The migrated points and the new run share their series, under
        # today's ids.
        assert report.checked > 0 and report.too_short == 0
        assert st.query("SELECT COUNT(*) FROM fb_points WHERE benchmark = 'stream.sweep'") == [(0,)]


def _with_tokenizers(data: dict, schema: int) -> dict:
    """`data` with a tokenizer record: the pure-Python encoder under the id
    result schema `schema` gave it, and (schema 3) the library's beside it."""
    base = next(r for r in data["results"] if r["benchmark"] == "tools.json_transform")
    old = "tools.tokenize" if schema == 2 else "tools.tokenize_python"
    extra = [dict(base, benchmark=old)]
    if schema == 3:
        extra.append(dict(base, benchmark="tools.tokenize", params={"threads": 1},
                          unit="tokens/s"))
    return dict(data, schema_version=schema, results=data["results"] + extra)


def test_layout_2_store_moves_schema_2_tokenizer_points_on_open(tmp_path):
    store = tmp_path / "old.sqlite"
    add_nights(store, [_with_tokenizers(night(i), 3) for i in range(7)])
    # Make it a layout-2 store: runs 0-5 as schema 2 stored them (the
    # pure-Python encoder under tools.tokenize), run 6 of schema 3.
    con = sqlite3.connect(store)
    con.execute("UPDATE fb_meta SET value = '2' WHERE key = 'schema'")
    con.execute("DELETE FROM fb_meta WHERE key = 'result_schema'")
    con.execute("DELETE FROM fb_points WHERE benchmark = 'tools.tokenize' AND run_key IN"
                " (SELECT run_key FROM fb_runs WHERE run_id != 'night-6')")
    con.execute("UPDATE fb_points SET benchmark = 'tools.tokenize', series_key = 'old-' ||"
                " series_key WHERE benchmark = 'tools.tokenize_python' AND run_key IN"
                " (SELECT run_key FROM fb_runs WHERE run_id != 'night-6')")
    con.commit()
    con.close()
    add_nights(store, [_with_tokenizers(night(7), 2)])  # opens (migrates), adds a run
    with history.open_store(str(store)) as st:
        assert dict(st.query("SELECT key, value FROM fb_meta")) == {
            "schema": history.STORE_SCHEMA, "result_schema": "3"}
        python = st.query("SELECT COUNT(*), COUNT(DISTINCT series_key) FROM fb_points"
                          " WHERE benchmark = 'tools.tokenize_python'")
        assert python == [(8, 1)]  # every night's pure-Python points in one series
        assert st.query("SELECT params FROM fb_points WHERE benchmark = 'tools.tokenize'") == [
            ('{"threads": 1}',)]  # the schema-3 run's library point stays


def _add_worker(args):
    store, indexes = args
    add_nights(store, [night(i) for i in indexes])
    return len(indexes)


def test_concurrent_adds_lose_nothing(tmp_path):
    store = tmp_path / "h.sqlite"
    # Six processes, overlapping runs: 12 distinct nights, each added twice.
    jobs = [(store, list(range(k, k + 4))) for k in range(0, 12, 2)]
    jobs = [(store, [i % 12 for i in idx]) for _, idx in jobs]
    with multiprocessing.get_context("fork").Pool(6) as pool:
        pool.map(_add_worker, jobs)
    with history.open_store(str(store)) as st:
        runs = history.list_runs(st)
    assert sorted(r[2] for r in runs) == sorted(f"night-{i}" for i in range(12))
    points = {r[4] for r in runs}
    assert len(points) == 1 and points.pop() > 0


def test_corrupt_store_is_reported_and_left_untouched(tmp_path, capsys):
    store = tmp_path / "h.sqlite"
    store.write_bytes(b"this is not a database\n" * 100)
    before = store.read_bytes()
    code, _, err = run_cli(["history", "add", str(FIXTURES / "x86-a.json"), "--store",
                            str(store)], capsys)
    assert code == 2 and "not an SQLite database" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert store.read_bytes() == before


def test_foreign_sqlite_file_is_refused(tmp_path, capsys):
    store = tmp_path / "other.sqlite"
    con = sqlite3.connect(store)
    con.execute("CREATE TABLE fb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("INSERT INTO fb_meta VALUES ('schema', '99')")
    con.commit()
    con.close()
    code, _, err = run_cli(["history", "check", "--store", str(store)], capsys)
    assert code == 2 and "layout 99" in err


def test_missing_store_on_check_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(["history", "check", "--store", str(tmp_path / "none.sqlite")],
                           capsys)
    assert code == 2 and "no history store" in err
    assert not (tmp_path / "none.sqlite").exists()


def test_fingerprint_separates_machines():
    a = json.loads((FIXTURES / "x86-a.json").read_text())["system"]
    b = json.loads((FIXTURES / "arm.json").read_text())["system"]
    assert history.fingerprint(a) != history.fingerprint(b)
    drift = dict(a, memory={"total_bytes": a["memory"]["total_bytes"] - 4096})
    assert history.fingerprint(a) == history.fingerprint(drift)


def test_truncated_store_is_reported_and_left_untouched(tmp_path, capsys):
    store = tmp_path / "h.sqlite"
    add_nights(store, [night(i) for i in range(3)])
    whole = store.read_bytes()
    store.write_bytes(whole[: len(whole) // 3] + b"\x00garbage" * 64)
    before = store.read_bytes()
    code, _, err = run_cli(["history", "check", "--store", str(store)], capsys)
    assert code == 2 and "left untouched" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["history", "add", str(FIXTURES / "arm.json"), "--store",
                            str(store)], capsys)
    assert code == 2 and store.read_bytes() == before


def test_the_reference_level_is_its_latest_points_at_most():
    logs = [0.0] * 50
    ref = history.reference_level(logs[:45] + [0.01] * 5, 0.01)
    assert ref is not None and len(ref.points) == history.MAX_REFERENCE_POINTS
    ref = history.reference_level([0.001 * (i % 3) for i in range(50)], 0.01)
    assert len(ref.points) == history.MAX_REFERENCE_POINTS
    assert ref.level == pytest.approx(sum(ref.points) / len(ref.points))


def test_a_slow_drift_over_a_long_history_is_not_a_step(monkeypatch):
    # Latencies creeping up 4% over 60 nights, checked on nights 31-60: the
    # mean of a whole 60-night reference lags where the series is now and
    # reads as a step; the latest 30 points lag half as much, so the drift
    # adds at most half the alarms it adds to a 60-point level.
    def alarms(drift):
        rng = random.Random(11)
        count = 0
        for _ in range(60):
            cv = rng.uniform(0.02, 0.04)
            values = [100 * (1 + drift * n / 59) * (1 + rng.gauss(0, cv)) for n in range(60)]
            count += sum(history.judge_series(values[:n], False, series=20) is not None
                         for n in range(31, 61))
        return count

    steady, capped = alarms(0.0), alarms(0.04)
    monkeypatch.setattr(history, "MAX_REFERENCE_POINTS", history.MAX_POINTS)
    assert (capped - steady) * 2 <= alarms(0.04) - steady


def test_a_long_level_measures_its_noise_about_blocks_of_its_latest_points():
    ramp = [0.001 * i for i in range(60)]
    spread, df = history.block_spread(ramp, 30)
    whole, _ = history.block_spread(ramp, 60)
    assert df == 58 and spread == pytest.approx(whole / 4, rel=0.01)  # a drift moves no block far
    ref = history.reference_level([0.01 * (i % 2) for i in range(59)], 0.001)
    assert len(ref.points) == history.MAX_REFERENCE_POINTS and ref.df == 57


def test_a_long_kept_series_catches_a_step_its_latest_30_points_would_miss(monkeypatch):
    # A 10% drop at CV 3% after 58 nights, in a check of 479 series: the
    # noise of all 58 points (56 degrees of freedom) against the latest 30's.
    def caught():
        hits = 0
        for seed in range(200):
            rng = random.Random(seed)
            values = [100 * (1 + rng.gauss(0, 0.03)) for _ in range(58)]
            values += [90 * (1 + rng.gauss(0, 0.03)) for _ in range(2)]
            hits += any(history.judge_series(values[:n], True, series=479) is not None
                        for n in (59, 60))
        return hits

    whole = caught()
    spread = history.block_spread
    monkeypatch.setattr(history, "block_spread", lambda logs, block: spread(logs[-block:], block))
    assert whole >= caught() + 10  # measured: 138 and 117 of 200
