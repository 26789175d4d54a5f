"""compile.linux: build the Linux kernel from Debian's linux-source package.

What Phoronix's build-linux-kernel measures: the tree gets an untimed
`make defconfig`, then `make -j{jobs}` (jobs = cores) is timed, with
`make clean` between runs. The package's tarball
(/usr/src/linux-source-6.1.tar.xz on Debian 12) is extracted once into
.cache/linux-source/, keyed by the tarball's name, size and mtime, so a
reinstalled or upgraded package is extracted afresh. Full profile only.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from suite.model import ErrorRecord, Outcome
from workloads.compile.source import build_tree
from workloads.compile.toolchain import find_compiler

SOURCE_GLOB = "/usr/src/linux-source-*.tar.xz"
CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "linux-source"
INSTALL_HINT = "apt-get install linux-source-6.1 (Debian 12; linux-source on later releases)"
BUILD_COMMAND = "make -j{jobs}"
PRODUCT = "vmlinux"  # a build that exits 0 without it is not counted
# One build takes tens of minutes on a small machine: three give a median
# without the full profile's ten-run minimum turning this into a day.
RUNS = 3
# What a defconfig build needs beyond a C compiler (Debian package names).
BUILD_TOOLS = {"make": "make", "flex": "flex", "bison": "bison", "bc": "bc", "perl": "perl"}
BUILD_HEADERS = {"gelf.h": "libelf-dev", "openssl/ssl.h": "libssl-dev"}
HEADER_DIRS = ("/usr/include", "/usr/local/include")


def _version_key(path: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", path)]


def find_tarball() -> str | None:
    """The newest linux-source tarball installed, or None."""
    found = sorted(glob.glob(SOURCE_GLOB), key=_version_key)
    return found[-1] if found else None


def missing_build_deps() -> list:
    """Debian packages a kernel build needs that are not installed."""
    missing = [pkg for tool, pkg in BUILD_TOOLS.items() if not shutil.which(tool)]
    for header, pkg in BUILD_HEADERS.items():
        if not any(os.path.exists(os.path.join(d, header)) for d in HEADER_DIRS):
            missing.append(pkg)
    return missing


def extracted_tree(tarball: str, cache_dir: Path = CACHE_DIR) -> Path:
    """The tarball's tree under `cache_dir`, extracted on first use.

    Extraction goes to a scratch directory renamed into place when complete,
    so an interrupted or concurrent extraction never leaves a partial tree
    that a later run would build.
    """
    st = os.stat(tarball)
    name = os.path.basename(tarball).split(".tar")[0]
    target = cache_dir / f"{name}-{st.st_size}-{st.st_mtime_ns}"
    if not target.is_dir():
        cache_dir.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=".extract-", dir=cache_dir)
        try:
            subprocess.run(["tar", "-xf", tarball, "-C", scratch], check=True,
                           capture_output=True, timeout=3600)
            try:
                os.rename(scratch, target)
            except OSError:
                if not target.is_dir():  # not just another run that finished first
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    tops = [p for p in target.iterdir() if p.is_dir()]
    # The package's tarball holds one top directory (linux-source-6.1/).
    return tops[0] if len(tops) == 1 else target


def kernel_version(tree: Path) -> str | None:
    """VERSION.PATCHLEVEL.SUBLEVEL[EXTRAVERSION] from the top Makefile."""
    fields = {}
    try:
        head = (tree / "Makefile").read_text(errors="replace").splitlines()[:20]
    except OSError:
        return None
    for line in head:
        m = re.match(r"(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=\s*(\S*)", line)
        if m:
            fields[m.group(1)] = m.group(2)
    if "VERSION" not in fields:
        return None
    version = ".".join(fields[k] for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL") if fields.get(k))
    return version + fields.get("EXTRAVERSION", "")


def run_linux(job) -> Outcome:
    params = dict(job.params)

    def skipped(why: str) -> Outcome:
        return Outcome(errors=(ErrorRecord(job.benchmark, params, "skipped", why),))

    tarball = find_tarball()
    if tarball is None:
        return skipped(f"no Linux source tarball ({SOURCE_GLOB}); install it with: {INSTALL_HINT}")
    compiler = find_compiler(("gcc",))
    missing = missing_build_deps() + ([] if compiler else ["gcc"])
    if missing:
        return skipped(f"a kernel build needs {', '.join(missing)}; install with: "
                       f"apt-get install {' '.join(missing)}")
    if not job.settings.get("build", True):
        return skipped(f"prerequisites present ({os.path.basename(tarball)}, {compiler.name}, "
                       "make, flex, bison, bc, perl, headers); the build itself runs in the full "
                       "profile only (tens of minutes)")
    tree = extracted_tree(tarball)
    info = {"tarball": tarball, "kernel_version": kernel_version(tree), "jobs": params["jobs"],
            "compiler": compiler.info([]), "config": "defconfig"}
    return build_tree(job, str(tree), BUILD_COMMAND.format(jobs=params["jobs"]),
                      min_runs=RUNS, max_runs=RUNS, product=PRODUCT, info=info)
