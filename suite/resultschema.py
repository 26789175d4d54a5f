"""What a result document must hold: one declarative schema, checked on load.

Every reader (show, compare, report, export, history add) loads through
suite.results.parse, which calls check() after migrating older schemas. A
violation is one line naming the place inside the document, e.g.
`results[3].value: expected a finite number, got "fast"`. Free-form parts
(system, info, options, params) are only checked for non-finite numbers:
no writer of this project produces NaN or Infinity (allow_nan=False), so a
file holding one was edited or written elsewhere, and it would poison every
statistic downstream.

To extend for a new schema version, edit the node tables below (RECORD,
RUN, DOCUMENT); the checker itself knows no field names.
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping


class SchemaViolation(ValueError):
    """`path: expected ..., got ...` (path inside the document)."""

    def __init__(self, path: str, expected: str, got: Any = None, *, missing: bool = False):
        self.path = path or "(document)"
        super().__init__(f"{self.path}: missing (expected {expected})" if missing else
                         f"{self.path}: expected {expected}, got {shown(got)}")


def shown(value: Any, limit: int = 60) -> str:
    """A value as the file spells it, cut to one short line."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _at(path: str, key) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


# Integers beyond 64 bits are no measurement, and SQLite (history) cannot
# store them; a float beyond 1e150 overflows a variance (its square).
_INT_LIMIT = 2 ** 63
_FLOAT_LIMIT = 1e150
_TOO_BIG = f"a number of magnitude below {_FLOAT_LIMIT:g} (integers: 64 bits)"


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    if not _numeric(v):
        return False
    if isinstance(v, int):
        return -_INT_LIMIT <= v < _INT_LIMIT
    return math.isfinite(v) and abs(v) < _FLOAT_LIMIT


def _expected_number(v: Any) -> str:
    """What a number's place wants, told apart for a huge finite one."""
    huge = _numeric(v) and (isinstance(v, int) or math.isfinite(v))
    return _TOO_BIG if huge else "a finite number"


class Node:
    """A schema node: what one place in the document may hold."""

    expected = "a value"
    nullable = False

    def check(self, value: Any, path: str) -> None:
        if value is None and self.nullable:
            return
        if not self.accepts(value):
            raise SchemaViolation(path, self.expecting(value) +
                                  (" or null" if self.nullable else ""), value)
        self.check_inside(value, path)

    def accepts(self, value: Any) -> bool:
        return True

    def expecting(self, value: Any) -> str:
        return self.expected

    def check_inside(self, value: Any, path: str) -> None:
        pass

    def __or__(self, _none) -> "Node":  # Node | None: the same node, null allowed
        node = object.__new__(type(self))
        node.__dict__.update(self.__dict__, nullable=True)
        return node


class Number(Node):
    expected = "a finite number"

    def accepts(self, v):
        return _is_number(v)

    def expecting(self, v):
        return _expected_number(v)


class Integer(Node):
    expected = "an integer"

    def accepts(self, v):
        return isinstance(v, int) and _is_number(v)


class String(Node):
    expected = "a string"

    def accepts(self, v):
        return isinstance(v, str)


class Boolean(Node):
    expected = "true or false"

    def accepts(self, v):
        return isinstance(v, bool)


class OneOf(Node):
    def __init__(self, *choices: str):
        self.choices = choices
        self.expected = "one of " + ", ".join(json.dumps(c) for c in choices)

    def accepts(self, v):
        return v in self.choices


class Free(Node):
    """Anything JSON holds, except a non-finite or out-of-range number."""

    def check_inside(self, v, path):
        if _numeric(v) and not _is_number(v):
            raise SchemaViolation(path, _expected_number(v), v)
        if isinstance(v, dict):
            for k, item in v.items():
                self.check_inside(item, _at(path, k))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                self.check_inside(item, _at(path, i))


class ListOf(Node):
    expected = "a list"

    def __init__(self, item: Node):
        self.item = item

    def accepts(self, v):
        return isinstance(v, list)

    def check_inside(self, v, path):
        for i, item in enumerate(v):
            self.item.check(item, _at(path, i))


class Fields(Node):
    """An object with required and optional typed keys; other keys are free."""

    expected = "an object"

    def __init__(self, required: Mapping[str, Node] = (), optional: Mapping[str, Node] = ()):
        self.required, self.optional = dict(required), dict(optional)

    def accepts(self, v):
        return isinstance(v, dict)

    def check_inside(self, v, path):
        for key in self.required:
            if key not in v:
                raise SchemaViolation(_at(path, key), self.required[key].expected, missing=True)
        typed = {**self.optional, **self.required}
        for key, item in v.items():
            typed.get(key, FREE).check(item, _at(path, key))


