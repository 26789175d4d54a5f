"""Tool: run a snippet of agent-written Python and capture what it prints.

Through the sandboxed model this is the cold path: a fresh, isolated
interpreter per snippet. Standard library only: this module's source is
shipped into that interpreter and run there.
"""
import contextlib
import io
import random

SNIPPET = '''\
import json, math, statistics
values = [((i * {mult}) % 1009) / 7.0 for i in range({n})]
primes = [k for k in range(2, {limit}) if all(k % p for p in range(2, math.isqrt(k) + 1))]
words = sorted({{"w" + str((i * i) % {mod}) for i in range(500)}})
print(json.dumps({{
    "mean": round(statistics.fmean(values), 6),
    "stdev": round(statistics.pstdev(values), 6),
    "primes": len(primes), "last_primes": primes[-3:],
    "distinct": len(words), "first": words[:3],
}}, sort_keys=True))
'''


def make_input(seed):
    rng = random.Random(seed)
    return SNIPPET.format(mult=rng.randrange(101, 9973, 2), n=rng.randint(3000, 5000),
                          limit=rng.randint(3000, 5000), mod=rng.randint(50, 400))


def run(snippet):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "<snippet>", "exec"), {"__name__": "__snippet__"})
    return out.getvalue().encode()
