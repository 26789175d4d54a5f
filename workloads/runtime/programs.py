"""The small generated program each cold start runs, in Java and in
JavaScript, and the answer it must print (a Python mirror).

Deterministic from the seed: 32-bit FNV-style mixing of generated
constants, printed as `checksum %08x`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

M32 = 0xFFFFFFFF
CONSTANTS = 64
ROUNDS = 200
CLASS = "Main"


@dataclass(frozen=True)
class Program:
    seed: int
    constants: tuple

    def expected_output(self) -> bytes:
        h = 2166136261
        for c in self.constants:
            for r in range(ROUNDS):
                h = ((h ^ (c + r)) * 16777619) & M32
        return b"checksum %08x\n" % h

    def java_source(self) -> bytes:
        consts = ", ".join(str(c) for c in self.constants)
        return (f"public class {CLASS} {{\n"
                f"    static final int[] C = {{{consts}}};\n"
                f"    public static void main(String[] args) {{\n"
                f"        int h = 0x811c9dc5;\n"
                f"        for (int c : C)\n"
                f"            for (int r = 0; r < {ROUNDS}; r++)\n"
                f"                h = (h ^ (c + r)) * 16777619;\n"
                f"        System.out.println(String.format(\"checksum %08x\", h));\n"
                f"    }}\n}}\n").encode()

    def js_source(self) -> bytes:
        consts = ", ".join(str(c) for c in self.constants)
        return (f"const C = [{consts}];\n"
                f"let h = 0x811c9dc5 | 0;\n"
                f"for (const c of C)\n"
                f"  for (let r = 0; r < {ROUNDS}; r++)\n"
                f"    h = Math.imul(h ^ (c + r), 16777619);\n"
                f"console.log('checksum ' + (h >>> 0).toString(16).padStart(8, '0'));\n").encode()


def generate(seed: int) -> Program:
    rng = random.Random(f"factorybench-runtime-start:{seed}")
    return Program(seed, tuple(rng.randrange(1 << 24) for _ in range(CONSTANTS)))
