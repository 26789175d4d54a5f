"""tools.tokenize on Hugging Face tokenizers: cache, prompts, validation."""
import pytest

pytest.importorskip("tokenizers")

from suite.spec import PROFILES, Job  # noqa: E402
from workloads.tools import hf_tokenizer, tokenizer_bench  # noqa: E402

SYSTEM = {"logical_cpus": 2,
          "cpus": [{"cpu": 0, "core": 0, "package": 0, "node": 0},
                   {"cpu": 1, "core": 1, "package": 0, "node": 0}],
          "caches": [], "memory": {"total_bytes": 8 << 30, "available_bytes": 4 << 30}}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("tok")


def test_prompts_are_agent_sized_and_deterministic():
    a = hf_tokenizer.prompts(5, 20)
    assert a == hf_tokenizer.prompts(5, 20)
    assert all(2048 - 8 <= len(p.encode()) <= 16384 for p in a)
    assert "<tool_result" in a[0]


def test_tokenizer_is_cached_and_a_corrupt_cache_is_rebuilt(cache):
    first = hf_tokenizer.ensure_tokenizer(3, cache)
    assert not first.reused and first.vocab_size == hf_tokenizer.VOCAB_SIZE
    again = hf_tokenizer.ensure_tokenizer(3, cache)
    assert again.reused
    first.path.write_text("{ not a tokenizer")
    rebuilt = hf_tokenizer.ensure_tokenizer(3, cache)
    assert not rebuilt.reused
    p = hf_tokenizer.prompts(3, 2)
    assert rebuilt.tokenizer.decode(rebuilt.tokenizer.encode(p[0]).ids) == p[0]


def test_reference_catches_a_lossy_round_trip(cache):
    tok = hf_tokenizer.ensure_tokenizer(3, cache).tokenizer
    batches = [hf_tokenizer.prompts(3, 2)]
    counts, problem = tokenizer_bench.reference(tok, batches)
    assert problem is None and len(counts[0]) == 2

    class Lossy:
        def encode(self, text):
            return tok.encode(text)

        def decode(self, ids):
            return tok.decode(ids)[:-1]

    assert "round-trip" in tokenizer_bench.reference(Lossy(), batches)[1]


def test_benchmark_records_validated_tokens_per_second(cache, monkeypatch):
    monkeypatch.setattr(hf_tokenizer, "DEFAULT_CACHE_DIR", cache)
    job = Job(benchmark="tools.tokenize", params={"threads": 1}, profile=PROFILES["quick"],
              system=SYSTEM, options={"seed": 3}, timeout=60)
    out = tokenizer_bench.run_benchmark(job)
    assert not out.errors
    thr = next(r for r in out.records if r.metric == "throughput")
    assert thr.validated and thr.unit == "tokens/s" and thr.value > 0
    assert thr.info["vocab_size"] == hf_tokenizer.VOCAB_SIZE
    assert {r.metric for r in out.records} >= {"latency_p50", "latency_p99"}


def test_plan_runs_one_child_per_thread_count():
    from suite.spec import PlanContext
    from workloads.tools.specs import plan_tokenizer

    cfgs = plan_tokenizer(PlanContext(PROFILES["quick"], SYSTEM, {}))
    assert [(c.params["threads"], c.env["RAYON_NUM_THREADS"]) for c in cfgs] == [(1, "1"), (2, "2")]


def test_the_pure_python_encoder_on_the_same_merges_gives_the_same_tokens(cache):
    from workloads.tools import bpe

    tok = hf_tokenizer.ensure_tokenizer(3, cache).tokenizer
    merges = hf_tokenizer.python_merges(tok)
    assert len(merges) + 256 == tok.get_vocab_size()
    # Plain words, numbers and punctuation: both pre-tokenizers split these alike.
    text = "the quick brown fox 1234 jumps, kamotori nesalu. over lazy dogs"
    ids = bpe.encoder(merges)(text)
    assert bpe.decode(ids, merges) == text
    assert len(ids) == len(tok.encode(text).ids)
    assert ids == bpe.encode(text, merges)


def test_prompts_are_kept_beside_the_tokenizer_and_a_damaged_file_is_made_again(tmp_path,
                                                                                 monkeypatch):
    made = hf_tokenizer.cached_prompts(4, 3, tmp_path)
    assert made == hf_tokenizer.prompts(4, 3)
    real = hf_tokenizer.prompts
    monkeypatch.setattr(hf_tokenizer, "prompts", lambda seed, count: pytest.fail("made again"))
    assert hf_tokenizer.cached_prompts(4, 3, tmp_path) == made
    (tmp_path / "seed-4" / "prompts-3.json").write_text('{"settings": {}, "prompts": ["x"]}')
    monkeypatch.setattr(hf_tokenizer, "prompts", real)
    assert hf_tokenizer.cached_prompts(4, 3, tmp_path) == made
    (tmp_path / "seed-4" / "prompts-3.json").write_text("[1, 2")
    assert hf_tokenizer.cached_prompts(4, 3, tmp_path) == made
