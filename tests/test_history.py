"""History store: add/list/check, idempotence, concurrency, corrupt stores."""
from __future__ import annotations

import json
import multiprocessing
import random
import sqlite3
from pathlib import Path

from suite import history
from suite.results import parse
from tests.conftest import run_in_process as run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "results"


def night(i: int, scale: float = 1.0, noise: float = 0.01, seed: int = 0,
          scaled: str | None = None) -> dict:
    """Night i of x86box: every value jittered by `noise`; `scale` applied to
    every record, or only to benchmark `scaled` when given."""
    data = json.loads((FIXTURES / "x86-a.json").read_text())
    rng = random.Random(seed * 1000 + i)
    data["run"]["id"] = f"night-{i}"
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
    add_nights(store, [night(8, scale=0.9, scaled="stream.triad")])
    code, out, _ = run_cli(["history", "check", "--store", str(store)], capsys)
    assert code == 1
    flagged = [line for line in out.splitlines() if line.startswith("REGRESSION")]
    assert flagged and all("stream.triad" in line for line in flagged)
    assert len(flagged) == 4  # bandwidth and per-core, 1 and 2 threads


def test_check_lists_improvements_without_failing(tmp_path, capsys):
    store = tmp_path / "h.sqlite"
    add_nights(store, [night(i) for i in range(6)] + [night(6, scale=1.2, scaled="agent.step")])
    code, out, _ = run_cli(["history", "check", "--store", str(store)], capsys)
    assert code == 0
    assert "improvement: x86box: agent.step" in out


def test_noise_alone_is_not_a_regression():
    # A 10% drop inside a window that swings +-15% is within its noise.
    rng = random.Random(7)
    values = [100 * (1 + rng.uniform(-0.15, 0.15)) for _ in range(10)] + [90.0]
    change, z, _ = history.judge_series(values, True, 10)
    assert change < -0.05 and z <= history.OUTLIER_Z


def test_too_short_history_is_counted_not_judged(tmp_path):
    store = tmp_path / "h.sqlite"
    add_nights(store, [night(0), night(1, scale=0.5)])
    with history.open_store(str(store)) as st:
        report = history.check(st)
    assert report.regressions == () and report.checked == 0 and report.too_short > 0


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
