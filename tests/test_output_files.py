"""Output files: unique result names, the umask's mode, and a full disk.

A full disk is a real one where possible: a small tmpfs mounted by the test
(root only; skipped otherwise), filled while or before factorybench writes.
"""
import errno
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from suite.atomicfile import write_atomic
from suite.errors import DiskFull
from suite.results import load
from suite.runner import default_result_path
from tests.conftest import ROOT, cli_argv, run_in_process

FIXTURES = ROOT / "tests" / "fixtures" / "results"
GOOD = FIXTURES / "x86-a.json"


# -- names and modes ------------------------------------------------------------

def test_default_name_holds_the_run_id_and_keeps_the_profile_suffix(tmp_path):
    run_id = uuid.uuid4().hex
    path = default_result_path(tmp_path, "quick", run_id)
    assert path.parent == tmp_path
    assert re.fullmatch(r"\d{8}T\d{6}Z-.+-[0-9a-f]{8}-quick\.json", path.name), path.name
    assert run_id[:8] in path.name


def test_exclusive_write_never_overwrites(tmp_path):
    path = tmp_path / "r.json"
    write_atomic(path, "first\n", exclusive=True)
    with pytest.raises(FileExistsError):
        write_atomic(path, "second\n", exclusive=True)
    assert path.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_two_runs_in_the_same_second_keep_both_files(tmp_path, fake_specs_env):
    out = tmp_path / "out"
    procs = [subprocess.Popen(cli_argv("run", "fake.ok", "--out", str(out), "--quiet"),
                              cwd=ROOT, env=fake_specs_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    printed = [re.search(r"^result: (.+)$", o, re.M).group(1) for o, _ in results]
    files = sorted(out.glob("*.json"))
    assert len(files) == 2 and sorted(printed) == [str(f) for f in files]
    docs = [load(f) for f in files]
    assert docs[0].run["id"] != docs[1].run["id"]
    for f, d in zip(files, docs):
        assert d.run["id"][:8] in f.name and d.run["status"] == "complete"


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o027])
def test_result_files_take_the_umask_mode(tmp_path, umask):
    from suite.results import write_atomic as write_result

    old = os.umask(umask)
    try:
        path = write_result(tmp_path / "r.json", load(GOOD))
        again = write_result(path, load(GOOD))  # a rewrite keeps the same mode
    finally:
        os.umask(old)
    assert (again.stat().st_mode & 0o777) == 0o666 & ~umask


