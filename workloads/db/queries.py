"""The five query classes and how each one checks its own answers.

A class supplies its SQL per dialect, a deterministic parameter list per
client, and `verify(connection, params, results, answers)`, run by the
client after each timed round (outside the timing) against the answers
the generator computed for the dataset.
"""
from __future__ import annotations

import json
import zlib

import numpy as np

from workloads.db import generator
from workloads.db.generator import Answers

PARAMS_PER_CLIENT = 4096  # cycled through; enough that caches see a spread of keys


class QueryClass:
    name = ""
    description = ""
    fetch = "one"  # "one" | "all" | "write"
    sql_text = ""  # "?" placeholders; the engine's own placeholder replaces them

    def sql(self, engine) -> str:
        return self.sql_text.replace("?", engine.placeholder)

    def params(self, answers: Answers, rng, dialect: str) -> list:
        raise NotImplementedError

    def round_params(self, params: list, round_tag: str) -> list:
        return params

    def check(self, param, result, answers: Answers) -> str | None:
        """None when `result` is the right answer to `param`, else why not."""
        raise NotImplementedError

    def verify(self, connection, params: list, results: list, answers: Answers) -> tuple:
        """(answers checked, wrong answers, first problem or None)."""
        bad = 0
        first = None
        n = len(params)
        for i, result in enumerate(results):
            problem = self.check(params[i % n], result, answers)
            if problem is not None:
                bad += 1
                first = first or problem
        return len(results), bad, first


class PointLookup(QueryClass):
    name = "point"
    description = "agent state fetch by session key"
    sql_text = "SELECT state FROM sessions WHERE id = ?"

    def params(self, answers, rng, dialect):
        n = len(answers.state_crc)
        return [(k,) for k in rng.integers(1, n + 1, size=PARAMS_PER_CLIENT).tolist()]

    def check(self, param, result, answers):
        if result is None:
            return f"session {param[0]}: no row"
        if zlib.crc32(result[0].encode()) != int(answers.state_crc[param[0] - 1]):
            return f"session {param[0]}: state digest differs"
        return None


class RecentMessages(QueryClass):
    name = "range"
    description = "a session's most recent messages"
    fetch = "all"
    sql_text = ("SELECT id, content FROM messages WHERE session_id = ? "
                "ORDER BY seq DESC LIMIT ?")

    def params(self, answers, rng, dialect):
        n = len(answers.recent_digest)
        return [(k, generator.RECENT_LIMIT)
                for k in rng.integers(1, n + 1, size=PARAMS_PER_CLIENT).tolist()]

    def check(self, param, result, answers):
        got = generator.recent_digest_of(r[1] for r in result)
        if got != int(answers.recent_digest[param[0] - 1]):
            return f"session {param[0]}: recent messages digest differs ({len(result)} rows)"
        return None


class AppendToolResult(QueryClass):
    name = "write"
    description = "append a tool result, one durable transaction each"
    fetch = "write"
    sql_text = "INSERT INTO tool_results(session_id, created_at, writer, payload) VALUES (?, ?, ?, ?)"
    WRITER_PREFIX = "factorybench-db.write-"

    def params(self, answers, rng, dialect):
        n = len(answers.state_crc)
        sessions = rng.integers(1, n + 1, size=PARAMS_PER_CLIENT).tolist()
        sizes = rng.integers(100, 900, size=PARAMS_PER_CLIENT).tolist()
        return [(s, 1_800_000_000.0 + i,
                 json.dumps({"tool": generator.TOOLS[i % len(generator.TOOLS)], "ok": True,
                             "output": "x" * size}, separators=(",", ":")))
                for i, (s, size) in enumerate(zip(sessions, sizes))]

    def round_params(self, params, round_tag):
        writer = self.WRITER_PREFIX + round_tag
        return [(s, t, writer, payload) for s, t, payload in params]

    def verify(self, connection, params, results, answers):
        # Read back what this round committed: every row, in commit order.
        writer = params[0][2]
        mark = connection.placeholder
        rows = connection.query(
            f"SELECT session_id, payload FROM tool_results WHERE writer = {mark} ORDER BY id",
            (writer,))
        n = len(params)
        expected = [(params[i % n][0], params[i % n][3]) for i in range(len(results))]
        problem = None
        if len(rows) != len(expected):
            problem = f"{len(rows)} rows committed for {len(expected)} appends"
        elif [tuple(r) for r in rows] != expected:
            problem = "appended rows differ from what was written"
        connection.execute(f"DELETE FROM tool_results WHERE writer = {mark}", (writer,))
        return len(results), (0 if problem is None else max(1, abs(len(rows) - len(expected)))), problem


