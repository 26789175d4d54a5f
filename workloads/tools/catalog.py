"""The tool catalog: names, how to make their seeded inputs, how to check them.

Each tool is a module with `make_input(seed) -> payload` and
`run(payload) -> bytes`. A call is correct when the SHA-256 of its output
equals the digest of the same input computed once, in-process, before the
load test (`expected_digests`): a worker, a fresh process or a sandbox that
computes something else is caught call by call.
"""
from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from typing import Any, Callable

# Distinct seeded inputs per tool; calls cycle through them so one cached
# answer cannot pass for all calls.
INPUT_VARIANTS = 3


@dataclass(frozen=True)
class Tool:
    name: str
    module: str  # dotted module holding make_input / run
    stdlib_only: bool  # may run in a bare sandboxed interpreter
    description: str

    def _mod(self):
        return importlib.import_module(self.module)

    def make_inputs(self, seed: int) -> list:
        from pathlib import Path

        from workloads.tools.inputcache import cached_inputs

        mod = self._mod()
        return cached_inputs(self.name, Path(mod.__file__).read_bytes(), seed,
                             lambda: [mod.make_input(seed * 1000 + k) for k in range(INPUT_VARIANTS)])

    @property
    def run(self) -> Callable[[Any], bytes]:
        return self._mod().run

    def source(self) -> str:
        """Module source, for running the tool inside a sandboxed interpreter."""
        import inspect  # only the sandboxed model needs it; keeps one-shot children lean

        return inspect.getsource(self._mod())


TOOLS = {t.name: t for t in (
    Tool("noop", "workloads.tools.noop", True, "no-op tool: dispatch overhead of each execution model"),
    Tool("json_transform", "workloads.tools.json_transform", True,
         "parse a ~100 KB JSON API response, filter and reshape, serialize"),
    Tool("text_search", "workloads.tools.text_search", True,
         "regular expressions over a generated document corpus, top hits"),
    Tool("tokenize_python", "workloads.tools.bpe", True,
         "pure-Python byte-pair-encoding tokenizer over a prompt"),
    Tool("table_query", "workloads.tools.table_query", False,
         "pandas: read CSV, join, group-by, top-k"),
    Tool("code_exec", "workloads.tools.code_exec", True,
         "run an agent-written Python snippet, capture its output"),
)}


def digest(output: bytes) -> str:
    return hashlib.sha256(output).hexdigest()


def expected_digests(tool: Tool, inputs: list) -> list:
    """Reference digests, one per input, computed in this process."""
    return [digest(tool.run(p)) for p in inputs]
