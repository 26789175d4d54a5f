"""Tool: regular-expression search over a generated document corpus, top hits.

Standard library only: this module's source is also shipped into a
sandboxed interpreter and run there.
"""
import json
import random
import re

DOCUMENTS = 120
WORDS_PER_DOCUMENT = 180
TOP_HITS = 10
VOCABULARY = (
    "agent tool call latency error warning timeout retry cache memory bandwidth "
    "socket core thread queue worker request response token prompt model index "
    "table query join group sort filter server client session state value"
).split()
PATTERNS = (
    r"\b(?:error|warning|timeout)\b",
    r"\b\w+@\w+\.(?:org|com)\b",
    r"\b\d{3,}\b",
    r"\bre\w*y\b",
    r"(?i)\bsession[-_ ]?\d+\b",
    r"\b(\w+) \1\b",
)


def make_input(seed):
    rng = random.Random(seed)
    docs = []
    for d in range(DOCUMENTS):
        words = []
        for _ in range(WORDS_PER_DOCUMENT):
            r = rng.random()
            if r < 0.03:
                words.append(f"user{rng.randint(0, 99)}@host{rng.randint(0, 9)}.org")
            elif r < 0.08:
                words.append(str(rng.randint(0, 99999)))
            elif r < 0.10:
                words.append(f"Session-{rng.randint(0, 999)}")
            else:
                words.append(rng.choice(VOCABULARY))
        docs.append(" ".join(words))
    return {"documents": docs, "patterns": list(PATTERNS)}


def run(payload):
    docs = payload["documents"]
    results = {}
    for pattern in payload["patterns"]:
        rx = re.compile(pattern)
        scored = []
        for i, doc in enumerate(docs):
            n = sum(1 for _ in rx.finditer(doc))
            if n:
                scored.append((n, i))
        scored.sort(key=lambda t: (-t[0], t[1]))
        results[pattern] = [[i, n] for n, i in scored[:TOP_HITS]]
    return json.dumps(results, sort_keys=True).encode()
