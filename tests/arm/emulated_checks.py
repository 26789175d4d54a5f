"""Checks that prove the suite works on aarch64, run under qemu-user.

Started by tests/arm/run.sh inside the arm64 root. Each check prints one
line (PASS/FAIL/SKIP); the exit status is 1 when any check failed.

EMULATED TIMINGS ARE MEANINGLESS: the result file written here is tagged
`emulation` and its records carry the same note; it exists to prove that
result writing, loading and comparison work with Arm fields, never to be
reported.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

TINY_ELEMENTS = 20_000  # per STREAM array: big enough for every thread, fast under emulation
TINY_NTIMES = 3
EMULATION_NOTE = "emulated run (qemu-user): timing meaningless, never report"
# Set by tests/arm/run.sh; without it this is a native dry run of the checks.
EMULATED = bool(os.environ.get("FACTORYBENCH_EMULATED"))
RUN_KIND = EMULATION_NOTE if EMULATED else "native dry run of the emulation checks"

FAILED: list = []


def check(name: str):
    """Decorator: run the check, print PASS/FAIL/SKIP with its detail line."""
    def wrap(fn):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                detail = fn(*args, **kwargs)
                verdict = "SKIP" if isinstance(detail, str) and detail.startswith("skipped") else "PASS"
            except Exception as exc:  # noqa: BLE001 - every failure is reported, the rest go on
                FAILED.append(name)
                detail = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
                verdict = "FAIL"
            shown = str(detail)
            shown = shown if len(shown) <= 300 else shown[:300] + " ..."
            print(f"[{verdict}] {name} ({time.perf_counter() - t0:.1f} s"
                  f"{', emulated' if EMULATED else ''}): {shown}",
                  flush=True)
            return detail
        return run
    return wrap


@check("sysinfo reports the architecture with the emulated CPU's features")
def check_sysinfo(expect_arch: str) -> dict:
    from suite import sysinfo

    info = sysinfo.collect()
    print(json.dumps({k: info[k] for k in (
        "arch", "vendor", "model_name", "microarchitecture", "cpu_implementer", "cpu_part",
        "logical_cpus", "page_size_bytes", "emulation", "numba_target", "warnings")}, indent=1))
    isa = info["isa"]
    print(f"features ({isa['source']}): {' '.join(isa['flags'])}")
    print(f"sve={isa['sve']} sve2={isa['sve2']} sve_vector_length_bytes={isa['sve_vector_length_bytes']}")
    assert info["arch"] == expect_arch, info["arch"]
    if expect_arch == "aarch64":
        assert isa["asimd"], "no asimd among the features"
    assert info["logical_cpus"] and info["caches"] is not None
    return info


@check("a child process (binfmt) runs the CLI: factorybench sysinfo --json")
def check_cli_child(expect_arch: str) -> str:
    out = subprocess.run([sys.executable, "-m", "suite", "sysinfo", "--json"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-400:]
    info = json.loads(out.stdout)
    assert info["arch"] == expect_arch
    return f"child arch {info['arch']}, {info['logical_cpus']} logical CPUs"


def _inline_triad():
    import numpy as np
    from numba import njit, prange

    @njit(parallel=True)
    def triad(a, b, c, s):
        for i in prange(a.size):
            a[i] = b[i] + s * c[i]

    return triad


@check("Numba STREAM kernels compile and validate at a tiny size")
def check_numba_kernels() -> dict:
    import numba
    import numpy as np

    try:
        from kernels import stream
    except ImportError:
        stream = None
    if stream is not None:
        compile_s = stream.compile_kernels()
        times, arrays, dots, _, _ = stream.run_stream(TINY_ELEMENTS, TINY_NTIMES)
        problems = stream.check_results(arrays, dots, TINY_NTIMES)
        assert not problems, problems
        source = "kernels.stream"
        triad_s = times["triad"][1:]
    else:
        triad = _inline_triad()
        t0 = time.perf_counter()
        a, b, c = np.zeros(TINY_ELEMENTS), np.full(TINY_ELEMENTS, 2.0), np.full(TINY_ELEMENTS, 1.0)
        triad(a, b, c, 3.0)
        compile_s = time.perf_counter() - t0
        triad_s = []
        for _ in range(TINY_NTIMES):
            t0 = time.perf_counter()
            triad(a, b, c, 3.0)
            triad_s.append(time.perf_counter() - t0)
        assert np.all(a == 5.0), "triad produced wrong values"
        source = "inline triad"
    return {"source": source, "compile_s": round(compile_s, 2),
            "threading_layer": numba.threading_layer(), "threads": numba.get_num_threads(),
            "triad_seconds": triad_s}


@check("sandbox runs a command")
def check_sandbox() -> str:
    try:
        from workloads.sandbox import Sandbox
    except ImportError:
        return "skipped: workloads.sandbox not present"
    box = Sandbox(timeout_s=120.0)
    result = box.run(["/bin/echo", "sandboxed"])
    assert result.ok and result.stdout.strip() == b"sandboxed", result
    return f"backend {result.backend}" + (f" ({box.warning})" if box.warning else "")


@check("native retrieval libraries answer: tokenizers, sqlite-vec (apsw), usearch")
def check_retrieval_libraries(tmp: Path) -> str:
    """The aarch64 wheels of tools.tokenize's and db.vector's libraries load
    and give right answers on small inputs (a full build would take hours
    under qemu)."""
    import numpy as np
    import tokenizers as tk
    from usearch.index import Index

    from workloads.vector.dataset import HNSW, exact_knn
    from workloads.vector.engines import SqliteVecEngine, open_sqlite

    tok = tk.Tokenizer(tk.models.BPE())
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk.decoders.ByteLevel()
    tok.train_from_iterator(["agent memory retrieval and tokenization"] * 50,
                            trainer=tk.trainers.BpeTrainer(
                                vocab_size=300, show_progress=False,
                                initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet()))
    text = "agent retrieval: 42 tokens"
    assert tok.decode(tok.encode_batch([text])[0].ids) == text
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 384), dtype=np.float32)
    q = x[7] + 0.01
    want, _ = exact_knn(x, q[None, :])
    (tmp / "vec.sqlite").unlink(missing_ok=True)  # a previous run's, in the kept output dir
    db = open_sqlite(tmp / "vec.sqlite", writable=True)
    db.execute("CREATE VIRTUAL TABLE embeddings USING vec0(embedding float[384])")
    with db:
        db.executemany("INSERT INTO embeddings(rowid, embedding) VALUES (?, ?)",
                       ((i + 1, x[i].tobytes()) for i in range(len(x))))
    db.close()
    db = open_sqlite(tmp / "vec.sqlite")  # as the clients read it: memory-mapped
    got = [r - 1 for r, _ in db.execute(SqliteVecEngine.sql, (q.tobytes(),)).fetchall()]
    db.close()
    assert got == want[0].tolist(), (got, want[0].tolist())
    index = Index(ndim=384, metric="l2sq", **HNSW)  # db.vector's settings (half precision)
    index.add(np.arange(len(x)), x)
    assert index.search(q, 10).keys[0] == 7
    return f"tokenizers {tk.__version__}, usearch {index.hardware_acceleration}"


@check("result file with Arm fields is written atomically and loads")
def check_result_file(out_dir: Path, info: dict, kernels: dict) -> str:
    from suite import results, runner
    from suite.model import measurement
    from suite.spec import PROFILES

    emulation = info.get("emulation")
    tags = ({"emulation": emulation["kind"], "timings": "meaningless"} if emulation
            else {"dry_run": "native"})
    opts = runner.RunOptions(profile=PROFILES["quick"], out_path=out_dir, tags=tags,
                             argv=tuple(sys.argv))
    doc = runner.new_document(opts, info)
    elements = TINY_ELEMENTS
    gbs = [24 * elements / s / 1e9 for s in kernels["triad_seconds"]]
    record = measurement("stream.triad", {"threads": kernels["threads"], "elements": elements},
                         "bandwidth", "GB/s", gbs, higher_is_better=True, value=max(gbs),
                         info={"run_kind": RUN_KIND, "source": kernels["source"],
                               "threading_layer": kernels["threading_layer"]})
    doc = doc.adding(records=[record], warnings=[EMULATION_NOTE] if EMULATED else [])
    doc = doc.with_run(status="complete", finished_at=runner.utc_now())
    kind = "emulated" if info.get("emulation") else "native"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out_dir / f"{kind}-{info['arch']}-{stamp}.json"
    results.write_atomic(path, doc)
    loaded = results.load(path)
    assert loaded.system["arch"] == info["arch"] and loaded.run["tags"] == tags
    frame = results.to_frame(loaded)
    assert len(frame) == 1
    return str(path)


# Skips a smoke run under emulation may report: (benchmark id prefix, text in
# the reason, why it is emulation's or the smoke profile's doing). Any other
# skip fails the run, as a crash, an invalid record or a timeout does.
ACCEPTED_SKIPS = (
    ("compile.linux", "full profile only",
     "the smoke profile checks the kernel build's prerequisites; the build is the full profile's"),
    ("compile.linux", "no Linux source tarball",
     "the root has no linux-source package (the build is the full profile's)"),
    ("db.vector", "pgvector not installed",
     "the root's PostgreSQL has no pgvector"),
)
SMOKE_TIMEOUT_S = 40 * 60


def accepted_skip(benchmark: str, message: str) -> str | None:
    """Why a skip is acceptable under emulation, or None."""
    for prefix, text, why in ACCEPTED_SKIPS:
        if benchmark.startswith(prefix) and text in message:
            return why
    return None


def smoke_table(doc, ids) -> list:
    """(benchmark id, ok, status) for every registered id, from a smoke run's
    result document: validated records, or only accepted skips."""
    rows = []
    for bench in ids:
        records = [r for r in doc.results if r.benchmark == bench]
        errors = [e for e in doc.errors if e.benchmark == bench]
        invalid = [r for r in records if not r.validated]
        failures = [f"{e.kind}: {e.message}" for e in errors if e.kind != "skipped"]
        failures += [f"invalid record {r.metric} {r.params}" for r in invalid]
        skips = [e.message for e in errors if e.kind == "skipped"]
        unaccepted = [m for m in skips if accepted_skip(bench, m) is None]
        if failures:
            rows.append((bench, False, f"FAIL {failures[0][:160]}"))
        elif unaccepted:
            rows.append((bench, False, f"FAIL skipped without an emulation reason: {unaccepted[0][:160]}"))
        elif records:
            extra = f"; {len(skips)} skipped ({accepted_skip(bench, skips[0])})" if skips else ""
            rows.append((bench, True, f"validated ({len(records)} records){extra}"))
        elif skips:
            rows.append((bench, True, f"skipped: {accepted_skip(bench, skips[0])}"))
        else:
            rows.append((bench, False, "FAIL no record and no skip"))
    return rows


def _arm_branches(doc) -> list:
    """What the code chose per architecture in this run, for the log."""
    s = doc.system
    isa = s.get("isa") or {}
    lines = [f"arch {s.get('arch')}, page size {s.get('page_size_bytes')} B",
             f"features via {isa.get('source')}: asimd={isa.get('asimd')} sve={isa.get('sve')} "
             f"sve2={isa.get('sve2')} sve_vector_length_bytes={isa.get('sve_vector_length_bytes')}",
             (f"MIDR implementer {s.get('cpu_implementer')} part {s.get('cpu_part')} "
              f"-> part name {s.get('cpu_part_name')!r}" if s.get("cpu_implementer") else
              "no MIDR: qemu-user shows the host's /proc/cpuinfo (the Arm part-name table runs "
              "on real Arm cpuinfo dumps in the pytest step below)"),
             f"microarchitecture {s.get('microarchitecture')}",
             f"Numba target {s.get('numba_target')}"]
    for r in doc.results:
        if r.benchmark == "native.check" and r.info.get("flags"):
            lines.append(f"native.check C flags: {r.info['flags']}")
            break
    backends: dict = {}
    for r in doc.results:
        backend = r.info.get("sandbox_backend") or r.info.get("backend")
        if isinstance(backend, str) and backend != "none":
            backends.setdefault(backend, set()).add(r.benchmark)
    for backend, benches in sorted(backends.items()):
        lines.append(f"sandbox backend {backend} in use by: {', '.join(sorted(benches))}")
    return lines


@check("the smoke profile, every benchmark id, through the runner")
def check_smoke_profile(out_dir: Path, expect_arch: str) -> str:
    from suite import results
    from suite.spec import registry

    run_dir = out_dir / f"smoke-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    run_dir.mkdir()
    tags = ["--tag", "emulation=qemu-user", "--tag", "timings=meaningless"] if EMULATED else []
    cmd = [sys.executable, "-m", "suite", "run", "--profile", "smoke", "--out", str(run_dir), *tags]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=SMOKE_TIMEOUT_S)
    wall = time.perf_counter() - t0
    files = sorted(run_dir.glob("*.json"))
    if not files:
        print(out.stdout[-3000:])
        raise AssertionError(f"exit {out.returncode} and no result file in {run_dir}")
    doc = results.load(files[-1])
    for line in _arm_branches(doc):
        print(f"  {line}")
    rows = smoke_table(doc, [s.id for s in registry()])
    width = max(len(r[0]) for r in rows)
    print(f"  {'benchmark id':{width}}  status")
    for bench, _, status in rows:
        print(f"  {bench:{width}}  {status}")
    bad = [bench for bench, ok, _ in rows if not ok]
    if out.returncode != 0 or doc.run["status"] != "complete" or bad:
        print(out.stdout[-3000:])
    assert doc.system["arch"] == expect_arch, doc.system["arch"]
    assert doc.run["status"] == "complete", doc.run["status"]
    assert not bad, f"failed: {', '.join(bad)}"
    return (f"{len(rows)} ids, {len(doc.results)} records, runner exit {out.returncode}, "
            f"{wall:.0f} s; {files[-1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the emulated result file")
    parser.add_argument("--expect-arch", default="aarch64",
                        help="architecture sysinfo must report (x86_64 for a dry run on the host)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"== {RUN_KIND}; python {platform.python_version()} on {platform.machine()}")
    info = check_sysinfo(args.expect_arch)
    check_cli_child(args.expect_arch)
    kernels = check_numba_kernels()
    check_sandbox()
    check_retrieval_libraries(args.out)
    if isinstance(info, dict) and isinstance(kernels, dict):
        check_result_file(args.out, info, kernels)
    check_smoke_profile(args.out, args.expect_arch)
    print(f"== {'FAILED: ' + ', '.join(FAILED) if FAILED else 'all checks passed'} "
          f"({RUN_KIND})")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
