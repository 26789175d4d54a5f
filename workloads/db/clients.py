"""Client processes that run timed rounds of one query class.

Each client is a forked process with its own connection. For every round
the parent sends a common start time and deadline (time.perf_counter is
CLOCK_MONOTONIC, shared by all processes on Linux); each client runs its
queries back to back until the deadline, timing each one, then checks all
its answers outside the timed window and reports back.
"""
from __future__ import annotations

import multiprocessing
import time
import traceback
from array import array
from dataclasses import dataclass

from suite.sampling import repeat_until_stable
from workloads.db.queries import QueryClass, client_rng
from workloads.reporting import all_ready, receive, start, stop

START_DELAY_S = 0.005  # time for the round message to reach every client


@dataclass
class RoundResult:
    queries: int
    wall_s: float  # from the common start to the last client's last answer
    latencies_s: array  # every query's latency, all clients
    checked: int
    wrong: int
    first_problem: str | None

    @property
    def throughput(self) -> float:
        return self.queries / self.wall_s


def timed_loop(run, params: list, deadline: float) -> tuple:
    """Run queries until `deadline`; returns (latencies, results, last end)."""
    latencies: list = []
    results: list = []
    keep_latency = latencies.append
    keep_result = results.append
    clock = time.perf_counter
    n = len(params)
    i = 0
    while True:
        t0 = clock()
        result = run(params[i % n])
        t1 = clock()
        keep_latency(t1 - t0)
        keep_result(result)
        i += 1
        if t1 >= deadline:
            return latencies, results, t1


def _client_main(pipe, engine, query: QueryClass, params: list, answers) -> None:
    try:
        connection = engine.connect()
        sql = query.sql(engine)
        run = connection.writer(sql) if query.fetch == "write" else connection.reader(sql, query.fetch)
        pipe.send(("ready", None))
    except BaseException as exc:  # reported to the parent as a one-line error
        pipe.send(("error", " ".join(str(exc).split()) or type(exc).__name__))
        return
    try:
        while True:
            order = pipe.recv()
            if order is None:
                break
            start_at, deadline, round_tag = order
            round_params = query.round_params(params, round_tag)
            wire_params = connection.encode_params(round_params)
            while time.perf_counter() < start_at:
                pass  # a few ms at most; sleeping would blur the common start
            latencies, results, end = timed_loop(run, wire_params, deadline)
            results = connection.decode_results(results, query.fetch)
            checked, wrong, problem = query.verify(connection, round_params, results, answers)
            pipe.send(("round", (len(results), end, array("d", latencies).tobytes(),
                                 checked, wrong, problem)))
    except BaseException:
        pipe.send(("error", traceback.format_exc(limit=3).strip().splitlines()[-1]))
    finally:
        connection.close()


class ClientPool:
    """`clients` processes running `query` against `engine`."""

    def __init__(self, engine, query: QueryClass, answers, clients: int, seed: int, tag: str):
        self.query = query
        self.tag = tag
        self._rounds = 0
        ctx = multiprocessing.get_context("fork")
        self._pipes = []
        self._procs = []
        for c in range(clients):
            params = query.params(answers, client_rng(seed, query.name, c), engine.dialect)
            pipe, proc = start(ctx, _client_main, (engine, query, params, answers), daemon=True)
            self._pipes.append(pipe)
            self._procs.append(proc)
        try:
            all_ready(self._pipes, "database client")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _receive(pipe, wanted: str):
        return receive(pipe, wanted, "database client")

    def run_round(self, seconds: float) -> RoundResult:
        self._rounds += 1
        start_at = time.perf_counter() + START_DELAY_S
        for c, pipe in enumerate(self._pipes):
            pipe.send((start_at, start_at + seconds, f"{self.tag}-{c}-{self._rounds}"))
        queries = checked = wrong = 0
        last_end = start_at
        latencies = array("d")
        problem = None
        for pipe in self._pipes:
            n, end, lat_bytes, n_checked, n_wrong, first = self._receive(pipe, "round")
            queries += n
            last_end = max(last_end, end)
            latencies.frombytes(lat_bytes)
            checked += n_checked
            wrong += n_wrong
            problem = problem or first
        return RoundResult(queries, last_end - start_at, latencies, checked, wrong, problem)

    def close(self) -> None:
        stop(self._pipes, self._procs)

    def __enter__(self) -> "ClientPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def timed_rounds(pool: ClientPool, profile, *, round_s: float, budget_s: float,
                 warmup_s: float | None = None, min_rounds: int | None = None,
                 max_rounds: int | None = None) -> list:
    """The measured rounds of one client count: a warm-up round of `warmup_s`
    (default `round_s`, dropped), then rounds of `round_s` under the shared
    repetition policy (min/max rounds default to the profile's runs)."""
    rounds: list = []
    lengths = iter([warmup_s or round_s])

    def once() -> float:
        result = pool.run_round(next(lengths, round_s))
        rounds.append(result)
        return result.throughput

    samples = repeat_until_stable(once, profile, min_runs=min_rounds, max_runs=max_rounds,
                                  time_budget_s=budget_s)
    return rounds[len(rounds) - len(samples):]
