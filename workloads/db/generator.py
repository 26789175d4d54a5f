"""Deterministic content of the agent store, and the answers it implies.

The same (scale, seed) gives the same rows on every machine: all randomness
comes from numpy's PCG64 seeded per table, and chunk sizes are fixed. While
rows are produced, the generator also computes, independently of any SQL
engine, what each query class must answer (`Answers`) and a content hash.

Tables (see `SCHEMA_VERSION` in dataset.py when changing anything here):
  sessions(id, agent, state, updated_at)            state is JSON text
  messages(id, session_id, seq, role, content, created_at)
  tool_calls(id, message_id, tool, args, result)
  documents(id, title, body)                        body is full-text indexed
  products(id, category, name, price_cents)
  orders(id, customer_id, region, order_day, status)
  line_items(order_id, line_no, product_id, quantity, price_cents)
"""
from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

# Scale factors: quick ~50 MB, standard ~500 MB, full ~5 GB of SQLite file;
# tiny (~3 MB) is for tests and smoke runs.
SCALE_FACTORS = {"tiny": 0.05, "quick": 1, "standard": 10, "full": 100}
DEFAULT_SEED = 1  # suite.spec.DEFAULT_SEED: --seed reaches every generator

VOCABULARY_SIZE = 4096
RECENT_LIMIT = 20  # messages returned by the range query
SEARCH_TOP_K = 10  # documents returned by the search query
REGIONS = ("north", "south", "east", "west", "central", "coastal", "mountain", "islands")
CATEGORIES = tuple(f"cat{i:02d}" for i in range(16))
DAYS = 730  # two years of orders
QUARTER_DAYS = 91
QUARTERS = 8  # analytic parameters use whole quarters only
TOOLS = ("search", "fetch_url", "run_python", "read_file", "write_file", "sql",
         "calendar", "email", "shell", "summarize", "translate", "weather")
AGENTS = ("planner", "coder", "researcher", "reviewer", "support", "analyst")

SESSION_CHUNK = 2000
DOCUMENT_CHUNK = 2000
ORDER_CHUNK = 20000


@dataclass(frozen=True)
class Sizes:
    sessions: int
    documents: int
    products: int
    orders: int
    customers: int

    @classmethod
    def for_scale(cls, scale: str) -> "Sizes":
        if scale not in SCALE_FACTORS:
            raise ValueError(f"unknown dataset scale {scale!r}; accepted: {', '.join(SCALE_FACTORS)}")
        sf = SCALE_FACTORS[scale]
        return cls(sessions=round(5000 * sf), documents=round(6000 * sf), products=2000,
                   orders=round(60000 * sf), customers=round(20000 * sf))


@dataclass
class Answers:
    """What every read query must return, computed from the generated rows."""

    state_crc: np.ndarray  # uint32 per session (index id-1): crc32 of state text
    recent_digest: np.ndarray  # uint64 per session: see recent_digest_of()
    search_queries: list  # FTS query strings ("word" or "word1 word2", AND)
    search_matches: list  # np.ndarray of matching document ids per query
    analytic_count: np.ndarray  # int64 [region, quarter, category] line items
    analytic_sum: np.ndarray  # int64 [region, quarter, category] quantity*price
    counts: dict = field(default_factory=dict)  # rows per table

    def save(self, path) -> None:
        np.savez(
            path, state_crc=self.state_crc, recent_digest=self.recent_digest,
            search_queries=np.array(self.search_queries, dtype=object),
            search_lengths=np.array([len(m) for m in self.search_matches], dtype=np.int64),
            search_ids=(np.concatenate(self.search_matches) if self.search_matches
                        else np.zeros(0, np.int64)),
            analytic_count=self.analytic_count, analytic_sum=self.analytic_sum,
            counts=np.array(json.dumps(self.counts)),
        )

    @classmethod
    def load(cls, path) -> "Answers":
        with np.load(path, allow_pickle=True) as z:
            ids = z["search_ids"]
            bounds = np.cumsum(np.concatenate([[0], z["search_lengths"]]))
            return cls(
                state_crc=z["state_crc"], recent_digest=z["recent_digest"],
                search_queries=[str(q) for q in z["search_queries"]],
                search_matches=[ids[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)],
                analytic_count=z["analytic_count"], analytic_sum=z["analytic_sum"],
                counts=json.loads(str(z["counts"])),
            )


def crc32_text(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode())


def recent_digest_of(contents) -> int:
    """Digest of a session's recent messages: crc sum, with the count on top."""
    contents = list(contents)
    return (len(contents) << 40) + sum(crc32_text(c) for c in contents)


def analytic_digest(rows) -> int:
    """Digest of analytic result rows (category, line count, revenue cents)."""
    canon = "|".join(f"{c}:{int(n)}:{int(s)}" for c, n, s in rows)
    return crc32_text(canon)


def quarter_bounds(quarter: int) -> tuple:
    return quarter * QUARTER_DAYS, (quarter + 1) * QUARTER_DAYS


