"""A real agent-stack tokenizer: Hugging Face `tokenizers` byte-level BPE.

Trained offline on a generated corpus (vocabulary 32k) the first time a seed
is used, and cached under `.cache/tokenizer/seed-<seed>/`; a cache file that
does not load, or was built for other settings, is rebuilt. The prompts an
agent sends are a system prompt followed by tool results (JSON, logs, code),
2-16 KB each, all generated from the seed.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

from suite.atomicfile import write_atomic
from suite.errors import DiskFull
from workloads.tools.bpe import prose

VOCAB_SIZE = 32_000
CORPUS_WORDS = 250_000  # ~2 MB of training text: enough distinct pairs for 32k merges
LEXICON = 30_000
PROMPT_BYTES = (2048, 16384)
# Bump when the corpus, the training settings or the prompts change.
CACHE_VERSION = 2
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "tokenizer"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
SYLLABLES = ("ka", "to", "ri", "ne", "mo", "sa", "lu", "pe", "di", "an", "er", "in", "th", "st",
             "ou", "re", "ch", "al", "en", "or", "qu", "io", "ex", "un", "de", "tion", "ing", "ly")
TOOLS = ("search", "read_file", "run_python", "sql", "fetch_url", "list_dir")


class TokenizerUnavailable(RuntimeError):
    """The `tokenizers` library is missing or the tokenizer cannot be built."""


def _lexicon(rng: random.Random) -> list:
    words = set()
    while len(words) < LEXICON:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 5))))
    return sorted(words)


def _tool_result(rng: random.Random, lexicon: list) -> str:
    kind = rng.randrange(3)
    if kind == 0:  # a JSON API answer
        rows = [{"id": rng.randint(1, 10**6), "name": rng.choice(lexicon),
                 "score": round(rng.random(), 4), "tags": rng.sample(lexicon, 3)}
                for _ in range(rng.randint(3, 12))]
        body = json.dumps({"status": "ok", "results": rows}, indent=1)
    elif kind == 1:  # log lines
        body = "\n".join(f"2026-11-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:"
                         f"{rng.randint(0, 59):02d} {rng.choice(('INFO', 'WARN', 'ERROR'))} "
                         f"{prose(rng, rng.randint(5, 15), lexicon)}"
                         for _ in range(rng.randint(5, 20)))
    else:  # code
        body = "\n".join(f"def {rng.choice(lexicon)}_{i}(x, y={rng.randint(0, 9)}):\n"
                         f"    return x.{rng.choice(lexicon)}(y) + {rng.randint(0, 999)}"
                         for i in range(rng.randint(3, 10)))
    return f'<tool_result tool="{rng.choice(TOOLS)}">\n{body}\n</tool_result>'


def corpus(seed: int) -> str:
    rng = random.Random(seed)
    lexicon = _lexicon(rng)
    parts = [prose(rng, 2000, lexicon) for _ in range(CORPUS_WORDS // 2000)]
    parts += [_tool_result(rng, lexicon) for _ in range(300)]
    return "\n".join(parts)


def prompts(seed: int, count: int) -> list:
    """`count` agent prompts: system prompt + tool results, 2-16 KB each."""
    rng = random.Random(seed + 1)
    lexicon = _lexicon(random.Random(seed))
    system = "You are a coding agent. " + prose(rng, 180, lexicon)
    out = []
    for _ in range(count):
        target = rng.randint(*PROMPT_BYTES)
        text = system
        while len(text.encode()) < target:
            text += "\n" + _tool_result(rng, lexicon)
        out.append(text.encode()[:target].decode("utf-8", "ignore"))
    return out


def cached_prompts(seed: int, count: int, cache_dir: Path | None = None) -> list:
    """prompts(seed, count), kept beside the seed's tokenizer: making them
    (a 30k-word lexicon first) costs tenths of a second in every child. A
    file that does not load, or was made for other settings, is made again."""
    where = (cache_dir or DEFAULT_CACHE_DIR) / f"seed-{seed}"
    path = where / f"prompts-{count}.json"
    try:
        kept = json.loads(path.read_text())
        if kept.get("settings") == _settings() and len(kept.get("prompts", ())) == count \
                and all(isinstance(p, str) for p in kept["prompts"]):
            return kept["prompts"]
    except (OSError, ValueError, AttributeError):
        pass
    made = prompts(seed, count)
    try:
        where.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"settings": _settings(), "prompts": made}))
    except (OSError, DiskFull):
        pass  # a read-only checkout or a full disk: made again next time
    return made


def _settings() -> dict:
    return {"cache_version": CACHE_VERSION, "vocab_size": VOCAB_SIZE,
            "corpus_words": CORPUS_WORDS, "lexicon": LEXICON}


@dataclass(frozen=True)
class CachedTokenizer:
    tokenizer: object  # tokenizers.Tokenizer
    path: Path
    reused: bool
    build_s: float  # seconds the corpus and training took (0.0 when reused)
    vocab_size: int


def _import():
    try:
        import tokenizers
    except ImportError as exc:
        raise TokenizerUnavailable(f"Hugging Face tokenizers is not installed ({exc}); "
                                   "pip install tokenizers") from None
    return tokenizers


def train(seed: int):
    """A byte-level BPE trained on `corpus(seed)`, vocabulary VOCAB_SIZE."""
    tk = _import()
    tok = tk.Tokenizer(tk.models.BPE())
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(vocab_size=VOCAB_SIZE, show_progress=False,
                                     initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(seed).split("\n"), trainer=trainer)
    return tok


def ensure_tokenizer(seed: int, cache_dir: Path | None = None) -> CachedTokenizer:
    """The seed's tokenizer, from the cache when it is whole, else trained and
    cached (under a lock: two processes never train one seed at once)."""
    import time

    tk = _import()
    where = (cache_dir or DEFAULT_CACHE_DIR) / f"seed-{seed}"
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TokenizerUnavailable(f"cannot create the tokenizer cache {where}: {exc}") from None
    path, manifest = where / TOKENIZER_FILE, where / MANIFEST_FILE
    with open(where / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            meta = json.loads(manifest.read_text())
            if meta.get("settings") == _settings() and meta.get("sha256") == _sha256(path):
                tok = tk.Tokenizer.from_file(str(path))
                return CachedTokenizer(tok, path, True, 0.0, tok.get_vocab_size())
        except Exception:  # noqa: BLE001 - a corrupt file raises the library's own error
            pass  # missing, stale or corrupt: rebuilt below
        t0 = time.perf_counter()
        tok = train(seed)
        build_s = time.perf_counter() - t0
        tmp = path.with_suffix(".tmp")
        tok.save(str(tmp))
        os.replace(tmp, path)
        manifest.write_text(json.dumps({"settings": _settings(), "seed": seed,
                                        "sha256": _sha256(path), "build_s": round(build_s, 3)}))
        return CachedTokenizer(tok, path, False, build_s, tok.get_vocab_size())


def _byte_level_chars() -> dict:
    """GPT-2's byte-level alphabet: {printable stand-in character: byte}."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1),
                 *range(ord("\u00ae"), ord("\u00ff") + 1)]
    chars, extra = dict(zip(map(chr, printable), printable)), 0
    for b in range(256):
        if b not in printable:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def python_merges(tok) -> list:
    """The merges of a byte-level BPE `tok` in the pure-Python encoder's
    form (workloads.tools.bpe): [(left, right)], where ids 0-255 are bytes
    and merge k makes id 256 + k. The same vocabulary on both sides."""
    ids = _byte_level_chars()
    merges = []
    for k, pair in enumerate(json.loads(tok.to_str())["model"]["merges"]):
        left, right = pair.split(" ", 1) if isinstance(pair, str) else pair
        merges.append((ids[left], ids[right]))
        ids.setdefault(left + right, 256 + k)
    return merges


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
