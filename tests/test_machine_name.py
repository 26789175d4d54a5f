"""`run --machine NAME`: two runs on one host are two machines in result
files, compare and history."""
import subprocess

from suite import history
from suite.compare import compare
from suite.results import load
from tests.conftest import ROOT, cli_argv


def _run(tmp_path, env, *args):
    res = subprocess.run(cli_argv("run", "fake.ok", "--out", str(tmp_path), "--quiet", *args),
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res


def test_named_runs_are_distinct_machines(tmp_path, fake_specs_env):
    for name in ("rack1-a", "rack1-b"):
        _run(tmp_path, fake_specs_env, "--machine", name)
    _run(tmp_path, fake_specs_env)
    paths = sorted(tmp_path.glob("*.json"))
    docs = {p.name: load(p) for p in paths}
    named = {d.system.get("machine"): n for n, d in docs.items()}
    assert set(named) == {"rack1-a", "rack1-b", None}
    assert f"-rack1-a-" in named["rack1-a"] and "-rack1-b-" in named["rack1-b"]
    a, b = load(tmp_path / named["rack1-a"]), load(tmp_path / named["rack1-b"])
    assert a.system["hostname"] == b.system["hostname"]  # the hostname stays the truth
    assert [s.label for s in compare([a, b]).systems] == ["rack1-a", "rack1-b"]
    unnamed = load(tmp_path / named[None])
    store = str(tmp_path / "h.sqlite")
    with history.open_store(store, create=True) as st:
        for doc in (a, b, unnamed):
            history.add(st, doc)
        runs = history.list_runs(st)
    assert sorted(history.machine_label(m) for _, m, *_ in runs) == sorted(
        ["rack1-a", "rack1-b", unnamed.system["hostname"]])
    assert len({history.fingerprint(d.system) for d in (a, b, unnamed)}) == 3
    # An unnamed run keeps the fingerprint runs before --machine had.
    assert "machine" not in history.machine_of(unnamed.system)
