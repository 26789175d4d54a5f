"""The results file (schema 3): build, write atomically, load and validate.

A result file is written after every finished benchmark configuration
(temp file, fsync, rename), so an interrupted run leaves a valid file with
status `partial` holding every completed record.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from suite import atomicfile, resultschema
from suite.model import ErrorRecord, Record

SCHEMA_VERSION = 3
# The top-level fields holding one entry per record or error.
ENTRY_LISTS = ("results", "errors")


class ResultFileError(ValueError):
    """A file that is not a loadable factorybench result."""


@dataclass(frozen=True)
class RunDocument:
    schema_version: int
    suite: dict
    run: dict
    system: dict
    results: tuple = ()
    errors: tuple = ()
    warnings: tuple = ()
    path: str | None = field(default=None, compare=False)

    def file_fields(self) -> dict:
        """The file's top-level fields in file order; `results` and `errors`
        still as the Record and ErrorRecord objects."""
        return {
            "schema_version": self.schema_version,
            "suite": self.suite,
            "run": self.run,
            "system": self.system,
            "results": self.results,
            "errors": self.errors,
            "warnings": list(self.warnings),
        }

    def to_dict(self) -> dict:
        return {key: [e.to_dict() for e in value] if key in ENTRY_LISTS else value
                for key, value in self.file_fields().items()}

    def with_run(self, **changes: Any) -> "RunDocument":
        return replace(self, run={**self.run, **changes})

    def adding(self, records=(), errors=(), warnings=()) -> "RunDocument":
        new_warnings = tuple(w for w in warnings if w not in self.warnings)
        return replace(
            self,
            results=self.results + tuple(records),
            errors=self.errors + tuple(errors),
            warnings=self.warnings + new_warnings,
        )


class DocumentEncoder:
    """The file text of the successive documents of one run.

    A run rewrites its file after every configuration, and the file only
    grows by records and errors, which are immutable: each is encoded once
    and its text reused, so a run's writes cost time in proportion to what
    it adds, not to the square of its length. The text is exactly
    `json.dumps(doc.to_dict(), indent=1)`."""

    def __init__(self):
        # id(entry) -> (entry, text); holding the entry keeps its id unique.
        self._texts: dict = {}

    def encode(self, doc: RunDocument) -> str:
        fields = [f'"{key}": ' + (self._entries(value) if key in ENTRY_LISTS else
                                  _dumps(value).replace("\n", "\n "))
                  for key, value in doc.file_fields().items()]
        return "{\n " + ",\n ".join(fields) + "\n}\n"

    def _entries(self, entries) -> str:
        if not entries:
            return "[]"
        return "[\n  " + ",\n  ".join(self._text(e) for e in entries) + "\n ]"

    def _text(self, entry) -> str:
        known = self._texts.get(id(entry))
        if known is None or known[0] is not entry:
            # Nested two levels deep in the file: the list inside the document.
            known = (entry, _dumps(entry.to_dict()).replace("\n", "\n  "))
            self._texts[id(entry)] = known
        return known[1]


def _dumps(value) -> str:
    # JSON strings hold no raw newline, so re-indenting by line is exact.
    return json.dumps(value, indent=1, allow_nan=False)


def write_atomic(path: str | os.PathLike, doc: RunDocument, exclusive: bool = False,
                 encoder: DocumentEncoder | None = None) -> Path:
    """Write `doc` so that readers only ever see a whole file (suite.atomicfile;
    exclusive: refuse to replace an existing file). A run that rewrites its
    file passes the same `encoder` each time."""
    text = (encoder or DocumentEncoder()).encode(doc)
    return atomicfile.write_atomic(path, text, exclusive=exclusive)


def _renamed(entry: dict, renames: list) -> list:
    """A schema-1 record or error under the ids its benchmarks have now."""
    hits = [(former, new) for former, new in renames if former.benchmark == entry.get("benchmark")]
    if not hits:
        return [entry]
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        return [entry]  # the schema check reports it
    exact = [(f, n) for f, n in hits
             if f.params and all(params.get(k) == v for k, v in f.params.items())]
    # An entry without the params that tell the new ids apart (an error of a
    # whole STREAM sweep child) belongs to every one of them.
    chosen = exact or [(f, n) for f, n in hits if not f.params] or hits
    return [{**entry, "benchmark": new,
             "params": {k: v for k, v in params.items() if k not in former.params}}
            for former, new in chosen]


def _renames(only: int) -> list:
    """(FormerId, new id) of every registered spec's ids introduced by schema `only`."""
    from suite.spec import registry

    return [(former, spec.id) for spec in registry() for former in spec.formerly
            if former.schema == only]