def _vocabulary(seed: int) -> list:
    rng = np.random.default_rng([seed, 0])
    onsets = list("bcdfghjklmnprstvwz") + ["ch", "sh", "th", "tr", "st", "br", "pl"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ei"]
    words: list = []
    seen: set = set()
    while len(words) < VOCABULARY_SIZE:
        n = int(rng.integers(2, 5))
        w = "".join(onsets[int(rng.integers(len(onsets)))] + vowels[int(rng.integers(len(vowels)))]
                    for _ in range(n))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


_INVERSE_CDF_POINTS = 1 << 20


class _Text:
    """Zipf-distributed words over the vocabulary (rank 1 most frequent)."""

    def __init__(self, seed: int):
        self.words = _vocabulary(seed)
        self._objects = np.array(self.words, dtype=object)
        weights = 1.0 / np.arange(1, VOCABULARY_SIZE + 1)
        cdf = np.cumsum(weights / weights.sum())
        # Inverse CDF tabulated at 2**20 points: a table lookup per word is
        # several times faster than a binary search, and every rank keeps
        # at least a few dozen entries.
        points = (np.arange(_INVERSE_CDF_POINTS) + 0.5) / _INVERSE_CDF_POINTS
        self._inverse_cdf = np.minimum(np.searchsorted(cdf, points), VOCABULARY_SIZE - 1).astype(np.uint16)

    def word_ids(self, rng, n: int) -> np.ndarray:
        return self._inverse_cdf[rng.integers(_INVERSE_CDF_POINTS, size=n)]

    def texts(self, rng, lengths: np.ndarray) -> tuple:
        """One text per length; also returns the word ids used."""
        ids = self.word_ids(rng, int(lengths.sum()))
        words = self._objects[ids].tolist()
        out: list = []
        pos = 0
        for n in lengths.tolist():
            out.append(" ".join(words[pos:pos + n]))
            pos += n
        return out, ids


@dataclass(frozen=True)
class Batch:
    table: str
    columns: tuple
    rows: list


def _search_queries(seed: int) -> list:
    """Fixed FTS queries: single mid-frequency words and pairs of common ones."""
    rng = np.random.default_rng([seed, 9])
    singles = rng.choice(np.arange(300, 1500), size=32, replace=False)
    pairs = rng.choice(np.arange(40, 250), size=(32, 2), replace=True)
    queries = [(int(r),) for r in singles]
    queries += [(int(a), int(b)) for a, b in pairs if a != b]
    return queries


def generate(scale: str, seed: int = DEFAULT_SEED) -> Iterator:
    """Yield Batch objects for every table; the last item is (Answers, hash hex)."""
    sizes = Sizes.for_scale(scale)
    text = _Text(seed)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{scale}:{seed}".encode())
    counts = {t: 0 for t in ("sessions", "messages", "tool_calls", "documents",
                             "products", "orders", "line_items")}
    state_crc = np.zeros(sizes.sessions, np.uint32)
    recent = np.zeros(sizes.sessions, np.uint64)

    def emit(batch: Batch) -> Batch:
        # Pickle protocol 4 is a fixed, fast serialization of ints and strs.
        digest.update(pickle.dumps(batch.rows, protocol=4))
        counts[batch.table] += len(batch.rows)
        return batch

    yield from (emit(b) for b in _sessions(sizes, seed, text, state_crc, recent))
    query_terms = _search_queries(seed)
    matches: list = [[] for _ in query_terms]
    yield from (emit(b) for b in _documents(sizes, seed, text, query_terms, matches))
    count = np.zeros((len(REGIONS), QUARTERS, len(CATEGORIES)), np.int64)
    revenue = np.zeros_like(count)
    yield from (emit(b) for b in _orders(sizes, seed, count, revenue))
    answers = Answers(
        state_crc=state_crc, recent_digest=recent,
        search_queries=[" ".join(text.words[t] for t in q) for q in query_terms],
        search_matches=[np.concatenate(m).astype(np.int64) if m else np.zeros(0, np.int64)
                        for m in matches],
        analytic_count=count, analytic_sum=revenue, counts=counts,
    )
    yield answers, digest.hexdigest()


def _sessions(sizes: Sizes, seed: int, text: _Text, state_crc, recent) -> Iterator:
    rng = np.random.default_rng([seed, 1])
    message_id = 1
    call_id = 1
    for first in range(1, sizes.sessions + 1, SESSION_CHUNK):
        ids = range(first, min(first + SESSION_CHUNK, sizes.sessions + 1))
        n = len(ids)
        agents = rng.integers(len(AGENTS), size=n)
        steps = rng.integers(1, 400, size=n)
        goals, _ = text.texts(rng, rng.integers(6, 14, size=n))
        memories, _ = text.texts(rng, rng.integers(4, 9, size=3 * n))
        budgets = rng.integers(1000, 100000, size=n)
        sessions = []
        for j, sid in enumerate(ids):
            state = json.dumps({"agent": AGENTS[agents[j]], "step": int(steps[j]), "goal": goals[j],
                                "memory": memories[3 * j:3 * j + 3], "budget": int(budgets[j])},
                               separators=(",", ":"))
            state_crc[sid - 1] = crc32_text(state)
            sessions.append((sid, AGENTS[agents[j]], state, 1_700_000_000 + sid * 60))
        yield Batch("sessions", ("id", "agent", "state", "updated_at"), sessions)

        per_session = rng.integers(8, 33, size=n)
        contents, _ = text.texts(rng, rng.integers(8, 43, size=int(per_session.sum())))
        with_call = rng.random(len(contents)) < 0.3
        messages, calls = [], []
        pos = 0
        for j, sid in enumerate(ids):
            m = int(per_session[j])
            for seq in range(m):
                role = ("user", "assistant", "tool", "assistant")[seq % 4]
                messages.append((message_id, sid, seq, role, contents[pos + seq],
                                 1_700_000_000 + sid * 60 + seq))
                if role == "assistant" and with_call[pos + seq]:
                    calls.append(message_id)
                message_id += 1
            recent[sid - 1] = recent_digest_of(contents[pos + max(0, m - RECENT_LIMIT):pos + m])
            pos += m
        yield Batch("messages", ("id", "session_id", "seq", "role", "content", "created_at"), messages)

        tools = rng.integers(len(TOOLS), size=len(calls))
        limits = rng.integers(1, 50, size=len(calls))
        args, _ = text.texts(rng, rng.integers(2, 6, size=len(calls)))
        results, _ = text.texts(rng, rng.integers(10, 30, size=len(calls)))
        rows = []
        for j, mid in enumerate(calls):
            rows.append((call_id, mid, TOOLS[tools[j]],
                         json.dumps({"query": args[j], "limit": int(limits[j])}, separators=(",", ":")),
                         results[j]))
            call_id += 1
        yield Batch("tool_calls", ("id", "message_id", "tool", "args", "result"), rows)


def _documents(sizes: Sizes, seed: int, text: _Text, query_terms: list, matches: list) -> Iterator:
    rng = np.random.default_rng([seed, 2])
    terms = sorted({t for q in query_terms for t in q})
    for first in range(1, sizes.documents + 1, DOCUMENT_CHUNK):
        ids = np.arange(first, min(first + DOCUMENT_CHUNK, sizes.documents + 1))
        titles, _ = text.texts(rng, rng.integers(3, 9, size=len(ids)))
        lengths = rng.integers(80, 301, size=len(ids))
        bodies, words = text.texts(rng, lengths)
        doc_of_word = np.repeat(ids, lengths)
        having = {t: np.unique(doc_of_word[words == t]) for t in terms}
        for i, q in enumerate(query_terms):
            hit = having[q[0]]
            for t in q[1:]:
                hit = np.intersect1d(hit, having[t])
            matches[i].append(hit)
        yield Batch("documents", ("id", "title", "body"),
                    list(zip(ids.tolist(), titles, bodies)))


def _orders(sizes: Sizes, seed: int, count, revenue) -> Iterator:
    rng = np.random.default_rng([seed, 3])
    category = rng.integers(len(CATEGORIES), size=sizes.products)
    price = rng.integers(100, 50000, size=sizes.products)
    yield Batch("products", ("id", "category", "name", "price_cents"),
                [(i + 1, CATEGORIES[category[i]], f"product-{i + 1:05d}", int(price[i]))
                 for i in range(sizes.products)])
    statuses = ("placed", "paid", "shipped", "delivered", "returned")
    for first in range(1, sizes.orders + 1, ORDER_CHUNK):
        ids = np.arange(first, min(first + ORDER_CHUNK, sizes.orders + 1))
        n = len(ids)
        customer = rng.integers(1, sizes.customers + 1, size=n)
        region = rng.integers(len(REGIONS), size=n)
        day = rng.integers(DAYS, size=n)
        status = rng.integers(len(statuses), size=n)
        yield Batch("orders", ("id", "customer_id", "region", "order_day", "status"),
                    [(int(i), int(c), REGIONS[r], int(d), statuses[s])
                     for i, c, r, d, s in zip(ids, customer, region, day, status)])
        lines = rng.integers(1, 8, size=n)
        order_of_line = np.repeat(ids, lines)
        line_no = np.arange(len(order_of_line)) - np.repeat(np.cumsum(lines) - lines, lines)
        product = rng.integers(sizes.products, size=len(order_of_line))  # 0-based
        quantity = rng.integers(1, 11, size=len(order_of_line))
        line_price = price[product]
        yield Batch("line_items", ("order_id", "line_no", "product_id", "quantity", "price_cents"),
                    list(zip(order_of_line.tolist(), line_no.tolist(), (product + 1).tolist(),
                             quantity.tolist(), line_price.tolist())))
        # Expected analytic aggregates, by (region, quarter, category).
        line_region = np.repeat(region, lines)
        line_quarter = np.repeat(day, lines) // QUARTER_DAYS
        keep = line_quarter < QUARTERS
        cell = (line_region[keep], line_quarter[keep], category[product[keep]])
        np.add.at(count, cell, 1)
        np.add.at(revenue, cell, (quantity * line_price)[keep])
