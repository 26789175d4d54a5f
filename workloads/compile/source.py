"""compile.source: a real source tree the user names (--source DIR --build CMD).

The tree is copied into a sandbox work dir (untimed), prepared once
(untimed: `make defconfig` for a Linux kernel tree), then built with the
build command, `make clean` between runs, as Phoronix's
build-linux-kernel does. `build_tree` is shared with compile.linux.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from suite.model import ErrorRecord, Outcome, measurement
from suite.options import DEFAULTS
from suite.sampling import repeat_until_stable
from workloads.sandbox import Limits, for_agent_code
from workloads.sandbox.tempdir import temp_dir

# A real build runs long, links big binaries and starts many processes; a
# kernel build at -j176 needs tens of GiB and its tree lives on disk.
SOURCE_LIMITS = Limits(cpu_s=3600, address_space_bytes=16 << 30, file_size_bytes=8 << 30, nproc=8192,
                       open_files=65536, memory_bytes=None, workdir_bytes=None)


def _has(tree: str, name: str) -> bool:
    return os.path.exists(os.path.join(tree, name))


def _give_to(tree: str, uid: int, gid: int) -> None:
    """The sandbox's own uid (when started as root) must write its copy."""
    for root, dirs, files in os.walk(tree):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), uid, gid)
    os.lchown(tree, uid, gid)


def build_tree(job, source: str, command: str, *, min_runs: int, max_runs: int,
               product: str | None = None, info: dict | None = None) -> Outcome:
    """Copy `source` into a sandbox, prepare it, time `command` `min_runs`
    to `max_runs` times (`make clean` in between). A build counts as valid when
    it exits 0 and, if `product` is named, leaves that file in the tree."""
    params = dict(job.params)
    # On disk: a kernel tree and its objects are gigabytes.
    sandbox = for_agent_code(job.options, limits=SOURCE_LIMITS, timeout_s=job.timeout, workdir_parent=temp_dir())
    failures: list = []
    with sandbox.session() as s:
        tree = os.path.join(s.path, "tree")
        shutil.copytree(source, tree, symlinks=True)
        if s.owner:
            _give_to(tree, *s.owner)
        if _has(tree, "Kconfig") and _has(tree, "Makefile"):  # a Linux kernel tree
            prep = s.run(["sh", "-c", "cd tree && make defconfig >/dev/null"])
            if not prep.ok:
                return Outcome(errors=(ErrorRecord(job.benchmark, params, "error",
                                                   f"make defconfig failed: {prep.stderr[-300:]!r}"),))

        def one_build() -> float:
            res = s.run(["sh", "-c", f"cd tree && {command}"])
            if not res.ok:
                failures.append(f"exit {res.returncode}: {res.stderr.decode(errors='replace')[-300:]}")
            elif product and not _has(tree, product):
                failures.append(f"exit 0 but no {product} was built")
            if _has(tree, "Makefile"):
                s.run(["sh", "-c", "cd tree && make clean >/dev/null 2>&1"])
            return res.wall_s

        samples = repeat_until_stable(one_build, job.profile, warmup=0, min_runs=min_runs,
                                      max_runs=max_runs)
    info = {"source": source, "build": command, "backend": sandbox.backend, "workdir_parent": sandbox.workdir_parent,
            "sandbox_warning": sandbox.warning, **(info or {})}
    valid = not failures
    errors = () if valid else (ErrorRecord(job.benchmark, params, "invalid",
                                           f"{len(failures)} build(s) failed; first: {failures[0]}"),)
    record = measurement(job.benchmark, params, "wall", "s", samples, higher_is_better=False,
                         validated=valid, info=info)
    return Outcome(records=(record,), errors=errors)


# The tree built when the run names none (the smoke profile): the tiny
# generated C corpus and a Makefile linking its test program.
GENERATED_MAKEFILE = b"""OBJS = $(patsubst %.c,%.o,$(wildcard *.c))
corpus-test: $(OBJS)
\t$(CC) -O2 -o $@ $(OBJS)
%.o: %.c
\t$(CC) -O2 -c -o $@ $<
clean:
\trm -f $(OBJS) corpus-test
"""
GENERATED_PRODUCT = "corpus-test"


def write_generated_tree(directory: str, seed: int) -> None:
    from workloads.compile.corpus import generate

    for name, data in {**generate("tiny", seed).files, "Makefile": GENERATED_MAKEFILE}.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


def run_source(job) -> Outcome:
    command = job.options.build.format(jobs=job.params["jobs"])
    if job.options.source:
        return build_tree(job, job.options.source, command, min_runs=1, max_runs=job.profile.min_runs)
    with tempfile.TemporaryDirectory(prefix="factorybench-tree-") as tree:
        write_generated_tree(tree, job.options.seed)
        return build_tree(job, tree, DEFAULTS.build.format(jobs=job.params["jobs"]), min_runs=1,
                          max_runs=job.profile.min_runs, product=GENERATED_PRODUCT,
                          info={"tree": "generated: the tiny C corpus and a Makefile"})
