"""Deliberately broken result files: every reader gives one line naming the
place inside the document, exit 2, no traceback, and stores nothing."""
import json
from pathlib import Path

import pytest

from suite.resultschema import SchemaViolation, check
from tests.conftest import ROOT, run_in_process

GOOD = ROOT / "tests" / "fixtures" / "results" / "x86-a.json"


def _set(path, value):
    """A mutation of the good document: the value at `path` (dotted, [i]) replaced."""
    def mutate(doc):
        keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "")
                .split(".")]
        node = doc
        for k in keys[:-1]:
            node = node[k]
        if value is _DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
        return json.dumps(doc)
    return mutate


def _also(first, second):
    """Two mutations in turn."""
    return lambda doc: second(json.loads(first(doc)))


_DELETE = object()
NAN = float("nan")

# (case id, mutation or raw text, text the one line must hold)
CASES = [
    ("value-string", _set("results.3.value", "fast"),
     'results[3].value: expected a finite number or null, got "fast"'),
    ("results-number", _set("results", 5), "results: expected a list, got 5"),
    ("samples-string", _set("results.0.samples", "abc"),
     'results[0].samples: expected a list, got "abc"'),
    ("run-null", _set("run", None), "run: expected an object, got null"),
    ("value-nan", _set("results.1.value", NAN), "results[1].value: expected a finite number"),
    ("value-infinity", _set("results.1.value", float("inf")), "got Infinity"),
    ("sample-nan", _set("results.2.samples.1", NAN), "results[2].samples[1]"),
    ("stat-string", _set("results.0.stats.median", "x"), "results[0].stats.median"),
    ("nan-in-info", _set("results.0.info", {"energy": {"joules": NAN}}),
     "results[0].info.energy.joules: expected a finite number, got NaN"),
    ("nan-in-system", _set("system.memory", {"total_bytes": NAN}), "system.memory.total_bytes"),
    ("bool-as-string", _set("results.0.higher_is_better", "yes"),
     "results[0].higher_is_better: expected true or false"),
    ("value-bool", _set("results.0.value", True), "results[0].value"),
    ("metric-missing", _set("results.0.metric", _DELETE), "results[0].metric: missing"),
    ("params-string", _set("results.0.params", "threads=1"), "results[0].params"),
    ("error-number", _set("errors", [5]), "errors[0]: expected an object, got 5"),
    ("error-kind-list", _set("errors", [{"benchmark": "x", "kind": [], "message": "m"}]),
     "errors[0].kind"),
    ("warnings-number", _set("warnings", 7), "warnings: expected a list"),
    ("status-unknown", _set("run.status", "done"), 'run.status: expected one of "complete"'),
    ("sample-huge", _set("results.1.samples.0", 1e308),
     "results[1].samples[0]: expected a number of magnitude below 1e+150"),
    ("int-beyond-64-bits", _set("results.0.value", 2 ** 70), "results[0].value"),
    ("params-threads-list", _set("results.0.params.threads", [1]), "results[0].params.threads"),
    ("system-memory-string", _set("system.memory", "lots"), "system.memory: expected an object"),
    ("system-isa-list", _set("system.isa", [1]), "system.isa"),
    ("run-id-null", _set("run.id", None), "run.id: expected a string, got null"),
    ("tags-number", _set("run.tags", {"rack": 1}), "run.tags.rack: expected a string"),
    ("suite-list", _set("suite", []), "suite: expected an object"),
    ("schema-string", _set("schema_version", "1"), "schema_version"),
    ("schema-bool", _set("schema_version", True), "schema_version"),
    # Schema 1 files go through the migration to schema 2 first.
    ("v1-benchmark-number", _also(_set("schema_version", 1), _set("results.0.benchmark", 5)),
     "results[0].benchmark: expected a string, got 5"),
    ("v1-results-number", _also(_set("schema_version", 1), _set("results", 5)),
     "results: expected a list, got 5"),
    ("v1-errors-strings", _also(_set("schema_version", 1), _set("errors", ["x"])),
     'errors[0]: expected an object, got "x"'),
    ("not-an-object", lambda d: "[1, 2]", "not a factorybench result file"),
    ("truncated", lambda d: json.dumps(d)[:500], "truncated"),
    ("nested-deep", lambda d: "[" * 100000 + "]" * 100000, "nested too deeply"),
    ("binary", lambda d: "\udcff", "cannot read"),
]


def _write_case(tmp_path, make) -> Path:
    path = tmp_path / "broken.json"
    text = make(json.loads(GOOD.read_text()))
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


COMMANDS = {
    "show": lambda p, t: ["show", str(p)],
    "compare": lambda p, t: ["compare", str(GOOD), str(p)],
    "report": lambda p, t: ["report", str(p), "-o", str(t / "r.html")],
    "export": lambda p, t: ["export", str(p), "--format", "csv", "-o", str(t / "r.csv")],
    "history-add": lambda p, t: ["history", "add", str(p), "--store", str(t / "h.sqlite")],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case,make,needle", CASES, ids=[c[0] for c in CASES])
def test_broken_file_is_one_line_exit_2(tmp_path, capsys, command, case, make, needle):
    broken = _write_case(tmp_path, make)
    status, out, err = run_in_process(COMMANDS[command](broken, tmp_path), capsys)
    assert status == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert str(broken) in lines[0] and needle in lines[0], lines[0]
    # Nothing half-made: no report, export or history store.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.json"]


def test_the_good_file_passes_every_reader(tmp_path, capsys):
    for command, argv in COMMANDS.items():
        status, _, err = run_in_process(argv(GOOD, tmp_path), capsys)
        assert status == 0, (command, err)


def test_schema_names_the_path_and_value():
    doc = json.loads(GOOD.read_text())
    doc["results"][3]["value"] = "fast"
    with pytest.raises(SchemaViolation) as exc:
        check(doc)
    assert str(exc.value) == 'results[3].value: expected a finite number or null, got "fast"'
