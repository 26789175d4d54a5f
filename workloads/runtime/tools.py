"""runtime.jvm.tools and runtime.node.tools: the tool catalog's JSON
transform, text search and table query (and the no-op tool) in Java and
JavaScript on a warm pool of long-lived runtimes, closed loop at the
tools.* concurrency levels, every call checked against the digests of the
Python tools (workloads.tools.catalog).

Every worker runs in the sandbox (workloads.sandbox), like the rest of
the runtime category: a session of its own per worker (work dir, uid,
cgroups and limits), holding the server and the seeded inputs."""
from __future__ import annotations

import dataclasses
import os
import subprocess

from suite.model import Outcome
from suite.spec import profile_row, seed_of
from suite.worker import each_benchmark
from workloads.runtime import buildcache, runtimes
from workloads.runtime.pool import RuntimePool, input_files
from workloads.runtime.specs import DEPTH
from workloads.tools import catalog, loadgen
from workloads.tools.bench import CALL_TIMEOUT_S, usable_cpus
from workloads.tools.records import load_records
from workloads.sandbox import Limits, for_agent_code
from workloads.tools.specs import DEPTH as TOOLS_DEPTH

SERVERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "servers")
JAVA_SERVER = "ToolServer"
NODE_SERVER = os.path.join(SERVERS, "tool_server.js")
# A worker's CPU-time limit (RLIMIT_CPU): it serves calls for the whole benchmark.
WORKER_CPU_S = 3600


def compiled_server(javac: runtimes.Runtime) -> str:
    """The directory holding ToolServer.class (workloads.runtime.buildcache)."""
    source_path = os.path.join(SERVERS, f"{JAVA_SERVER}.java")
    with open(source_path, "rb") as f:
        source = f.read()

    def build(directory: str) -> None:
        done = subprocess.run([javac.path, *runtimes.javac_options(), "-d", directory, source_path],
                              capture_output=True, timeout=300)
        if done.returncode:
            raise RuntimeError(f"javac {JAVA_SERVER}.java: {done.stderr.decode(errors='replace')[-300:]}")

    return buildcache.compiled(JAVA_SERVER, source, javac, f"{JAVA_SERVER}.class", build)


def _read_files(directory: str, prefix: str, suffix: str) -> dict:
    """{prefix + name: bytes} of the files in `directory` ending in `suffix`."""
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(suffix):
            with open(os.path.join(directory, name), "rb") as f:
                out[prefix + name] = f.read()
    return out


def server(kind: str, sandbox, warmup_ms: int) -> tuple:
    """(argv of one pool worker, the files its work dir gets, runtime info);
    the paths in argv are relative to the work dir."""
    if kind == "jvm":
        found = runtimes.require("java", "javac")
        files = _read_files(compiled_server(found["javac"]), "server/", ".class")
        java = found["java"].path
        info = {"runtime": found["java"].info(), "jvm_flags": runtimes.jvm_flags(java, sandbox)}
        return [java, *runtimes.jvm_options(), "-cp", "server", JAVA_SERVER, "inputs", str(warmup_ms)], files, info
    node = runtimes.require("node")["node"]
    with open(NODE_SERVER, "rb") as f:
        files = {"tool_server.js": f.read()}
    return [node.path, "tool_server.js", "inputs", str(warmup_ms)], files, {"runtime": node.info()}


def catalog_inputs(tools, seed: int) -> dict:
    """{tool: its seeded inputs}, the Python tools' own."""
    return {t: catalog.TOOLS[t].make_inputs(seed) for t in tools}


def worker_limits(cpus: int) -> Limits:
    """A worker's sandbox limits. It lives as long as the benchmark, so
    its CPU time is bounded by that, not by one call; a JVM's GC and JIT
    threads grow with the CPUs it sees and each counts as a process."""
    return Limits(cpu_s=WORKER_CPU_S, nproc=max(Limits.nproc, 4 * cpus))


def open_pool(kind: str, inputs: dict, size: int, warmup_ms: int,
              timeout_s: float = CALL_TIMEOUT_S, options=None) -> tuple:
    """A started pool of `size` sandboxed workers serving the tools of
    `inputs` ({tool: payloads}); (pool, runtime and sandbox info). A
    sandbox that does not isolate is refused unless `options` allow it
    (Skipped, as for agent code)."""
    sandbox = for_agent_code(options, limits=worker_limits(usable_cpus()))
    argv, files, info = server(kind, sandbox, warmup_ms)
    files.update(input_files(inputs))
    info.update(sandbox_backend=sandbox.backend, sandbox_warning=sandbox.warning)
    pool = RuntimePool(f"{kind}-pool", lambda: sandbox.start(argv, files=files), size, timeout_s=timeout_s)
    try:
        pool.start()
    except BaseException:
        pool.close()
        raise
    return pool, info


def run(job) -> Outcome:
    """Every runtime of job.ids: one, or both where they share this child
    (specs.RuntimeDepth.runtimes_share_child), on the same inputs."""
    seed = seed_of(job.options)
    matrix = job.params["matrix"]
    # The same seeded inputs and reference digests as the Python tools.
    inputs = catalog_inputs(matrix, seed)
    expected = {t: catalog.expected_digests(catalog.TOOLS[t], inputs[t]) for t in matrix}
    return each_benchmark(job, lambda benchmark: _serve(job, benchmark, inputs, expected))


def _serve(job, benchmark: str, inputs: dict, expected: dict) -> Outcome:
    kind = benchmark.split(".")[1]
    seed = seed_of(job.options)
    depth, tools_depth = profile_row(DEPTH, job.profile), profile_row(TOOLS_DEPTH, job.profile)
    matrix = job.params["matrix"]
    cpus = usable_cpus()
    records, errors = [], []
    pool, runtime_info = open_pool(kind, inputs, cpus, depth.warmup_ms, options=job.options)
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
                        "isolation": "each worker in a sandbox session of its own (sandbox_backend)",
                        "latency_from": "call issue (closed loop)"}
                r, e = load_records(benchmark, params, result, cpus=cpus, parts=tools_depth.parts, info=info)
                records.extend(r)
                errors.extend(e)
                if tool == "noop" and c == 1 and r:
                    p50 = next(x for x in r if x.metric == "latency_p50")
                    records.append(dataclasses.replace(
                        p50, metric="dispatch_overhead",
                        info=dict(p50.info, meaning="no-op call round trip p50: the pool's dispatch cost")))
    finally:
        pool.close()
    warning = runtime_info["sandbox_warning"]
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=(warning,) if warning else ())
