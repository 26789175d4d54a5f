"""Phoronix Test Suite: runs as a PTS composite.xml that merges with results
of the factorybench test profile, and the figure lines that profile parses.

The profile (integrations/pts/factorybench-<version>/) is the one source of
what PTS calls each figure: its results-definition.xml names the headline
figures it reports (by their headline key) with their descriptions, scales
and proportions, its test-definition.xml the options that make up a
result's Arguments and Description. An exported file repeats exactly what
a PTS run of the profile writes, so PTS puts both in the same graphs.
"""
from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from suite.errors import UserError

# PTS draws every value as a measurement: no emulated run.
MEASUREMENTS = True
PROFILE_DIR = Path(__file__).resolve().parents[2] / "integrations" / "pts" / "factorybench-1.0.0"
_LINE_KEY = re.compile(r"^\[(?P<key>[^\]]+)\]$")
_CATEGORY_MATCH = re.compile(r"^--category (?P<category>\S+) ?$")


class ProfileError(UserError):
    """The PTS profile files are missing or not what this exporter reads."""


@dataclass(frozen=True)
class Figure:
    """One ResultsParser of the profile: a headline figure as a PTS result."""

    key: str          # the headline row key, printed as "[key]"
    description: str  # appended to the result's Description
    scale: str
    proportion: str   # HIB | LIB
    precision: int
    category: str     # the Category option value it is reported under


@dataclass(frozen=True)
class Option:
    identifier: str
    name: str
    prefix: str


@dataclass(frozen=True)
class Profile:
    identifier: str   # "local/factorybench-1.0.0"
    title: str
    app_version: str  # the factorybench version the profile reports
    options: tuple
    figures: tuple

    def figure(self, description: str) -> Figure | None:
        return next((f for f in self.figures if f.description == description), None)


def _text(node, path: str, where: Path) -> str:
    found = node.find(path)
    if found is None or found.text is None:
        raise ProfileError(f"{where}: no {path}")
    return found.text


def _figure(node, where: Path) -> Figure:
    key = _LINE_KEY.match(_text(node, "LineHint", where))
    category = _CATEGORY_MATCH.match(_text(node, "MatchToTestArguments", where))
    if key is None or category is None:
        raise ProfileError(f"{where}: a ResultsParser needs LineHint '[key]' and "
                           "MatchToTestArguments '--category C '")
    return Figure(key["key"], _text(node, "AppendToArgumentsDescription", where),
                  _text(node, "ResultScale", where), _text(node, "ResultProportion", where),
                  int(_text(node, "ResultPrecision", where)), category["category"])


def load_profile(directory: Path = PROFILE_DIR) -> Profile:
    definition, results = directory / "test-definition.xml", directory / "results-definition.xml"
    try:
        test, parsers = ET.parse(definition).getroot(), ET.parse(results).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ProfileError(f"PTS profile {directory}: {exc}") from None
    options = tuple(Option(_text(o, "Identifier", definition), _text(o, "DisplayName", definition),
                           _text(o, "ArgumentPrefix", definition))
                    for o in test.iterfind("TestSettings/Option"))
    figures = tuple(_figure(p, results) for p in parsers.iterfind("ResultsParser"))
    return Profile(f"local/{directory.name}", _text(test, "TestInformation/Title", definition),
                   _text(test, "TestInformation/AppVersion", definition), options, figures)


# -- the run's settings as the profile's option values --------------------------
def _threads_value(doc) -> str:
    threads = doc.run.get("threads")
    if not threads:
        return "sweep"
    if list(threads) == [doc.system.get("logical_cpus")]:
        return "all"
    return ",".join(str(t) for t in threads)


def _array_value(doc) -> str:
    mib = (doc.run.get("options") or {}).get("array_mib")
    return "auto" if mib is None else f"{float(mib):g}"


def option_values(doc, figure: Figure) -> dict:
    """The option values a PTS run of the profile would have used for this
    figure of this run."""
    return {"category": figure.category, "profile": str(doc.run.get("profile")),
            "threads": _threads_value(doc), "array-mib": _array_value(doc)}


def arguments(profile: Profile, values: Mapping) -> tuple:
    """(Arguments, Description) as PTS composes them from the option values."""
    missing = [o.identifier for o in profile.options if o.identifier not in values]
    if missing:
        raise ProfileError(f"PTS profile option(s) {', '.join(missing)} have no value here")
    args = " ".join(o.prefix + values[o.identifier] for o in profile.options)
    description = " - ".join(f"{o.name}: {values[o.identifier]}" for o in profile.options)
    return args.strip(), description


# -- figures --------------------------------------------------------------------
def measured_figures(doc) -> dict:
    """{headline key: row} of the run's measured figures."""
    from suite.headline import MEASURED, headline

    return {row["key"]: row for row in headline(doc) if row["status"] == MEASURED}


def figure_lines(doc) -> str:
    """The lines the profile parses: '[key] value unit' per measured figure."""
    rows = measured_figures(doc).values()
    return "".join(f"[{r['key']}] {r['value']!r} {r['unit']}\n" for r in rows)


