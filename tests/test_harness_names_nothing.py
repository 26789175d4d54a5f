"""The harness never names a benchmark or a metric: each spec declares what
its records mean (suite.meaning), and suite/ iterates the specs."""
import ast
import fnmatch
from pathlib import Path

from suite.spec import registry

SUITE = Path(__file__).resolve().parents[1] / "suite"


def declared_names(specs) -> set:
    names = set()
    for s in specs:
        names.add(s.id)
        names.update(s.former_ids)
        for row in s.headline:
            names.update(src.metric for src in row.sources)
            names.update(metric for metric, _ in row.notes)
        for w in s.work:
            names.update((w.metric, w.per_joule, w.cost))
        for p in s.plots:
            names.update(p.metrics)
        for pair in s.derived:
            names.update(pair)
        for check in s.cross_check:
            names.add(check.metric)
    return names


def string_literals(path: Path):
    """(line, text) of every string constant but docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docstrings):
            yield node.lineno, node.value


def offending(text: str, names: set, ids: set, families: set) -> bool:
    if text in names or any(text.startswith(f + ".") for f in families):
        return True
    # A pattern that picks some benchmarks ("stream*"), not any string ("*").
    hits = [i for i in ids if fnmatch.fnmatchcase(i, text)] if any(c in text for c in "*?[") else []
    return 0 < len(hits) < len(ids)


def families(specs) -> set:
    """First components of the ids; those that are also categories (a
    benchmark's declared grouping, which the harness may use) excepted."""
    return {s.id.split(".", 1)[0] for s in specs} - {s.category for s in specs}


def run_option_names() -> set:
    """`run` options: a user's words that may equal a metric's (--rate)."""
    from suite.cli import run

    return {p.name for p in run.params}


def test_no_module_under_suite_names_a_benchmark_or_a_metric():
    specs = registry()
    ids = {s.id for s in specs}
    # A category may share its word with a former id (corun).
    names = declared_names(specs) - run_option_names() - {s.category for s in specs}
    families_ = families(specs)
    found = [f"{path.relative_to(SUITE.parent)}:{line}: {text!r}"
             for path in sorted(SUITE.rglob("*.py"))
             for line, text in string_literals(path) if offending(text, names, ids, families_)]
    assert not found, "\n".join(found)


def test_the_check_sees_a_planted_name(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('"""Docstrings may name stream.triad."""\n'
                       'RULE = ("stream*", "bandwidth")\n')
    specs = registry()
    ids = {s.id for s in specs}
    names = declared_names(specs)
    hits = [t for _, t in string_literals(planted) if offending(t, names, ids, families(specs))]
    assert hits == ["stream*", "bandwidth"]
