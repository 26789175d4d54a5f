"""Entry of tools.tokenize: `encode_batch` of agent prompts on Hugging Face
`tokenizers`, in one child per thread count (RAYON_NUM_THREADS is read once,
when the library's thread pool starts).

A call encodes one batch of prompts. Per call the token counts are checked
against a reference made before the timed rounds by encoding each prompt on
its own; the reference's round-trip decode must give every prompt back.
Records: tokens/s (one sample per round) and per-call latency p50/p99.
"""
from __future__ import annotations

import hashlib
import os
import time
from array import array

import numpy as np

from suite.model import ErrorRecord, Outcome, measurement
from suite.sampling import repeat_until_stable
from suite.spec import Job, profile_row, seed_of
from workloads.tools import hf_tokenizer
from workloads.tools.specs import TOKENIZER_DEPTH

LATENCY_PERCENTILES = (50, 99)


def count_digest(counts) -> str:
    """SHA-256 of a sequence of token counts (uint32)."""
    return hashlib.sha256(array("I", counts).tobytes()).hexdigest()


def reference(tok, batches: list) -> tuple:
    """(token counts per batch, problem or None): each prompt encoded alone,
    decoded back and compared with the prompt."""
    counts = []
    for batch in batches:
        encs = [tok.encode(p) for p in batch]
        for p, e in zip(batch, encs):
            if tok.decode(e.ids) != p:
                return counts, "round-trip decode does not give the prompt back"
        counts.append([len(e.ids) for e in encs])
    return counts, None


def run_benchmark(job: Job) -> Outcome:
    depth = profile_row(TOKENIZER_DEPTH, job.profile)
    seed = seed_of(job.options)
    params = dict(job.params)
    try:
        cached = hf_tokenizer.ensure_tokenizer(seed)
    except hf_tokenizer.TokenizerUnavailable as exc:
        return Outcome(errors=(ErrorRecord(job.benchmark, params, "skipped", str(exc)),))
    import tokenizers

    tok = cached.tokenizer
    all_prompts = hf_tokenizer.cached_prompts(seed, depth.batches * depth.batch_size,
                                              cached.path.parent.parent)
    batches = [all_prompts[i:i + depth.batch_size]
               for i in range(0, len(all_prompts), depth.batch_size)]
    expected, problem = reference(tok, batches)
    rounds: list = []  # each round's call latencies (s)
    wrong = [0]

    def one_round() -> float:
        latencies: list = []
        rounds.append(latencies)
        tokens, calls, t_end = 0, 0, time.perf_counter() + depth.round_s
        t0 = time.perf_counter()
        while calls < len(batches) or time.perf_counter() < t_end:
            k = calls % len(batches)
            t = time.perf_counter()
            encs = tok.encode_batch(batches[k])
            latencies.append(time.perf_counter() - t)
            counts = [len(e.ids) for e in encs]
            wrong[0] += counts != expected[k]
            tokens += sum(counts)
            calls += 1
        return tokens / (time.perf_counter() - t0)

    if problem is None:
        samples = repeat_until_stable(one_round, job.profile, time_budget_s=depth.extra_budget_s)
    else:
        samples = []
    if problem is None and wrong[0]:
        problem = f"{wrong[0]} encode_batch calls gave token counts unlike the reference"
    validated = problem is None
    prompt_bytes = [len(p.encode()) for p in all_prompts]
    info = {
        "library": f"tokenizers {tokenizers.__version__}",
        "rayon_threads": os.environ.get("RAYON_NUM_THREADS", "library default"),
        "vocab_size": cached.vocab_size, "tokenizer_reused": cached.reused,
        "tokenizer_build_s": round(cached.build_s, 3), "seed": seed,
        "batch_size": depth.batch_size, "batches": len(batches),
        "prompt_bytes_min": min(prompt_bytes), "prompt_bytes_max": max(prompt_bytes),
        "token_count_digest": count_digest([c for b in expected for c in b]),
        "validation": "token counts of every call vs each prompt encoded alone; "
                      "round-trip decode of every prompt",
        "latency_of": "one encode_batch call",
    }
    if not samples:
        return Outcome(errors=(ErrorRecord(job.benchmark, params, "invalid", problem),))
    records = [measurement(job.benchmark, params, "throughput", "tokens/s", samples,
                           higher_is_better=True, validated=validated, info=info)]
    measured = rounds[len(rounds) - len(samples):]  # the warm-up round is dropped
    lat_ms = np.concatenate([np.asarray(r) for r in measured]) * 1e3
    for q in LATENCY_PERCENTILES:
        records.append(measurement(job.benchmark, params, f"latency_p{q}", "ms",
                                   [float(np.percentile(np.asarray(r) * 1e3, q)) for r in measured],
                                   value=float(np.percentile(lat_ms, q)), higher_is_better=False,
                                   validated=validated, info={"calls": len(lat_ms)}))
    errors = () if validated else (ErrorRecord(job.benchmark, params, "invalid", problem),)
    return Outcome(records=tuple(records), errors=errors)