def entries(doc, profile: Profile) -> tuple:
    """[(figure, value)] for the profile's figures this run measured, and notes
    on those left out."""
    rows = measured_figures(doc)
    found, notes = [], []
    if str(doc.suite.get("version")) != profile.app_version:
        # A PTS run reports the profile's AppVersion whatever ran; so does this.
        notes.append(f"factorybench {doc.suite.get('version')} made this run; its results "
                     f"carry the profile's AppVersion {profile.app_version}")
    for figure in profile.figures:
        row = rows.get(figure.key)
        if row is None:
            continue  # not measured: no result, never a 0
        if row["unit"] != figure.scale:
            notes.append(f"{figure.description}: unit {row['unit']!r} is not the profile's "
                         f"{figure.scale!r}; left out")
            continue
        found.append((figure, row["value"]))
    return found, notes


# -- composite.xml --------------------------------------------------------------
def _timestamp(iso: str | None) -> str:
    # "2026-11-26T18:32:45Z" -> "2026-11-26 18:32:45", PTS's TimeStamp
    return (iso or "1970-01-01T00:00:00Z").replace("T", " ")[:19]


def _add(parent, tag: str, text: str = "") -> ET.Element:
    node = ET.SubElement(parent, tag)
    node.text = text
    return node


def _system(root, doc, label: str) -> None:
    s = doc.system or {}
    mem = (s.get("memory") or {}).get("total_bytes")
    hardware = [f"Processor: {s.get('model_name') or s.get('arch') or 'unknown'} "
                f"({s.get('physical_cores')} Cores / {s.get('logical_cpus')} Threads)"]
    if mem:
        hardware.append(f"Memory: {mem / 2**30:.0f}GB")
    software = [f"OS: {s.get('os') or 'unknown'}", f"Kernel: {s.get('kernel') or 'unknown'}",
                f"Python: {(s.get('software') or {}).get('python') or 'unknown'}"]
    node = ET.SubElement(root, "System")
    _add(node, "Identifier", label)
    _add(node, "Hardware", ", ".join(hardware))
    _add(node, "Software", ", ".join(software))
    _add(node, "User", "factorybench")
    _add(node, "TimeStamp", _timestamp(doc.run.get("started_at")))
    _add(node, "TestClientVersion", f"factorybench {doc.suite.get('version')}")
    warnings = dict.fromkeys(tuple(s.get("warnings") or ()) + tuple(doc.warnings))
    _add(node, "Notes", "; ".join(warnings))


def convert(docs: Sequence, profile: Profile | None = None) -> tuple:
    """(composite.xml root element, notes): one System per run."""
    from suite.compare import system_labels

    profile = profile or load_profile()
    labels = system_labels(docs)
    root = ET.Element("PhoronixTestSuite")
    generated = ET.SubElement(root, "Generated")
    _add(generated, "Title", f"factorybench: {', '.join(labels)}"[:126])
    _add(generated, "LastModified", max(_timestamp(d.run.get("finished_at") or d.run.get("started_at"))
                                        for d in docs))
    _add(generated, "TestClient", f"factorybench {docs[0].suite.get('version')}")
    _add(generated, "Description", f"factorybench results exported for the {profile.identifier} "
                                   "Phoronix Test Suite profile")
    for doc, label in zip(docs, labels):
        _system(root, doc, label)
    results: dict = {}  # identity -> Result element, so systems share a Result
    notes = []
    for doc, label in zip(docs, labels):
        found, left_out = entries(doc, profile)
        notes += [f"{label}: {n}" for n in left_out]
        for figure, value in found:
            args, description = arguments(profile, option_values(doc, figure))
            identity = (args, f"{description} - {figure.description}")
            if identity not in results:
                results[identity] = _result(root, profile, figure, *identity)
            entry = ET.SubElement(results[identity].find("Data"), "Entry")
            _add(entry, "Identifier", label)
            _add(entry, "Value", f"{value:.{figure.precision}f}")
            _add(entry, "RawString", repr(value))
    if not results:
        raise ProfileError("no figure of the PTS profile was measured in "
                           + ", ".join(str(d.path or label) for d, label in zip(docs, labels)))
    return root, notes


def _result(root, profile: Profile, figure: Figure, args: str, description: str) -> ET.Element:
    node = ET.SubElement(root, "Result")
    _add(node, "Identifier", profile.identifier)
    _add(node, "Title", profile.title)
    _add(node, "AppVersion", profile.app_version)
    _add(node, "Arguments", args)
    _add(node, "Description", description)
    _add(node, "Scale", figure.scale)
    _add(node, "Proportion", figure.proportion)
    _add(node, "DisplayFormat", "BAR_GRAPH")
    ET.SubElement(node, "Data")
    return node


def serialize(root) -> str:
    ET.indent(root)
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_runs(docs: Sequence) -> str:
    return serialize(convert(docs)[0])


def render_run(doc) -> str:
    return render_runs([doc])


def notes(docs: Sequence) -> list:
    """Figures measured but left out, and version mismatches."""
    return convert(docs)[1]


def main(argv: Sequence[str]) -> int:
    """`python -m suite.export.pts RESULT.json`, as the PTS profile calls it:
    print the figure lines and where the result file is."""
    from suite.results import ResultFileError, load

    try:
        doc = load(argv[0])
    except ResultFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    sys.stdout.write(figure_lines(doc))
    print(f"factorybench result file: {Path(argv[0]).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
