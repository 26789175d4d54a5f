"""Performance targets of agent retrieval and tokenization, measured side by side.

    .venv/bin/python tests/perf/retrieval.py [--rounds N] [--skip-suite]

Prints:
- the exact kNN scan's effective bandwidth on one core, sqlite-vec and a
  NumPy matrix-vector scan of the same vectors, against 1-core STREAM Triad
  (stream.triad --threads 1) of the same run (target >= 0.60);
- Hugging Face tokenizers' single-thread tokens/s against the pure-Python
  encoder (workloads.tools.bpe) on the same prompts (target >= 10x);
- the quick profile's db.vector and tools.tokenize wall time, cold (empty
  caches) and cached (target <= 20 s; builds <= 15 s cold, <= 1 s cached).
Not collected by pytest: it measures, it does not assert.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
CLI = [sys.executable, "-m", "suite"]
TARGETS = {"scan_share": 0.60, "tokenizer_ratio": 10.0, "quick_s": 20.0}


def _run_cli(args: list, out: Path) -> dict:
    subprocess.run(CLI + ["run", *args, "--out", str(out)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    newest = max(out.glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(newest.read_text())


def triad_one_core_gbs(tmp: Path) -> float:
    doc = _run_cli(["stream.triad", "--threads", "1"], tmp / "triad")
    return max(r["value"] for r in doc["results"]
               if r["benchmark"] == "stream.triad" and r["metric"] == "bandwidth"
               and r["params"].get("threads") == 1)


def scan_gbs(rounds: int) -> tuple:
    """(sqlite-vec GB/s, NumPy GB/s) of one-query exact scans, interleaved."""
    import numpy as np

    from workloads.db.dataset import DEFAULT_DATA_DIR
    from workloads.vector import dataset
    from workloads.vector.engines import SqliteVecEngine, open_sqlite
    from workloads.vector.specs import BYTES_PER_VECTOR, VECTOR_DEPTH

    depth = VECTOR_DEPTH["quick"]
    data = dataset.ensure_dataset(DEFAULT_DATA_DIR, depth.vectors, 1, depth.sample_queries)
    vectors = np.ascontiguousarray(data.vectors())
    queries = data.queries()
    scanned = len(vectors) * BYTES_PER_VECTOR
    db = open_sqlite(data.path("store.sqlite"))
    sql = SqliteVecEngine.sql
    sq, npy = [], []
    for r in range(rounds):
        q = queries[r % len(queries)]
        t = time.perf_counter()
        db.execute(sql, (q.tobytes(),)).fetchall()
        sq.append(scanned / (time.perf_counter() - t) / 1e9)
        t = time.perf_counter()
        scores = vectors @ q
        np.argpartition(-scores, 10)[:10]
        npy.append(scanned / (time.perf_counter() - t) / 1e9)
    db.close()
    return sorted(sq)[len(sq) // 2], sorted(npy)[len(npy) // 2]


def tokenizer_ratio(rounds: int) -> tuple:
    """(HF tokens/s on one thread, pure-Python tokens/s, HF prompt MB/s,
    pure-Python prompt MB/s) on the same prompts. The two vocabularies differ
    (32k against the pure-Python encoder's 406), so MB/s is the fair ratio."""
    os.environ["RAYON_NUM_THREADS"] = "1"  # before the library's pool starts
    from workloads.tools import bpe, hf_tokenizer

    tok = hf_tokenizer.ensure_tokenizer(1).tokenizer
    prompts = hf_tokenizer.prompts(1, 16)
    merges = bpe.make_input(1)["merges"]
    mb = sum(len(p.encode()) for p in prompts) / 1e6
    hf, py = [], []  # (tokens/s, MB/s)
    for _ in range(rounds):
        t = time.perf_counter()
        n = sum(len(e.ids) for e in tok.encode_batch(prompts))
        dt = time.perf_counter() - t
        hf.append((n / dt, mb / dt))
        t = time.perf_counter()
        n = sum(len(bpe.encode(p, merges)) for p in prompts)
        dt = time.perf_counter() - t
        py.append((n / dt, mb / dt))
    (hf_tok, hf_mb), (py_tok, py_mb) = sorted(hf)[len(hf) // 2], sorted(py)[len(py) // 2]
    return hf_tok, py_tok, hf_mb, py_mb


def quick_wall(tmp: Path) -> tuple:
    """(cold s, cached s) of `run db.vector tools.tokenize` in the quick profile."""
    from workloads.tools import hf_tokenizer

    db_dir = tmp / "db"
    shutil.rmtree(hf_tokenizer.DEFAULT_CACHE_DIR / "seed-1", ignore_errors=True)
    walls = []
    for _ in range(2):
        t = time.perf_counter()
        _run_cli(["db.vector", "tools.tokenize", "--db-dir", str(db_dir)], tmp / "quick")
        walls.append(time.perf_counter() - t)
    return walls[0], walls[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--skip-suite", action="store_true", help="skip the quick-profile timing")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        triad = triad_one_core_gbs(tmp)
        sq, npy = scan_gbs(args.rounds)
        print(f"1-core STREAM Triad          {triad:8.2f} GB/s")
        print(f"exact scan, sqlite-vec       {sq:8.2f} GB/s  = {sq / triad:.2f} of Triad "
              f"(target >= {TARGETS['scan_share']})")
        print(f"exact scan, NumPy mat-vec    {npy:8.2f} GB/s  = {npy / triad:.2f} of Triad "
              f"(target >= {TARGETS['scan_share']})")
        hf, py, hf_mb, py_mb = tokenizer_ratio(args.rounds)
        print(f"tokenizers, 1 thread         {hf:10,.0f} tokens/s {hf_mb:6.2f} MB/s")
        print(f"pure-Python BPE              {py:10,.0f} tokens/s {py_mb:6.2f} MB/s")
        print(f"  tokens/s ratio {hf / py:.1f}x, prompt MB/s ratio {hf_mb / py_mb:.1f}x "
              f"(target >= {TARGETS['tokenizer_ratio']:g}x)")
        if not args.skip_suite:
            cold, cached = quick_wall(tmp)
            print(f"quick db.vector + tools.tokenize: cold {cold:.1f} s, cached {cached:.1f} s "
                  f"(target <= {TARGETS['quick_s']:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
