"""A deterministic, seeded generator of Java projects for compile.java.

The corpus is packages of classes (`pNN/CNN.java`); each class has a few
static methods from templates with an exact Python mirror and calls into
the previous class of its package, so the classes of a package compile
together and apart from every other package. `Main.java` mixes every
package's checksum; its expected output is known without a JVM.

The same (size, seed) gives the same bytes on every machine; `sha256`
goes into the results.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from workloads.compile.corpus import files_sha256, switch_mirror

M32 = 0xFFFFFFFF
# (packages, classes per package, methods per class) per corpus size.
SIZES = {"tiny": (2, 3, 2), "quick": (10, 10, 2), "small": (20, 10, 3), "medium": (60, 16, 4),
         "large": (160, 24, 6)}


def _s32(v: int) -> int:
    """Java's int view of a 32-bit pattern (for constants in the source)."""
    v &= M32
    return v - (1 << 32) if v & 0x80000000 else v


def _rotl(v: int, s: int) -> int:
    return ((v << s) | (v >> (32 - s))) & M32


# -- method templates: (Java source, Python mirror) --------------------------

def _mix(rng: random.Random, name: str):
    a, b, s, n = rng.randrange(3, 1 << 20) | 1, rng.randrange(1 << 16), rng.randrange(1, 31), rng.randrange(8, 40)
    src = (f"    static int {name}(int x) {{\n"
           f"        for (int i = 0; i < {n}; i++) {{\n"
           f"            x = Integer.rotateLeft(x * {a} + {b}, {s});\n"
           f"            if ((x & 1) != 0) x ^= x >>> {s}; else x += i;\n"
           f"        }}\n        return x;\n    }}\n")

    def py(x: int) -> int:
        for i in range(n):
            x = _rotl((x * a + b) & M32, s)
            x = x ^ (x >> s) if x & 1 else (x + i) & M32
        return x
    return src, py


def _text(rng: random.Random, name: str):
    label = "".join(rng.choice("abcdefghij") for _ in range(6))
    src = (f"    static int {name}(int x) {{\n"
           f"        String t = \"{label}:\" + Integer.toUnsignedString(x);\n"
           f"        int h = 0x811c9dc5;\n"
           f"        for (int i = 0; i < t.length(); i++) h = (h ^ t.charAt(i)) * 16777619;\n"
           f"        return h + t.length();\n    }}\n")

    def py(x: int) -> int:
        t = f"{label}:{x}"
        h = 2166136261
        for ch in t:
            h = ((h ^ ord(ch)) * 16777619) & M32
        return (h + len(t)) & M32
    return src, py


def _switch(rng: random.Random, name: str):
    n, k0, k1 = rng.randrange(8, 32), rng.randrange(1 << 24), rng.randrange(1, 1 << 10)
    src = (f"    static int {name}(int x) {{\n"
           f"        int acc = x;\n"
           f"        for (int i = 0; i < {n}; i++) {{\n"
           f"            switch (Integer.remainderUnsigned(acc + i, 5)) {{\n"
           f"                case 0: acc += {k0}; break;\n"
           f"                case 1: acc ^= acc << 3; break;\n"
           f"                case 2: acc = Integer.rotateRight(acc, 1); break;\n"
           f"                case 3: acc -= i * {k1}; break;\n"
           f"                default: acc *= {_s32(2654435761)}; break;\n"
           f"            }}\n        }}\n        return acc;\n    }}\n")

    return src, lambda x: switch_mirror(x, n, k0, k1)


def _records(rng: random.Random, name: str):
    r, k, t = rng.randrange(4, 16), rng.randrange(1, 1 << 16), rng.randrange(256)
    src = (f"    static int {name}(int x) {{\n"
           f"        java.util.ArrayList<int[]> recs = new java.util.ArrayList<>();\n"
           f"        for (int i = 0; i < {r}; i++) recs.add(new int[] {{x + i * {k}, (x + i * {k}) >>> 24}});\n"
           f"        int acc = 0;\n"
           f"        for (int[] rec : recs) acc = rec[1] > {t} ? acc + rec[0] : acc ^ rec[1] * 31;\n"
           f"        return acc;\n    }}\n")

    def py(x: int) -> int:
        acc = 0
        for i in range(r):
            rid = (x + i * k) & M32
            weight = rid >> 24
            acc = (acc + rid) & M32 if weight > t else acc ^ (weight * 31)
        return acc
    return src, py


TEMPLATES = (_mix, _text, _switch, _records)


@dataclass(frozen=True)
class JavaCorpus:
    size: str
    seed: int
    files: dict  # relative path -> bytes
    packages: tuple  # package names; each compiles on its own
    classes: int  # class files the build produces
    checksum: Callable[[int], int] = field(repr=False, compare=False)

    @property
    def sha256(self) -> str:
        return files_sha256(self.files)

    def sources(self, package: str) -> list:
        return sorted(p for p in self.files if p.startswith(package + "/"))

    def expected_output(self) -> bytes:
        return b"checksum %08x\n" % self.checksum(self.seed)


def _class(rng: random.Random, package: str, index: int, methods: int):
    name = f"C{index:02d}"
    bodies, mirrors = [], []
    for j in range(methods):
        src, py = rng.choice(TEMPLATES)(rng, f"m{j}")
        bodies.append(src)
        mirrors.append(py)
    calls = "".join(f"        x = m{j}(x);\n" for j in range(methods))
    dep = f"        x ^= C{index - 1:02d}.m0(x);\n" if index else ""
    source = (f"package {package};\n\npublic final class {name} {{\n" + "\n".join(bodies)
              + f"\n    public static int checksum(int x) {{\n{calls}{dep}        return x;\n    }}\n}}\n")
    return f"{package}/{name}.java", source.encode(), mirrors


def generate(size: str = "small", seed: int = 1) -> JavaCorpus:
    if size not in SIZES:
        raise ValueError(f"unknown corpus size {size!r}; accepted: {', '.join(SIZES)}")
    n_packages, n_classes, n_methods = SIZES[size]
    rng = random.Random(f"factorybench-java-corpus:{size}:{seed}")
    files, packages, mirrors = {}, [], []
    for p in range(n_packages):
        package = f"p{p:03d}"
        packages.append(package)
        classes = []
        for c in range(n_classes):
            path, source, fns = _class(rng, package, c, n_methods)
            files[path] = source
            classes.append(fns)
        mirrors.append(classes)
    mixes = "".join(f"        total = total * 31 + {p}.C{n_classes - 1:02d}.checksum(seed + {i});\n"
                    for i, p in enumerate(packages))
    files["Main.java"] = (f"public class Main {{\n    public static void main(String[] args) {{\n"
                          f"        int seed = Integer.parseInt(args[0]);\n        int total = 0;\n{mixes}"
                          f"        System.out.println(String.format(\"checksum %08x\", total));\n"
                          f"    }}\n}}\n").encode()

    def class_checksum(classes: list, index: int, x: int) -> int:
        for f in classes[index]:
            x = f(x)
        if index:
            x ^= classes[index - 1][0](x)
        return x

    def checksum(seed_arg: int) -> int:
        total = 0
        for i, classes in enumerate(mirrors):
            total = (total * 31 + class_checksum(classes, n_classes - 1, (seed_arg + i) & M32)) & M32
        return total

    return JavaCorpus(size, seed, files, tuple(packages), n_packages * n_classes + 1, checksum)
