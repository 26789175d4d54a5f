"""The host's Debian mirror for a suite, read from its apt sources.

    python3 tests/arm/apt_mirror.py SUITE [--etc-apt DIR]

prints the URI of the first enabled `deb` entry whose suite is exactly SUITE,
in apt's own order: /etc/apt/sources.list, then /etc/apt/sources.list.d/
files (one-line `*.list` and deb822 `*.sources`) sorted by name. With none it
prints one line naming FACTORYBENCH_ARM_MIRROR and exits 2.

Standard library only: tests/arm/run.sh calls it on the host before any
virtual environment exists.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator

# debootstrap fetches over these; apt-only transports (mirror+, tor+, cdrom:) are not usable.
USABLE_SCHEMES = ("http://", "https://", "ftp://", "file:")


def one_line_entries(text: str) -> Iterator[tuple[str, str]]:
    """(uri, suite) of each `deb` line of a one-line sources.list."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        rest = line[4:].strip()
        if rest.startswith("["):  # [arch=amd64 signed-by=...] options may hold spaces
            rest = rest.partition("]")[2]
        words = rest.split()
        if len(words) >= 2:
            yield words[0], words[1]


def deb822_stanzas(text: str) -> Iterator[dict]:
    """Field dicts of a deb822 file; continuation lines join their field."""
    fields: dict = {}
    last = None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, None
        elif line[0] in " \t" and last:
            fields[last] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip().lower()
            fields[last] = value.strip()


def deb822_entries(text: str) -> Iterator[tuple[str, str]]:
    """(uri, suite) pairs of each enabled `deb` stanza of a .sources file."""
    for fields in deb822_stanzas(text):
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield uri, suite


def source_entries(etc_apt: Path) -> Iterator[tuple[str, str]]:
    """Every (uri, suite) apt would use, in apt's reading order."""
    main_list = etc_apt / "sources.list"
    if main_list.is_file():
        yield from one_line_entries(main_list.read_text(errors="replace"))
    parts = etc_apt / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list" and path.is_file():
                yield from one_line_entries(path.read_text(errors="replace"))
            elif path.suffix == ".sources" and path.is_file():
                yield from deb822_entries(path.read_text(errors="replace"))


def mirror_for(suite: str, etc_apt: Path) -> str | None:
    """The first usable URI whose suite is exactly `suite` (so not -security or -updates)."""
    for uri, entry_suite in source_entries(etc_apt):
        if entry_suite == suite and uri.startswith(USABLE_SCHEMES):
            return uri.rstrip("/")
    return None


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--etc-apt", type=Path, default=Path("/etc/apt"))
    args = parser.parse_args(argv)
    mirror = mirror_for(args.suite, args.etc_apt)
    if mirror is None:
        print(f"no Debian mirror for suite '{args.suite}' in {args.etc_apt}/sources.list or "
              f"{args.etc_apt}/sources.list.d; set FACTORYBENCH_ARM_MIRROR to a Debian mirror URL",
              file=sys.stderr)
        return 2
    print(mirror)
    return 0


if __name__ == "__main__":
    sys.exit(main())
