"""A deterministic, seeded generator of C projects shaped like agent-written code.

A project is a set of modules (`mod_NNN.h` + `mod_NNN.c`) with structs,
functions with loops, branches, switch statements and string handling, a
shared `common.h`, and a test `main.c` that prints a checksum. Each
function comes from one of a few templates that have an exact Python
mirror, so the expected checksum is known without running a compiler and
every test binary's answer can be checked.

The same (size, seed) gives the same bytes on every machine; `Corpus.sha256`
goes into the results so runs can be matched.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Callable

M32 = 0xFFFFFFFF
# (modules, functions per module) per corpus size.
SIZES = {"tiny": (2, 3), "small": (4, 6), "medium": (48, 10), "large": (192, 16)}
WORDS = ("alpha", "parse", "token", "queue", "retry", "cache", "route", "batch",
         "shard", "frame", "agent", "patch", "delta", "index", "lexer", "graph")


def _rotl(v: int, s: int) -> int:
    return ((v << s) | (v >> (32 - s))) & M32


def _fnv_upper(text: str) -> int:
    h = 2166136261
    for ch in text.encode():
        if ord("a") <= ch <= ord("z"):
            ch -= 32
        h = ((h ^ ch) * 16777619) & M32
    return h


# -- function templates: (C source, Python mirror) --------------------------

def _mix(rng: random.Random, name: str, module: str):
    a, b, c = rng.randrange(3, 1 << 20) | 1, rng.randrange(1 << 16), rng.randrange(1 << 12)
    s, n, m = rng.randrange(1, 31), rng.randrange(16, 64), rng.randrange(1, 1 << 8)
    src = f"""uint32_t {name}(uint32_t x)
{{
    for (uint32_t i = 0; i < {n}u; i++) {{
        x = fb_rotl(x * {a}u + {b}u, {s});
        if (x & {m}u)
            x ^= x >> {s};
        else
            x += {c}u + i;
    }}
    return x;
}}
"""

    def py(x: int) -> int:
        for i in range(n):
            x = _rotl((x * a + b) & M32, s)
            x = x ^ (x >> s) if x & m else (x + c + i) & M32
        return x
    return src, py


def _text(rng: random.Random, name: str, module: str):
    label, k = rng.choice(WORDS) + str(rng.randrange(100)), rng.randrange(1 << 32)
    src = f"""uint32_t {name}(uint32_t x)
{{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%s:%u:%x", "{label}", (unsigned)x, (unsigned)(x ^ {k}u));
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++) {{
        unsigned char c = (unsigned char)buf[i];
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 'a' + 'A');
        h = (h ^ c) * 16777619u;
    }}
    return h + (uint32_t)strlen(buf);
}}
"""

    def py(x: int) -> int:
        text = f"{label}:{x}:{x ^ k:x}"
        return (_fnv_upper(text) + len(text)) & M32
    return src, py


def _records(rng: random.Random, name: str, module: str):
    r, k, s, t = rng.randrange(4, 24), rng.randrange(1, 1 << 16), rng.randrange(0, 24), rng.randrange(256)
    src = f"""uint32_t {name}(uint32_t x)
{{
    struct {module}_rec recs[{r}];
    for (int i = 0; i < {r}; i++) {{
        recs[i].id = x + (uint32_t)i * {k}u;
        recs[i].weight = (recs[i].id >> {s}) & 0xffu;
        snprintf(recs[i].tag, sizeof recs[i].tag, "t%d", i % 10);
    }}
    uint32_t acc = 0;
    for (int i = 0; i < {r}; i++) {{
        if (recs[i].weight > {t}u)
            acc += recs[i].id ^ (uint32_t)recs[i].tag[1];
        else
            acc ^= recs[i].weight * 31u;
    }}
    return acc;
}}
"""

    def py(x: int) -> int:
        acc = 0
        for i in range(r):
            rid = (x + i * k) & M32
            weight = (rid >> s) & 0xFF
            if weight > t:
                acc = (acc + (rid ^ ord(str(i % 10)))) & M32
            else:
                acc ^= weight * 31
        return acc
    return src, py


def _switch(rng: random.Random, name: str, module: str):
    n, k0, k1 = rng.randrange(8, 48), rng.randrange(1 << 24), rng.randrange(1, 1 << 10)
    src = f"""uint32_t {name}(uint32_t x)
{{
    uint32_t acc = x;
    for (uint32_t i = 0; i < {n}u; i++) {{
        switch ((acc + i) % 5u) {{
        case 0: acc += {k0}u; break;
        case 1: acc ^= acc << 3; break;
        case 2: acc = (acc >> 1) | (acc << 31); break;
        case 3: acc -= i * {k1}u; break;
        default: acc = acc * 2654435761u; break;
        }}
    }}
    return acc;
}}
"""

    return src, lambda x: switch_mirror(x, n, k0, k1)


def switch_mirror(acc: int, n: int, k0: int, k1: int) -> int:
    """The switch template's answer (also the Java corpus's, workloads.runtime)."""
    for i in range(n):
        sel = ((acc + i) & M32) % 5
        if sel == 0:
            acc = (acc + k0) & M32
        elif sel == 1:
            acc = (acc ^ (acc << 3)) & M32
        elif sel == 2:
            acc = ((acc >> 1) | (acc << 31)) & M32
        elif sel == 3:
            acc = (acc - i * k1) & M32
        else:
            acc = (acc * 2654435761) & M32
    return acc


TEMPLATES = (_mix, _text, _records, _switch)

COMMON_H = b"""#ifndef FB_COMMON_H
#define FB_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline uint32_t fb_rotl(uint32_t v, int s)
{
    return (v << s) | (v >> (32 - s));
}
#endif
"""


def files_sha256(files: dict) -> str:
    """sha256 over every file, in sorted path order, as path NUL bytes NUL."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + files[path] + b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class Corpus:
    size: str
    seed: int
    files: dict  # relative path -> bytes
    units: tuple  # the .c translation units, sorted
    checksum: Callable[[int], int] = field(repr=False, compare=False)  # test case -> expected

    @property
    def sha256(self) -> str:
        return files_sha256(self.files)

    def expected_output(self, case: int) -> bytes:
        return b"checksum %08x\n" % self.checksum(case)

    def with_case(self, case: int) -> dict:
        """The one file an edit-compile-test cycle changes: the test case."""
        return {"case.h": b"#define TEST_CASE %du\n" % case}


