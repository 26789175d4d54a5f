"""The agent store's schema, described once; each engine's DDL is made from it.

Columns have a kind (`key`: the row id; `serial`: a row id the engine
assigns; `int`: 64-bit; `small`: 32-bit counts and days; `real`; `text`),
and each dialect spells the kinds its way. What only one engine has (the
PostgreSQL full-text column, SQLite's FTS5 table) is that dialect's extra.
"""
from __future__ import annotations

TABLES = {
    "sessions": (("id", "key"), ("agent", "text"), ("state", "text"), ("updated_at", "int")),
    "messages": (("id", "key"), ("session_id", "int"), ("seq", "small"), ("role", "text"),
                 ("content", "text"), ("created_at", "int")),
    "tool_calls": (("id", "key"), ("message_id", "int"), ("tool", "text"), ("args", "text"),
                   ("result", "text")),
    "documents": (("id", "key"), ("title", "text"), ("body", "text")),
    "products": (("id", "key"), ("category", "text"), ("name", "text"), ("price_cents", "int")),
    "orders": (("id", "key"), ("customer_id", "int"), ("region", "text"), ("order_day", "small"),
               ("status", "text")),
    "line_items": (("order_id", "int"), ("line_no", "small"), ("product_id", "int"),
                   ("quantity", "int"), ("price_cents", "int")),
    # Appended at run time (db.write, the agent step); never part of the digests.
    "tool_results": (("id", "serial"), ("session_id", "int"), ("created_at", "real"),
                     ("writer", "text"), ("payload", "text")),
}
RUN_TIME_TABLES = ("tool_results",)
COMPOSITE_KEYS = {"line_items": ("order_id", "line_no")}
# Built after the bulk load: cheaper than maintaining them row by row.
INDEXES = {
    "messages_session_seq": ("messages", ("session_id", "seq")),
    "tool_calls_message": ("tool_calls", ("message_id",)),
    "orders_region_day": ("orders", ("region", "order_day")),
    "tool_results_writer": ("tool_results", ("writer",)),
}

TYPES = {
    "sqlite": {"key": "INTEGER PRIMARY KEY", "serial": "INTEGER PRIMARY KEY",
               "int": "INTEGER NOT NULL", "small": "INTEGER NOT NULL", "real": "REAL NOT NULL",
               "text": "TEXT NOT NULL"},
    "postgresql": {"key": "BIGINT PRIMARY KEY", "serial": "BIGSERIAL PRIMARY KEY",
                   "int": "BIGINT NOT NULL", "small": "INT NOT NULL",
                   "real": "DOUBLE PRECISION NOT NULL", "text": "TEXT NOT NULL"},
}
EXTRA_COLUMNS = {"postgresql": {"documents": (
    "body_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED",)}}
TABLE_OPTIONS = {"sqlite": {"line_items": " WITHOUT ROWID"}}  # a clustered composite key
EXTRA_INDEXES = {
    "sqlite": ("CREATE INDEX tool_results_session ON tool_results(session_id, id)",
               "CREATE VIRTUAL TABLE documents_fts USING fts5(body, content='documents', "
               "content_rowid='id')",
               "INSERT INTO documents_fts(documents_fts) VALUES ('rebuild')",
               "ANALYZE"),
    "postgresql": ("CREATE INDEX documents_body_tsv ON documents USING gin(body_tsv)",),
}


def table_ddl(dialect: str) -> str:
    """CREATE TABLE statements of every table for `dialect`."""
    types = TYPES[dialect]
    out = []
    for table, columns in TABLES.items():
        key = COMPOSITE_KEYS.get(table)
        parts = [f"{name} {types[kind]}" for name, kind in columns]
        parts += EXTRA_COLUMNS.get(dialect, {}).get(table, ())
        if key:
            parts.append(f"PRIMARY KEY ({', '.join(key)})")
        options = TABLE_OPTIONS.get(dialect, {}).get(table, "")
        out.append(f"CREATE TABLE {table}({', '.join(parts)}){options};")
    return "\n".join(out) + "\n"


def index_ddl(dialect: str, tables=None) -> str:
    """The indexes (of `tables`, default all) and the dialect's extras."""
    out = [f"CREATE INDEX {name} ON {table}({', '.join(columns)});"
           for name, (table, columns) in INDEXES.items() if tables is None or table in tables]
    if tables is None:
        out += [f"{statement};" for statement in EXTRA_INDEXES.get(dialect, ())]
    return "\n".join(out) + "\n"


def copied_columns() -> dict:
    """{table: column names} of the tables a loader copies from the SQLite store."""
    return {table: tuple(name for name, _ in columns) for table, columns in TABLES.items()
            if table not in RUN_TIME_TABLES}