def introduced_ids(schema: int) -> set:
    """The benchmark ids that result schema `schema` introduced (renames)."""
    return {new for _, new in _renames(only=schema)}


def current_ids(entry: dict, schema: int = 1) -> list:
    """A record or error (benchmark, params ...) of result schema `schema`
    under the ids its benchmarks have now: what the migrations do to each
    entry, for stores of older points (suite.history)."""
    entries = [entry]
    for target in range(schema + 1, SCHEMA_VERSION + 1):
        renames = _renames(only=target)
        entries = [new for e in entries for new in _renamed(e, renames)]
    return entries


def _renaming_step(target: int):
    """The migration to schema `target`: every spec's FormerId introduced by
    it renames the entries of the older file."""

    def step(data: dict) -> dict:
        renames = _renames(only=target)

        def rename_all(key: str) -> list:
            entries = data.get(key)
            if not isinstance(entries, list):
                return entries  # parse() reports it
            return [new for e in entries
                    for new in (_renamed(e, renames) if isinstance(e, dict) else [e])]

        return {**data, "schema_version": target, "results": rename_all("results"),
                "errors": rename_all("errors")}

    step.__name__ = f"_to_v{target}"
    return step


# Migrations from older schema versions: {from_version: function(dict) -> dict
# of from_version + 1}, applied in turn by load(). Schema 2 gave every STREAM
# kernel and co-run workload its own id and dotted the latency ids; schema 3
# moved the pure-Python tokenizer to tools.tokenize_python (each spec names
# its former ids, FormerId).
MIGRATIONS: Mapping[int, Any] = {v: _renaming_step(v + 1) for v in range(1, SCHEMA_VERSION)}


def _migrate(data: dict, where: str) -> dict:
    version = data["schema_version"]
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ResultFileError(f"{where}: schema_version {version} is not supported "
                                  f"(this factorybench reads 1..{SCHEMA_VERSION})")
        data = step(data)
        version = data["schema_version"]
    return data


def parse(data: Any, where: str = "<result>") -> RunDocument:
    """Validate a decoded JSON object and build a RunDocument."""
    if not isinstance(data, dict) or "schema_version" not in data or "results" not in data:
        raise ResultFileError(f"{where}: not a factorybench result file "
                              "(no schema_version/results keys)")
    version = data["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultFileError(f"{where}: schema_version {version!r} is not an integer")
    if version > SCHEMA_VERSION:
        raise ResultFileError(
            f"{where}: written with result schema {version}, newer than this factorybench "
            f"reads (up to {SCHEMA_VERSION}); upgrade factorybench")
    data = _migrate(data, where)
    try:
        resultschema.check(data)
    except resultschema.SchemaViolation as exc:
        raise ResultFileError(f"{where}: {exc}") from None
    records = tuple(Record.from_dict(r) for r in data["results"])
    errors = tuple(ErrorRecord.from_dict(e) for e in data["errors"])
    return RunDocument(
        schema_version=SCHEMA_VERSION,
        suite=data["suite"],
        run=data["run"],
        system=data["system"],
        results=records,
        errors=errors,
        warnings=tuple(data.get("warnings") or ()),
        path=None if where == "<result>" else where,
    )


def load(path: str | os.PathLike) -> RunDocument:
    """Load and validate a result file; one clear ResultFileError otherwise."""
    where = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ResultFileError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise ResultFileError(f"{where}: is a directory, not a result file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"{where}: cannot read ({exc})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ResultFileError(f"{where}: not a result file (JSON nested too deeply)") from None
    except json.JSONDecodeError as exc:
        # An unterminated string runs to the end of the text: truncated too.
        ends = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        hint = "truncated" if ends else "not valid JSON"
        raise ResultFileError(f"{where}: {hint} (JSON error at line {exc.lineno} "
                              f"column {exc.colno}: {exc.msg})") from None
    return parse(data, where)


def to_frame(doc: RunDocument):
    """A pandas DataFrame with one row per record."""
    import pandas as pd

    rows = []
    for r in doc.results:
        rows.append({
            "run_id": doc.run.get("id"),
            "hostname": doc.system.get("hostname"),
            "benchmark": r.benchmark,
            "params": json.dumps(r.params, sort_keys=True),
            **{f"param.{k}": v for k, v in r.params.items()},
            "metric": r.metric,
            "unit": r.unit,
            "higher_is_better": r.higher_is_better,
            "value": r.value,
            "validated": r.validated,
            **{f"stats.{k}": v for k, v in r.stats.items()},
        })
    return pd.DataFrame(rows)
