"""runtime.jvm.tools and runtime.node.tools: the tool catalog's JSON
transform, text search and table query (and the no-op tool) in Java and
JavaScript on a warm pool of long-lived runtimes, closed loop at the
tools.* concurrency levels, every call checked against the digests of the
Python tools (workloads.tools.catalog)."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile

from suite.model import Outcome
from suite.spec import profile_row, seed_of
from workloads.runtime import runtimes
from workloads.runtime.pool import RuntimePool, write_inputs
from workloads.runtime.specs import DEPTH
from workloads.tools import catalog, loadgen
from workloads.tools.bench import CALL_TIMEOUT_S, usable_cpus
from workloads.tools.records import load_records
from workloads.tools.specs import DEPTH as TOOLS_DEPTH

SERVERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "servers")
JAVA_SERVER = "ToolServer"
NODE_SERVER = os.path.join(SERVERS, "tool_server.js")
CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     ".cache", "runtime")


def compiled_server(javac: runtimes.Runtime) -> str:
    """The directory holding ToolServer.class, compiled once per source and
    javac version into the checkout's .cache (a JVM compiling it costs
    seconds a quick run does not have), built aside and renamed into place."""
    with open(os.path.join(SERVERS, f"{JAVA_SERVER}.java"), "rb") as f:
        source = f.read()
    key = hashlib.sha256(source + javac.version.encode() + repr(runtimes.JAVAC_OPTIONS).encode()).hexdigest()[:16]
    target = os.path.join(CACHE, f"{JAVA_SERVER}-{key}")
    if os.path.isfile(os.path.join(target, f"{JAVA_SERVER}.class")):
        return target
    try:
        os.makedirs(CACHE, exist_ok=True)
        building = tempfile.mkdtemp(prefix="building-", dir=CACHE)
    except OSError:  # a read-only checkout: a fresh build in the temp directory
        building = target = tempfile.mkdtemp(prefix="factorybench-toolserver-")
    done = subprocess.run([javac.path, *runtimes.JAVAC_OPTIONS, "-d", building,
                           os.path.join(SERVERS, f"{JAVA_SERVER}.java")], capture_output=True, timeout=300)
    if done.returncode:
        shutil.rmtree(building, ignore_errors=True)
        raise RuntimeError(f"javac {JAVA_SERVER}.java: {done.stderr.decode(errors='replace')[-300:]}")
    if building != target:
        try:
            os.rename(building, target)
        except OSError:  # another run built it meanwhile
            shutil.rmtree(building, ignore_errors=True)
    return target


def server_argv(kind: str, inputs_dir: str, warmup_ms: int) -> tuple:
    """(argv of one pool worker, runtime info)."""
    if kind == "jvm":
        found = runtimes.require("java", "javac")
        classes = compiled_server(found["javac"])
        java = found["java"].path
        info = {"runtime": found["java"].info(), "jvm_flags": runtimes.jvm_flags(java)}
        return [java, *runtimes.JVM_OPTIONS, "-cp", classes, JAVA_SERVER, inputs_dir, str(warmup_ms)], info
    node = runtimes.require("node")["node"]
    return [node.path, NODE_SERVER, inputs_dir, str(warmup_ms)], {"runtime": node.info()}


def catalog_inputs(tools, seed: int) -> dict:
    """{tool: its seeded inputs}, the Python tools' own."""
    return {t: catalog.TOOLS[t].make_inputs(seed) for t in tools}


def open_pool(kind: str, inputs: dict, size: int, scratch: str, warmup_ms: int,
              timeout_s: float = CALL_TIMEOUT_S) -> tuple:
    """A started pool serving the tools of `inputs` ({tool: payloads});
    (pool, runtime info)."""
    inputs_dir = os.path.join(scratch, "inputs")
    os.mkdir(inputs_dir)
    write_inputs(inputs_dir, inputs)
    argv, info = server_argv(kind, inputs_dir, warmup_ms)
    pool = RuntimePool(f"{kind}-pool", argv, size, timeout_s=timeout_s, scratch=scratch)
    try:
        pool.start()
    except BaseException:
        pool.close()
        raise
    return pool, info


def run(job) -> Outcome:
    kind = job.benchmark.split(".")[1]
    seed = seed_of(job.options)
    depth, tools_depth = profile_row(DEPTH, job.profile), profile_row(TOOLS_DEPTH, job.profile)
    matrix = job.params["matrix"]
    cpus = usable_cpus()
    # The same seeded inputs and reference digests as the Python tools.
    inputs = catalog_inputs(matrix, seed)
    expected = {t: catalog.expected_digests(catalog.TOOLS[t], inputs[t]) for t in matrix}
    records, errors = [], []
    with tempfile.TemporaryDirectory(prefix="factorybench-runtime-") as scratch:
        pool, runtime_info = open_pool(kind, inputs, cpus, scratch, depth.warmup_ms)
        try:
            for tool, levels in matrix.items():
                for c in levels:
                    def pick(n, tool=tool):
                        return tool, n % catalog.INPUT_VARIANTS

                    def check(done):
                        want = expected[done.call.tool][done.call.index]
                        return None if done.digest == want else f"digest {str(done.digest)[:12]} != expected {want[:12]}"

                    result = loadgen.closed_loop(pool, pick, check, concurrency=c, window_s=tools_depth.window_s,
                                                 min_calls=tools_depth.min_calls)
                    params = {"tool": tool, "concurrency": c}
                    info = {**runtime_info, "seed": seed, "model": pool.name, "pool_size": pool.size,
                            "workers_replaced": pool.replaced, "warmup_ms": depth.warmup_ms,
                            "digest_check": "SHA-256 of each output vs the Python tool's output",
                            "isolation": "none: plain child processes, as the Python warm pool's workers",
                            "latency_from": "call issue (closed loop)"}
                    r, e = load_records(job.benchmark, params, result, cpus=cpus, parts=tools_depth.parts, info=info)
                    records.extend(r)
                    errors.extend(e)
                    if tool == "noop" and c == 1 and r:
                        p50 = next(x for x in r if x.metric == "latency_p50")
                        records.append(dataclasses.replace(
                            p50, metric="dispatch_overhead",
                            info=dict(p50.info, meaning="no-op call round trip p50: the pool's dispatch cost")))
        finally:
            pool.close()
    return Outcome(records=tuple(records), errors=tuple(errors))
