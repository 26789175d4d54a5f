"""The agent store as an agent step sees it: fetch a session, append a result.

Used by the agent-step workload against the SQLite dataset built by
workloads.db.dataset (find it with `existing_dataset(options)` or build it
with `ensure_dataset(options)`). Appends go to `tool_results`, which no
query digest covers, so the seeded data stays verifiable.
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from workloads.db.generator import RECENT_LIMIT

# Each append is its own durable transaction: WAL with synchronous=FULL
# fsyncs the log on every commit.
_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=10000")


class AgentStateStore:
    """One connection to the agent store; not shared between processes."""

    def __init__(self, path: str | Path, writer: str = "agent"):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"agent store {self.path} does not exist")
        self.writer = writer
        self._con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in _PRAGMAS:
            self._con.execute(pragma)

    def fetch(self, session_id: int) -> dict:
        """The session's state and its most recent messages (newest first)."""
        row = self._con.execute("SELECT agent, state FROM sessions WHERE id = ?",
                                (session_id,)).fetchone()
        if row is None:
            raise KeyError(f"no session {session_id}")
        messages = self._con.execute(
            "SELECT id, seq, role, content FROM messages WHERE session_id = ? "
            "ORDER BY seq DESC LIMIT ?", (session_id, RECENT_LIMIT)).fetchall()
        return {
            "session_id": session_id, "agent": row[0], "state": json.loads(row[1]),
            "messages": [{"id": m[0], "seq": m[1], "role": m[2], "content": m[3]} for m in messages],
        }

    def append(self, session_id: int, payload: dict) -> None:
        """Append a tool result in its own durable transaction."""
        text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("INSERT INTO tool_results(session_id, created_at, writer, payload) "
                        "VALUES (?, ?, ?, ?)", (session_id, time.time(), self.writer, text))
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> "AgentStateStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
