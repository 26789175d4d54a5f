"""Tool: a byte-pair-encoding tokenizer over prompt-sized text.

Byte-level BPE as in GPT-2: the text is split into words, each word starts
as its UTF-8 bytes and learned merges are applied lowest rank first. The
merge table is trained here on a seeded corpus (input generation, untimed);
the timed call encodes a prompt and checks that decoding gives it back.

Standard library only: this module's source is also shipped into a
sandboxed interpreter and run there.
"""
import random
import re
from array import array

MERGES = 150
LEXICON = 250  # distinct training words; keeps training (untimed) short
PROMPT_WORDS = 600  # ~3-4 KB of text, a typical prompt chunk
WORD_SPLIT = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+")
SYLLABLES = ("ka", "to", "ri", "ne", "mo", "sa", "lu", "pe", "di", "an", "er", "in",
             "th", "st", "ou", "re", "ch", "al", "en", "or")


def _word(rng):
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4)))


def prose(rng, words, lexicon):
    """`words` words of prompt-like text: mostly `lexicon`, some numbers,
    punctuation and unseen words."""
    parts = []
    for _ in range(words):
        r = rng.random()
        if r < 0.06:
            parts.append(str(rng.randint(0, 9999)))
        elif r < 0.1:
            parts.append(rng.choice((",", ".", ":", "()", "->")))
        elif r < 0.15:
            parts.append(_word(rng))  # a word the merges were not trained on
        else:
            parts.append(rng.choice(lexicon))
    return " ".join(parts)


def _merge(tokens, pair, new_id):
    out, i, n = [], 0, len(tokens)
    while i < n:
        if i + 1 < n and tokens[i] == pair[0] and tokens[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out


def train(corpus, merges):
    """The merge list [(left_id, right_id), ...] learned from `corpus`."""
    counts = {}
    for w in WORD_SPLIT.findall(corpus):
        counts[w] = counts.get(w, 0) + 1
    words = [(list(w.encode()), c) for w, c in counts.items()]
    learned = []
    for k in range(merges):
        pairs = {}
        for tokens, c in words:
            for p in zip(tokens, tokens[1:]):
                pairs[p] = pairs.get(p, 0) + c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))[0]
        learned.append(best)
        words = [(_merge(tokens, best, 256 + k), c) for tokens, c in words]
    return learned


def make_input(seed):
    rng = random.Random(seed)
    lexicon = [_word(rng) for _ in range(LEXICON)]
    merges = train(" ".join(rng.choice(lexicon) for _ in range(800)), MERGES)
    return {"merges": [list(m) for m in merges], "text": prose(rng, PROMPT_WORDS, lexicon)}


def encoder(merges):
    """encode(text) -> ids with the merge ranks built once and a word cache
    kept across calls, as a library tokenizer keeps its BPE cache."""
    ranks = {tuple(p): 256 + k for k, p in enumerate(merges)}
    cache = {}

    def encode_text(text):
        ids = []
        for word in WORD_SPLIT.findall(text):
            toks = cache.get(word)
            if toks is None:
                toks = list(word.encode())
                while len(toks) > 1:
                    best = min(zip(toks, toks[1:]), key=lambda p: ranks.get(p, 1 << 30))
                    new_id = ranks.get(best)
                    if new_id is None:
                        break
                    toks = _merge(toks, best, new_id)
                cache[word] = toks
            ids.extend(toks)
        return ids

    return encode_text


def encode(text, merges):
    """The tool's call: ranks and word cache built for this text alone."""
    return encoder(merges)(text)


def decode(ids, merges):
    vocab = [bytes([i]) for i in range(256)]
    for a, b in merges:
        vocab.append(vocab[a] + vocab[b])
    return b"".join(vocab[i] for i in ids).decode()


def run(payload):
    ids = encode(payload["text"], payload["merges"])
    if decode(ids, payload["merges"]) != payload["text"]:
        raise ValueError("tokenizer round trip lost text")
    return array("I", ids).tobytes()