class MapOf(Fields):
    """An object whose every value is of one kind."""

    def __init__(self, item: Node):
        super().__init__()
        self.item = item

    def check_inside(self, v, path):
        for key, item in v.items():
            self.item.check(item, _at(path, key))


FREE = Free()
OBJECT = Fields()


def _maybe(node: Node, *keys: str) -> dict:
    """{key: node or null} for each key."""
    return {k: node | None for k in keys}


# A benchmark's configuration; readers count threads.
PARAMS = Fields(optional={"threads": Integer()})

STATS = Fields(optional={"n": Integer(), **{k: Number() | None for k in
                                           ("min", "median", "mean", "max", "stdev", "cv")}})

RECORD = Fields(required={
    "benchmark": String(), "params": PARAMS, "metric": String(), "unit": String(),
    "higher_is_better": Boolean(), "value": Number() | None, "samples": ListOf(Number()),
    "stats": STATS, "validated": Boolean(),
}, optional={"info": OBJECT})

ERROR = Fields(required={"benchmark": String(), "kind": String(), "message": String()},
               optional={"params": PARAMS})

RUN_STATUSES = ("complete", "partial", "failed")

RUN = Fields(required={"status": OneOf(*RUN_STATUSES)}, optional={
    "id": String(), "started_at": String() | None, "finished_at": String() | None,
    "profile": String() | None, "argv": ListOf(String()), "tags": MapOf(String()),
    "options": OBJECT, "threads": ListOf(Integer()) | None, "interrupted": Boolean(),
    "configs": ListOf(Fields(optional={"benchmark": String(), "params": OBJECT,
                                       "seconds": Number(), "status": String()})),
})

# The machine, as suite.sysinfo records it: the fields readers use are typed.
SYSTEM = Fields(optional={
    **_maybe(String(), "hostname", "machine", "arch", "vendor", "model_name", "kernel", "os",
             "cpu_implementer", "cpu_part", "cpu_part_name", "virtualization", "container"),
    **_maybe(Integer(), "physical_cores", "logical_cpus", "sockets", "threads_per_core",
             "page_size_bytes"),
    "smt": Boolean() | None,
    "microarchitecture": Fields(optional=_maybe(String(), "name", "vendor", "source")) | None,
    "cpus": ListOf(Fields(optional=_maybe(Integer(), "cpu", "core", "package", "node"))),
    "numa_nodes": ListOf(Fields(optional={"cpus": ListOf(Integer()),
                                          **_maybe(Integer(), "node", "memory_total_bytes")})),
    "caches": ListOf(Fields(optional={"cpus": ListOf(Integer()), "type": String() | None,
                                      **_maybe(Integer(), "level", "size_bytes", "line_size")})),
    "memory": Fields(optional=_maybe(Integer(), "total_bytes", "available_bytes")) | None,
    "thp": Fields(optional=_maybe(String(), "enabled", "defrag")) | None,
    "isa": Fields(optional={"flags": ListOf(String()),
                            "sve_vector_length_bytes": Integer() | None,
                            **_maybe(Boolean(), "asimd", "sve", "sve2", "avx2", "avx512f")}) | None,
    "frequency": Fields(optional={**_maybe(String(), "driver", "governor"),
                                  **_maybe(Number(), "min_mhz", "max_mhz")}) | None,
    "software": OBJECT | None,
    "numba_target": Fields(optional=_maybe(String(), "cpu_name", "features")) | None,
    "warnings": ListOf(String()),
})

DOCUMENT = Fields(required={
    "schema_version": Integer(), "suite": Fields(optional={
        "name": String(), "version": String() | None, "git_commit": String() | None}),
    "run": RUN, "system": SYSTEM,
    "results": ListOf(RECORD), "errors": ListOf(ERROR),
}, optional={"warnings": ListOf(String()) | None})


def check(data: Any, schema: Node = DOCUMENT) -> None:
    """Raise SchemaViolation at the first place `data` breaks `schema`."""
    try:
        schema.check(data, "")
    except RecursionError:
        raise SchemaViolation("", "a document nested less deeply", "nesting too deep") from None