def test_a_run_writes_a_result_file_others_can_read(tmp_path, fake_specs_env):
    res = subprocess.run(["sh", "-c", 'umask 022 && exec "$@"', "sh",
                          *cli_argv("run", "fake.ok", "--out", str(tmp_path), "--quiet")],
                         cwd=ROOT, env=fake_specs_env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    (path,) = tmp_path.glob("*.json")
    assert path.stat().st_mode & 0o777 == 0o644


# -- a full disk, simulated -----------------------------------------------------

def test_disk_full_while_writing_leaves_nothing_and_names_the_free_space(tmp_path,
                                                                          monkeypatch):
    path = tmp_path / "r.json"
    write_atomic(path, "old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFull) as exc:
        write_atomic(path, "new\n")
    assert str(path) in str(exc.value) and " free on its filesystem" in str(exc.value)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# -- a full disk, for real: a small tmpfs ---------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs (root only)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0777", "tmpfs",
                          str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(mnt: Path) -> None:
    """Take the last free byte of the filesystem."""
    with open(mnt / ".filler", "ab", buffering=0) as f:
        for size in (1 << 16, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    assert shutil.disk_usage(mnt).free < 4096


def _left(mnt: Path) -> list:
    return sorted(p.name for p in mnt.iterdir() if p.name != ".filler")


def _one_line_exit_1(status, err, path):
    lines = [l for l in err.splitlines() if l.strip()]
    assert status == 1, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0] and "disk full" in lines[0] and " free" in lines[0], lines[0]


@pytest.mark.parametrize("argv,output", [
    (["report", str(GOOD), "-o", "{mnt}/r.html"], "r.html"),
    (["export", str(GOOD), "--format", "csv", "-o", "{mnt}/r.csv"], "r.csv"),
    (["export", str(GOOD), "--format", "json", "-o", "{mnt}/r.json"], "r.json"),
])
def test_report_and_export_on_a_full_disk(small_fs, capsys, argv, output):
    fill(small_fs)
    status, _, err = run_in_process([a.format(mnt=small_fs) for a in argv], capsys)
    _one_line_exit_1(status, err, small_fs / output)
    assert _left(small_fs) == []  # no 0-byte file, no temp file


def test_history_add_into_a_new_store_on_a_full_disk(small_fs, capsys):
    fill(small_fs)
    store = small_fs / "h.sqlite"
    status, _, err = run_in_process(["history", "add", str(GOOD), "--store", str(store)],
                                    capsys)
    _one_line_exit_1(status, err, store)
    assert _left(small_fs) == []  # no 0-byte store, no journal


def test_history_add_into_a_full_existing_store_is_not_called_corrupt(small_fs, capsys):
    store = small_fs / "h.sqlite"
    status, _, err = run_in_process(["history", "add", str(GOOD), "--store", str(store)],
                                    capsys)
    assert status == 0, err
    fill(small_fs)
    status, _, err = run_in_process(["history", "add", str(FIXTURES / "x86-b.json"),
                                     "--store", str(store)], capsys)
    _one_line_exit_1(status, err, store)
    assert "corrupt" not in err
    (small_fs / ".filler").unlink()
    with sqlite3.connect(store) as conn:  # intact, with the first run only
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM fb_runs").fetchone()[0] == 1
    assert _left(small_fs) == ["h.sqlite"]


def test_run_on_a_disk_that_fills_keeps_every_saved_record(small_fs, fake_specs_env):
    proc = subprocess.Popen(cli_argv("run", "fake.sleepy", "--out", str(small_fs), "--quiet"),
                            cwd=ROOT, env=fake_specs_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen, deadline = 0, time.monotonic() + 60
    while seen < 2 and time.monotonic() < deadline:
        for f in small_fs.glob("*.json"):
            try:
                seen = len(json.loads(f.read_text())["results"])
            except (ValueError, OSError):
                pass
        time.sleep(0.05)
    assert seen >= 2, "the run saved no records in time"
    fill(small_fs)
    _, err = proc.communicate(timeout=60)
    (path,) = small_fs.glob("*.json")
    _one_line_exit_1(proc.returncode, err, path)
    doc = load(path)  # the last good file, whole
    assert len(doc.results) >= seen
    assert _left(small_fs) == [path.name]  # no temp file


def test_the_guardian_removes_a_killed_writers_temp_files(tmp_path):
    from suite.guardian import RunDirectory

    result = tmp_path / "r.json"
    with RunDirectory() as run_dir:
        run_dir.output(result)
        job = run_dir.path / "job-1"
        job.mkdir()
        (tmp_path / ".r.json.0a1b2c3d.tmp").write_text("half")  # as a SIGKILL mid-write leaves
        (tmp_path / ".other.json.0a1b2c3d.tmp").write_text("not ours")
    assert not run_dir.path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.0a1b2c3d.tmp"]



def test_a_full_temp_dir_stops_the_run_with_one_error(tmp_path, monkeypatch):
    # tempfile itself skips a full TMPDIR, so the job file's write is made to fail.
    from suite.runner import RunOptions, execute
    from suite.spec import PROFILES, select
    from tests.fixtures import dummy_bench

    real = Path.write_text

    def full(self, *args, **kw):
        if self.name == "job.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kw)

    monkeypatch.setattr(Path, "write_text", full)
    opts = RunOptions(profile=PROFILES["quick"], out_path=tmp_path / "r.json")
    with pytest.raises(DiskFull) as exc:
        execute(select(dummy_bench.SPECS, ["fake.ok"], "quick"), opts,
                {"logical_cpus": 2, "hostname": "test"})
    assert "job.json: disk full" in str(exc.value)
    assert f"{tmp_path / 'r.json'} keeps the 0 configuration(s)" in str(exc.value)
    assert load(tmp_path / "r.json").run["status"] == "partial"
