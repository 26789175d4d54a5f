"""`factorybench import-pts composite.xml`: results of the factorybench PTS
profile as result files, one per system, for compare, history and report.

Each PTS result of the profile becomes one record: benchmark `pts.<category>`,
metric the figure's headline key, params the other profile options as PTS
wrote them (`pts.profile`, `pts.threads`, `pts.array-mib`: PTS's words, not
factorybench's typed params), the value as PTS saved it and its trials as samples. An entry PTS left empty (a
failed parse) is skipped, never read as 0; results of other test profiles
are ignored.
"""
from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import click

from suite.errors import UserError

# "local/factorybench-1.0.0", "pts/factorybench-1.0.1": this profile, any repository.
_OUR_PROFILE = re.compile(r"(^|/)factorybench-\d+(\.\d+)*$")


def _read(path: Path) -> ET.Element:
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, ET.ParseError) as exc:
        raise UserError(f"{path}: not a PTS result file ({exc})") from None
    if root.tag != "PhoronixTestSuite" or root.find("System") is None:
        raise UserError(f"{path}: not a PTS result file (no PhoronixTestSuite/System)")
    return root


def _field(node, tag: str) -> str:
    return (node.findtext(tag) or "").strip()


def _pairs(text: str) -> dict:
    """'Processor: X, Memory: 24GB' -> {'Processor': 'X', 'Memory': '24GB'}."""
    return dict(part.split(": ", 1) for part in text.split(", ") if ": " in part)


def _options(profile, arguments: str) -> dict | None:
    """The profile's option values from a result's Arguments, or None when
    they are not this profile's."""
    values = {}
    for option in profile.options:
        m = re.search(re.escape(option.prefix) + r"(\S+)", arguments)
        if m is None:
            return None
        values[option.identifier] = m.group(1)
    return values


def _trials(entry, value: float) -> list:
    """Every trial PTS kept (RawString 'a:b:c'), else the value alone."""
    try:
        return [float(x) for x in _field(entry, "RawString").split(":")]
    except ValueError:
        return [value]


def _records(root: ET.Element, profile) -> dict:
    """{system identifier: [Record]} for every result of this profile."""
    from suite.model import measurement

    out: dict = {}
    for result in root.iterfind("Result"):
        if not _OUR_PROFILE.search(_field(result, "Identifier")):
            continue
        description = _field(result, "Description")
        figure = next((f for f in profile.figures
                       if description.endswith(" - " + f.description)), None)
        values = _options(profile, _field(result, "Arguments"))
        if figure is None or values is None:
            continue
        category = values.pop("category")
        params = {f"pts.{name}": value for name, value in values.items()}
        for entry in result.iterfind("Data/Entry"):
            try:
                value = float(_field(entry, "Value"))
            except ValueError:
                continue  # PTS saves an empty value when its parse failed
            record = measurement(
                f"pts.{category}", params, figure.key, figure.scale, _trials(entry, value),
                higher_is_better=figure.proportion == "HIB", value=value,
                info={"category": category, "pts": {
                    "identifier": _field(result, "Identifier"),
                    "app_version": _field(result, "AppVersion"),
                    "arguments": _field(result, "Arguments"),
                    "description": description}})
            out.setdefault(_field(entry, "Identifier"), []).append(record)
    return out


def _document(system: ET.Element, records: list, source: Path):
    from suite.results import SCHEMA_VERSION, RunDocument

    ident = _field(system, "Identifier")
    hardware, software = _pairs(_field(system, "Hardware")), _pairs(_field(system, "Software"))
    stamp = _field(system, "TimeStamp").replace(" ", "T") + "Z"
    profiles = {r.params.get("pts.profile") for r in records}
    versions = sorted({r.info["pts"]["app_version"] for r in records})
    return RunDocument(
        schema_version=SCHEMA_VERSION,
        suite={"name": "factorybench", "version": ", ".join(versions), "git_commit": None},
        run={"id": hashlib.sha256(f"{source.resolve()}\0{ident}".encode()).hexdigest()[:32],
             "started_at": stamp, "finished_at": stamp, "status": "complete",
             "profile": profiles.pop() if len(profiles) == 1 else None,
             "argv": [], "tags": {"source": "pts", "pts.system": ident,
                                  "pts.file": str(source.resolve())},
             "options": {}, "threads": None},
        system={"hostname": ident, "model_name": hardware.get("Processor"),
                "os": software.get("OS"), "kernel": software.get("Kernel"),
                "pts": {"hardware": hardware, "software": software,
                        "client_version": _field(system, "TestClientVersion")},
                "warnings": []},
        results=tuple(records),
    )


def _file_name(ident: str, stamp: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", ident).strip("_") or "system"
    return f"{re.sub(r'[^0-9T]', '', stamp)}-{safe}-pts.json"


@click.command()
@click.argument("composite", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True, help="Directory for the result files.")
def command(composite, out_dir):
    """Read PTS results of the factorybench profile into result files (one per system)."""
    from suite.cli import writable_dir
    from suite.export.pts import load_profile
    from suite.results import write_atomic

    root = _read(composite)
    by_system = _records(root, load_profile())
    if not by_system:
        raise UserError(f"{composite}: no result of the factorybench PTS profile with a value")
    out_dir = writable_dir(out_dir)
    for system in root.iterfind("System"):
        records = by_system.get(_field(system, "Identifier"))
        if not records:
            continue
        doc = _document(system, records, composite)
        path = write_atomic(out_dir / _file_name(doc.system["hostname"], doc.run["started_at"]), doc)
        click.echo(f"{doc.system['hostname']}: {len(records)} figure(s) -> {path}")