def _module(rng: random.Random, index: int, functions: int, previous: str | None):
    module = f"mod_{index:03d}"
    names = [f"{module}_f{j}" for j in range(functions)]
    bodies, mirrors = [], []
    for name in names:
        src, py = rng.choice(TEMPLATES)(rng, name, module)
        bodies.append(src)
        mirrors.append(py)
    header = [f"#ifndef {module.upper()}_H", f"#define {module.upper()}_H", '#include "common.h"', "",
              f"struct {module}_rec {{\n    uint32_t id;\n    uint32_t weight;\n    char tag[16];\n}};", ""]
    header += [f"uint32_t {n}(uint32_t x);" for n in names]
    header += [f"uint32_t {module}_checksum(uint32_t seed);", "#endif", ""]
    calls = "".join(f"    x = {n}(x);\n" for n in names)
    # Modules call into the previous one, as real code depends on its neighbours.
    dep = f"    x ^= {previous}_f0(x);\n" if previous else ""
    include_dep = f'#include "{previous}.h"\n' if previous else ""
    source = (f'#include "{module}.h"\n{include_dep}\n' + "\n".join(bodies)
              + f"\nuint32_t {module}_checksum(uint32_t seed)\n{{\n    uint32_t x = seed;\n{calls}{dep}    return x;\n}}\n")
    return module, "\n".join(header).encode(), source.encode(), mirrors


def generate(size: str = "small", seed: int = 1) -> Corpus:
    if size not in SIZES:
        raise ValueError(f"unknown corpus size {size!r}; accepted: {', '.join(SIZES)}")
    n_modules, functions = SIZES[size]
    rng = random.Random(f"factorybench-corpus:{size}:{seed}")
    files = {"common.h": COMMON_H}
    mirrors: list = []
    previous = None
    for i in range(n_modules):
        module, header, source, fns = _module(rng, i, functions, previous)
        files[f"{module}.h"] = header
        files[f"{module}.c"] = source
        mirrors.append(fns)
        previous = module
    includes = "".join(f'#include "mod_{i:03d}.h"\n' for i in range(n_modules))
    mixes = "".join(f"    total = total * 31u + mod_{i:03d}_checksum(TEST_CASE + {i}u);\n"
                    for i in range(n_modules))
    files["main.c"] = (f'{includes}#include "case.h"\n\nint main(void)\n{{\n    uint32_t total = 0;\n'
                       f'{mixes}    printf("checksum %08x\\n", (unsigned)total);\n    return 0;\n}}\n').encode()
    files["case.h"] = b"#define TEST_CASE %du\n" % seed

    def checksum(case: int) -> int:
        total = 0
        for i, fns in enumerate(mirrors):
            x = (case + i) & M32
            for f in fns:
                x = f(x)
            if i > 0:
                x ^= mirrors[i - 1][0](x)
            total = (total * 31 + x) & M32
        return total

    units = tuple(sorted(p for p in files if p.endswith(".c")))
    return Corpus(size=size, seed=seed, files=files, units=units, checksum=checksum)
