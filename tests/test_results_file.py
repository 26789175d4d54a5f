"""The results file contract: atomic writes, load() on good and broken inputs."""
import json
from pathlib import Path

import pytest

from suite.model import ErrorRecord, measurement
from suite.results import (SCHEMA_VERSION, ResultFileError, RunDocument, load, to_frame,
                           write_atomic)


def _doc(**run):
    return RunDocument(
        schema_version=SCHEMA_VERSION,
        suite={"name": "factorybench", "version": "0", "git_commit": None},
        run={"id": "r1", "started_at": "2026-01-01T00:00:00Z", "finished_at": None,
             "status": "partial", "profile": "quick", "argv": [], "tags": {}, **run},
        system={"hostname": "h"},
    ).adding(
        [measurement("stream.triad", {"threads": 1}, "bandwidth", "GB/s", [10.0, 11.0, 12.0],
                     higher_is_better=True, value=12.0)],
        [ErrorRecord("db.point", {"clients": 1}, "timeout", "no result")],
        ["virtual machine"],
    )


def test_round_trip(tmp_path):
    path = write_atomic(tmp_path / "r.json", _doc())
    doc = load(path)
    assert doc.results[0].value == 12.0
    assert doc.results[0].stats["n"] == 3
    assert doc.errors[0].kind == "timeout"
    assert doc.warnings == ("virtual machine",)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left


def test_to_frame_one_row_per_record(tmp_path):
    frame = to_frame(load(write_atomic(tmp_path / "r.json", _doc())))
    assert len(frame) == 1
    assert frame.loc[0, "param.threads"] == 1
    assert frame.loc[0, "metric"] == "bandwidth"


def test_truncated_file(tmp_path):
    path = write_atomic(tmp_path / "r.json", _doc())
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ResultFileError, match="truncated"):
        load(path)


def test_foreign_json(tmp_path):
    path = tmp_path / "package.json"
    path.write_text(json.dumps({"name": "left-pad", "version": "1.0.0"}))
    with pytest.raises(ResultFileError, match="not a factorybench result"):
        load(path)


def test_not_json(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(ResultFileError, match="not valid JSON"):
        load(path)


def test_future_schema(tmp_path):
    data = _doc().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    path = tmp_path / "future.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultFileError, match="newer"):
        load(path)


def test_record_missing_fields(tmp_path):
    data = _doc().to_dict()
    del data["results"][0]["unit"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultFileError, match=r"results\[0\]\.unit: missing"):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ResultFileError, match="no such file"):
        load(tmp_path / "nope.json")


def test_non_finite_value_is_invalid():
    rec = measurement("x", {}, "m", "u", [float("nan")], higher_is_better=True)
    assert rec.value is None and rec.validated is False


# -- schema 1 -> 2: one id per STREAM kernel and co-run workload, dotted latency ids --
FIXTURES = Path(__file__).parent / "fixtures" / "results"


def test_a_real_schema_1_file_migrates_on_load():
    raw = json.loads((FIXTURES / "real-vm-quick.json").read_text())
    assert raw["schema_version"] == 1  # kept old on purpose: the migration's real input
    doc = load(FIXTURES / "real-vm-quick.json")
    assert doc.schema_version == SCHEMA_VERSION
    ids = {r.benchmark for r in doc.results}
    assert {"stream.copy", "stream.scale", "stream.add", "stream.triad", "stream.dot",
            "stream.nstream", "latency.chase", "latency.loaded"} <= ids
    assert not ids & {"stream.sweep", "latency.curve", "loaded_latency"}
    assert len(doc.results) == len(raw["results"])  # renamed, none lost or doubled
    triad = [r for r in doc.results if r.benchmark == "stream.triad"]
    assert triad and all("kernel" not in r.params for r in triad)


def test_schema_1_records_and_errors_rename(tmp_path):
    old = {"schema_version": 1, "suite": {}, "run": {"status": "complete"}, "system": {},
           "results": [
               {"benchmark": "corun", "params": {"workload": "db.point", "hog": "triad"},
                "metric": "slowdown", "unit": "x", "higher_is_better": False, "value": 1.2,
                "samples": [1.2], "stats": {}, "validated": True},
               {"benchmark": "stream.sweep", "params": {"kernel": "dot", "threads": 2},
                "metric": "bandwidth", "unit": "GB/s", "higher_is_better": True, "value": 9.0,
                "samples": [9.0], "stats": {}, "validated": True}],
           "errors": [{"benchmark": "stream.sweep", "params": {"threads": 2}, "kind": "timeout",
                       "message": "no result"},
                      {"benchmark": "loaded_latency", "params": {}, "kind": "skipped",
                       "message": "one core"}]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    doc = load(path)
    assert [(r.benchmark, r.params) for r in doc.results] == [
        ("corun.db.point", {"hog": "triad"}), ("stream.dot", {"threads": 2})]
    # An error of the whole sweep child is every kernel's.
    assert sorted(e.benchmark for e in doc.errors if e.kind == "timeout") == sorted(
        f"stream.{k}" for k in ("copy", "scale", "add", "triad", "dot", "nstream"))
    assert [e.benchmark for e in doc.errors if e.kind == "skipped"] == ["latency.loaded"]


def test_tokenize_records_of_schema_1_and_2_become_tokenize_python(tmp_path):
    # Before schema 3, tools.tokenize was the pure-Python encoder; the id now
    # names the Hugging Face tokenizer.
    rec = {"benchmark": "tools.tokenize", "params": {"model": "pool", "concurrency": 2},
           "metric": "throughput", "unit": "calls/s", "higher_is_better": True, "value": 50.0,
           "samples": [50.0], "stats": {}, "validated": True}
    for version in (1, 2):
        old = {"schema_version": version, "suite": {}, "run": {"status": "complete"},
               "system": {}, "results": [rec], "errors": []}
        path = tmp_path / f"v{version}.json"
        path.write_text(json.dumps(old))
        doc = load(path)
        assert [(r.benchmark, r.params) for r in doc.results] == [
            ("tools.tokenize_python", {"model": "pool", "concurrency": 2})], version


def test_a_runs_encoder_writes_exactly_what_json_dumps_writes_as_the_document_grows():
    from suite.results import DocumentEncoder

    encoder = DocumentEncoder()
    doc = _doc()
    empty = RunDocument(schema_version=SCHEMA_VERSION, suite={}, run={"status": "partial"},
                        system={})
    for d in (empty, doc, doc.adding([measurement("db.point", {"clients": 2}, "rate", "1/s",
                                                  [1.0], higher_is_better=True,
                                                  info={"text": "a\nb", "nested": {"x": [1]}})]),
              doc.with_run(status="complete")):
        assert encoder.encode(d) == json.dumps(d.to_dict(), indent=1) + "\n"


def test_the_encoder_still_refuses_a_figure_that_is_not_finite():
    from suite.results import DocumentEncoder

    bad = _doc().adding(errors=[ErrorRecord("db.point", {"x": float("nan")}, "error", "m")])
    with pytest.raises(ValueError):
        DocumentEncoder().encode(bad)
