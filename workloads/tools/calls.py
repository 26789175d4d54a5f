"""What passes between the load generator and an execution model."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Call:
    id: int
    tool: str
    index: int  # which seeded input of the tool
    issued: float  # perf_counter time the call was due (scheduled arrival)


@dataclass(slots=True)
class Completion:
    call: Call
    end: float  # perf_counter time the answer arrived
    digest: str | None = None  # SHA-256 of the tool's output, when it returned
    error: str | None = None  # raised | timeout | worker_died | wrong_digest | failed
    message: str = ""
    cpu_s: float | None = None  # CPU time of the call where the model knows it

    @property
    def latency_s(self) -> float:
        return self.end - self.call.issued


@dataclass
class ErrorTally:
    """Failed calls by kind, with the first few messages kept for the reader."""

    keep: int = 5
    counts: dict = field(default_factory=dict)
    first: list = field(default_factory=list)

    def add(self, kind: str, message: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.first) < self.keep:
            self.first.append(f"{kind}: {message}"[:300])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(self.counts.items()))
        return f"{self.total} failed calls ({kinds}); first: " + " | ".join(self.first)


class ExecutionModel:
    """How tool calls run (a fresh process, a sandbox, a warm pool). The load
    generator `submit`s calls and `wait`s for their completions;
    `with model:` starts it (workers warmed up) and closes it after."""

    name = "?"

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
