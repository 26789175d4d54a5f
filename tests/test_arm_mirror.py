"""The emulated run's Debian mirror comes from the host's apt sources
(tests/arm/apt_mirror.py): deb822 .sources, one-line sources.list, both,
neither."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "arm" / "apt_mirror.py"

DEB822 = """\
Types: deb
# a comment between fields
URIs: http://deb822.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb822.example/debian-security
Suites: bookworm-security
Components: main
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/a b.gpg] http://oneline.example/debian/ bookworm main contrib
deb http://oneline.example/debian-security bookworm-security main
"""


def etc_apt(tmp_path: Path, sources_list: str | None = None, **parts: str) -> Path:
    """An /etc/apt tree: sources.list and sources.list.d/<name> files."""
    root = tmp_path / "apt"
    (root / "sources.list.d").mkdir(parents=True)
    if sources_list is not None:
        (root / "sources.list").write_text(sources_list)
    for name, text in parts.items():
        (root / "sources.list.d" / name.replace("_", ".")).write_text(text)
    return root


def lookup(root: Path, suite: str = "bookworm") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), suite, "--etc-apt", str(root)],
                          capture_output=True, text=True, timeout=30)


def test_deb822_sources_file(tmp_path):
    done = lookup(etc_apt(tmp_path, debian_sources=DEB822))
    assert (done.returncode, done.stdout, done.stderr) == (0, "http://deb822.example/debian\n", "")


def test_deb822_security_suite_is_its_own_entry(tmp_path):
    done = lookup(etc_apt(tmp_path, debian_sources=DEB822), "bookworm-security")
    assert done.stdout == "http://deb822.example/debian-security\n"


def test_one_line_sources_list(tmp_path):
    """Comments and deb-src lines are passed over; bracketed options may hold spaces."""
    done = lookup(etc_apt(tmp_path, ONE_LINE))
    assert (done.returncode, done.stdout) == (0, "http://oneline.example/debian\n")


def test_both_takes_apts_order_sources_list_first(tmp_path):
    done = lookup(etc_apt(tmp_path, ONE_LINE, debian_sources=DEB822))
    assert done.stdout == "http://oneline.example/debian\n"


def test_sources_list_without_the_suite_falls_through_to_deb822(tmp_path):
    other = "deb http://oneline.example/debian trixie main\n"
    done = lookup(etc_apt(tmp_path, other, debian_sources=DEB822))
    assert done.stdout == "http://deb822.example/debian\n"


def test_disabled_and_unusable_entries_are_passed_over(tmp_path):
    disabled = "Enabled: no\n" + DEB822
    root = etc_apt(tmp_path, "deb mirror+file:/etc/apt/mirrors.txt bookworm main\n",
                   a_sources=disabled, b_list="deb http://b.example/debian bookworm main\n",
                   c_list_disabled="deb http://never.example/debian bookworm main\n")
    assert lookup(root).stdout == "http://b.example/debian\n"


@pytest.mark.parametrize("content", [
    {},                                                                     # no sources at all
    {"sources_list": "deb http://oneline.example/ubuntu jammy main\n"},    # another distribution
    {"debian_sources": DEB822.replace("bookworm", "trixie")},              # another suite only
])
def test_neither_refuses_in_one_line_naming_the_override(tmp_path, content):
    sources_list = content.pop("sources_list", None)
    done = lookup(etc_apt(tmp_path, sources_list, **content))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert "FACTORYBENCH_ARM_MIRROR" in done.stderr and "bookworm" in done.stderr


def test_the_repository_names_no_mirror_host():
    """Mirrors come from the user's apt configuration, never from the code."""
    pattern = re.compile(r"[a-z0-9.-]+\." + r"(debian\.org|ubuntu\.com|debian\.net)", re.I)
    try:
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("git not installed")
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    offenders = []
    for name in filter(None, tracked.stdout.split("\0")):
        path = ROOT / name
        if path.is_file() and not path.is_symlink():
            if pattern.search(path.read_text(errors="replace")):
                offenders.append(name)
    assert offenders == []