class FullTextSearch(QueryClass):
    name = "search"
    description = "full-text top-k documents (FTS5 bm25 / tsvector ts_rank)"
    fetch = "all"
    sql_by_dialect = {
        "sqlite": ("SELECT rowid FROM documents_fts WHERE documents_fts MATCH ? "
                   "ORDER BY bm25(documents_fts) LIMIT ?"),
        "postgresql": ("SELECT d.id FROM documents d, to_tsquery('simple', %s) q "
                       "WHERE d.body_tsv @@ q ORDER BY ts_rank(d.body_tsv, q) DESC LIMIT %s"),
    }

    def sql(self, engine):
        return self.sql_by_dialect[engine.dialect]

    def params(self, answers, rng, dialect):
        picks = rng.integers(len(answers.search_queries), size=PARAMS_PER_CLIENT).tolist()
        joiner = " " if dialect == "sqlite" else " & "  # both mean AND
        return [(joiner.join(answers.search_queries[i].split()), generator.SEARCH_TOP_K, i)
                for i in picks]

    def round_params(self, params, round_tag):
        return [p[:2] for p in params]

    def verify(self, connection, params, results, answers):
        self._sets = getattr(self, "_sets", None) or [set(m.tolist()) for m in answers.search_matches]
        return super().verify(connection, params, results, answers)

    def check(self, param, result, answers):
        words = param[0].replace("&", " ").split()
        query = answers.search_queries.index(" ".join(words))
        matches = self._sets[query]
        ids = [int(r[0]) for r in result]
        if len(ids) != min(generator.SEARCH_TOP_K, len(matches)):
            return f"search {param[0]!r}: {len(ids)} hits, wanted {min(generator.SEARCH_TOP_K, len(matches))}"
        if not matches.issuperset(ids) or len(set(ids)) != len(ids):
            return f"search {param[0]!r}: returned a document that does not match"
        return None


class RevenueByCategory(QueryClass):
    name = "analytic"
    description = "orders x line items x products, grouped by category, per region and quarter"
    fetch = "all"
    sql_text = ("SELECT p.category, COUNT(*), SUM(li.quantity * li.price_cents) "
                "FROM orders o JOIN line_items li ON li.order_id = o.id "
                "JOIN products p ON p.id = li.product_id "
                "WHERE o.region = ? AND o.order_day >= ? AND o.order_day < ? "
                "GROUP BY p.category ORDER BY p.category")

    def params(self, answers, rng, dialect):
        out = []
        for _ in range(PARAMS_PER_CLIENT // 16):
            region = int(rng.integers(len(generator.REGIONS)))
            quarter = int(rng.integers(generator.QUARTERS))
            lo, hi = generator.quarter_bounds(quarter)
            out.append((generator.REGIONS[region], lo, hi))
        return out

    def check(self, param, result, answers):
        region = generator.REGIONS.index(param[0])
        quarter = param[1] // generator.QUARTER_DAYS
        counts = answers.analytic_count[region, quarter]
        sums = answers.analytic_sum[region, quarter]
        expected = [(c, int(counts[i]), int(sums[i]))
                    for i, c in enumerate(generator.CATEGORIES) if counts[i]]
        if generator.analytic_digest(result) != generator.analytic_digest(expected):
            return f"analytic {param}: aggregates differ"
        return None


QUERY_CLASSES = {c.name: c for c in (PointLookup(), RecentMessages(), AppendToolResult(),
                                     FullTextSearch(), RevenueByCategory())}


def client_rng(seed: int, query: str, client: int):
    """Each client's parameter stream: fixed by seed, class and client index.
    Classes outside QUERY_CLASSES (measurement probes) key on their name."""
    stream = (100 + list(QUERY_CLASSES).index(query) if query in QUERY_CLASSES
              else zlib.crc32(query.encode()))
    return np.random.default_rng([seed, stream, client])
